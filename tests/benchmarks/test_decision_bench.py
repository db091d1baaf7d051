"""Benchmarks of the ranking step at the size of the default decision (not in the default run)."""

from __future__ import annotations

import numpy as np

from sim.decide.mcda import smaa2


def test_smaa2_default_size(benchmark):
    # 11 options (baseline + 10), 5 ranked criteria, 50 replications, 200 weight draws each
    rng = np.random.default_rng(0)
    scores = rng.random((11, 5, 50))
    res = benchmark(lambda: smaa2(scores, np.random.default_rng(1), draws_per_outcome=200,
                                  centre=np.array([0.3, 0.3, 0.2, 0.1, 0.1]), half_width=0.1))
    np.testing.assert_allclose(res.acceptability.sum(axis=0), 1.0)
    assert res.draws == 50 * 200
