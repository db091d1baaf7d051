"""Random streams: one root seed, one independent stream per replication and component.

Streams are keyed by name (``SeedSequence(root, spawn_key=(rep, crc32(name)...))``) rather
than by spawn order, so adding a language or a service never shifts the numbers another
component draws: that is what makes common random numbers across decision options work.
No global RNG is used anywhere. ``Streams.rng`` computes that SeedSequence's seed state with
a compiled copy of NumPy's algorithm (below): the same generators, at a fraction of the cost.
"""

from __future__ import annotations

import zlib

import numpy as np

# NumPy's ziggurat tables, as numba copies them for its own Generator support (the tests
# check the draws against NumPy's bit for bit, so a change there cannot pass unnoticed).
from numba.np.random._constants import fi_double as _FI
from numba.np.random._constants import ki_double as _KI
from numba.np.random._constants import wi_double as _WI
from numba.np.random._constants import ziggurat_nor_inv_r as _NOR_INV_R
from numba.np.random._constants import ziggurat_nor_r as _NOR_R
from numpy.random.bit_generator import ISpawnableSeedSequence

from .compiled import njit

# Below this many values NumPy's own call is cheaper: reading and writing back the
# generator's state costs a few µs.
_COMPILED_FROM = 1024

_MASK32 = 0xFFFFFFFF
_WORDS = 64  # uint32 entropy words a Streams buffer holds before rng() falls back to NumPy


def _key(part: str | int) -> int:
    return part if isinstance(part, int) else zlib.crc32(part.encode("utf-8"))


# --- SeedSequence, compiled -------------------------------------------------------------
# A replication builds ~75 streams, and NumPy's SeedSequence (construction plus
# generate_state) costs ~15 µs a stream, most of the stream's cost. _sfc64_state below is
# a line-for-line copy of NumPy's algorithm (numpy/random/bit_generator.pyx:
# SeedSequence.get_assembled_entropy, mix_entropy, hashmix, mix, generate_state; itself
# after Melissa O'Neill's seed_seq_fe), so the state words, and hence every number drawn,
# are bit for bit those of np.random.SeedSequence(root, spawn_key=key). The arithmetic is
# uint32 in NumPy; here it is uint64 masked to 32 bits (the low 32 bits of a wrapped uint64
# product or difference are the uint32 result), which sidesteps numba's integer promotion.
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_MULT_L = np.uint64(0xCA01F9DD)
_MIX_MULT_R = np.uint64(0x4973F715)
_XSHIFT = np.uint64(16)
_M32 = np.uint64(_MASK32)
_SHIFT32 = np.uint64(32)


