"""Random streams: one root seed, one independent stream per replication and component.

Streams are keyed by name (``SeedSequence(root, spawn_key=(rep, crc32(name)...))``) rather
than by spawn order, so adding a language or a service never shifts the numbers another
component draws: that is what makes common random numbers across decision options work.
No global RNG is used anywhere.
"""

from __future__ import annotations

import zlib

import numpy as np
from numba import njit

# Below this many values NumPy's own call is cheaper: a compiled call spends about 8 µs
# unpacking the generator.
_COMPILED_FROM = 4096


def _key(part: str | int) -> int:
    return part if isinstance(part, int) else zlib.crc32(part.encode("utf-8"))


class Streams:
    """Factory of named ``numpy.random.Generator`` streams for one replication."""

    def __init__(self, root_seed: int, replication: int):
        self.root_seed = int(root_seed)
        self.replication = int(replication)

    def seed_sequence(self, *names: str | int) -> np.random.SeedSequence:
        key = (self.replication, *(_key(n) for n in names))
        return np.random.SeedSequence(self.root_seed, spawn_key=key)

    def rng(self, *names: str | int) -> np.random.Generator:
        """The generator for component ``names`` (same names, same numbers)."""
        # SFC64 (NumPy's): passes the same statistical test batteries as PCG64 and draws
        # normals about a fifth faster, and a replication draws millions of them.
        return np.random.Generator(np.random.SFC64(self.seed_sequence(*names)))


def standard_normal(rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
    """``rng.standard_normal(size)``: the same numbers, and the generator left in the same state.

    Large batches go through numba's compiled copy of NumPy's ziggurat, which draws them
    about 2.4 times as fast (NumPy calls the bit generator through a pointer per value).
    """
    if size is None or size < _COMPILED_FROM:
        return rng.standard_normal(size)
    return _standard_normal(rng, size)


@njit(cache=True)
def _standard_normal(rng, size):
    return rng.standard_normal(size)
