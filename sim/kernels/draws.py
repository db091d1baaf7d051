"""Draws from SFC64 streams inside compiled loops: NumPy's numbers, at NumPy's batch speed.

NumPy's SFC64 step (numpy/random/src/sfc64/sfc64.h) and its Generator's uniform and
ziggurat normal (numpy/random/src/distributions/distributions.c), written over a state held
in four local variables rather than in memory. A loop that draws several streams in turn, as
``draw_block`` does, keeps each stream's state in registers: each value then costs about
what NumPy's own batch costs, and the values land where they are used instead of in one
array per stream. Every draw equals NumPy's generator's, bit for bit (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .ziggurat_tables import FI as _FI
from .ziggurat_tables import KI as _KI
from .ziggurat_tables import NOR_INV_R as _NOR_INV_R
from .ziggurat_tables import NOR_R as _NOR_R
from .ziggurat_tables import WI as _WI

# Below this many values NumPy's own call is cheaper: reading and writing back the
# generator's state costs a few µs.
_COMPILED_FROM = 1024


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
def sfc64_seeded(s0, s1, s2):
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
