"""The compiled standard normal CDF and inverse CDF, against the standard library and SciPy;
the truncated normal's mapping inside its bounds."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import special

from sim.kernels.normal import cdf, map_inside, ppf

RNG = np.random.default_rng(20261127)
# the middle, and both tails down to 1e-300 and up to 1 - 1e-16
PROBABILITIES = np.concatenate([RNG.random(5000), 10.0 ** -RNG.uniform(0, 300, 2000), 1 - 10.0 ** -RNG.uniform(1, 16, 2000)])


def test_inverse_cdf_is_the_standard_librarys_as241_bit_for_bit_and_scipys_to_1e_14():
    ours = np.array([ppf(p) for p in PROBABILITIES])
    stdlib = np.array([statistics.NormalDist().inv_cdf(p) for p in PROBABILITIES])
    assert np.array_equal(ours, stdlib)
    assert np.allclose(ours, special.ndtri(PROBABILITIES), rtol=1e-14, atol=0)


def test_inverse_cdf_at_and_beyond_its_ends():
    assert ppf(0.0) == -np.inf and ppf(1.0) == np.inf and ppf(0.5) == 0.0
    assert np.isnan(ppf(-0.1)) and np.isnan(ppf(1.1)) and np.isnan(ppf(np.nan))


def test_cdf_is_scipys_to_1e_13_and_inverts_the_inverse():
    x = np.linspace(-37.0, 8.0, 9001)
    ours = np.array([cdf(v) for v in x])
    assert np.allclose(ours, special.ndtr(x), rtol=1e-13, atol=0)
    assert cdf(0.0) == 0.5 and cdf(-np.inf) == 0.0 and cdf(np.inf) == 1.0
    middle = PROBABILITIES[(PROBABILITIES > 1e-12) & (PROBABILITIES < 1 - 1e-12)]
    assert np.allclose([cdf(ppf(p)) for p in middle], middle, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("alpha, beta", [(-2.0, 2.0), (-np.inf, 0.5), (-1.0, np.inf), (0.0, np.inf), (1.0, 1.5)])
def test_values_outside_the_bounds_map_inside_as_the_inverse_cdf_of_their_tail_probability(alpha, beta):
    """Each rejected z goes to x = ppf(F(alpha) + v (F(beta) - F(alpha))), v its tail
    probability over the tails' mass (the formula, evaluated by SciPy). Compared as F(x),
    to 1e-15: x itself moves by 1e-12 near p = 1 for a last-bit change in p; the values
    stay inside."""
    z = RNG.normal(size=50_000)
    z = z[(z < alpha) | (z > beta)]
    below, above = special.ndtr(alpha), special.ndtr(-beta)
    v = np.where(z < alpha, special.ndtr(z) / (below + above), 1.0 - special.ndtr(-z) / (below + above))
    mapped = map_inside(z, alpha, beta)
    assert np.allclose(special.ndtr(mapped), below + v * (1.0 - above - below), rtol=0, atol=1e-15)
    assert mapped.min() >= alpha and mapped.max() <= beta
