"""The per-file draw matrix: columns of uncertain quantities drawn from named streams in
one compiled pass (``sim.kernels.draws.draw_block``), the same numbers as each stream's
NumPy generator would give (tested)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.kernels.draws import (
    CONSTANT,
    LOGNORMAL,
    NORMAL,
    SKIP,
    TRIANGULAR,
    UNIFORM,
    draw_block,
)
from sim.kernels.rng import Streams

from .distributions import (
    Fixed,
    LogNormal,
    Normal,
    Triangular,
    Uncertain,
    Uniform,
    _Dist,
    draw,
)


def compiled_form(value: Uncertain) -> tuple[int, tuple[float, float, float, float]] | None:
    """How ``rng.draw_block`` draws ``value``: its kind and parameters, or None for the
    distributions only ``draw`` samples (exponential, gamma, empirical)."""
    if not isinstance(value, _Dist):
        return CONSTANT, (float(value), 0.0, 0.0, 0.0)
    if isinstance(value, Fixed) or (isinstance(value, Normal) and value.sd == 0):
        return CONSTANT, (value.mean(), 0.0, 0.0, 0.0)
    if isinstance(value, Normal):
        return NORMAL, (value.mean_, value.sd, *value.bounds)
    if isinstance(value, LogNormal):
        return LOGNORMAL, (math.log(value.median), value.log_sigma, 0.0, 0.0)
    if isinstance(value, Uniform):
        return UNIFORM, (value.low, value.high - value.low, 0.0, 0.0)
    if isinstance(value, Triangular):
        return TRIANGULAR, (value.low, value.mode, value.high, 0.0)
    return None


@dataclass(frozen=True)
class Columns:
    """Columns to draw (``draw_columns``), prepared once: what ``draw_block`` takes, and the
    streams to seed. Build with ``prepare_columns``; a replication's columns are the last's."""

    cols: np.ndarray  # the out column of each entry
    kinds: np.ndarray  # draw_block's kind (SKIP: drawn by ``draw`` instead)
    params: np.ndarray  # (k, 4)
    drawn: np.ndarray  # entries drawn compiled from a stream
    streams: tuple[tuple, ...]  # their stream names, in that order
    truncated: tuple[tuple[int, int, "Normal"], ...]  # (entry, column, value): bounds to enforce after
    others: tuple[tuple[int, Uncertain, tuple], ...]  # (column, value, names) that only ``draw`` samples


def prepare_columns(columns: list[tuple[int, Uncertain, tuple]]) -> Columns:
    """``columns`` ((column, value, stream names) each) in the form ``draw_columns`` uses."""
    k = len(columns)
    cols = np.empty(k, dtype=np.int64)
    kinds = np.empty(k, dtype=np.int64)
    params = np.zeros((k, 4))
    truncated, others = [], []
    for i, (col, value, names) in enumerate(columns):
        cols[i] = col
        form = compiled_form(value)
        kinds[i], params[i] = form if form is not None else (SKIP, (0.0, 0.0, 0.0, 0.0))
        if form is None:
            others.append((col, value, tuple(names)))
        elif kinds[i] == NORMAL and np.isfinite(params[i, 2:]).any():
            truncated.append((i, col, value))
    drawn = np.flatnonzero((kinds != SKIP) & (kinds != CONSTANT))
    return Columns(cols, kinds, params, drawn, tuple(tuple(columns[i][2]) for i in drawn), tuple(truncated), tuple(others))


def draw_columns(out: np.ndarray, rows: slice, columns: list[tuple[int, Uncertain, tuple]] | Columns, streams: Streams) -> None:
    """Fill ``out[rows, col]`` with ``draw(value, streams.rng(*names), n)`` for each
    ``(col, value, names)`` in ``columns`` (or those ``prepare_columns`` made of them): the
    same values (normals and uniforms bit for bit, lognormals to the last bit of ``exp``),
    drawn in one compiled pass that writes the rows of ``out`` in order, instead of a
    strided column at a time.
    """
    prep = columns if isinstance(columns, Columns) else prepare_columns(columns)
    draw_rows(out, rows, ColumnStreams(prep, streams))


class ColumnStreams:
    """The streams of a ``Columns``, carried from one block of rows to the next: drawing
    rows block after block gives the values one ``draw_columns`` call gives all of them."""

    def __init__(self, prep: Columns, streams: Streams):
        self.prep = prep
        self.states = np.zeros((len(prep.cols), 4), dtype=np.uint64)
        if len(prep.drawn):
            self.states[prep.drawn] = streams.states(prep.streams)
        self.rngs = [streams.rng(*names) for _, _, names in prep.others]

    def snapshot(self) -> tuple:
        """The streams' positions, for ``restore``."""
        return self.states.copy(), [r.bit_generator.state for r in self.rngs]

    def restore(self, snap: tuple) -> None:
        states, rng_states = snap
        self.states[:] = states
        for r, st in zip(self.rngs, rng_states):
            r.bit_generator.state = st


def draw_rows(out: np.ndarray, rows: slice, carried: ColumnStreams) -> None:
    """``draw_columns`` for ``rows``, going on from where ``carried``'s streams stand (advanced)."""
    prep = carried.prep
    n = rows.stop - rows.start
    outside = draw_block(out, rows.start, rows.stop, prep.cols, prep.kinds, prep.params, carried.states)
    for i, col, value in prep.truncated:
        if outside[i]:  # a truncated normal drew values outside its bounds
            value.fix_outside(out[rows, col])  # a view: fixed in place
    for (col, value, _), rng in zip(prep.others, carried.rngs):
        out[rows, col] = draw(value, rng, n)
