"""Compiled SFC64 draws (``rng.draw_block``, ``distributions.draw_columns``) give NumPy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.columns import compiled_form, draw_columns, prepare_columns
from sim.config.distributions import (
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    draw,
)
from sim.kernels.draws import CONSTANT, LOGNORMAL, NORMAL, UNIFORM, draw_block
from sim.kernels.rng import Streams

N = 200_000  # enough normals to pass through every branch of the ziggurat


@pytest.mark.parametrize("names", [("job", "fr", "translation", "en"), ("files", "ar", "audio"), (3,), ()])
def test_state_is_where_the_generator_starts(names):
    streams = Streams(20261127, 5)
    assert np.array_equal(streams.state(*names), streams.rng(*names).bit_generator.state["state"]["state"])


def test_a_stream_beyond_the_compiled_seeding_still_gets_numpys_state():
    streams = Streams(2**200, 1)  # more entropy words than the compiled path holds: NumPy's SeedSequence
    assert np.array_equal(streams.state("x"), streams.rng("x").bit_generator.state["state"]["state"])


def test_normals_and_uniforms_are_numpys_bit_for_bit_and_leave_the_same_state():
    streams = Streams(7, 2)
    out = np.full((N + 10, 4), np.nan)
    cols = np.array([0, 1, 3])
    kinds = np.array([NORMAL, UNIFORM, CONSTANT])
    params = np.array([[1.5, 2.0, -np.inf, np.inf], [3.0, 2.0, 0, 0], [9.0, 0, 0, 0]])
    states = np.stack([streams.state("a"), streams.state("b"), np.zeros(4, dtype=np.uint64)])
    outside = draw_block(out, 5, N + 5, cols, kinds, params, states)
    a, b = streams.rng("a"), streams.rng("b")
    z = a.standard_normal(N)
    assert np.abs(z).max() > 3.66  # values from the ziggurat's tail were drawn
    assert np.array_equal(out[5 : N + 5, 0], 1.5 + 2.0 * z)
    assert np.array_equal(out[5 : N + 5, 1], b.uniform(3.0, 5.0, N))
    assert (out[5 : N + 5, 3] == 9.0).all()
    # rows and columns outside the block are untouched
    assert np.isnan(out[:5]).all() and np.isnan(out[N + 5 :]).all() and np.isnan(out[:, 2]).all()
    assert np.array_equal(states[0], a.bit_generator.state["state"]["state"])
    assert np.array_equal(states[1], b.bit_generator.state["state"]["state"])
    assert outside.tolist() == [0, 0, 0]


def test_normals_outside_the_bounds_are_counted():
    streams = Streams(7, 3)
    out = np.empty((N, 1))
    states = streams.state("t")[None, :].copy()
    outside = draw_block(out, 0, N, np.array([0]), np.array([NORMAL]), np.array([[0.0, 1.0, -1.0, 1.0]]), states)
    assert outside[0] == ((out[:, 0] < -1.0) | (out[:, 0] > 1.0)).sum() > 0


def test_lognormals_are_numpys_to_the_last_bit_of_exp():
    streams = Streams(7, 4)
    out = np.empty((N, 1))
    states = streams.state("l")[None, :].copy()
    draw_block(out, 0, N, np.array([0]), np.array([LOGNORMAL]), np.array([[np.log(300.0), 0.66, 0, 0]]), states)
    ref = np.exp(np.log(300.0) + 0.66 * streams.rng("l").standard_normal(N))
    np.testing.assert_allclose(out[:, 0], ref, rtol=4e-16, atol=0)


SPECS = [
    Normal(dist="normal", mean=14, sd=2),
    Normal(dist="normal", mean=4.0, sd=1.0, low=3.0),  # a sixth of the draws fall below and are mapped inside
    Normal(dist="normal", mean=0.0, sd=1.0, low=-0.5, high=0.7),
    Normal(dist="normal", mean=2.0, sd=0.0),
    LogNormal(dist="lognormal", median=300, p90=700),
    Uniform(dist="uniform", low=3000, high=5000),
    Fixed(dist="fixed", value=3.0),
    2.5,
    Triangular(dist="triangular", low=0, mode=1, high=3),
    Exponential(dist="exponential", mean=2.0),
    Gamma(dist="gamma", mean=2, cv=0.5),
    Empirical(dist="empirical", values=[1.0, 5.0, 7.0]),
]


def test_columns_hold_what_draw_gives_from_each_columns_stream():
    """Every family, compiled or not, in one call: the values ``draw`` gives with the same
    stream (truncated normals to 1e-12: their mapping inside the bounds starts from a value
    recomputed from ``mean + sd * z``)."""
    streams = Streams(11, 0)
    n, first = 40_000, 100
    out = np.full((first + n + 50, len(SPECS) + 2), np.nan)
    columns = [(k + 1, spec, ("col", k)) for k, spec in enumerate(SPECS)]
    draw_columns(out, slice(first, first + n), columns, streams)
    for k, spec in enumerate(SPECS):
        ref = draw(spec, streams.rng("col", k), n)
        np.testing.assert_allclose(out[first : first + n, k + 1], ref, rtol=1e-12, atol=0, err_msg=str(spec))
        truncated = isinstance(spec, Normal) and (spec.low is not None or spec.high is not None)
        if not (truncated or isinstance(spec, LogNormal)):  # the rest bit for bit
            assert np.array_equal(out[first : first + n, k + 1], ref), spec
    bounded = SPECS[2]
    assert out[first : first + n, 3].min() >= bounded.low and out[first : first + n, 3].max() <= bounded.high
    assert np.isnan(out[:first]).all() and np.isnan(out[first + n :]).all()
    assert np.isnan(out[:, 0]).all() and np.isnan(out[:, -1]).all()


def test_prepared_columns_draw_what_the_list_draws():
    """``prepare_columns`` once, then every replication: the same values as the list form,
    truncated normals and NumPy-only families included."""
    columns = [(k, spec, ("col", k)) for k, spec in enumerate(SPECS)]
    prepared = prepare_columns(columns)
    assert len(prepared.truncated) == sum(isinstance(s, Normal) and (s.low is not None or s.high is not None) for s in SPECS)
    for rep in (0, 3):
        a, b = np.full((5_000, len(SPECS)), np.nan), np.full((5_000, len(SPECS)), np.nan)
        draw_columns(a, slice(0, 5_000), columns, Streams(11, rep))
        draw_columns(b, slice(0, 5_000), prepared, Streams(11, rep))
        assert np.array_equal(a, b)


def test_only_samplers_numpy_alone_has_are_left_to_draw():
    assert compiled_form(Gamma(dist="gamma", mean=2, cv=0.5)) is None
    assert compiled_form(1.0) == (CONSTANT, (1.0, 0.0, 0.0, 0.0))
    assert compiled_form(Uniform(dist="uniform", low=1, high=3)) == (UNIFORM, (1.0, 2.0, 0.0, 0.0))
