"""Uncertain quantities.

Any number in a carbonsim config may instead be a distribution, written in YAML as
``{dist: NAME, ...params}``. Whether it is drawn once per replication (epistemic) or once
per job (aleatory) is decided by the field that holds it, never by the value itself.

Every distribution samples from a ``numpy.random.Generator`` passed in, in one vectorised
call, and knows its analytic mean so tests can check sampled moments against theory.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import AfterValidator, ConfigDict, Field, model_validator

from sim.config.base import ConfigModel
from sim.kernels.draws import (
    standard_normal,
)
from sim.kernels.normal import cdf, map_inside

# z-score of the 90th percentile of a standard normal: lognormal sigma = ln(p90/median)/Z90.
Z90 = 1.2815515655446004

#: Largest spread of a lognormal's log (and of gamma's coefficient of variation, ``MAX_CV``):
#: beyond it the mean is dominated by values almost never drawn (a lognormal of sigma 3
#: has its mean at 90 times its median), and a Monte Carlo mean of it does not settle.
MAX_LOG_SIGMA = 3.0
MAX_CV = 10.0
#: A truncated normal must keep at least this share of the normal's mass between its
#: bounds: further in a tail, the inverse CDF that maps values inside loses its precision.
MIN_TRUNCATED_MASS = 1e-6


def _mass(alpha: float, beta: float) -> float:
    """P(alpha <= Z <= beta) for a standard normal Z, without cancellation in the tails
    (``math.erfc``: no compiled code to load for a validation)."""
    below = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # P(Z <= x)
    above = lambda x: 0.5 * math.erfc(x / math.sqrt(2))  # P(Z >= x)
    if alpha > 0:
        return above(alpha) - above(beta)
    if beta < 0:
        return below(beta) - below(alpha)
    return 1.0 - below(alpha) - above(beta)


class _Dist(ConfigModel):
    # Parameters are finite and at most 1e12 in magnitude (``ConfigModel``), field named.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    #: True where the support excludes its lower end (lognormal, exponential, gamma: > 0).
    open_below: ClassVar[bool] = False

    def support(self) -> tuple[float, float]:
        """Smallest and largest value it can draw (infinite where unbounded)."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        """Draw ``size`` values (a float when ``size`` is None)."""
        raise NotImplementedError

    def mean(self) -> float:
        """Analytic mean of the distribution."""
        raise NotImplementedError


class Fixed(_Dist):
    """A constant written as a distribution: ``{dist: fixed, value: 3}``."""

    dist: Literal["fixed"]
    value: float

    def sample(self, rng, size=None):
        return self.value if size is None else np.full(size, self.value, dtype=float)

    def mean(self) -> float:
        return self.value

    def support(self) -> tuple[float, float]:
        return self.value, self.value


class Normal(_Dist):
    """Normal with optional truncation to [low, high] (exact, by inverse CDF)."""

    dist: Literal["normal"]
    mean_: float = Field(alias="mean")
    sd: float = Field(ge=0)
    low: float | None = None
    high: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounds(self) -> "Normal":
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        low, high = self.bounds
        if self.sd == 0:
            if not low <= self.mean_ <= high:
                raise ValueError("with sd 0 the mean must lie between low and high")
        elif self._truncated() and _mass(*self._bounds_z()) < MIN_TRUNCATED_MASS:
            raise ValueError(f"low and high keep less than {MIN_TRUNCATED_MASS:g} of the normal's mass: "
                             "move them towards the mean or widen sd")
        return self

    def support(self) -> tuple[float, float]:
        return (self.mean_, self.mean_) if self.sd == 0 else self.bounds

    def _truncated(self) -> bool:
        return self.low is not None or self.high is not None

    def sample(self, rng, size=None):
        if self.sd == 0:
            return Fixed(dist="fixed", value=self.mean_).sample(rng, size)
        if not self._truncated():
            return self.mean_ + self.sd * standard_normal(rng, size)  # as ``rng.normal`` computes it
        # One standard normal per value; those outside the bounds are mapped inside (``_inside``).
        z = np.atleast_1d(standard_normal(rng, size))
        alpha, beta = self._bounds_z()
        if z.size and (z.min() < alpha or z.max() > beta):  # two quick passes: mostly nothing to redo
            bad = (z < alpha) | (z > beta)
            z[bad] = self._inside(z[bad])
        z *= self.sd
        z += self.mean_
        return float(z[0]) if size is None else z

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high), infinite where not given."""
        return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)

    def _bounds_z(self) -> tuple[float, float]:
        """The bounds in standard units."""
        low, high = self.bounds
        return (low - self.mean_) / self.sd, (high - self.mean_) / self.sd

    def _inside(self, z: np.ndarray) -> np.ndarray:
        """Standard normals drawn outside the bounds, mapped inside them by inverse CDF
        (``sim.kernels.normal.map_inside``: one draw per value, so streams stay aligned). The
        inverse CDF runs only for the rejected share, mostly nothing for bounds far in
        the tails."""
        alpha, beta = self._bounds_z()
        return map_inside(np.ascontiguousarray(z, dtype=float), alpha, beta)

    def fix_outside(self, values: np.ndarray) -> None:
        """Map values of ``mean + sd * z`` that fell outside the bounds inside them (in place),
        as ``sample`` does: what compiled draws of this distribution finish with."""
        low, high = self.bounds
        bad = ~((values >= low) & (values <= high))
        if bad.any():
            values[bad] = self.mean_ + self.sd * self._inside((values[bad] - self.mean_) / self.sd)

    def mean(self) -> float:
        if not self._truncated() or self.sd == 0:
            return self.mean_
        alpha, beta = self._bounds_z()
        pdf = lambda x: 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        z = cdf(beta) - cdf(alpha)
        return self.mean_ + self.sd * (pdf(alpha) - pdf(beta)) / z


