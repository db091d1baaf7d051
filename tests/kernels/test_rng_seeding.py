"""Streams give NumPy's generators for each name, and the compiled draws start where they do."""

from __future__ import annotations

import pickle
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.kernels.rng import Streams

BIG = (0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1)
NAMES = [
    (),
    ("job",),
    ("job", "fr", "translation", "en"),
    ("decision", "smaa"),
    (0,),
    (2**32 - 1, "x"),
    (2**32, 2**63, 2**64 - 1),
    (zlib.crc32(b"service"), 3, "ar"),
    tuple(f"part{i}" for i in range(12)),
]
CASES = [(root, rep, names) for root in BIG + (12345,) for rep in (0, 7, 2**32, 2**63) for names in NAMES]


def _numpy_rng(root, rep, names):
    key = (rep, *(n if isinstance(n, int) else zlib.crc32(n.encode("utf-8")) for n in names))
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(root, spawn_key=key)))


def _same(a: np.random.Generator, b: np.random.Generator, n: int = 1000):
    assert np.array_equal(a.integers(0, 2**63, n, dtype=np.int64), b.integers(0, 2**63, n, dtype=np.int64))
    assert np.array_equal(a.standard_normal(n), b.standard_normal(n))
    sa, sb = a.bit_generator.state, b.bit_generator.state
    assert sa["bit_generator"] == sb["bit_generator"] == "SFC64"
    assert np.array_equal(sa["state"]["state"], sb["state"]["state"])
    assert (sa["has_uint32"], sa["uinteger"]) == (sb["has_uint32"], sb["uinteger"])


@pytest.mark.parametrize(("root", "rep", "names"), CASES)
def test_compiled_start_state_is_numpys(root, rep, names):
    """The compiled SFC64 seeding (``sfc64_seeded``) lands where NumPy's SFC64 starts."""
    state = Streams(root, rep).state(*names)
    assert state.dtype == np.uint64
    assert np.array_equal(state, _numpy_rng(root, rep, names).bit_generator.state["state"]["state"])


@pytest.mark.parametrize(("root", "rep", "names"), CASES)
def test_rng_draws_numpys_numbers(root, rep, names):
    _same(Streams(root, rep).rng(*names), _numpy_rng(root, rep, names))


def test_same_names_same_numbers_every_call():
    s = Streams(3, 1)
    _same(s.rng("a", "b"), s.rng("a", "b"))
    assert s.rng("a", "b").random() != s.rng("a", "c").random()


@settings(max_examples=300, deadline=None)
@given(
    root=st.integers(0, 2**64 - 1),
    rep=st.integers(0, 2**64 - 1),
    keys=st.lists(
        st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.text(max_size=8)), max_size=6
    ),
)
def test_random_inputs_match_numpy(root, rep, keys):
    names = tuple(keys)
    a, b = Streams(root, rep).rng(*names), _numpy_rng(root, rep, names)
    assert np.array_equal(Streams(root, rep).state(*names), b.bit_generator.state["state"]["state"])
    assert np.array_equal(a.random(50), b.random(50))
    assert np.array_equal(a.bit_generator.state["state"]["state"], b.bit_generator.state["state"]["state"])


@pytest.mark.parametrize(
    ("root", "rep", "names"),
    [
        (2**64, 0, ("a",)),  # root wider than 64 bits: still exact (more words)
        (2**200 + 7, 3, ("a", 2**100)),
        (1, 2**70, ()),
        (1, 2, tuple(range(70))),  # more words than the buffer holds: NumPy's own way
    ],
)
def test_wide_or_long_inputs_match_numpy(root, rep, names):
    _same(Streams(root, rep).rng(*names), _numpy_rng(root, rep, names))


def test_fallback_is_numpys():
    s = Streams(1, 2)
    long = tuple(range(70))
    a = s.rng(*long)
    assert isinstance(a.bit_generator.seed_seq, np.random.SeedSequence)
    _same(a, _numpy_rng(1, 2, long))
    # Negative keys: NumPy's error, unchanged.
    with pytest.raises(ValueError):
        s.rng("a", -1)
    with pytest.raises(ValueError):
        Streams(-1, 0).rng("a")
    with pytest.raises(ValueError):
        Streams(0, -1).rng("a")


def test_seed_sequence_unchanged_and_agrees():
    s = Streams(42, 5)
    ss = s.seed_sequence("job", "fr")
    assert isinstance(ss, np.random.SeedSequence)
    assert ss.entropy == 42 and ss.spawn_key == (5, zlib.crc32(b"job"), zlib.crc32(b"fr"))
    _same(s.rng("job", "fr"), np.random.Generator(np.random.SFC64(ss)))


def test_seed_seq_still_behaves_like_numpys():
    a, b = Streams(9, 4).rng("x", 1), _numpy_rng(9, 4, ("x", 1))
    sa, sb = a.bit_generator.seed_seq, b.bit_generator.seed_seq
    assert sa.entropy == sb.entropy and sa.spawn_key == sb.spawn_key
    assert np.array_equal(sa.pool, sb.pool)
    assert np.array_equal(sa.generate_state(8), sb.generate_state(8))
    assert np.array_equal(sa.generate_state(3, np.uint64), sb.generate_state(3, np.uint64))
    # spawning (and spawning again) gives NumPy's children
    for ca, cb in zip(a.spawn(2) + a.spawn(1), b.spawn(2) + b.spawn(1)):
        _same(ca, cb, 100)


def test_generator_pickles():
    a = Streams(9, 4).rng("x")
    a.random(3)
    b = pickle.loads(pickle.dumps(a))
    _same(a, b)
    c = pickle.loads(pickle.dumps(Streams(9, 4).rng("x")))
    _same(c, _numpy_rng(9, 4, ("x",)))


@pytest.mark.parametrize("root", [12345, 2**64 - 1, 2**200])
def test_states_in_one_batch_are_each_streams_state(root):
    """``Streams.states`` seeds many streams in one call: each row is ``state(*names)``, also
    where the entropy (a huge name or root) needs NumPy's own seeding."""
    batch = tuple(NAMES) + (("x", 2**2000),)
    for rep in (0, 9):
        streams = Streams(root, rep)
        got = streams.states(batch)
        assert got.shape == (len(batch), 4) and got.dtype == np.uint64
        for row, names in zip(got, batch):  # where each stream's own generator starts
            assert np.array_equal(row, streams.rng(*names).bit_generator.state["state"]["state"]), names
    assert Streams(root, 0).states(()).shape == (0, 4)


def test_states_refuse_what_numpy_refuses():
    with pytest.raises(ValueError, match="non-negative"):
        Streams(1, 0).states((("x",), ("y", -1)))
