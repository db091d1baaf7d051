"""Replications until the bands are tight (``--precision PCT``).

The run goes in batches: after each, the 95% confidence intervals of the horizon
emissions' mean (normal, from the sample's standard deviation) and of its P5 and P95
(distribution-free, between two order statistics whose ranks bracket the quantile with
95% binomial probability, by the normal approximation to the binomial) are computed over
the replications so far. The run stops once every interval lies within PCT% of its
estimate, or at the scenario's count. Every number depends only on the replications'
totals, which depend only on the seed: the same count on any number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_REPLICATIONS = 100
STEP = 50  # batches are whole multiples of this
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% confidence interval (kg CO2e)."""

    value: float
    low: float
    high: float

    @property
    def relative(self) -> float:
        """The interval's farther end from the estimate, as a share of the estimate (inf at 0)."""
        far = max(self.high - self.value, self.value - self.low)
        if far == 0:
            return 0.0
        return far / abs(self.value) if self.value != 0 else math.inf


def quantile_interval(sorted_values: np.ndarray, q: float) -> Interval:
    """``q``-quantile (NumPy's linear interpolation) of sorted values and a 95% interval
    between order statistics: ranks n q -/+ z sqrt(n q (1 - q)), outward, in [1, n]."""
    n = len(sorted_values)
    half = Z95 * math.sqrt(n * q * (1 - q))
    lo = min(max(math.floor(n * q - half), 1), n)
    hi = min(max(math.ceil(n * q + half) + 1, 1), n)
    return Interval(float(np.percentile(sorted_values, 100 * q)), float(sorted_values[lo - 1]), float(sorted_values[hi - 1]))


def intervals(totals: np.ndarray) -> dict[str, Interval]:
    """The 95% intervals of the mean, P5 and P95 of ``totals`` (one per replication)."""
    x = np.sort(np.asarray(totals, dtype=float))
    n = len(x)
    mean = float(x.mean())
    half = Z95 * float(x.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return {"mean": Interval(mean, mean - half, mean + half), "p5": quantile_interval(x, 0.05),
            "p95": quantile_interval(x, 0.95)}


def reached(totals: np.ndarray) -> float:
    """The precision reached (%): the widest of the three intervals, relative to its estimate."""
    return 100.0 * max(iv.relative for iv in intervals(totals).values())


def first_batch(maximum: int) -> int:
    """Replications before the first check: ``MIN_REPLICATIONS``, or all when fewer are allowed."""
    return min(MIN_REPLICATIONS, maximum)


def next_count(done: int, precision_pct: float, target_pct: float, maximum: int) -> int | None:
    """How many replications in all after ``done`` reached ``precision_pct``: None once the
    target is met or the maximum reached; else the count the widths' 1/sqrt(n) law asks
    for, at least one more step and at most four times as many, rounded up to a step."""
    if precision_pct <= target_pct or done >= maximum:
        return None
    wanted = done * (precision_pct / target_pct) ** 2 if math.isfinite(precision_pct) else 4 * done
    wanted = min(max(wanted, done + STEP), 4 * done)
    return int(min(maximum, math.ceil(wanted / STEP) * STEP))


def record(totals: np.ndarray, target_pct: float, maximum: int) -> dict:
    """What the manifest and the summary say of the run's precision."""
    iv = intervals(totals)
    got = reached(totals)
    return {
        "target_pct": target_pct, "reached_pct": round(got, 3), "met": got <= target_pct, "replications": len(totals),
        "maximum": maximum, "minimum": MIN_REPLICATIONS,
        "intervals_kg": {k: {"value": v.value, "low": v.low, "high": v.high} for k, v in iv.items()},
    }
