"""Multi-criteria ranking: normalisation with shared bounds, weighted sum, TOPSIS, SMAA-2.

Every method sees the same normalisation: for each criterion, fixed bounds [low, high]
shared by all options and all Monte Carlo draws (by default the minimum and maximum over
them), mapped linearly to a score in [0, 1] where 1 is best whatever the direction. So an
option's score never depends on which other options happen to be in the file.

SMAA-2 (Lahdelma & Salminen, Operations Research 49(3), 2001) ranks the options over the
joint uncertainty of the outcomes (the Monte Carlo replications, paired across options)
and of the weights (uniform over the simplex, or over intervals around the given weights),
with a linear utility on the normalised scores. It returns rank acceptability indices
b_i^r (the share of draws in which option i has rank r), central weight vectors (the mean
weights that make i first) and confidence factors (how often i is first with its central
weights, over the outcome draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import spearmanr

# ---- normalisation ---------------------------------------------------------------------


def shared_bounds(values: np.ndarray, overrides: dict[int, tuple[float, float]] | None = None) -> np.ndarray:
    """Bounds per criterion (criteria x 2) over all options and draws: ``values`` is options x criteria x draws.

    NaNs are ignored; a criterion with no finite value gets [0, 1].
    """
    k = values.shape[1]
    out = np.zeros((k, 2))
    for j in range(k):
        col = values[:, j].ravel()
        col = col[np.isfinite(col)]
        out[j] = (col.min(), col.max()) if len(col) else (0.0, 1.0)
    for j, b in (overrides or {}).items():
        out[j] = b
    return out


def normalise(values: np.ndarray, bounds: np.ndarray, benefit: np.ndarray) -> np.ndarray:
    """Scores in [0, 1], 1 = best, with criteria on axis 1; values outside the bounds are clipped.

    A criterion whose bounds coincide (every option equal) scores 1 everywhere.
    """
    shape = [1] * values.ndim
    shape[1] = -1
    lo, hi = bounds[:, 0].reshape(shape), bounds[:, 1].reshape(shape)
    span = hi - lo
    raw = np.divide(values - lo, span, out=np.ones_like(values, dtype=float), where=span > 0)
    raw = np.clip(raw, 0.0, 1.0)
    return np.where(benefit.reshape(shape), raw, np.where(span > 0, 1.0 - raw, 1.0))


# ---- deterministic methods -------------------------------------------------------------


def weighted_sum(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of normalised scores (options x criteria) -> one score per option in [0, 1]."""
    return scores @ weights


def topsis(values: np.ndarray, bounds: np.ndarray, benefit: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """TOPSIS closeness (pymcdm) on ``values`` (options x criteria), normalised with the shared bounds.

    The ideal and anti-ideal points are the best and worst weighted scores among the options.
    """
    from pymcdm.methods import TOPSIS

    def bounded(lo: float, hi: float) -> Callable[[np.ndarray, bool], np.ndarray]:
        def norm(x: np.ndarray, cost: bool) -> np.ndarray:
            s = np.ones_like(x, dtype=float) if hi <= lo else np.clip((x - lo) / (hi - lo), 0.0, 1.0)
            return 1.0 - s if cost and hi > lo else s

        return norm

    types = np.where(benefit, 1, -1)
    if values.shape[0] == 0:
        return np.zeros(0)
    method = TOPSIS(normalization_function=[bounded(lo, hi) for lo, hi in bounds])
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(method(values, weights, types, validation=False), dtype=float)
    # Every option at the same point (ideal = anti-ideal): 0/0, they are all equally close.
    return np.nan_to_num(p, nan=0.5)


#: Deterministic methods keyed by their name in the outputs; each takes the P50 matrix.
METHODS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "weighted_sum": lambda v, b, ben, w: weighted_sum(normalise(v, b, ben), w),
    "topsis": topsis,
}


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score; ties share the best rank; NaN (not ranked) after every score."""
    scores = np.asarray(scores, dtype=float)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    return 1 + (scores[None, :] > scores[:, None] + 1e-12).sum(axis=1)


# ---- SMAA-2 ----------------------------------------------------------------------------


def sample_weights(rng: np.random.Generator, size: int, k: int, centre: np.ndarray | None = None,
                   half_width: float | None = None) -> np.ndarray:
    """``size`` weight vectors (size x k), uniform over the simplex or over its part inside the intervals.

    Intervals: w_j in [centre_j - half_width, centre_j + half_width] (clipped to [0, 1]). The
    first k-1 weights are drawn uniformly in their boxes and the last is 1 - their sum; draws
    whose last weight falls outside its interval are rejected. The map is linear, so the
    accepted vectors are uniform over the polytope.
    """
    if centre is None or half_width is None:
        return rng.dirichlet(np.ones(k), size=size)
    lo = np.clip(centre - half_width, 0.0, 1.0)
    hi = np.clip(centre + half_width, 0.0, 1.0)
    if lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
        raise ValueError("the weight intervals do not contain any vector that sums to 1")
    if k == 1:
        return np.ones((size, 1))
    last = int(np.argmax(hi - lo))  # solve for the widest interval: fewest rejections
    free = [j for j in range(k) if j != last]
    out = np.empty((0, k))
    while len(out) < size:
        n = max(64, 2 * (size - len(out)))
        w = np.empty((n, k))
        w[:, free] = rng.uniform(lo[free], hi[free], size=(n, k - 1))
        w[:, last] = 1.0 - w[:, free].sum(axis=1)
        ok = (w[:, last] >= lo[last] - 1e-12) & (w[:, last] <= hi[last] + 1e-12)
        out = np.vstack([out, w[ok]])
    return out[:size]


@dataclass
class SmaaResult:
    acceptability: np.ndarray  # options x ranks: b_i^r
    acceptability_se: np.ndarray  # Monte Carlo standard error of each index
    central_weights: np.ndarray  # options x criteria (NaN when the option is never first)
    confidence: np.ndarray  # options: confidence factor p_i^c
    draws: int  # outcome draws x weight draws


def _ranks(utility: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank (0 = best) of each option along the last axis; exact ties are broken at random."""
    tiebreak = rng.random(utility.shape)
    order = np.lexsort((tiebreak, -utility), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(utility.shape[-1]), axis=-1)
    return ranks


