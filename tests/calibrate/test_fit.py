"""Fit: recovers known coefficients from noisy synthetic data; reports outliers and failures."""

from __future__ import annotations

import numpy as np
import pytest

from calibrate.fit import fit_affine, fit_affine_detailed
from sim.config.distributions import mean_of


def _synthetic(rng, n=400, sigma=0.05):
    audio = rng.uniform(5, 300, n)
    tokens = rng.integers(10, 800, n).astype(float)
    mu = 2.0 + 0.06 * audio + 0.01 * tokens
    y = mu * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)  # mean-one residual
    return {"audio_second": audio, "output_token": tokens}, y


def test_recovers_coefficients_within_5_percent():
    units, y = _synthetic(np.random.default_rng(7))
    cost, q = fit_affine(units, y)
    assert mean_of(cost.intercept) == pytest.approx(2.0, rel=0.05)
    assert mean_of(cost.coef["audio_second"]) == pytest.approx(0.06, rel=0.05)
    assert mean_of(cost.coef["output_token"]) == pytest.approx(0.01, rel=0.05)
    assert cost.sigma == pytest.approx(0.05, rel=0.15)
    assert q.n == 400 and q.r2 > 0.95 and q.outliers == 0


def test_parameter_uncertainty_matches_spread_over_repeated_fits():
    rng = np.random.default_rng(11)
    est, sds = [], []
    for _ in range(60):
        units, y = _synthetic(rng, n=60, sigma=0.2)
        res = fit_affine_detailed(units, y)
        est.append(res.mean["audio_second"])
        sds.append(res.sd["audio_second"])
    # the reported standard error should describe the actual scatter of the estimate
    assert np.std(est) == pytest.approx(np.mean(sds), rel=0.35)


def test_outlier_is_reported_not_silently_dropped():
    units, y = _synthetic(np.random.default_rng(3), n=80)
    y[5] *= 20
    res = fit_affine_detailed(units, y)
    assert res.quality.outliers == 1 and res.outliers[5]
    assert "5" in res.quality.notes
    assert mean_of(res.cost.coef["audio_second"]) == pytest.approx(0.06, rel=0.05)


def test_failed_rows_and_constant_units_are_noted():
    rng = np.random.default_rng(5)
    units, y = _synthetic(rng, n=50)
    units["audio_window"] = np.ones(50)  # no variation beside the intercept
    y[:3] = np.nan
    cost, q = fit_affine(units, y)
    assert q.n == 47
    assert "3 sample(s)" in q.notes and "audio_window dropped" in q.notes
    assert "audio_window" not in cost.coef


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="need at least"):
        fit_affine({"audio_second": np.array([1.0, 2.0])}, np.array([1.0, 2.0]))
