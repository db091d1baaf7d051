"""numba, set up once for carbonsim's compiled kernels: the modules that define kernels
import ``njit`` from here, so that the set-up below is done before any kernel loads."""

from __future__ import annotations

import sys

from numba import njit

__all__ = ["njit"]


def _answer_blas_check() -> None:
    """Let numba load its array functions without importing ``scipy.linalg``.

    The first kernel that numba compiles or loads from its cache imports
    ``numba.np.arraymath``, which checks on import that SciPy's BLAS is there (for
    ``np.dot`` and kin) by importing ``scipy.linalg``: 0.2 s, which a Monte Carlo run pays
    in its own process before the workers fork, for functions no kernel here calls.
    carbonsim depends on SciPy, so that first check is answered yes without the import;
    every later check (when a kernel that calls BLAS is compiled) is numba's own.
    """
    import numba.np.linalg as linalg

    if "numba.np.arraymath" in sys.modules:  # checked already
        return
    check = linalg.ensure_blas

    def answered() -> None:
        linalg.ensure_blas = check

    linalg.ensure_blas = answered


_answer_blas_check()
