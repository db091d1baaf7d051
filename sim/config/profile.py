"""Calibration profile: what one model costs on one hardware target.

Written by ``calibrate`` (or shipped as literature priors), read by the simulator. The
contract is DESIGN.md's: per model an affine model ``intercept + sum(coef[unit] * units)``
for each of ``time_s`` and ``energy_j``, with a multiplicative lognormal residual.

Conventions, relied on by both sides:
- ``energy_j`` is energy **above the idle baseline** (joules); idle power is accounted
  separately over all provisioned time, so concurrent jobs never double count it.
- The affine model gives the **mean**; the residual factor is ``exp(sigma*z - sigma**2/2)``
  (mean one). One ``z`` per job is shared by time and energy: a slow job also draws more.
- Coefficients, intercepts, load costs and idle powers may be distributions: they are
  epistemic and drawn once per replication. ``chars_per_token`` is aleatory (per text).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from .base import ConfigModel
from .distributions import MAX_LOG_SIGMA, Bounded, Uncertain, is_uncertain, mean_of
from .units import UNITS

PROFILE_SCHEMA_VERSION = 1

MEASUREMENT_METHODS = ("nvml", "rapl", "codecarbon-cpu-load", "codecarbon-constant", "literature", "telemetry")


class _Strict(ConfigModel):
    """Unknown fields, NaN, infinity and magnitudes beyond 1e12 refused (``ConfigModel``)."""


#: Costs are not negative: energy above idle, seconds of work, per unit or per job (a
#: distribution's whole support included; calibrate fits them by non-negative least squares).
Cost = Bounded(ge=0)


class AffineCost(_Strict):
    """``intercept + sum(coef[unit] * units)``, times a mean-one lognormal residual."""

    intercept: Cost = 0.0
    coef: dict[str, Cost] = Field(default_factory=dict)
    sigma: float = Field(default=0.0, ge=0, le=MAX_LOG_SIGMA, description="sd of the log residual")

    @field_validator("coef")
    @classmethod
    def _known_units(cls, v: dict[str, Cost]) -> dict[str, Cost]:
        unknown = sorted(set(v) - set(UNITS))
        if unknown:
            raise ValueError(f"unknown unit(s) {unknown}; use one of {sorted(UNITS)}")
        return v


class LoadCost(_Strict):
    """Cold load of a model into memory: time (s) and energy above idle (J)."""

    time_s: Cost = 0.0
    energy_j: Cost = 0.0


class FitQuality(_Strict):
    """Goodness of fit, as the calibration stage reports it.

    On the energy fit, ``responds`` says whether energy rose with work (see
    ``calibrate.quality``); ``flags`` name what failed, and a scenario using a flagged
    model is warned by ``validate`` and ``simulate``.
    """

    n: int = 0
    r2: float | None = None
    rmse: float | None = None
    sigma: float | None = Field(default=None, ge=0, description="sd of the log residual")
    outliers: int = 0
    responds: bool | None = None
    flags: list[str] = Field(default_factory=list)
    meter_resolution_j: float | None = Field(default=None, ge=0, description="smallest nonzero change between readings")
    notes: str = ""


class ModelProfile(_Strict):
    """Cost of one model on this hardware."""

    service: str = Field(description="task it serves: transcribe, translate, generate, ...")
    units: list[str] = Field(default_factory=list)
    time_s: AffineCost
    energy_j: AffineCost
    load: LoadCost = Field(default_factory=LoadCost)
    gpu_memory_gb: float | None = Field(default=None, ge=0)
    chars_per_token: dict[str, Bounded(gt=0)] = Field(
        default_factory=dict, description="characters per token by language code (aleatory), > 0"
    )
    fit: dict[str, FitQuality] = Field(default_factory=dict)
    source: str = Field(min_length=1)

    @field_validator("units")
    @classmethod
    def _units_known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(UNITS))
        if unknown:
            raise ValueError(f"unknown unit(s) {unknown}; use one of {sorted(UNITS)}")
        return v


def energy_only_terms(model: ModelProfile) -> list[str]:
    """Terms (``intercept``, units, ``load``) that add energy while their time is fixed at 0: a
    job with much of them would draw unbounded power, so no GPU limit can be checked on them."""
    terms = [("intercept", model.time_s.intercept, model.energy_j.intercept), ("load", model.load.time_s, model.load.energy_j)]
    terms += [(u, model.time_s.coef.get(u, 0.0), e) for u, e in model.energy_j.coef.items()]
    return [name for name, t, e in terms
            if not is_uncertain(t) and mean_of(t) == 0.0 and (is_uncertain(e) or mean_of(e) > 0.0)]


class GPUInfo(_Strict):
    model: str = "none"
    count: int = Field(default=0, ge=0)
    driver: str | None = None
    memory_gb: float | None = None


class Hardware(_Strict):
    gpu: GPUInfo = Field(default_factory=GPUInfo)
    cpu: str | None = None
    memory_gb: float | None = None
    vm_sku: str | None = None
    gpu_idle_power_w: Bounded(ge=0) | None = Field(default=None, description="per GPU")
    host_idle_power_w: Bounded(ge=0) | None = None
    source: str = ""


class Measurement(_Strict):
    method: Literal["nvml", "rapl", "codecarbon-cpu-load", "codecarbon-constant", "literature", "telemetry"]
    tools: dict[str, str] = Field(default_factory=dict)
    date: dt.date | None = None
    samples: int = Field(default=0, ge=0)
    uncertainty: str = ""
    source: str = ""


class Failure(_Strict):
    """A sample or model that could not be measured, recorded rather than dropped."""

    model: str
    sample: str = ""
    error: str


class TranslationLength(_Strict):
    """Characters of translation per character of source, by ordered pair ``"src>tgt"`` (aleatory: per text)."""

    ratios: dict[str, Uncertain] = Field(default_factory=dict)
    source: str = Field(min_length=1)

    @field_validator("ratios")
    @classmethod
    def _pairs(cls, v: dict[str, Uncertain]) -> dict[str, Uncertain]:
        bad = sorted(k for k in v if k.count(">") != 1 or k.startswith(">") or k.endswith(">"))
        if bad:
            raise ValueError(f"pair keys {bad} are not `source>target` language codes, e.g. `en>fr`")
        return v


class Profile(_Strict):
    schema_version: Literal[1] = PROFILE_SCHEMA_VERSION
    name: str = "profile"
    hardware: Hardware = Field(default_factory=Hardware)
    measurement: Measurement
    models: dict[str, ModelProfile]
    failures: list[Failure] = Field(default_factory=list)
    partial: bool = Field(default=False, description="written with --allow-partial: some requested models failed")
    translation_length: TranslationLength | None = None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile YAML; errors name the file and field (see sim.config.errors)."""
    from .errors import load_yaml_model

    return load_yaml_model(Path(path), Profile, "calibration profile")


def dump_profile(profile: Profile, path: str | Path) -> None:
    """Write a profile atomically as YAML (distributions kept in their YAML form)."""
    import yaml

    from .errors import atomic_write_text

    data = profile.model_dump(mode="json", by_alias=True, exclude_none=True)
    atomic_write_text(Path(path), yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
