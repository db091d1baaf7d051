"""What serves a scenario's jobs: pools and their provisioning (always on, scheduled,
autoscale), managed endpoints, and the service levels the decision holds options to.

Part of the scenario schema (``sim.config.scenario``); units are in field names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import ConfigModel
from .distributions import Bounded

#: VMs in a pool, and jobs one GPU serves at once: the engines keep and scan a state per slot.
MAX_INSTANCES = 1_000
MAX_SLOTS_PER_GPU = 256
#: Slots of a pool (instances x GPUs x slots per GPU), which the engines keep and scan.
MAX_SLOTS_PER_POOL = MAX_INSTANCES * MAX_SLOTS_PER_GPU


class _Strict(ConfigModel):
    """Unknown fields, NaN, infinity and magnitudes beyond 1e12 refused (``ConfigModel``)."""


class ServiceLevels(_Strict):
    """What the API must keep up with; an option likely to break a level is infeasible.

    Levels are judged per replication on the final year (P95 file latency over its files,
    or over the files of one content type; the busiest pool's busiest month) and reported
    for any month of the horizon beside.
    """

    p95_file_latency_s: float | None = Field(
        default=None, gt=0, description="P95 end-to-end file latency, from arrival to its last job's end (s)"
    )
    max_utilisation: float | None = Field(
        default=None, gt=0, le=1, description="highest monthly utilisation of any pool (busy share of its slot time)"
    )
    p95_file_latency_s_by_content: dict[Literal["audio", "video", "text"], float] | None = Field(
        default=None, description="P95 end-to-end latency of the files of one content type (s), e.g. {text: 120, audio: 900}"
    )
    break_threshold: float = Field(
        default=0.1, ge=0, le=1, description="options more likely than this to break a level are infeasible"
    )

    @field_validator("p95_file_latency_s_by_content")
    @classmethod
    def _positive_latencies(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for content, seconds in (v or {}).items():
            if not seconds > 0:
                raise PydanticCustomError("latency_level", "the P95 latency level of {content} files must be > 0 s (got {got})",
                                          {"content": content, "got": seconds})
        return v

    def limits(self) -> dict[str, float]:
        """Every level set, by name (``p95_file_latency_s.audio`` for a content type's), in a fixed order."""
        out = {k: getattr(self, k) for k in ("p95_file_latency_s", "max_utilisation") if getattr(self, k) is not None}
        for content in ("audio", "video", "text"):
            if self.p95_file_latency_s_by_content and content in self.p95_file_latency_s_by_content:
                out[f"p95_file_latency_s.{content}"] = self.p95_file_latency_s_by_content[content]
        return out


#: Units a managed endpoint's per-unit figures and prices may be given in.
MANAGED_UNITS = ("audio_second", "input_token", "output_token", "request")


class UnitFigures(_Strict):
    """A managed endpoint's figures per unit of work, for tasks EcoLogits does not cover.

    Every figure is epistemic (drawn once per replication) and must be given with its
    source: there is no default.
    """

    unit: Literal["audio_second", "input_token", "output_token", "request"]
    energy_j: Bounded(ge=0) = Field(description="IT energy per unit on the provider's fleet (J)")
    pue: Bounded(ge=1) = Field(description="the provider's data-centre PUE")
    embodied_g: Bounded(ge=0) = Field(description="embodied emissions per unit (gCO2e)")
    latency_s: Bounded(ge=0) = Field(description="response time per unit (s)")
    latency_fixed_s: Bounded(ge=0) = Field(default=0.0, description="response time per request (s)")
    source: str = Field(min_length=1, description="where the figures come from")


class ManagedEndpoint(_Strict):
    """A service served by an external, shared endpoint instead of a pool.

    Generation is estimated with EcoLogits (``provider`` and ``model`` name an entry of its
    model repository); other tasks need ``per_unit`` figures with their source.
    """

    provider: str = Field(min_length=1, description="EcoLogits provider (e.g. mistralai) or the endpoint's vendor")
    model: str = Field(min_length=1, description="EcoLogits model name (e.g. ministral-8b-2512)")
    electricity_mix_zone: str = Field(description="EcoLogits electricity mix zone: ISO 3166-1 alpha-3, or WOR")
    price_usd_per_million: dict[str, float] = Field(
        default_factory=dict, description="unit -> price (USD) per million units, e.g. {output_token: 0.1}"
    )
    per_unit: UnitFigures | None = Field(default=None, description="figures for tasks EcoLogits does not cover")

    @field_validator("price_usd_per_million")
    @classmethod
    def _prices(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(MANAGED_UNITS))
        if unknown:
            raise ValueError(f"unknown unit(s) {unknown}; use {list(MANAGED_UNITS)}")
        if any(x < 0 for x in v.values()):
            raise ValueError("prices must not be negative")
        return v


class Provisioning(_Strict):
    """When a pool's instances are provisioned (and so draw idle power and cost money).

    ``always_on`` keeps ``instances`` on; ``scheduled`` turns them on in given hours;
    ``autoscale`` adds and removes instances with the load, as an Azure autoscale rule does
    (VM Scale Sets, AKS, Container Apps): scale out by ``scale_out_by`` when ``metric`` has
    stayed above ``threshold`` for a whole ``time_window_s`` (Azure's time aggregation
    *Minimum*), a new instance serving ``boot_s`` after it is provisioned; scale in one
    instance when a whole instance's slots have stayed free, with nothing queued, for
    ``cooldown_s``. ``min_instances: 0`` is serverless (scale to zero; the first job after
    that pays the boot).
    """

    policy: Literal["always_on", "scheduled", "autoscale"] = "always_on"
    hours: tuple[int, int] = Field(default=(8, 20), description="on from hour a to hour b (local=UTC), b may wrap")
    weekdays_only: bool = False
    min_instances: int | None = Field(default=None, ge=0, description="autoscale: fewest instances (0: serverless)")
    max_instances: int | None = Field(default=None, ge=1, le=MAX_INSTANCES, description="autoscale: the cap")
    metric: Literal["queue_per_slot", "utilisation"] = Field(
        default="queue_per_slot", description="autoscale: jobs waiting per serving slot, or busy share of serving slots"
    )
    threshold: float = Field(default=1.0, ge=0, description="autoscale: scale out when the metric stays above this")
    time_window_s: float = Field(default=300.0, ge=0, description="autoscale: how long the metric must stay above (s)")
    scale_out_by: int = Field(default=1, ge=1, description="autoscale: instances added per scale-out")
    boot_s: float = Field(default=300.0, ge=0, description="autoscale: from provisioning to serving (VM start, image, runtime) (s)")
    cooldown_s: float = Field(default=600.0, ge=0, description="autoscale: spare capacity of one instance this long -> scale in (s)")

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= v[0] <= 23 and 0 <= v[1] <= 24) or v[0] == v[1]:
            raise ValueError("hours must be [start, end] with 0 <= start <= 23, 0 <= end <= 24 and start != end")
        return v

    @model_validator(mode="after")
    def _autoscale(self) -> "Provisioning":
        if self.policy == "autoscale":
            if self.min_instances is None or self.max_instances is None:
                raise ValueError("policy autoscale needs `min_instances` and `max_instances`, e.g. {min_instances: 0, max_instances: 4}")
            if self.min_instances > self.max_instances:
                raise ValueError(f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})")
            if self.metric == "utilisation" and self.threshold >= 1:
                raise ValueError("metric utilisation needs a threshold below 1 (a share of the serving slots), e.g. 0.7")
        elif self.min_instances is not None or self.max_instances is not None:
            raise ValueError(f"min_instances and max_instances apply to policy autoscale only, not `{self.policy}`")
        return self


class Pool(_Strict):
    sku: str
    # (provisioning first: the check of ``instances`` reads it)
    provisioning: Provisioning = Field(default_factory=Provisioning)
    instances: int = Field(ge=0, le=MAX_INSTANCES, description="instances on (autoscale: at the start, within min..max)")
    slots_per_gpu: int = Field(default=1, ge=1, le=MAX_SLOTS_PER_GPU, description="jobs one GPU serves at once")

    @field_validator("instances")
    @classmethod
    def _instances(cls, v: int, info: ValidationInfo) -> int:
        p = info.data.get("provisioning")
        if p is None:
            return v
        if p.policy != "autoscale" and v < 1:
            raise PydanticCustomError("instances_for_policy", "Input should be greater than or equal to 1 for policy `{policy}`",
                                      {"policy": p.policy})
        if p.policy == "autoscale" and not p.min_instances <= v <= p.max_instances:
            raise PydanticCustomError("instances_for_policy", "instances ({v}) is the count at the start under autoscale: "
                                      "it must lie within min_instances ({lo}) and max_instances ({hi})",
                                      {"v": v, "lo": p.min_instances, "hi": p.max_instances})
        return v
