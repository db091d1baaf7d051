"""Growth fitted from history: base volume, monthly rate with its interval, shares, starts,
dispersion, and a break in the trend, detected or declared.

The fit is ``likelihood.fit_count_model`` on the months after the break (or all of them):
the future follows the latest regime. Month 0 of the fitted time axis is the reference
month, the scenario's month 0, so the intercepts give the base volume there directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .counts import CountTable, HistoryError, month_index, month_name
from .likelihood import Fit, Segment, fit_count_model, fit_segment, profile_interval

MIN_MONTHS = 3  # a slope and its spread need at least three points
MIN_SEGMENT = 4  # months on either side of a candidate break
BREAK_ALPHA = 0.05
POISSON_ALPHA = 0.05
LEVEL = 0.90


@dataclass(frozen=True)
class BreakTest:
    """The change-point test: the best candidate month, its likelihood ratio statistic, the
    degrees of freedom it adds, and its p-value (Bonferroni over the candidates)."""

    month: str | None
    lr: float
    df: int
    p_value: float
    candidates: int


@dataclass
class GrowthFit:
    """What ``fit_growth`` found. Rates are monthly (0.059 = +5.9% a month), volumes in
    files per month at the reference month (the scenario's month 0)."""

    table: CountTable
    reference_month: str
    fit_from: str  # first month of the fitted regime
    fit: Fit
    languages: tuple[str, ...]  # those with files in the fitted regime, in ``fit.c`` order
    rate: float
    rate_interval: tuple[float | None, float | None]
    base_files_per_month: float
    shares: dict[str, float]
    start_months: dict[str, int]  # relative to the reference month, at least 0
    poisson_p_value: float  # of the test of Poisson against negative binomial
    break_declared: str | None = None
    break_test: BreakTest | None = None
    dropped: list[str] = field(default_factory=list)  # languages with no file in the fitted regime

    @property
    def count_model(self) -> str:
        if math.isinf(self.fit.k) or self.poisson_p_value >= POISSON_ALPHA:
            return "poisson"
        return "negative_binomial"

    @property
    def break_month(self) -> str | None:
        if self.break_declared:
            return self.break_declared
        if self.break_test and self.break_test.p_value < BREAK_ALPHA:
            return self.break_test.month
        return None

    def rate_sd(self) -> float | None:
        """A normal's sd matching the interval's width (None when an end is open)."""
        lo, hi = self.rate_interval
        if lo is None or hi is None:
            return None
        return (hi - lo) / (2.0 * float(stats.norm.ppf(0.5 + LEVEL / 2)))

    def expected(self) -> np.ndarray:
        """Fitted mean files per language (``languages``) and month of the fitted regime."""
        seg = self._segment()
        return np.where(seg.active, self.fit.mean(seg.t), 0.0)

    def _segment(self) -> Segment:
        return _segment(self.table, self.languages, self.fit_from, self.reference_month)


def _segment(table: CountTable, languages: tuple[str, ...], first: str, reference: str) -> Segment:
    rows = [table.languages.index(code) for code in languages]
    lo = month_index(first) - table.first_month
    y = table.files[rows, lo:]
    active = np.zeros_like(y, dtype=bool)
    for i, li in enumerate(rows):
        nz = np.flatnonzero(table.files[li, lo:] > 0)
        active[i, nz[0]:] = True
    t = np.arange(lo, len(table.months), dtype=float) + table.first_month - month_index(reference)
    return Segment(y, active, t)


def _languages_from(table: CountTable, first: str) -> tuple[tuple[str, ...], list[str]]:
    lo = month_index(first) - table.first_month
    present = tuple(code for li, code in enumerate(table.languages) if table.files[li, lo:].sum() > 0)
    return present, [code for code in table.languages if code not in present]


def find_break(table: CountTable, reference: str, min_segment: int = MIN_SEGMENT) -> BreakTest | None:
    """Likelihood-ratio test of one change point (each side its own intercepts and rate)
    against none, at every month leaving ``min_segment`` months on both sides. The
    dispersion is the no-break fit's, on both sides: estimated again on each short side it
    overfits and the test finds breaks that are not there. The largest statistic's p-value
    is chi2's times the number of candidates (Bonferroni). None when the history is too
    short to test."""
    n = len(table.months)
    candidates = range(min_segment, n - min_segment + 1)
    if len(candidates) == 0:
        return None
    whole_langs, _ = _languages_from(table, table.months[0])
    null, _ = fit_count_model(_segment(table, whole_langs, table.months[0], reference))
    best: tuple[float, int, str] | None = None
    for cut in candidates:
        ll, params = 0.0, 0
        for first, last in ((0, cut), (cut, n)):
            part = CountTable(table.months[first:last], table.languages, table.files[:, first:last], table.source)
            langs, _ = _languages_from(part, part.months[0])
            f = fit_segment(_segment(part, langs, part.months[0], reference), k_fixed=null.k)
            ll, params = ll + f.loglik, params + len(f.c) + 1
        lr = max(0.0, 2.0 * (ll - null.loglik))
        if best is None or lr > best[0]:
            best = (lr, params - len(null.c) - 1, table.months[cut])
    lr, df, month = best
    p = min(1.0, len(candidates) * float(stats.chi2.sf(lr, df)))
    return BreakTest(month, lr, df, p, len(candidates))


def fit_growth(table: CountTable, reference_month: str | None = None, declared_break: str | None = None,
               detect_break: bool = True) -> GrowthFit:
    """Fit the simulator's growth model to ``table`` (see the module docstring).

    ``reference_month`` (YYYY-MM) is the scenario's month 0; by default the month after
    the history. ``declared_break`` starts the fitted regime at that month; otherwise a
    break is tested for and, when significant at 5%, the regime starts there.
    """
    if len(table.months) < MIN_MONTHS:
        raise HistoryError(f"{table.source}: {len(table.months)} month(s) of history; the growth rate needs at least "
                           f"{MIN_MONTHS} (give more months, or keep the scenario's prior)")
    reference = reference_month or month_name(month_index(table.months[-1]) + 1)
    test = None
    if declared_break is not None:
        if declared_break not in table.months[1:]:
            raise HistoryError(f"--break {declared_break}: not inside the history ({table.months[1]} to {table.months[-1]})")
        first = declared_break
    else:
        test = find_break(table, reference) if detect_break else None
        first = test.month if test and test.p_value < BREAK_ALPHA else table.months[0]
    if len(table.months) - (month_index(first) - table.first_month) < MIN_MONTHS:
        raise HistoryError(f"{table.source}: fewer than {MIN_MONTHS} months after the break {first}; "
                           "declare an earlier one or wait for more months")
    languages, dropped = _languages_from(table, first)
    if not languages:
        raise HistoryError(f"{table.source}: no files at all from {first}; check the source")
    seg = _segment(table, languages, first, reference)
    fit, p_poisson = fit_count_model(seg, POISSON_ALPHA)
    lo, hi = profile_interval(seg, fit, LEVEL)
    level = np.exp(fit.c)  # files per month at the reference month, per language
    base = float(level.sum())
    starts = {}
    for i, code in enumerate(languages):
        first_active = int(np.flatnonzero(seg.active[i])[0])
        starts[code] = max(0, int(seg.t[first_active]))
    return GrowthFit(
        table=table, reference_month=reference, fit_from=first, fit=fit, languages=languages,
        rate=math.expm1(fit.g), rate_interval=(None if lo is None else math.expm1(lo), None if hi is None else math.expm1(hi)),
        base_files_per_month=base, shares={code: float(v / base) for code, v in zip(languages, level)},
        start_months=starts, poisson_p_value=p_poisson, break_declared=declared_break, break_test=test, dropped=dropped,
    )  # fmt: skip


def residual_rows(gf: GrowthFit) -> list[dict]:
    """Per month of the fitted regime: files observed and expected (all languages) and the
    Pearson residual (observed - expected) / sd under the fitted count model."""
    seg = gf._segment()
    mean = gf.expected()
    var = np.where(seg.active, gf.fit.variance(mean), 0.0)
    observed, expected = seg.y.sum(axis=0), mean.sum(axis=0)
    sd = np.sqrt(var.sum(axis=0))
    first = month_index(gf.fit_from)
    return [
        {"month": month_name(first + m), "observed": int(observed[m]), "expected": float(expected[m]),
         "pearson": float((observed[m] - expected[m]) / sd[m]) if sd[m] > 0 else 0.0}
        for m in range(len(observed))
    ]  # fmt: skip
