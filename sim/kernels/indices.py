"""Array indices for compiled loops."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def ix(x):
    """Index ``x`` (>= 0) as int64 with the sign bit cleared: the compiler then knows it is not
    negative and drops the wrap-around that numba adds at each signed index (a compare and a
    select, with the array's length reloaded). In a loop of a few dozen array accesses per
    item that is a sixth of its time (measured on the job expansion)."""
    return np.int64(x) & 0x7FFFFFFFFFFFFFFF
