"""Workload: the files that arrive in one replication, per language, with their attributes.

Monthly counts per language are Poisson or negative binomial around
``base * share * (1 + growth)**month`` (zero before the language starts), split by content
type with a multinomial, placed inside the month by an arrival profile. Every language has
its own stream, and every draw is one vectorised call per stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .distributions import draw
from .scenario import CONTENT_TYPES, Scenario, Workload
from .rng import Streams

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
        """Arrival times for uniforms ``u`` by inverse CDF over the hours of the month."""
        n_hours = int(round(month_len_s / HOUR_S))
        cdf = self.cdf(weekday0, n_hours)
        h = np.searchsorted(cdf, u, side="right") - 1
        h = np.clip(h, 0, n_hours - 1)
        frac = (u - cdf[h]) / np.maximum(cdf[h + 1] - cdf[h], 1e-300)
        return month_start_s + (h + np.clip(frac, 0.0, 1.0)) * HOUR_S


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


def generate_files(sc: Scenario, growth_rate: float, streams: Streams) -> FileTable:
    """All files of one replication (unsorted across languages)."""
    wl = sc.workload
    edges = np.asarray(sc.month_edges_s())
    starts = sc.month_starts()
    profile = ARRIVAL_PROFILES[wl.arrival_profile]
    means = expected_counts(wl, sc.horizon_months, growth_rate)
    langs = tuple(wl.languages)
    parts: list[dict[str, np.ndarray]] = []
    for li, code in enumerate(langs):
        lang = wl.languages[code]
        counts = _counts(wl, means[code], streams.rng("counts", code))
        mix = np.array([lang.content_mix.get(c, 0.0) for c in CONTENT_TYPES])
        by_type = streams.rng("mix", code).multinomial(counts, mix / mix.sum())  # months x types
        n = int(counts.sum())
        rng = streams.rng("files", code)
        month = np.repeat(np.arange(sc.horizon_months), counts)
        content = np.concatenate([np.repeat(np.arange(len(CONTENT_TYPES)), row) for row in by_type]) if n else np.zeros(0, int)
        u_time = rng.random(n)
        arrival = np.empty(n)
        offset = 0
        for m, c in enumerate(counts):
            if c:
                arrival[offset : offset + c] = profile.place(
                    edges[m], edges[m + 1] - edges[m], starts[m].weekday(), u_time[offset : offset + c]
                )
                offset += c
        # One draw per file and content type keeps every stream aligned whatever the mix.
        duration = np.zeros(n)
        for ci, ctype in enumerate(CONTENT_TYPES[:2]):
            spec = getattr(wl.content, ctype)
            if spec is not None:
                d = np.maximum(np.asarray(draw(spec.duration_s, rng, n), dtype=float), 0.0)
                duration = np.where(content == ci, d, duration)
        text_spec = wl.content.text
        text = np.maximum(np.asarray(draw(text_spec.chars, rng, n), dtype=float), 0.0) if text_spec else np.zeros(n)
        cps = np.maximum(np.asarray(draw(wl.speech_chars_per_second, rng, n), dtype=float), 0.0)
        text_chars = np.where(content == CONTENT_TYPES.index("text"), text, duration * cps)
        parts.append(
            dict(
                arrival_s=arrival,
                month=month,
                language=np.full(n, li),
                content=content,
                duration_s=duration,
                text_chars=text_chars,
                keep_u=rng.random(n),
            )
        )
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return FileTable(languages=langs, **cat)
