"""The standard normal's CDF and inverse CDF, compiled, and what truncated normals do with them.

SciPy's ``ndtr`` and ``ndtri`` would do, but importing ``scipy.special`` takes 0.1-0.2 s,
which each Monte Carlo worker would pay at its first truncated value out of bounds. The
CDF is ``erfc`` (``math``); the inverse is Wichura's algorithm AS241 (PPND16), as
Python's ``statistics.NormalDist.inv_cdf`` computes it, to about 1e-16 relative.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)


@njit(cache=True)
def cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z."""
    return 0.5 * math.erfc(-x * _SQRT_HALF)


@njit(cache=True)
def ppf(p: float) -> float:
    """The x with P(Z <= x) = p (-inf at 0, inf at 1, NaN outside [0, 1]).

    Wichura, M.J. (1988), "Algorithm AS241: The Percentage Points of the Normal
    Distribution", Applied Statistics 37(3): 477-484: a rational approximation in three
    ranges of p, with the coefficients of the paper.
    """
    if not 0.0 < p < 1.0:
        return -np.inf if p == 0.0 else (np.inf if p == 1.0 else np.nan)
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r + 6.7265770927008700853e4) * r
                   + 4.5921953931549871457e4) * r + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r
                + 1.3314166789178437745e2) * r + 3.3871328727963666080e0) * q
        den = (((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r + 3.9307895800092710610e4) * r
                   + 2.1213794301586595867e4) * r + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r
                + 4.2313330701600911252e1) * r + 1.0)
        return num / den
    r = math.sqrt(-math.log(p if q <= 0.0 else 1.0 - p))
    if r <= 5.0:
        r = r - 1.6
        num = (((((((7.7454501427834140764e-4 * r + 2.2723844989269184583e-2) * r + 2.4178072517745061177e-1) * r
                   + 1.2704582524523683826e0) * r + 3.6478483247632046050e0) * r + 5.7694972214606914055e0) * r
                + 4.6303378461565452959e0) * r + 1.4234371107496835773e0)
        den = (((((((1.0507500716444168432e-9 * r + 5.4759380849953449460e-4) * r + 1.5198666563616457197e-2) * r
                   + 1.4810397642748007459e-1) * r + 6.8976733498510000455e-1) * r + 1.6763848301838038494e0) * r
                + 2.0531916266377588219e0) * r + 1.0)
    else:
        r = r - 5.0
        num = (((((((2.0103343992922881327e-7 * r + 2.7115555687434875782e-5) * r + 1.2426609473880784386e-3) * r
                   + 2.6532189526576123093e-2) * r + 2.9656057182850489123e-1) * r + 1.7848265399172913358e0) * r
                + 5.4637849111641143699e0) * r + 6.6579046435011037772e0)
        den = (((((((2.0442631033899397856e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
                   + 7.8686913114561325910e-4) * r + 1.4875361290850614853e-2) * r + 1.3692988092273580531e-1) * r
                + 5.9983220655588793769e-1) * r + 1.0)
    x = num / den
    return -x if q < 0.0 else x


@njit(cache=True)
def map_inside(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Standard normals ``z`` drawn outside [``alpha``, ``beta``], mapped inside by inverse CDF.

    Given rejection, a rejected value's tail probability is uniform and independent of the
    kept values, so it serves as the uniform: kept values plus these are exactly the
    truncated normal, one draw per value. Results are kept within the bounds (where the
    tail's mass rounds to a bound's).
    """
    below, above = cdf(alpha), cdf(-beta)  # the masses below and above the bounds
    out = np.empty(z.shape[0])
    for i in range(z.shape[0]):
        x = z[i]
        v = cdf(x) / (below + above) if x < alpha else 1.0 - cdf(-x) / (below + above)
        out[i] = min(max(ppf(below + v * (1.0 - above - below)), alpha), beta)
    return out
