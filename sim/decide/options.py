"""Decision options (the schema): overlays on the base scenario, and the settings of the decision.

An options file (``configs/options/*.yaml``) lists named options. Each option is an
overlay: it changes a copy of the base scenario and nothing else, so that run on the same
replication seeds it differs from the baseline only where it differs (common random
numbers). The kinds of change, which an option may combine:

- ``deactivate``: switch a service off, for every language or the listed ones;
- ``volume``: serve less than requested (thin by a share, or cap files per month), per
  language and content type;
- ``translation_targets``: limit the fan-out of translation stages to some languages;
- ``models``: swap a service's model for another entry of the calibration profile;
- ``region``: move to another Azure region;
- ``pools``: change a pool's SKU, instance count, slots or provisioning policy;
- ``batch_window``: process at night (the pool is on only inside the window);
- ``managed``: move a service to a managed, shared endpoint (EcoLogits for generation,
  sourced per-unit figures otherwise), priced per unit; ``remove_pools`` drops the pools
  left with nothing to serve;
- ``set``: any other scenario field, by dotted path (``services.generation.keep_alive_s``);
- ``combine``: apply other options of the file first.

The file also holds the decision's settings: replications, criteria weights, coverage
values, price overrides, SMAA settings. ``loading`` reads and checks a file (every problem
at once, naming the option and the field); ``overlay`` applies an option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sim.config.base import ConfigModel
from sim.config.catalogues import MAX_PRICE_PER_HOUR
from sim.config.scenario import MAX_FILES_PER_MONTH, check_shares
from sim.config.serving import (
    MAX_INSTANCES,
    MAX_SLOTS_PER_GPU,
    ManagedEndpoint,
    Provisioning,
)

from .criteria import CRITERIA

OPTIONS_SCHEMA_VERSION = 1
BASELINE = "baseline"
#: Weights of the reference case: energy 30%, carbon 30%, cost 20%, performance 10%, scalability 10%.
REFERENCE_WEIGHTS = {"energy": 0.3, "carbon": 0.3, "cost": 0.2, "performance": 0.1, "scalability": 0.1}
_TOL = 1e-6
#: SMAA weight vectors per Monte Carlo draw: the decision holds options x criteria x draws.
MAX_SMAA_DRAWS = 10_000

Problem = tuple[str, str, str]


class _Strict(ConfigModel):
    # Unknown fields, NaN, infinity and magnitudes beyond 1e12 refused, field named.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Deactivate(_Strict):
    service: str
    languages: list[str] | None = Field(default=None, description="only these languages (default: all)")


class VolumeChange(_Strict):
    """Serve less than is requested, for the listed languages and content types (default: all)."""

    languages: list[str] | None = None
    content_types: list[str] | None = None
    reduce_share: float = Field(default=0.0, ge=0, le=1, description="share of files not served")
    cap_files_per_month: float | None = Field(default=None, ge=0, le=MAX_FILES_PER_MONTH, description="at most this many files a month")

    @model_validator(mode="after")
    def _something(self) -> "VolumeChange":
        if self.reduce_share == 0 and self.cap_files_per_month is None:
            raise ValueError("give reduce_share (> 0) or cap_files_per_month")
        return self


class TargetLimit(_Strict):
    targets: list[str] = Field(min_length=1, description="translate only into these languages")
    service: str | None = Field(default=None, description="one translate service (default: every one)")


class PoolChange(_Strict):
    sku: str | None = None
    instances: int | None = Field(default=None, ge=0, le=MAX_INSTANCES, description="0 only with policy autoscale (serverless)")
    slots_per_gpu: int | None = Field(default=None, ge=1, le=MAX_SLOTS_PER_GPU)
    provisioning: Provisioning | None = None


class BatchWindow(_Strict):
    """Run the pools only inside a daily window (UTC hours, may wrap past midnight)."""

    hours: tuple[int, int] = (22, 6)
    pools: list[str] | None = Field(default=None, description="default: every pool")
    weekdays_only: bool = False


class Option(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: str = Field(default="", description="plain-language description, used in the recommendation")
    label_fr: str = Field(default="", description="the same in French (default: the English label)")
    combine: list[str] = Field(default_factory=list, description="options of this file applied first")
    deactivate: list[Deactivate] = Field(default_factory=list)
    volume: list[VolumeChange] = Field(default_factory=list)
    translation_targets: TargetLimit | None = None
    models: dict[str, str] = Field(default_factory=dict, description="service -> calibration profile model")
    region: str | None = None
    pools: dict[str, PoolChange] = Field(default_factory=dict)
    batch_window: BatchWindow | None = None
    managed: dict[str, ManagedEndpoint] = Field(default_factory=dict, description="service -> managed endpoint serving it")
    remove_pools: list[str] = Field(default_factory=list, description="pools dropped (none of the remaining services may use them)")
    set_: dict[str, Any] = Field(default_factory=dict, alias="set", description="dotted scenario path -> value")


class CoverageValues(_Strict):
    """Value of the work of each service and language; a job is worth service x language."""

    services: dict[str, float] = Field(default_factory=dict, description="default 1 for each service")
    languages: dict[str, float] = Field(default_factory=dict, description="default 1 for each language")

    @field_validator("services", "languages")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()):
            raise ValueError("values must not be negative")
        return v


class SmaaSettings(_Strict):
    weights: Literal["uniform", "intervals"] = Field(
        default="intervals", description="uniform over the simplex, or intervals around the given weights"
    )
    half_width: float = Field(default=0.1, gt=0, le=1, description="intervals: w +/- half_width (absolute)")
    draws_per_replication: int = Field(default=200, ge=1, le=MAX_SMAA_DRAWS, description="weight vectors drawn per Monte Carlo draw")


class OptionsFile(_Strict):
    schema_version: Literal[1] = OPTIONS_SCHEMA_VERSION
    description: str = ""
    replications: int | None = Field(default=None, ge=2, description="default: the scenario's (never more)")
    weights: dict[str, float] = Field(default_factory=lambda: dict(REFERENCE_WEIGHTS))
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="normalisation bounds per criterion (default: min and max over all options and draws)"
    )
    coverage_values: CoverageValues = Field(default_factory=CoverageValues)
    prices_per_hour: dict[str, Annotated[float, Field(ge=0, le=MAX_PRICE_PER_HOUR)]] = Field(
        default_factory=dict, description="SKU -> price per hour, overriding the catalogue"
    )
    exceed_threshold: float | None = Field(
        default=None, ge=0, le=1, description="max probability of exceeding the budget (default: the scenario's)"
    )
    saturation_utilisation: float = Field(default=0.8, gt=0, le=1, description="a pool above this utilisation is saturated")
    double_count_threshold: float = Field(
        default=0.9, gt=0, le=1, description="Spearman rho (signed by direction) from which two criteria double count"
    )
    smaa: SmaaSettings = Field(default_factory=SmaaSettings)
    options: list[Option] = Field(default_factory=list)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return check_shares(v, sorted(CRITERIA), "criterion/criteria", "weights", _TOL)

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in v.items():
            if name not in CRITERIA:
                raise ValueError(f"unknown criterion `{name}`; use {sorted(CRITERIA)}")
            if not hi > lo:
                raise ValueError(f"{name}: bounds must be [low, high] with high > low")
        return v

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)


def option_label(spec: OptionsFile, name: str, lang: str = "en") -> str:
    """Plain-language description of an option (its name when it has none)."""
    if name == BASELINE:
        return {"en": "the scenario as it is", "fr": "le scénario tel quel"}[lang]
    o = spec.option(name)
    if lang == "fr" and o.label_fr:
        return o.label_fr
    return o.label or o.name