class LogNormal(_Dist):
    """Lognormal given by ``median`` and either ``p90`` or ``sigma`` (of the log)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    p90: float | None = None
    sigma: float | None = Field(default=None, ge=0, le=MAX_LOG_SIGMA)
    open_below: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one_spread(self) -> "LogNormal":
        if (self.p90 is None) == (self.sigma is None):
            raise ValueError("give exactly one of p90 or sigma")
        if self.p90 is not None and self.p90 < self.median:
            raise ValueError("p90 must be at least the median")
        if self.log_sigma > MAX_LOG_SIGMA:
            raise ValueError(f"p90/median is {self.p90 / self.median:.4g}: a spread above "
                             f"{math.exp(MAX_LOG_SIGMA * Z90):.0f} (log sigma {MAX_LOG_SIGMA:g}) is refused")
        return self

    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    @property
    def log_sigma(self) -> float:
        if self.sigma is not None:
            return self.sigma
        return math.log(self.p90 / self.median) / Z90

    def sample(self, rng, size=None):
        # exp of a normal, as ``rng.lognormal`` does, but with numpy's vectorised exp (faster)
        x = np.exp(math.log(self.median) + self.log_sigma * standard_normal(rng, size))
        return float(x) if size is None else x

    def mean(self) -> float:
        return self.median * math.exp(self.log_sigma**2 / 2)


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self) -> "Uniform":
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self

    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def sample(self, rng, size=None):
        return rng.uniform(self.low, self.high, size)

    def mean(self) -> float:
        return (self.low + self.high) / 2


class Triangular(_Dist):
    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _order(self) -> "Triangular":
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("need low <= mode <= high and low < high")
        return self

    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def sample(self, rng, size=None):
        return rng.triangular(self.low, self.mode, self.high, size)

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: float = Field(alias="mean", gt=0)
    open_below: ClassVar[bool] = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def sample(self, rng, size=None):
        return rng.exponential(self.mean_, size)

    def mean(self) -> float:
        return self.mean_


class Gamma(_Dist):
    """Gamma given by ``mean`` and coefficient of variation ``cv``."""

    dist: Literal["gamma"]
    mean_: float = Field(alias="mean", gt=0)
    cv: float = Field(gt=0, le=MAX_CV)
    open_below: ClassVar[bool] = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def sample(self, rng, size=None):
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_ / shape, size)

    def mean(self) -> float:
        return self.mean_


class Empirical(_Dist):
    """Resample observed values with replacement (e.g. durations read from real files)."""

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)

    def support(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def sample(self, rng, size=None):
        arr = np.asarray(self.values, dtype=float)
        idx = rng.integers(0, len(arr), size)
        return arr[idx]

    def mean(self) -> float:
        return float(np.mean(self.values))


Distribution = Annotated[
    Union[Fixed, Normal, LogNormal, Uniform, Triangular, Exponential, Gamma, Empirical],
    Field(discriminator="dist"),
]
#: A plain number or a distribution.
Uncertain = Union[float, Distribution]


def _describe(ge: float | None, gt: float | None, le: float | None) -> str:
    parts = ([f">= {ge:g}"] if ge is not None else []) + ([f"> {gt:g}"] if gt is not None else [])
    return " and ".join(parts + ([f"<= {le:g}"] if le is not None else []))


def range_problem(value: Uncertain, ge: float | None = None, gt: float | None = None, le: float | None = None) -> str | None:
    """Why ``value`` (a number, or every value a distribution can draw) is outside the range,
    or None. A distribution's whole support must lie inside: a PUE written as a normal must be
    truncated at ``low: 1``, a lognormal cannot stand for a share (unbounded above)."""
    if isinstance(value, _Dist):
        lo, hi = value.support()
        open_below, what = value.open_below, "value it can draw is"
    else:
        lo = hi = float(value)
        open_below, what = False, "value given is"
    wanted = _describe(ge, gt, le)
    if ge is not None and lo < ge or gt is not None and (lo < gt or lo == gt and not open_below):
        fix = " (truncate it with `low`)" if isinstance(value, Normal) else ""
        return f"must be {wanted}; the smallest {what} {lo:g}{fix}"
    if le is not None and hi > le:
        return f"must be {wanted}; the largest {what} {hi:g}"
    return None


def Bounded(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    """``Uncertain`` restricted to a range: the number, or a distribution's support, inside."""

    def check(value: Uncertain) -> Uncertain:
        problem = range_problem(value, ge, gt, le)
        if problem:
            raise ValueError(problem)
        return value

    return Annotated[Uncertain, AfterValidator(check)]


def draw(value: Uncertain, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
    """Sample an uncertain quantity; a plain number is returned as is (or broadcast)."""
    if isinstance(value, _Dist):
        return value.sample(rng, size)
    return float(value) if size is None else np.full(size, float(value))


def mean_of(value: Uncertain) -> float:
    """Analytic mean of an uncertain quantity."""
    return value.mean() if isinstance(value, _Dist) else float(value)


def is_uncertain(value: Uncertain) -> bool:
    """True when the value is a distribution that is not a fixed constant."""
    return isinstance(value, _Dist) and not isinstance(value, Fixed)
