"""Scenario schema: everything a forecast needs, as pydantic models read from YAML.

Units are in field names. Fields documented as *epistemic* are drawn once per replication;
*aleatory* ones once per file or job (DESIGN.md, "Uncertain quantities").
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import ConfigModel
from .distributions import Bounded, is_uncertain
from .serving import ManagedEndpoint, Pool, ServiceLevels

SCENARIO_SCHEMA_VERSION = 1
CONTENT_TYPES = ("audio", "video", "text")
TASKS = ("transcribe", "translate", "generate")
_SHARE_TOL = 1e-6

# Upper bounds on sizes that set how much memory and time one replication takes (README,
# "Limits"): beyond them a run would exhaust the machine before it could say anything.
#: Files a month (the base volume, and the growth cap).
MAX_FILES_PER_MONTH = 1_000_000
#: Files over the whole horizon of one replication (after growth): a typo's bound, not
#: memory's. A streamed replication holds a month's files, not the horizon's (15%/month
#: over 60 months, 14.6 million files, streams in under 1 GB); whether a run fits this
#: machine is the estimate's to say, before anything is allocated (``sim.montecarlo.estimate``).
MAX_FILES_PER_REPLICATION = 100_000_000
#: Months simulated: 20 years, far beyond any hardware lifetime or forecast worth making.
MAX_HORIZON_MONTHS = 240
#: Replications of a run: its monthly table takes about 0.8 GB per 1,000 (README, "Speed
#: and scale"), and bands settle long before this many.
MAX_REPLICATIONS = 10_000


def check_shares(v: dict[str, float], allowed: list[str], keys: str, values: str, tol: float = _SHARE_TOL) -> dict[str, float]:
    """A mapping of named shares: known keys, none negative, summing to 1 (within ``tol``)."""
    unknown = sorted(set(v) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {keys} {unknown}; use {allowed}")
    if any(x < 0 for x in v.values()):
        raise ValueError(f"{values} must not be negative")
    total = sum(v.values())
    if abs(total - 1) > tol:
        raise ValueError(f"{values} sum to {total:.4g}, they must sum to 1")
    return v


class _Strict(ConfigModel):
    """Unknown fields, NaN, infinity and magnitudes beyond 1e12 refused (``ConfigModel``)."""


class Budget(_Strict):
    """Carbon budget over the whole horizon (kgCO2e, location-based)."""

    total_kg: float = Field(gt=0)
    exceed_threshold: float = Field(
        default=0.1, ge=0, le=1, description="options more likely than this to exceed it are infeasible"
    )


class GridProfileRef(_Strict):
    """An hourly grid intensity file (see ``sim.config.gridprofile``); a bare string is its path."""

    path: str = Field(min_length=1, description="CSV of one year of hourly UTC intensities, relative to the scenario's folder")
    datetime_column: str = Field(default="Datetime (UTC)", description="column of UTC times")
    intensity_column: str | None = Field(
        default=None, description="gCO2e/kWh column; default: Electricity Maps' (LCA), else its (direct) one")


class Carbon(_Strict):
    pue: Bounded(ge=1) | None = Field(default=None, description="epistemic, >= 1; default: the region's PUE")
    grid_intensity_g_per_kwh: Bounded(ge=0) | None = Field(
        default=None, description="epistemic, location-based; default: the region's figure"
    )
    grid_trend_per_year: Bounded(gt=-1) = Field(
        default=0.0, description="epistemic; relative change of grid intensity per year (-0.05 = -5%/yr), > -1"
    )
    market_intensity_g_per_kwh: Bounded(ge=0) | None = Field(
        default=None, description="epistemic; market-based factor (contracts), reported beside location-based"
    )
    grid_profile: GridProfileRef | None = Field(
        default=None, description="hourly intensities replacing the yearly figure (the trend still applies)")
    embodied: bool = True
    budget: Budget | None = None

    @field_validator("grid_profile", mode="before")
    @classmethod
    def _profile_path(cls, v: object) -> object:
        return {"path": v} if isinstance(v, str) else v


class Growth(_Strict):
    monthly_rate: Bounded(gt=-1) = Field(description="epistemic, > -1; files(m) = base * (1 + rate)**m")
    cap_files_per_month: float | None = Field(default=None, gt=0, le=MAX_FILES_PER_MONTH, description="saturation of total demand")


class Language(_Strict):
    share: float = Field(ge=0, le=1, description="share of the base volume")
    start_month: int = Field(default=0, ge=0, description="first month with files (0: the first simulated)")
    content_mix: dict[str, float]

    @field_validator("content_mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        return check_shares(v, list(CONTENT_TYPES), "content type(s)", "content shares")


class MediaContent(_Strict):
    duration_s: Bounded(ge=0) = Field(description="aleatory, per file")


class TextContent(_Strict):
    chars: Bounded(ge=0) = Field(description="aleatory, per file: characters including spaces")


class Contents(_Strict):
    audio: MediaContent | None = None
    video: MediaContent | None = None
    text: TextContent | None = None


class VolumeLimit(_Strict):
    """Serve less than is requested: thin by a share, or cap the files per month.

    Applies to the listed languages and content types (all when omitted). Thinning keeps a
    file when its own uniform draw is above ``reduce_share``; a cap keeps the month's
    earliest files. Both use per-file random numbers, so they keep common random numbers.
    """

    languages: list[str] | None = None
    content_types: list[str] | None = None
    reduce_share: float = Field(default=0.0, ge=0, le=1)
    cap_files_per_month: float | None = Field(default=None, ge=0)

    @field_validator("content_types")
    @classmethod
    def _types(cls, v: list[str] | None) -> list[str] | None:
        unknown = sorted(set(v or ()) - set(CONTENT_TYPES))
        if unknown:
            raise ValueError(f"unknown content type(s) {unknown}; use {list(CONTENT_TYPES)}")
        return v


class Workload(_Strict):
    base_files_per_month: float = Field(
        ge=0, le=MAX_FILES_PER_MONTH,
        description="all languages together at month 0, those that start later included: each language gets its share "
                    "of it (grown) from its start_month on, so month 0 has base x the shares of the languages started",
    )
    growth: Growth
    count_model: Literal["poisson", "negative_binomial"] = "poisson"
    dispersion: float | None = Field(
        default=None, gt=0, description="negative binomial size k: variance = mean + mean**2/k"
    )
    arrival_profile: Literal["flat", "business_hours"] = "flat"
    languages: dict[str, Language] = Field(min_length=1)
    content: Contents
    limits: list[VolumeLimit] = Field(default_factory=list, description="volume served below demand")
    speech_chars_per_second: Bounded(ge=0) = Field(
        default=14.0, description="aleatory: characters of transcript per second of speech"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "Workload":
        total = sum(lang.share for lang in self.languages.values())
        if abs(total - 1) > _SHARE_TOL:
            raise ValueError(f"languages: shares sum to {total:.4g}, they must sum to 1")
        if self.count_model == "negative_binomial" and self.dispersion is None:
            raise ValueError("count_model negative_binomial needs `dispersion`")
        for code, lang in self.languages.items():
            for ctype, share in lang.content_mix.items():
                if share > 0 and getattr(self.content, ctype) is None:
                    raise ValueError(f"languages.{code}.content_mix uses `{ctype}` but `content.{ctype}` is not defined")
        for i, lim in enumerate(self.limits):
            unknown = sorted(set(lim.languages or ()) - set(self.languages))
            if unknown:
                raise ValueError(f"limits.{i}.languages: unknown language(s) {unknown}; use {sorted(self.languages)}")
        return self


class Stage(_Strict):
    """One step of a pipeline: a service applied to a file, possibly fanned out."""

    service: str
    targets: list[str] | Literal["others"] | None = Field(
        default=None, description="fan-out: target languages (translate), or `others`"
    )
    probability: float = Field(default=1.0, ge=0, le=1, description="share of files that pass this stage")
    output_tokens: Bounded(ge=0) | None = Field(default=None, description="aleatory, for generate stages")
    length_ratio: float | None = Field(
        default=None, gt=0,
        description="output/input characters for translate; default: the calibration's ratio for each language pair",
    )
    requires: list[str] | None = Field(
        default=None, description="services whose output this stage needs (default: earlier transcribe stages)"
    )


class Service(_Strict):
    task: Literal["transcribe", "translate", "generate"]
    model: str = Field(description="entry in the calibration profile's `models`")
    pool: str | None = Field(default=None, description="the pool that serves it (null when `managed`)")
    managed: ManagedEndpoint | None = Field(default=None, description="served by an external endpoint instead of a pool")
    keep_alive_s: float | None = Field(
        default=None, ge=0, description="unload after this idle time; null keeps the model resident"
    )
    enabled: bool = True
    disabled_languages: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _served(self) -> "Service":
        if (self.pool is None) == (self.managed is None):
            raise ValueError("give either `pool` or `managed` (a service runs on one pool or one managed endpoint)")
        if self.managed is not None and self.task != "generate" and self.managed.per_unit is None:
            raise ValueError(f"a managed `{self.task}` endpoint needs `managed.per_unit` figures with their source "
                             "(EcoLogits covers text generation only)")
        return self


class Scenario(_Strict):
    schema_version: Literal[1] = SCENARIO_SCHEMA_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    horizon_months: int = Field(ge=1, le=MAX_HORIZON_MONTHS)
    start_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, first simulated month")
    seed: int = Field(ge=0)
    replications: int = Field(ge=1, le=MAX_REPLICATIONS)
    region: str
    regions_file: str = "azure/regions.yaml"
    skus_file: str = "azure/skus.yaml"
    calibration: str | list[str] = Field(
        description="calibration profile path, or a list of them merged in order (later files override earlier "
                    "ones model by model), relative to the config file"
    )

    @field_validator("calibration")
    @classmethod
    def _some_profile(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError("list at least one profile, e.g. [calibration/priors.yaml, calibration/my-a100.yaml]")
        return v

    @property
    def calibration_files(self) -> list[str]:
        """The calibration profiles in merge order."""
        return [self.calibration] if isinstance(self.calibration, str) else list(self.calibration)
    gpu_profiles: list[str] = Field(
        default_factory=list,
        description="profiles for the other GPUs pools may run on (each states its GPU); relative to the config file",
    )
    carbon: Carbon = Field(default_factory=Carbon)
    workload: Workload
    pipelines: dict[str, list[Stage]]
    services: dict[str, Service] = Field(min_length=1)
    pools: dict[str, Pool] = Field(default_factory=dict, description="at least one, unless every service is managed")
    service_levels: ServiceLevels | None = Field(default=None, description="levels the decision holds options to")

    @model_validator(mode="after")
    def _some_pool(self) -> "Scenario":
        on_pools = [name for name, svc in self.services.items() if svc.managed is None]
        if not self.pools and on_pools:
            raise ValueError(f"`pools` is empty but services {on_pools} run on a pool: define one, or make them `managed`")
        return self

    @field_validator("start_month")
    @classmethod
    def _month(cls, v: str) -> str:
        year, month = map(int, v.split("-"))
        if not 1 <= month <= 12:
            raise ValueError("month must be 01..12")
        if year < 1:
            raise ValueError("year must be 0001 or later")
        return v

    @model_validator(mode="after")
    def _calendar(self) -> "Scenario":
        year, month = map(int, self.start_month.split("-"))
        if year + (month - 1 + self.horizon_months) // 12 > dt.MAXYEAR:
            raise ValueError(f"start_month: {self.start_month} plus {self.horizon_months} months ends after year {dt.MAXYEAR}")
        rate = self.workload.growth.monthly_rate
        highest = rate.support()[1] if is_uncertain(rate) else float(rate if isinstance(rate, float) else rate.mean())
        if math.isfinite(highest):  # else each replication checks its own draw (``demand_problem``)
            problem = demand_problem(self.workload, self.horizon_months, highest)
            if problem:
                raise ValueError(f"workload.growth.monthly_rate: {problem[1]}; {problem[2]}")
        return self

    @field_validator("pipelines")
    @classmethod
    def _pipeline_types(cls, v: dict[str, list[Stage]]) -> dict[str, list[Stage]]:
        unknown = sorted(set(v) - set(CONTENT_TYPES))
        if unknown:
            raise ValueError(f"unknown content type(s) {unknown}; use {list(CONTENT_TYPES)}")
        return v

    # ---- derived calendar -------------------------------------------------------------
    def month_starts(self) -> list[dt.datetime]:
        """Start of each simulated month and of the month after the horizon (UTC)."""
        return list(_month_starts(self.start_month, self.horizon_months))

    def month_edges_s(self) -> list[float]:
        """Month boundaries in seconds since the start of the first month."""
        return list(_month_edges_s(self.start_month, self.horizon_months))


@functools.lru_cache(maxsize=64)
def _month_starts(start_month: str, horizon_months: int) -> tuple[dt.datetime, ...]:
    """(cached: every replication asks for the same calendar, several times)"""
    year, month = map(int, start_month.split("-"))
    out = []
    for i in range(horizon_months + 1):
        y, m = divmod(month - 1 + i, 12)
        out.append(dt.datetime(year + y, m + 1, 1))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _month_edges_s(start_month: str, horizon_months: int) -> tuple[float, ...]:
    starts = _month_starts(start_month, horizon_months)
    return tuple((s - starts[0]).total_seconds() for s in starts)


def horizon_files(wl: Workload, horizon: int, growth_rate: float) -> float:
    """Expected files over ``horizon`` months at ``growth_rate`` (all languages, before any
    limit): what one replication holds in memory."""
    total = 0.0
    for m in range(horizon):
        per_month = wl.base_files_per_month * math.exp(min(m * math.log1p(growth_rate), 600.0))  # (no overflow)
        if wl.growth.cap_files_per_month is not None:
            per_month = min(per_month, wl.growth.cap_files_per_month)
        total += per_month * sum(lang.share for lang in wl.languages.values() if m >= lang.start_month)
    return total


def demand_problem(wl: Workload, horizon: int, growth_rate: float) -> tuple[str, str, str] | None:
    """(field, message, fix) when a growth rate makes a replication hold more files than
    ``MAX_FILES_PER_REPLICATION``, else None."""
    files = horizon_files(wl, horizon, growth_rate)
    if files <= MAX_FILES_PER_REPLICATION:
        return None
    return ("workload.growth.monthly_rate",
            f"a growth of {growth_rate:.4g}/month gives {files:.3g} files over {horizon} months, "
            f"above the bound of {MAX_FILES_PER_REPLICATION:,} per replication",
            "lower base_files_per_month or the growth, set growth.cap_files_per_month, or shorten horizon_months")


def stage_requires(stages: list[Stage], i: int, services: dict[str, Service]) -> list[str]:
    """Services that stage ``i`` needs to have run: explicit, or earlier transcribe stages."""
    if stages[i].requires is not None:
        return list(stages[i].requires)
    return [s.service for s in stages[:i] if services[s.service].task == "transcribe"]


def pool_codes(sc: Scenario, services: tuple[str, ...] | list[str], pools: tuple[str, ...] | list[str]) -> list[int]:
    """Index in ``pools`` of each service's pool; -1 for a managed service (it has none)."""
    return [-1 if sc.services[s].pool is None else list(pools).index(sc.services[s].pool) for s in services]


def doubling_rate(months: float) -> float:
    """Monthly growth rate that doubles volume in ``months`` months."""
    return math.pow(2.0, 1.0 / months) - 1.0
