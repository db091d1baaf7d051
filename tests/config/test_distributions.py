"""Distributions: sampled moments against their analytic values; exact parameterisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from sim.config.distributions import Z90, Uncertain, draw, mean_of

ADAPTER = TypeAdapter(Uncertain)
N = 200_000

CASES = [
    ({"dist": "fixed", "value": 3.5}, 3.5, 0.0),
    ({"dist": "normal", "mean": 10, "sd": 2}, 10.0, 4.0),
    ({"dist": "lognormal", "median": 2.0, "sigma": 0.5}, 2.0 * math.exp(0.125), (math.exp(0.25) - 1) * 4.0 * math.exp(0.25)),
    ({"dist": "uniform", "low": 3000, "high": 5000}, 4000.0, 2000**2 / 12),
    ({"dist": "triangular", "low": 1, "mode": 2, "high": 6}, 3.0, (1 + 4 + 36 - 2 - 6 - 12) / 18),
    ({"dist": "exponential", "mean": 60}, 60.0, 3600.0),
    ({"dist": "gamma", "mean": 5, "cv": 0.5}, 5.0, 6.25),
]


@pytest.mark.parametrize("spec, mean, var", CASES)
def test_sampled_moments_match_theory(spec, mean, var):
    d = ADAPTER.validate_python(spec)
    x = draw(d, np.random.default_rng(1), N)
    assert mean_of(d) == pytest.approx(mean, rel=1e-12)
    se = math.sqrt(var / N) if var else 1e-12
    assert abs(x.mean() - mean) < 5 * se + 1e-12
    if var:
        assert x.var() == pytest.approx(var, rel=0.05)


def test_lognormal_by_median_and_p90_puts_them_in_place():
    d = ADAPTER.validate_python({"dist": "lognormal", "median": 0.059, "p90": 0.10})
    x = draw(d, np.random.default_rng(2), N)
    assert np.median(x) == pytest.approx(0.059, rel=0.01)
    assert np.quantile(x, 0.9) == pytest.approx(0.10, rel=0.01)
    assert d.log_sigma == pytest.approx(math.log(0.10 / 0.059) / Z90)


def test_truncated_normal_stays_in_bounds_and_has_the_truncated_mean():
    d = ADAPTER.validate_python({"dist": "normal", "mean": 0, "sd": 1, "low": 0})
    x = draw(d, np.random.default_rng(3), N)
    assert x.min() >= 0
    # half-normal mean sqrt(2/pi)
    assert d.mean() == pytest.approx(math.sqrt(2 / math.pi), rel=1e-9)
    assert x.mean() == pytest.approx(math.sqrt(2 / math.pi), abs=5 * 0.6 / math.sqrt(N))


@pytest.mark.parametrize(("low", "high"), [(-0.5, 2.0), (None, -1.0), (1.5, None)])
def test_truncated_normal_follows_the_truncated_law(low, high):
    """Values kept and values redrawn mix into exactly the truncated normal (KS test vs scipy)."""
    d = ADAPTER.validate_python({"dist": "normal", "mean": 0, "sd": 1, "low": low, "high": high})
    x = draw(d, np.random.default_rng(5), N)
    a, b = -np.inf if low is None else low, np.inf if high is None else high
    assert x.min() >= a and x.max() <= b
    assert stats.kstest(x, stats.truncnorm(a, b).cdf).pvalue > 1e-3
    assert x.mean() == pytest.approx(d.mean(), abs=5 * x.std() / math.sqrt(N))


def test_empirical_resamples_the_given_values():
    d = ADAPTER.validate_python({"dist": "empirical", "values": [1, 2, 3]})
    x = draw(d, np.random.default_rng(4), 3000)
    assert set(np.unique(x)) == {1.0, 2.0, 3.0}
    assert d.mean() == 2.0


def test_plain_numbers_are_constants():
    assert draw(4.2, np.random.default_rng(0)) == 4.2
    assert np.all(draw(4.2, np.random.default_rng(0), 5) == 4.2)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "lognormal", "median": 1},
        {"dist": "lognormal", "median": 1, "p90": 0.5},
        {"dist": "uniform", "low": 2, "high": 1},
        {"dist": "triangular", "low": 1, "mode": 5, "high": 3},
        {"dist": "normal", "mean": 1, "sd": -1},
        {"dist": "weibull", "k": 1},
        {"dist": "exponential", "mean": 1, "rate": 2},
    ],
)
def test_invalid_specs_are_rejected(spec):
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(spec)


def test_same_generator_state_same_draws():
    d = ADAPTER.validate_python({"dist": "normal", "mean": 1, "sd": 1, "low": 0, "high": 3})
    a = draw(d, np.random.default_rng(9), 100)
    b = draw(d, np.random.default_rng(9), 100)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("size", [None, 0, 1, 100, 1023, 1024, 4096, 50_000])
def test_compiled_standard_normals_are_numpys(size):
    """The compiled draw gives NumPy's numbers and leaves the generator where NumPy would."""
    from sim.kernels.draws import standard_normal

    ours, theirs = np.random.Generator(np.random.SFC64(11)), np.random.Generator(np.random.SFC64(11))
    a, b = standard_normal(ours, size), theirs.standard_normal(size)
    assert np.array_equal(a, b)
    assert np.array_equal(ours.random(8), theirs.random(8))  # the next draws agree too


def test_normal_draws_as_numpy_normal():
    """An untruncated normal is ``mean + sd * z``, bit for bit what ``Generator.normal`` gives."""
    d = ADAPTER.validate_python({"dist": "normal", "mean": 4.35, "sd": 0.22})
    ours, theirs = np.random.Generator(np.random.SFC64(5)), np.random.Generator(np.random.SFC64(5))
    assert np.array_equal(draw(d, ours, 20_000), theirs.normal(4.35, 0.22, 20_000))
