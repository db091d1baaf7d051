"""Weighted sum, TOPSIS and SMAA-2 on small matrices whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.decide.mcda import (
    double_counting,
    normalise,
    ranks_of,
    sample_weights,
    shared_bounds,
    smaa2,
    topsis,
    weighted_sum,
)

# Three options, a cost criterion (10, 20, 30) and a benefit criterion (0.5, 1.0, 0.0).
VALUES = np.array([[10.0, 0.5], [20.0, 1.0], [30.0, 0.0]])
BENEFIT = np.array([False, True])
WEIGHTS = np.array([0.6, 0.4])


def test_normalisation_maps_bounds_to_scores_with_direction():
    bounds = shared_bounds(VALUES[:, :, None])
    assert bounds.tolist() == [[10.0, 30.0], [0.0, 1.0]]
    # cost: 10 is best (1), 30 worst (0); benefit: 1.0 best
    np.testing.assert_allclose(normalise(VALUES, bounds, BENEFIT), [[1.0, 0.5], [0.5, 1.0], [0.0, 0.0]])


def test_weighted_sum_matches_hand_computation():
    scores = normalise(VALUES, shared_bounds(VALUES[:, :, None]), BENEFIT)
    # 0.6*1 + 0.4*0.5 = 0.8 ; 0.6*0.5 + 0.4*1 = 0.7 ; 0
    np.testing.assert_allclose(weighted_sum(scores, WEIGHTS), [0.8, 0.7, 0.0])


def test_topsis_matches_hand_computation():
    # weighted scores A (0.6, 0.2), B (0.3, 0.4), C (0, 0); ideal (0.6, 0.4), anti-ideal (0, 0)
    # A: D+ 0.2, D- sqrt(0.40); B: D+ 0.3, D- 0.5; C: D- 0
    p = topsis(VALUES, shared_bounds(VALUES[:, :, None]), BENEFIT, WEIGHTS)
    expected = [np.sqrt(0.4) / (np.sqrt(0.4) + 0.2), 0.5 / 0.8, 0.0]
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_topsis_equals_pymcdm_minmax_when_the_bounds_are_the_column_extremes():
    from pymcdm.methods import TOPSIS

    rng = np.random.default_rng(1)
    values = rng.uniform(1, 100, size=(6, 4))
    benefit = np.array([True, False, True, False])
    w = np.array([0.1, 0.2, 0.3, 0.4])
    ours = topsis(values, shared_bounds(values[:, :, None]), benefit, w)
    theirs = TOPSIS()(values, w, np.where(benefit, 1, -1), validation=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_bounds_are_shared_across_options_and_draws():
    # options x criteria x draws: the extremes sit in single draws, not at the medians
    values = np.array([[[1.0, 5.0, 9.0]], [[4.0, 5.0, 6.0]]])
    assert shared_bounds(values).tolist() == [[1.0, 9.0]]
    # With fixed bounds, an option's score does not depend on the other options present.
    bounds = np.array([[0.0, 40.0], [0.0, 1.0]])
    full = weighted_sum(normalise(VALUES, bounds, BENEFIT), WEIGHTS)
    alone = weighted_sum(normalise(VALUES[:1], bounds, BENEFIT), WEIGHTS)
    assert alone[0] == pytest.approx(full[0], rel=1e-12)


def test_ranks_share_ties():
    assert ranks_of(np.array([0.2, 0.9, 0.2, 0.5])).tolist() == [3, 1, 3, 2]


# ---- SMAA-2 ----------------------------------------------------------------------------

# Deterministic scores (1 draw): A = (1, 0), B = (0, 1), C = (0.6, 0.6). With w1 ~ U(0, 1):
# A first iff w1 > 0.6, B first iff w1 < 0.4, C first otherwise; then
# rank 2: A for 0.5 < w1 < 0.6, B for 0.4 < w1 < 0.5, C otherwise; rank 3: A iff w1 < 0.5.
THREE = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])[:, :, None]
EXACT_THREE = np.array([[0.4, 0.1, 0.5], [0.4, 0.1, 0.5], [0.2, 0.8, 0.0]])


def _within(est, se, exact, k=4.5):
    assert np.all(np.abs(est - exact) <= k * np.maximum(se, 1e-9)), (est, exact, se)


def test_smaa_two_symmetric_alternatives_split_evenly():
    res = smaa2(np.array([[1.0, 0.0], [0.0, 1.0]])[:, :, None], np.random.default_rng(3), draws_per_outcome=20_000)
    _within(res.acceptability, res.acceptability_se, np.full((2, 2), 0.5))


def test_smaa_three_alternatives_match_exact_acceptabilities():
    res = smaa2(THREE, np.random.default_rng(4), draws_per_outcome=40_000)
    _within(res.acceptability, res.acceptability_se, EXACT_THREE)
    # central weights: mean of w1 where each is first: U(0.6,1) -> 0.8, U(0,0.4) -> 0.2, U(0.4,0.6) -> 0.5
    np.testing.assert_allclose(res.central_weights, [[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]], atol=0.01)
    # deterministic outcomes: with its central weights each option is first for sure
    np.testing.assert_allclose(res.confidence, [1.0, 1.0, 1.0])


def test_smaa_weight_intervals_match_exact_acceptabilities():
    # w1 ~ U(0.3, 0.7): A first iff w1 > 0.6 (0.25), B iff w1 < 0.4 (0.25), C otherwise (0.5)
    res = smaa2(THREE, np.random.default_rng(5), draws_per_outcome=40_000, centre=np.array([0.5, 0.5]), half_width=0.2)
    _within(res.acceptability[:, 0], res.acceptability_se[:, 0], np.array([0.25, 0.25, 0.5]))


def test_smaa_dominated_alternative_never_ranks_first():
    scores = np.concatenate([THREE, np.array([[0.5, 0.5]])[:, :, None]])  # D is dominated by C
    res = smaa2(scores, np.random.default_rng(6), draws_per_outcome=5_000)
    assert res.acceptability[3, 0] == 0.0
    assert res.confidence[3] == 0.0 and np.isnan(res.central_weights[3]).all()


def test_smaa_outcome_draws_are_paired_across_options():
    # In every draw B beats A by a margin whatever the weights, though A's marginal is better
    # in half the draws: paired draws give B rank 1 always; unpaired ones would not.
    a = np.array([[0.9, 0.9], [0.1, 0.1]])  # criteria x draws: draw 0 high, draw 1 low
    b = a + 0.05
    res = smaa2(np.stack([a.T, b.T]).transpose(0, 2, 1), np.random.default_rng(7), draws_per_outcome=100)
    assert res.acceptability[1, 0] == 1.0 and res.acceptability[0, 0] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(2, 5), k=st.integers(1, 4), r=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
    intervals=st.booleans(),
)
def test_smaa_indices_sum_to_one_per_rank_and_per_option(m, k, r, seed, intervals):
    rng = np.random.default_rng(seed)
    scores = rng.random((m, k, r))
    centre = np.full(k, 1.0 / k) if intervals else None
    res = smaa2(scores, rng, draws_per_outcome=50, centre=centre, half_width=0.1 if intervals else None)
    np.testing.assert_allclose(res.acceptability.sum(axis=0), 1.0)
    np.testing.assert_allclose(res.acceptability.sum(axis=1), 1.0)
    assert np.all(res.acceptability_se >= 0)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 6), hw=st.floats(0.02, 0.5), seed=st.integers(0, 2**31 - 1))
def test_interval_weights_sum_to_one_and_stay_inside(k, hw, seed):
    rng = np.random.default_rng(seed)
    centre = rng.dirichlet(np.ones(k))
    w = sample_weights(rng, 200, k, centre, hw)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert np.all(w >= np.clip(centre - hw, 0, 1) - 1e-9) and np.all(w <= np.clip(centre + hw, 0, 1) + 1e-9)


def test_uniform_weights_are_uniform_on_the_simplex():
    w = sample_weights(np.random.default_rng(8), 50_000, 3)
    # Dirichlet(1,1,1): each marginal is Beta(1, 2), mean 1/3, variance 1/18
    np.testing.assert_allclose(w.mean(axis=0), 1 / 3, atol=0.005)
    np.testing.assert_allclose(w.var(axis=0), 1 / 18, atol=0.002)


def test_double_counting_flags_criteria_that_prefer_options_alike():
    energy = np.array([100.0, 80.0, 60.0, 120.0])
    carbon = energy * 0.05  # same region: carbon is energy times a constant
    latency = np.array([1.0, 5.0, 2.0, 3.0])
    headroom = np.array([0.9, 0.2, 0.7, 0.5])  # benefit, falls as latency rises: agrees with latency
    p50 = np.stack([energy, carbon, latency, headroom], axis=1)
    flags, table = double_counting(p50, ["energy", "carbon", "performance", "scalability"],
                                   np.array([False, False, False, True]), 0.9)
    assert flags["energy"] == ["carbon"] and flags["carbon"] == ["energy"]
    assert flags["performance"] == ["scalability"]
    assert table["energy"]["carbon"] == pytest.approx(1.0)
