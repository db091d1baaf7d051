"""Fit affine cost models with multiplicative lognormal residuals.

The model (DESIGN.md, sim/profile.py): ``y = mu * exp(sigma*z - sigma**2/2)`` with
``mu = intercept + sum(coef[u] * x[u])``. Residuals are multiplicative, so the spread of
``y`` grows with ``mu``: ordinary least squares would let the largest samples dominate.
We minimise the *relative* error ``sum(((y - mu)/mu)**2)`` by iteratively reweighted,
non-negative least squares (times and energies cannot fall with more work), which is the
maximum-likelihood direction for a constant coefficient of variation, and estimate
``sigma`` from the log residuals. Coefficient uncertainty comes from the weighted fit's
covariance and is exported as truncated normals (epistemic, drawn once per replication).

Outliers (robust z of the log residual above a threshold) are excluded from the final
fit and counted in the returned ``FitQuality``; their indices are in ``FitResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from sim.config.distributions import Normal, Uncertain
from sim.config.profile import AffineCost, FitQuality

# Robust z (MAD-based) beyond which a log residual is called an outlier.
OUTLIER_Z = 4.0


@dataclass
class FitResult:
    """Everything the fit found: the cost model, its quality and which rows were outliers."""

    cost: AffineCost
    quality: FitQuality
    outliers: np.ndarray  # boolean mask over the input rows
    mean: dict[str, float] = field(default_factory=dict)  # point estimates, "intercept" included
    sd: dict[str, float] = field(default_factory=dict)  # their standard errors


def _uncertain(mean: float, sd: float) -> Uncertain:
    """A coefficient as a number, or as a normal truncated at 0 when its error is known."""
    if not np.isfinite(sd) or sd <= 0 or mean <= 0:
        return float(mean)
    return Normal.model_validate({"dist": "normal", "mean": float(mean), "sd": float(sd), "low": 0.0})


def _usable_columns(X: np.ndarray, names: list[str]) -> tuple[list[int], list[str]]:
    """Keep columns that add rank (in order); say why the others were dropped."""
    keep: list[int] = []
    notes: list[str] = []
    for j, name in enumerate(names):
        trial = X[:, keep + [j]]
        if np.linalg.matrix_rank(trial, tol=1e-9 * max(1.0, np.abs(trial).max())) == len(keep) + 1:
            keep.append(j)
        elif name != "intercept":
            notes.append(f"{name} dropped: no independent variation in the samples")
    return keep, notes


def _wnnls(X: np.ndarray, y: np.ndarray, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative least squares of relative error, by reweighting with 1/mu**2."""
    beta, _ = nnls(X, y)
    for _ in range(iters):
        mu = np.maximum(X @ beta, 1e-12 * max(np.abs(y).max(), 1e-300))
        w = 1.0 / mu
        new, _ = nnls(X * w[:, None], y * w)
        if np.allclose(new, beta, rtol=1e-10, atol=0):
            beta = new
            break
        beta = new
    mu = np.maximum(X @ beta, 1e-300)
    return beta, mu