@njit(cache=True)
def _sfc64_state(words, n):
    """``SeedSequence.generate_state(4, np.uint64)`` for the assembled entropy ``words[:n]``.

    ``words`` (uint32) is run entropy, zero-padded to the pool size of 4 words, then the
    spawn key's words: what ``get_assembled_entropy`` returns.
    """
    pool = np.empty(4, dtype=np.uint64)
    h = _INIT_A
    # mix_entropy: hash the first pool_size words (or zeros) into the pool ...
    for i in range(4):
        v = np.uint64(words[i]) if i < n else np.uint64(0)
        v ^= h
        h = (h * _MULT_A) & _M32
        v = (v * h) & _M32
        v ^= v >> _XSHIFT
        pool[i] = v
    # ... mix every pool word into every other ...
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                v = pool[i_src] ^ h
                h = (h * _MULT_A) & _M32
                v = (v * h) & _M32
                v ^= v >> _XSHIFT
                r = (_MIX_MULT_L * pool[i_dst] - _MIX_MULT_R * v) & _M32
                pool[i_dst] = r ^ (r >> _XSHIFT)
    # ... and mix each remaining entropy word into every pool word.
    for i_src in range(4, n):
        for i_dst in range(4):
            v = np.uint64(words[i_src]) ^ h
            h = (h * _MULT_A) & _M32
            v = (v * h) & _M32
            v ^= v >> _XSHIFT
            r = (_MIX_MULT_L * pool[i_dst] - _MIX_MULT_R * v) & _M32
            pool[i_dst] = r ^ (r >> _XSHIFT)
    # generate_state: 8 uint32 words cycling over the pool, read as 4 little-endian uint64.
    out = np.empty(4, dtype=np.uint64)
    hb = _INIT_B
    for i_dst in range(8):
        v = pool[i_dst % 4] ^ hb
        hb = (hb * _MULT_B) & _M32
        v = (v * hb) & _M32
        v ^= v >> _XSHIFT
        if i_dst % 2 == 0:
            out[i_dst // 2] = v
        else:
            out[i_dst // 2] |= v << _SHIFT32
    return out


def _put_words(buf: np.ndarray, at: int, x: int) -> int:
    """Write ``x``'s uint32 words (little end first, 0 as one word, as NumPy's
    ``_int_to_uint32_array``) into ``buf`` from ``at``; the next free index, or -1 when
    ``x`` is not a non-negative int or does not fit."""
    if not isinstance(x, int) or x < 0:
        return -1
    while True:
        if at >= len(buf):
            return -1
        buf[at] = x & _MASK32
        at += 1
        x >>= 32
        if not x:
            return at


class _SeedState(ISpawnableSeedSequence):
    """The precomputed SFC64 seed state of ``SeedSequence(entropy, spawn_key=spawn_key)``.

    ``SFC64`` asks only for ``generate_state(3, np.uint64)``; anything else (other sizes,
    ``spawn``, ``pool``, ``entropy`` ...) goes to the real SeedSequence, built on first use,
    so ``rng.bit_generator.seed_seq`` still behaves like one.
    """

    __slots__ = ("_state", "_entropy", "_spawn_key", "_seq")

    def __init__(self, state: np.ndarray, entropy: int, spawn_key: tuple[int, ...]):
        self._state = state
        self._entropy = entropy
        self._spawn_key = spawn_key
        self._seq = None

    def _real(self) -> np.random.SeedSequence:
        if self._seq is None:
            self._seq = np.random.SeedSequence(self._entropy, spawn_key=self._spawn_key)
        return self._seq

    def generate_state(self, n_words, dtype=np.uint32):
        # SFC64 asks for 3 words; generate_state(n) is the first n words of generate_state(4).
        if dtype is np.uint64 and 0 <= n_words <= 4:
            return self._state[:n_words].copy()
        return self._real().generate_state(n_words, dtype)

    def spawn(self, n_children):
        return self._real().spawn(n_children)

    def __getattr__(self, name):
        if name.startswith("__") or name in _SeedState.__slots__:
            raise AttributeError(name)
        return getattr(self._real(), name)


class Streams:
    """Factory of named ``numpy.random.Generator`` streams for one replication."""

    def __init__(self, root_seed: int, replication: int):
        self.root_seed = int(root_seed)
        self.replication = int(replication)
        # Assembled entropy: root seed's words, zero-padded to the pool size of 4 (a spawn
        # key is always present), then the replication's; rng() appends the names' words.
        self._words = np.zeros(_WORDS, dtype=np.uint32)
        end = _put_words(self._words, 0, self.root_seed)
        end = _put_words(self._words, max(end, 4), self.replication) if end >= 0 else -1
        self._prefix = end

    def seed_sequence(self, *names: str | int) -> np.random.SeedSequence:
        key = (self.replication, *(_key(n) for n in names))
        return np.random.SeedSequence(self.root_seed, spawn_key=key)

    def rng(self, *names: str | int) -> np.random.Generator:
        """The generator for component ``names`` (same names, same numbers)."""
        # SFC64 (NumPy's): passes the same statistical test batteries as PCG64 and draws
        # normals about a fifth faster, and a replication draws millions of them.
        words, end, keys = self._entropy(names)
        if end < 0:  # negative, not an int, or too many words: NumPy's way, and its errors
            return np.random.Generator(np.random.SFC64(self.seed_sequence(*names)))
        seed = _SeedState(_sfc64_state(words, end), self.root_seed, (self.replication, *keys))
        return np.random.Generator(np.random.SFC64(seed))

    def state(self, *names: str | int) -> np.ndarray:
        """The SFC64 state (uint64 a, b, c, counter) that ``rng(*names)`` starts from, for
        the compiled draws (``draw_block``): drawn from, it gives ``rng(*names)``'s numbers."""
        return self.states((names,))[0]

    def states(self, streams: tuple[tuple[str | int, ...], ...]) -> np.ndarray:
        """The SFC64 state ``rng(*names)`` starts from, for each ``names`` in ``streams``, as
        rows of a (k, 4) array.

        One compiled call seeds them all; the names' entropy words are computed once per
        ``streams`` tuple and kept (a replication's streams have the same names as the last's).
        Names the compiled seeding cannot take go to NumPy's SeedSequence, with its errors.
        """
        batch = _batch_of(streams)
        if batch is None or self._prefix < 0 or self._prefix + batch[2] > _WORDS:
            seeds = [self.seed_sequence(*names).generate_state(3, np.uint64) for names in streams]
            return np.array([_sfc64_seeded(s[0], s[1], s[2]) for s in seeds], dtype=np.uint64).reshape(len(streams), 4)
        return _batch_states(self._words, self._prefix, batch[0], batch[1])

    def _entropy(self, names: tuple) -> tuple[np.ndarray, int, list[int]]:
        """The assembled entropy words of stream ``names``, their count (-1 when NumPy's own
        SeedSequence must build them), and the names' keys."""
        keys = [_key(n) for n in names]
        end = self._prefix
        words = self._words.copy()  # a private buffer: safe if threads share this Streams
        for k in keys:
            if end < 0:
                break
            end = _put_words(words, end, k)
        return words, end, keys


_BATCHES: dict[tuple, tuple[np.ndarray, np.ndarray, int] | None] = {}


def _batch_of(streams: tuple[tuple[str | int, ...], ...]) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The names' entropy words end to end, where each stream's start, and the longest
    stream's count; None when some name needs NumPy's own SeedSequence (cached)."""
    if streams in _BATCHES:
        return _BATCHES[streams]
    buf = np.zeros(_WORDS, dtype=np.uint32)
    words: list[np.ndarray] = []
    start = [0]
    batch: tuple[np.ndarray, np.ndarray, int] | None = None
    for names in streams:
        end = 0
        for name in names:
            end = _put_words(buf, end, _key(name)) if end >= 0 else -1
        if end < 0:
            break
        words.append(buf[:end].copy())
        start.append(start[-1] + end)
    else:
        lengths = np.diff(start)
        batch = (np.concatenate(words) if words else np.zeros(0, np.uint32), np.asarray(start, dtype=np.int64),
                 int(lengths.max()) if len(lengths) else 0)
    if len(_BATCHES) > 10_000:  # a long-lived process that built many scenarios
        _BATCHES.clear()
    _BATCHES[streams] = batch
    return batch


@njit(cache=True)
def _batch_states(prefix, n_prefix, words, start):
    """SFC64 states of the streams whose name words are ``words[start[i]:start[i + 1]]``,
    after the replication's entropy ``prefix[:n_prefix]`` (``Streams.states``)."""
    k = len(start) - 1
    out = np.empty((k, 4), dtype=np.uint64)
    buf = np.empty(len(prefix), dtype=np.uint32)
    for j in range(n_prefix):
        buf[j] = prefix[j]
    for i in range(k):
        n = n_prefix
        for j in range(start[i], start[i + 1]):
            buf[n] = words[j]
            n += 1
        s = _sfc64_state(buf, n)
        out[i] = _sfc64_seeded(s[0], s[1], s[2])
    return out


def standard_normal(rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
    """``rng.standard_normal(size)``: the same numbers, and the generator left in the same state.

    Large batches from an SFC64 generator (every stream of ``Streams``) are drawn by the
    compiled ziggurat below (``_normal``), about twice as fast as NumPy, which calls the bit
    generator through a pointer per value; the generator's state is read before and written
    back after. Small batches and other bit generators stay with NumPy.
    """
    bit_generator = rng.bit_generator
    if size is None or size < _COMPILED_FROM or not isinstance(bit_generator, np.random.SFC64):
        return rng.standard_normal(size)
    full = bit_generator.state
    state = np.array(full["state"]["state"], dtype=np.uint64)  # a, b, c, counter
    out = _normals(state, size)
    full["state"]["state"] = state
    bit_generator.state = full
    return out


# --- SFC64 and its draws, compiled -------------------------------------------------------
# NumPy's SFC64 step (numpy/random/src/sfc64/sfc64.h) and its Generator's uniform and
# ziggurat normal (numpy/random/src/distributions/distributions.c; the tables are numba's
# copies of NumPy's), written over a state held in four local variables rather than in
# memory. A loop that draws several streams in turn, as ``draw_block`` does, keeps each
# stream's state in registers: each value then costs about what NumPy's own batch costs,
# and the values land where they are used instead of in one array per stream.

_U1, _U3, _U8, _U11, _U24, _U40 = (np.uint64(k) for k in (1, 3, 8, 11, 24, 40))
_FF = np.uint64(0xFF)
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _step(a, b, c, w):
    """One SFC64 step: (output, new state a, b, c, counter)."""
    out = a + b + w
    return out, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + out, w + _U1


@njit(cache=True)
def _sfc64_seeded(s0, s1, s2):
    """SFC64's state after seeding with words s0, s1, s2 (NumPy's ``sfc64_set_seed``)."""
    a, b, c, w = s0, s1, s2, _U1
    for _ in range(12):
        _, a, b, c, w = _step(a, b, c, w)
    return np.array([a, b, c, w], dtype=np.uint64)


@njit(cache=True, inline="always")
def _random(a, b, c, w):
    """A uniform double in [0, 1), as ``Generator.random``: (value, state...)."""
    r, a, b, c, w = _step(a, b, c, w)
    return np.float64(r >> _U11) * _TO_DOUBLE, a, b, c, w


@njit(cache=True, inline="always")
def _normal(a, b, c, w):
    """A standard normal, as ``Generator.standard_normal`` (ziggurat): (value, state...).

    The common case (99.3% of values) is inlined where it is used; the rest is a call, which
    keeps the loops that draw small: a third faster than with the whole algorithm inlined.
    """
    idx, rabs, x, a, b, c, w = _attempt(a, b, c, w)
    if rabs < _KI[idx]:
        return x, a, b, c, w
    return _normal_rest(idx, rabs, x, a, b, c, w)


@njit(cache=True, inline="always")
def _attempt(a, b, c, w):
    """One ziggurat attempt: the strip, the magnitude drawn and the candidate value (signed)."""
    r, a, b, c, w = _step(a, b, c, w)
    idx = r & _FF
    r >>= _U8
    rabs = (r >> _U1) & _MASK52
    x = rabs * _WI[idx]
    if r & _U1:
        x = -x
    return idx, rabs, x, a, b, c, w


@njit(cache=True)
def _normal_rest(idx, rabs, x, a, b, c, w):
    """The ziggurat from an attempt outside the base rectangles (strip ``idx``, candidate
    ``x``) on: the tail, or the wedge test, and new attempts until one is accepted."""
    while True:
        if idx == 0:  # the tail beyond the base strip
            while True:
                u1, a, b, c, w = _random(a, b, c, w)
                u2, a, b, c, w = _random(a, b, c, w)
                xx = -_NOR_INV_R * np.log1p(-u1)
                yy = -np.log1p(-u2)
                if yy + yy > xx * xx:
                    return (-(_NOR_R + xx) if (rabs >> _U8) & _U1 else _NOR_R + xx), a, b, c, w
        u, a, b, c, w = _random(a, b, c, w)
        if (_FI[idx - 1] - _FI[idx]) * u + _FI[idx] < np.exp(-0.5 * x * x):
            return x, a, b, c, w
        idx, rabs, x, a, b, c, w = _attempt(a, b, c, w)  # rejected: a new attempt
        if rabs < _KI[idx]:
            return x, a, b, c, w


@njit(cache=True)
def _normals(state, size):
    """``size`` standard normals from SFC64 ``state`` (advanced in place)."""
    out = np.empty(size)
    a, b, c, w = state[0], state[1], state[2], state[3]
    for i in range(size):
        out[i], a, b, c, w = _normal(a, b, c, w)
    state[0], state[1], state[2], state[3] = a, b, c, w
    return out


# Kinds of column for ``draw_block``; parameters p0..p3 per column.
SKIP, CONSTANT, UNIFORM, NORMAL, LOGNORMAL, TRIANGULAR = 0, 1, 2, 3, 4, 5
_BLOCK = 32  # rows drawn per column in turn: the block's rows (a few KB) stay in L1 meanwhile


@njit(cache=True)
def draw_block(out, r0, r1, cols, kinds, params, states):
    """Fill ``out[r0:r1, cols[k]]`` for each column k, each from its own SFC64 ``states[k]``
    (advanced in place), row after row: the values of a column are what its stream's
    generator draws in one vectorised call, while the rows are written in order.

    Kinds (``params[k]`` = p0, p1, p2, p3): ``CONSTANT`` p0 (no draw); ``UNIFORM`` p0 + p1 * u;
    ``NORMAL`` p0 + p1 * z, counting the values outside [p2, p3]; ``LOGNORMAL``
    exp(p0 + p1 * z); ``TRIANGULAR`` from p0 (low) to p2 (high), mode p1, by NumPy's
    inverse CDF of one uniform (``random_triangular``: the same values, bit for bit);
    ``SKIP`` leaves the column. Returns the counts per column.
    """
    outside = np.zeros(len(cols), dtype=np.int64)
    for b0 in range(r0, r1, _BLOCK):
        b1 = min(b0 + _BLOCK, r1)
        for k in range(len(cols)):
            kind = kinds[k]
            if kind == SKIP:
                continue
            col = cols[k]
            p0, p1, p2, p3 = params[k, 0], params[k, 1], params[k, 2], params[k, 3]
            if kind == CONSTANT:
                for r in range(b0, b1):
                    out[r, col] = p0
                continue
            a, b, c, w = states[k, 0], states[k, 1], states[k, 2], states[k, 3]
            if kind == UNIFORM:
                for r in range(b0, b1):
                    u, a, b, c, w = _random(a, b, c, w)
                    out[r, col] = p0 + p1 * u
            elif kind == NORMAL:
                n_out = 0
                for r in range(b0, b1):
                    z, a, b, c, w = _normal(a, b, c, w)
                    v = p0 + p1 * z
                    n_out += not (p2 <= v <= p3)
                    out[r, col] = v
                outside[k] += n_out
            elif kind == LOGNORMAL:
                for r in range(b0, b1):
                    z, a, b, c, w = _normal(a, b, c, w)
                    out[r, col] = np.exp(p0 + p1 * z)
            else:  # TRIANGULAR, with NumPy's arithmetic
                base = p2 - p0
                left_base = p1 - p0
                ratio = left_base / base
                left_prod = left_base * base
                right_prod = (p2 - p1) * base
                for r in range(b0, b1):
                    u, a, b, c, w = _random(a, b, c, w)
                    out[r, col] = p0 + np.sqrt(u * left_prod) if u <= ratio else p2 - np.sqrt((1.0 - u) * right_prod)
            states[k, 0], states[k, 1], states[k, 2], states[k, 3] = a, b, c, w
    return outside