def smaa2(scores: np.ndarray, rng: np.random.Generator, *, draws_per_outcome: int = 200,
          centre: np.ndarray | None = None, half_width: float | None = None) -> SmaaResult:
    """SMAA-2 on normalised scores ``options x criteria x outcome draws`` (draws paired across options).

    For each outcome draw (a replication), ``draws_per_outcome`` weight vectors are sampled;
    utilities are weighted sums of the scores. The standard error of b_i^r treats the outcome
    draws as independent clusters (sd over draws of their own b_i^r, over sqrt(draws)); with a
    single outcome draw it is the binomial one.
    """
    m, k, r = scores.shape
    w = sample_weights(rng, r * draws_per_outcome, k, centre, half_width).reshape(r, draws_per_outcome, k)
    util = np.einsum("rdk,mkr->rdm", w, scores)  # outcome x weight draw x option
    ranks = _ranks(util, rng)
    onehot = ranks[..., None] == np.arange(m)  # r x d x option x rank
    per_outcome = onehot.mean(axis=1)  # r x option x rank
    b = per_outcome.mean(axis=0)
    if r >= 2:
        se = per_outcome.std(axis=0, ddof=1) / np.sqrt(r)
    else:
        se = np.sqrt(b * (1 - b) / draws_per_outcome)
    first = ranks == 0  # r x d x option
    central = np.full((m, k), np.nan)
    for i in range(m):
        sel = first[..., i]
        if sel.any():
            central[i] = w[sel].mean(axis=0)
    confidence = np.zeros(m)
    for i in range(m):
        if np.isnan(central[i]).any():
            continue
        u = np.einsum("k,mkr->rm", central[i], scores)  # outcome draws x options
        best = u.max(axis=1)
        confidence[i] = float(np.mean(u[:, i] >= best - 1e-12))
    return SmaaResult(b, se, central, confidence, r * draws_per_outcome)


# ---- double counting -------------------------------------------------------------------


def double_counting(p50: np.ndarray, names: list[str], benefit: np.ndarray,
                    threshold: float) -> tuple[dict[str, list[str]], dict[str, dict[str, float | None]]]:
    """Criteria that prefer the options in the same order: Spearman rho of their P50s across options >= threshold.

    Values are signed by direction first (a cost criterion counts negated), so rho > 0 means
    the two criteria agree on which options are better. Two such criteria measure one thing
    twice (energy and carbon within one region): their weights add up. Returns, per
    criterion, the criteria it double counts with, and the signed correlation matrix.
    """
    signed = np.where(benefit[None, :], p50, -p50)
    k = len(names)
    rho = np.full((k, k), np.nan)
    for a in range(k):
        for b in range(k):
            x, y = signed[:, a], signed[:, b]
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
                rho[a, b] = spearmanr(x[ok], y[ok]).statistic
    flags = {names[a]: [names[b] for b in range(k) if b != a and np.isfinite(rho[a, b]) and rho[a, b] >= threshold]
             for a in range(k)}
    table = {names[a]: {names[b]: (None if not np.isfinite(rho[a, b]) else round(float(rho[a, b]), 3)) for b in range(k)}
             for a in range(k)}
    return flags, table
