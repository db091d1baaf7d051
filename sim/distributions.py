"""Uncertain quantities.

Any number in a carbonsim config may instead be a distribution, written in YAML as
``{dist: NAME, ...params}``. Whether it is drawn once per replication (epistemic) or once
per job (aleatory) is decided by the field that holds it, never by the value itself.

Every distribution samples from a ``numpy.random.Generator`` passed in, in one vectorised
call, and knows its analytic mean so tests can check sampled moments against theory.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .rng import standard_normal

# z-score of the 90th percentile of a standard normal: lognormal sigma = ln(p90/median)/Z90.
Z90 = 1.2815515655446004


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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


class Normal(_Dist):
    """Normal with optional truncation to [low, high] (exact, by inverse CDF)."""

    dist: Literal["normal"]
    mean_: float = Field(alias="mean")
    sd: float = Field(ge=0)
    low: float | None = None
    high: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _bounds(self) -> "Normal":
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self

    def _truncated(self) -> bool:
        return self.low is not None or self.high is not None

    def sample(self, rng, size=None):
        if self.sd == 0:
            return Fixed(dist="fixed", value=self.mean_).sample(rng, size)
        if not self._truncated():
            return self.mean_ + self.sd * standard_normal(rng, size)  # as ``rng.normal`` computes it
        # One standard normal per value, kept where it falls inside the bounds. A value that
        # falls outside is replaced by an inverse-CDF draw inside them, from a uniform read off
        # the rejected value itself: given rejection, its tail probability is uniform and
        # independent of the kept values. The mixture is exactly the truncated normal, each
        # value costs one draw (streams stay aligned), and the costly inverse CDF runs only
        # for the rejected share, mostly nothing for bounds far in the tails.
        alpha = -math.inf if self.low is None else (self.low - self.mean_) / self.sd
        beta = math.inf if self.high is None else (self.high - self.mean_) / self.sd
        out = np.atleast_1d(standard_normal(rng, size))
        if out.size and (out.min() < alpha or out.max() > beta):  # two quick passes: mostly nothing to redo
            from scipy.special import ndtr, ndtri  # imported when first needed: SciPy takes 0.2 s to import

            bad = (out < alpha) | (out > beta)
            a, upper = float(ndtr(alpha)), float(ndtr(-beta))  # the masses below and above the bounds
            zb = out[bad]
            v = np.where(zb < alpha, ndtr(zb) / (a + upper), 1.0 - ndtr(-zb) / (a + upper))
            out[bad] = ndtri(a + v * (1.0 - upper - a))
        out *= self.sd
        out += self.mean_
        return float(out[0]) if size is None else out

    def mean(self) -> float:
        if not self._truncated() or self.sd == 0:
            return self.mean_
        alpha = -math.inf if self.low is None else (self.low - self.mean_) / self.sd
        beta = math.inf if self.high is None else (self.high - self.mean_) / self.sd
        from scipy.special import ndtr

        pdf = lambda x: 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        z = float(ndtr(beta) - ndtr(alpha))
        return self.mean_ + self.sd * (pdf(alpha) - pdf(beta)) / z


class LogNormal(_Dist):
    """Lognormal given by ``median`` and either ``p90`` or ``sigma`` (of the log)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    p90: float | None = None
    sigma: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_spread(self) -> "LogNormal":
        if (self.p90 is None) == (self.sigma is None):
            raise ValueError("give exactly one of p90 or sigma")
        if self.p90 is not None and self.p90 < self.median:
            raise ValueError("p90 must be at least the median")
        return self

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

    def sample(self, rng, size=None):
        return rng.triangular(self.low, self.mode, self.high, size)

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: float = Field(alias="mean", gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def sample(self, rng, size=None):
        return rng.exponential(self.mean_, size)

    def mean(self) -> float:
        return self.mean_


class Gamma(_Dist):
    """Gamma given by ``mean`` and coefficient of variation ``cv``."""

    dist: Literal["gamma"]
    mean_: float = Field(alias="mean", gt=0)
    cv: float = Field(gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def sample(self, rng, size=None):
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_ / shape, size)

    def mean(self) -> float:
        return self.mean_


class Empirical(_Dist):
    """Resample observed values with replacement (e.g. durations read from real files)."""

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)

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