def fit_affine_detailed(
    units: dict[str, np.ndarray],
    y: np.ndarray,
    *,
    intercept: bool = True,
    outlier_z: float = OUTLIER_Z,
) -> FitResult:
    """Fit ``y ~ (intercept + sum coef[u]*units[u]) * lognormal`` and report how well it fits.

    ``units`` maps a unit name (sim.config.units.UNITS) to per-sample amounts; ``y`` holds the
    positive measured values (seconds or joules above idle). Non-finite or non-positive
    ``y`` are counted as failed rows in the notes and excluded. Raises ValueError when
    fewer usable samples remain than parameters + 1.
    """
    y = np.asarray(y, dtype=float)
    names = list(units)
    cols = [np.asarray(units[u], dtype=float) for u in names]
    for u, c in zip(names, cols):
        if c.shape != y.shape:
            raise ValueError(f"unit {u!r} has {c.shape[0]} values but y has {y.shape[0]}")
    all_names = (["intercept"] if intercept else []) + names
    X = np.column_stack(([np.ones_like(y)] if intercept else []) + cols) if all_names else np.empty((len(y), 0))
    notes: list[str] = []
    valid = np.isfinite(y) & (y > 0) & np.all(np.isfinite(X), axis=1)
    if (~valid).any():
        notes.append(f"{int((~valid).sum())} sample(s) with non-positive or missing values excluded")
    keep, drop_notes = _usable_columns(X[valid], all_names)
    notes += drop_notes
    Xk = X[:, keep]
    p = len(keep)
    if valid.sum() < p + 1:
        raise ValueError(f"need at least {p + 1} valid samples to fit {[all_names[j] for j in keep]}, got {int(valid.sum())}")

    inliers = valid.copy()
    beta, _ = _wnnls(Xk[inliers], y[inliers])
    # One pass of outlier rejection on the robust z of the log residual.
    r = np.log(y[valid] / np.maximum(Xk[valid] @ beta, 1e-300))
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    outliers = np.zeros_like(valid)
    if mad > 0:
        z = np.abs(r - np.median(r)) / mad
        outliers[np.flatnonzero(valid)[z > outlier_z]] = True
    if outliers.any() and (valid & ~outliers).sum() >= p + 1:
        inliers = valid & ~outliers
        beta, _ = _wnnls(Xk[inliers], y[inliers])
        notes.append(f"outlier rows {np.flatnonzero(outliers).tolist()} excluded (robust z > {outlier_z})")
    else:
        outliers[:] = False

    Xi, yi = Xk[inliers], y[inliers]
    mu = np.maximum(Xi @ beta, 1e-300)
    n = len(yi)
    dof = max(n - p, 1)
    logr = np.log(yi / mu)
    sigma = float(np.sqrt(np.sum((logr - logr.mean()) ** 2) / dof)) if n > p else 0.0
    # Covariance of the relative-error WLS: s^2 (X' W X)^-1 with W = 1/mu^2.
    rel = (yi - mu) / mu
    s2 = float(np.sum(rel**2) / dof)
    Xw = Xi / mu[:, None]
    try:
        cov = s2 * np.linalg.inv(Xw.T @ Xw)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(p, np.nan)
    for j, b in enumerate(beta):
        if b == 0.0 and all_names[keep[j]] != "intercept":
            notes.append(f"{all_names[keep[j]]} fitted at 0 (constrained non-negative)")

    mean = {all_names[k]: float(b) for k, b in zip(keep, beta)}
    sd = {all_names[k]: float(s) for k, s in zip(keep, se)}
    coef = {u: _uncertain(mean[u], sd[u]) for u in names if u in mean}
    cost = AffineCost(
        intercept=_uncertain(mean.get("intercept", 0.0), sd.get("intercept", 0.0)),
        coef=coef,
        sigma=sigma,
    )
    ss_res = float(np.sum((yi - mu) ** 2))
    ss_tot = float(np.sum((yi - yi.mean()) ** 2))
    quality = FitQuality(
        n=n,
        r2=(1.0 - ss_res / ss_tot) if ss_tot > 0 else None,
        rmse=float(np.sqrt(ss_res / n)),
        outliers=int(outliers.sum()),
        notes="; ".join(notes),
    )
    return FitResult(cost=cost, quality=quality, outliers=outliers, mean=mean, sd=sd)


def fit_affine(
    units: dict[str, np.ndarray],
    y: np.ndarray,
    *,
    intercept: bool = True,
    outlier_z: float = OUTLIER_Z,
) -> tuple[AffineCost, FitQuality]:
    """Fit an affine cost model; see ``fit_affine_detailed``. Returns (AffineCost, FitQuality)."""
    res = fit_affine_detailed(units, y, intercept=intercept, outlier_z=outlier_z)
    return res.cost, res.quality
