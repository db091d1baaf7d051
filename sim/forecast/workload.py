"""Workload: the files that arrive in one replication, per language, with their attributes.

Monthly counts per language are Poisson or negative binomial around
``base * share * (1 + growth)**month`` (zero before the language starts), split by content
type with a multinomial, placed inside the month by an arrival profile. Every language has
its own streams (its media and texts one per content type), and every draw is one
vectorised call per stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.config.columns import Columns, draw_columns, prepare_columns
from sim.config.errors import ConfigError
from sim.config.memo import keep_last
from sim.config.scenario import CONTENT_TYPES, Scenario, Workload, demand_problem
from sim.kernels.indices import ix
from sim.kernels.rng import Streams

HOUR_S = 3600.0


@dataclass
class FileTable:
    """One row per file; times in seconds since the start of the first month."""

    arrival_s: np.ndarray  # float
    month: np.ndarray  # int, month index of arrival
    language: np.ndarray  # int, index into ``languages``
    content: np.ndarray  # int, index into CONTENT_TYPES
    duration_s: np.ndarray  # media length (0 for text)
    text_chars: np.ndarray  # characters of text: the article, or the transcript of media
    keep_u: np.ndarray  # uniform(0,1) per file, used by volume-reduction options (thinning)
    languages: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.arrival_s)


def expected_counts(wl: Workload, horizon: int, growth_rate: float) -> dict[str, np.ndarray]:
    """Expected files per month for each language (before any option), length ``horizon``."""
    months = np.arange(horizon)
    total = wl.base_files_per_month * (1.0 + growth_rate) ** months
    if wl.growth.cap_files_per_month is not None:
        total = np.minimum(total, wl.growth.cap_files_per_month)
    return {code: np.where(months >= lang.start_month, total * lang.share, 0.0) for code, lang in wl.languages.items()}


def _counts(wl: Workload, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if wl.count_model == "poisson":
        return rng.poisson(mean)
    k = float(wl.dispersion)
    return rng.negative_binomial(k, k / (k + mean))


class ArrivalProfile:
    """Where in its month a file arrives: hourly weights over the calendar."""

    name = "base"

    def hour_weights(self, weekday0: int, n_hours: int, hour0: int = 0) -> np.ndarray:
        raise NotImplementedError

    def cdf(self, weekday0: int, n_hours: int) -> np.ndarray:
        """Cumulative share of the month's files by hour (read-only, cached: months repeat)."""
        cache = self.__dict__.setdefault("_cdf_cache", {})
        key = (weekday0, n_hours)
        if key not in cache:
            w = self.hour_weights(weekday0, n_hours)
            cdf = np.concatenate([[0.0], np.cumsum(w)])
            cdf /= cdf[-1]
            cdf.flags.writeable = False
            cache[key] = cdf
        return cache[key]

    def place(self, month_start_s: float, month_len_s: float, weekday0: int, u: np.ndarray) -> np.ndarray:
        """Arrival times (s) in one month for uniforms ``u``, by inverse CDF over its hours."""
        edges = np.array([month_start_s, month_start_s + month_len_s])
        return self.place_months(edges, [weekday0], np.zeros(len(u), dtype=np.int64), u)

    def place_months(self, edges_s: np.ndarray, weekdays: list[int], month: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Arrival times (s) for uniforms ``u`` of files in months ``month``, in one pass.

        ``edges_s`` are the month boundaries (s) and ``weekdays`` the weekday each month starts on.
        """
        cdf, guide, first = self.calendar(edges_s, weekdays)
        return _place(np.asarray(u, dtype=float), np.asarray(month, dtype=np.int64), cdf, guide, first,
                      np.asarray(edges_s, dtype=float))

    def calendar(self, edges_s: np.ndarray, weekdays: list[int] | tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``_place`` reads for months with boundaries ``edges_s`` (s) starting on
        ``weekdays``: the months' CDFs end to end, their guide tables, and where each month's
        CDF starts (cached: every replication of a run uses the same calendar)."""
        n_hours = tuple(int(round((edges_s[m + 1] - edges_s[m]) / HOUR_S)) for m in range(len(weekdays)))
        weekdays = tuple(weekdays)
        cache = self.__dict__.setdefault("_calendar_cache", {})
        key = (weekdays, n_hours)
        if key not in cache:
            cdfs = [self.cdf(wd, nh) for wd, nh in zip(weekdays, n_hours)]
            first = np.concatenate([[0], np.cumsum([len(c) for c in cdfs])])
            # guide table: for u in [k/G, (k+1)/G), G = _GUIDE_PER_HOUR * hours, the search for
            # u's hour starts at guide[k]
            guide = np.concatenate([
                np.searchsorted(c, np.arange(_GUIDE_PER_HOUR * (len(c) - 1)) / (_GUIDE_PER_HOUR * (len(c) - 1)), side="right") - 1
                for c in cdfs
            ])
            cache[key] = (np.concatenate(cdfs), guide, first)
        return cache[key]


# Guide entries per hour of a month: two make the search's step past the guide rarer, and
# so less often mispredicted, where business hours pack several hours' worth of files into
# one (about a fifth faster than one per hour; more cost more cache than they save).
_GUIDE_PER_HOUR = 2


@njit(cache=True, error_model="numpy")
def _place(u, month, cdf, guide, first, edges_s):
    """Inverse CDF of each file's month: its hour (the last one whose cumulative share is at
    most u, found from a guide table in a step or two), then linearly inside the hour."""
    out = np.empty(u.shape[0])
    for i in range(u.shape[0]):
        m = ix(month[i])
        c0 = ix(first[m])  # the month's n_hours + 1 cumulative shares, 0 to 1, start here
        n_hours = first[m + 1] - c0 - 1
        n_guide = _GUIDE_PER_HOUR * n_hours  # the month's guide entries start at _GUIDE_PER_HOUR * (c0 - m)
        x = u[i]
        h = guide[ix(_GUIDE_PER_HOUR * (c0 - m) + min(int(x * n_guide), n_guide - 1))]
        while h + 1 < n_hours and cdf[ix(c0 + h + 1)] <= x:
            h += 1
        h = min(max(h, 0), n_hours - 1)
        lo = cdf[ix(c0 + h)]
        frac = (x - lo) / max(cdf[ix(c0 + h + 1)] - lo, 1e-300)
        out[i] = edges_s[m] + (h + min(max(frac, 0.0), 1.0)) * HOUR_S
    return out


class FlatProfile(ArrivalProfile):
    name = "flat"

    def hour_weights(self, weekday0, n_hours, hour0=0):
        return np.ones(n_hours)


class BusinessHoursProfile(ArrivalProfile):
    """Most files arrive on weekdays 08:00-18:00 UTC; a remainder spreads over the rest."""

    name = "business_hours"
    inside_weight = 10.0  # a business hour receives 10x the files of another hour

    def hour_weights(self, weekday0, n_hours, hour0=0):
        hours = np.arange(n_hours)
        weekday = (weekday0 + hours // 24) % 7
        hod = hours % 24
        business = (weekday < 5) & (hod >= 8) & (hod < 18)
        return np.where(business, self.inside_weight, 1.0)


ARRIVAL_PROFILES: dict[str, ArrivalProfile] = {p.name: p for p in (FlatProfile(), BusinessHoursProfile())}


@dataclass
class _FilePlan:
    """What every replication of a scenario samples its files with (``_file_plan``)."""

    edges_s: np.ndarray  # month boundaries (s)
    calendar: tuple[np.ndarray, np.ndarray, np.ndarray]  # the arrival profile's CDFs (``_place``)
    mixes: dict[str, np.ndarray]  # per language: content-type probabilities
    columns: dict[tuple[str, str], Columns]  # per (language, content type): its draws (``_files_of``)


@keep_last
def _file_plan(sc: Scenario) -> _FilePlan:
    """The file plan of ``sc``; the replications of a run share one."""
    wl = sc.workload
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    weekdays = [d.weekday() for d in sc.month_starts()[: sc.horizon_months]]
    mixes, columns = {}, {}
    for code, lang in wl.languages.items():
        mix = np.array([lang.content_mix.get(c, 0.0) for c in CONTENT_TYPES])
        mixes[code] = mix / mix.sum()
        for ctype in CONTENT_TYPES:
            spec = getattr(wl.content, ctype)
            if spec is None:  # no file of the type can be drawn (a type with files has a spec: validated)
                continue
            if ctype == "text":
                cols = [(1, spec.chars, ("files", code, ctype))]
            else:
                cols = [(0, spec.duration_s, ("files", code, ctype)),
                        (1, wl.speech_chars_per_second, ("files", code, ctype, "speech_rate"))]
            columns[code, ctype] = prepare_columns(cols)
    return _FilePlan(edges, ARRIVAL_PROFILES[wl.arrival_profile].calendar(edges, weekdays), mixes, columns)


def _files_of(plan: _FilePlan, by_type: np.ndarray, streams: Streams, code: str, rows: slice,
              month: np.ndarray, content: np.ndarray, table: np.ndarray) -> None:
    """A language's files into ``rows`` of ``month``, ``content`` and ``table`` (media length
    in s, 0 for text; characters of text), content type by type, then month by month
    (``by_type``: files per month x type).

    Each content type draws from streams of its own (language, type, quantity), one value
    per file of the type: only what a file uses is drawn, and since the files' types do not
    depend on any option, the i-th file of a type gets the same draws under every option.
    A media file's text is its transcript: length x speech rate (chars/s).
    """
    horizon, n_types = by_type.shape
    per_type = by_type.sum(axis=0)
    month[rows] = np.repeat(np.tile(np.arange(horizon), n_types), by_type.T.ravel())
    content[rows] = np.repeat(np.arange(n_types), per_type)
    media: list[slice] = []  # whose second column holds a speech rate (chars/s) until the end
    start = rows.start
    for ci, ctype in enumerate(CONTENT_TYPES):
        these = slice(start, start + int(per_type[ci]))
        start = these.stop
        if these.stop == these.start or (code, ctype) not in plan.columns:  # (a type with files has a spec: validated)
            continue
        draw_columns(table, these, plan.columns[code, ctype], streams)
        if ctype != "text":
            media.append(these)
    # (no clamp: durations, characters and speech rates are >= 0 by the schema, supports included)
    for these in media:
        table[these, 1] *= table[these, 0]


def generate_files(sc: Scenario, growth_rate: float, streams: Streams) -> FileTable:
    """All files of one replication, in order of arrival.

    Each language's files are drawn from its own streams, then all are put in order of
    arrival: the jobs follow the files' order, and the engines and the accounting then
    walk them in time order, which keeps their memory access sequential (about twice as
    fast). Ties keep language order.
    """
    wl = sc.workload
    plan = _file_plan(sc)
    problem = demand_problem(wl, sc.horizon_months, growth_rate)
    if problem:  # a drawn growth the schema could not rule out (a distribution unbounded above)
        raise ConfigError(f"scenario {sc.name}", [problem])
    means = expected_counts(wl, sc.horizon_months, growth_rate)
    langs = tuple(wl.languages)
    by_type = [  # per language: files per month x type
        streams.rng("mix", code).multinomial(_counts(wl, means[code], streams.rng("counts", code)), plan.mixes[code])
        for code in langs
    ]
    start = np.concatenate([[0], np.cumsum([int(b.sum()) for b in by_type])])
    n = int(start[-1])
    month, content, language = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    table = np.zeros((n, 2))  # media length (s), characters of text
    u, keep_u = np.empty(n), np.empty(n)
    for li, code in enumerate(langs):
        rows = slice(int(start[li]), int(start[li + 1]))
        _files_of(plan, by_type[li], streams, code, rows, month, content, table)
        language[rows] = li
        draws = streams.rng("files", code).random(2 * (rows.stop - rows.start))  # = two calls of n each
        u[rows], keep_u[rows] = draws[: rows.stop - rows.start], draws[rows.stop - rows.start :]
    arrival = _place(u, month, *plan.calendar, plan.edges_s)
    order = _time_order(arrival)
    columns = _in_order(order, arrival, month, language, content, table, keep_u)
    return FileTable(languages=langs, **dict(zip(("arrival_s", "month", "language", "content", "duration_s", "text_chars", "keep_u"), columns)))


@njit(cache=True)
def _in_order(order, arrival, month, language, content, table, keep_u):
    """The files' columns taken in ``order``, in one pass (NumPy takes one pass a column)."""
    n = order.shape[0]
    a, m, l, c = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    d, t, k = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        j = ix(order[i])
        a[i] = arrival[j]
        m[i] = month[j]
        l[i] = language[j]
        c[i] = content[j]
        d[i] = table[j, 0]
        t[i] = table[j, 1]
        k[i] = keep_u[j]
    return a, m, l, c, d, t, k


@njit(cache=True, error_model="numpy")
def _time_order(t):
    """``np.argsort(t, kind="stable")`` for times >= 0 (s), in linear time.

    A counting sort into as many equal-width buckets as there are times, then an insertion
    sort, which only moves times within their bucket (a few at most): several times faster
    than a comparison sort here. Both passes keep equal times in input order.
    """
    n = t.shape[0]
    order = np.empty(n, np.int64)
    if n == 0:
        return order
    width = t.max() / n
    if not width > 0:
        width = 1.0
    start = np.zeros(n + 1, np.int64)
    bucket = np.empty(n, np.int64)
    for i in range(n):
        b = ix(min(int(t[i] / width), n - 1))
        bucket[i] = b
        start[b + 1] += 1
    for b in range(n):
        start[b + 1] += start[b]
    for i in range(n):
        b = ix(bucket[i])
        order[ix(start[b])] = i
        start[b] += 1
    for i in range(1, n):
        j = ix(order[i])
        x = t[j]
        k = i - 1
        while k >= 0 and t[ix(order[k])] > x:
            order[k + 1] = order[k]
            k -= 1
        order[k + 1] = j
    return order


class FileStream:
    """The files of one replication month by month: ``month(m)`` gives exactly the rows of
    month ``m`` of ``generate_files``' table (same values, same order), so a replication
    can hold one month's files instead of the horizon's.

    The monthly counts are drawn up front (a number per month and type). Each stream that
    ``generate_files`` reads in one call is read here block by block from where the last
    block left it: a language's draws per content type (``ColumnStreams``), and its
    ``files`` uniforms, of which a file's arrival and thinning draws sit at its row and at
    its row plus the language's count (a cursor per type, moved on to its first row once).
    """

    _SKIP = 1 << 20  # uniforms discarded per call while moving a cursor on

    def __init__(self, sc: Scenario, growth_rate: float, streams: Streams):
        wl = sc.workload
        self.plan = _file_plan(sc)
        means = expected_counts(wl, sc.horizon_months, growth_rate)
        self.languages = tuple(wl.languages)
        self.by_type = [  # per language: files per month x type, drawn as generate_files draws them
            streams.rng("mix", code).multinomial(_counts(wl, means[code], streams.rng("counts", code)), self.plan.mixes[code])
            for code in self.languages
        ]
        self.total = int(sum(b.sum() for b in self.by_type))  # files over the horizon
        self._streams = streams
        self.columns: dict = {}
        self.cursors: dict = {}

    def _start(self) -> None:
        """The streams' cursors, at the first month's call."""
        from sim.config.columns import ColumnStreams

        streams = self._streams
        for li, code in enumerate(self.languages):
            per_type = self.by_type[li].sum(axis=0)
            first = np.concatenate([[0], np.cumsum(per_type)])
            for ci, ctype in enumerate(CONTENT_TYPES):
                if (code, ctype) in self.plan.columns:
                    self.columns[li, ci] = ColumnStreams(self.plan.columns[code, ctype], streams)
                self.cursors[li, ci] = (self._moved(streams.rng("files", code), int(first[ci])),
                                        self._moved(streams.rng("files", code), int(first[-1] + first[ci])))

    @classmethod
    def _moved(cls, rng: np.random.Generator, n: int) -> np.random.Generator:
        """``rng`` after ``n`` uniforms (drawn and discarded in bounded blocks)."""
        while n > 0:
            rng.random(min(n, cls._SKIP))
            n -= cls._SKIP
        return rng

    def month(self, m: int) -> FileTable:
        """Month ``m``'s files, in order of arrival (call for months 0, 1, ... in order)."""
        from sim.config.columns import draw_rows

        if not self.cursors:
            self._start()
        n = int(sum(b[m].sum() for b in self.by_type))
        month = np.full(n, m, np.int64)
        content, language = np.empty(n, np.int64), np.empty(n, np.int64)
        table = np.zeros((n, 2))
        u, keep_u = np.empty(n), np.empty(n)
        r = 0
        for li in range(len(self.languages)):
            for ci, ctype in enumerate(CONTENT_TYPES):
                k = int(self.by_type[li][m, ci])
                if k == 0:
                    continue
                rows = slice(r, r + k)
                content[rows], language[rows] = ci, li
                if (li, ci) in self.columns:
                    draw_rows(table, rows, self.columns[li, ci])
                    np.maximum(table[rows], 0.0, out=table[rows])
                    if ctype != "text":  # a media file's text is its transcript: length x speech rate
                        table[rows, 1] *= table[rows, 0]
                at, thin = self.cursors[li, ci]
                u[rows], keep_u[rows] = at.random(k), thin.random(k)
                r += k
        arrival = _place(u, month, *self.plan.calendar, self.plan.edges_s)
        columns = _in_order(_time_order(arrival), arrival, month, language, content, table, keep_u)
        names = ("arrival_s", "month", "language", "content", "duration_s", "text_chars", "keep_u")
        return FileTable(languages=self.languages, **dict(zip(names, columns)))
