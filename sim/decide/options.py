"""Decision options: overlays on the base scenario, and the settings of the decision.

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
- ``set``: any other scenario field, by dotted path (``services.generation.keep_alive_s``);
- ``combine``: apply other options of the file first.

The file also holds the decision's settings: replications, criteria weights, coverage
values, price overrides, SMAA settings. Every problem is reported at once, naming the
option and the field.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.config.errors import ConfigError, problems_from_validation, read_yaml
from sim.config.resolve import Resolved, model_problems, reference_problems
from sim.config.scenario import CONTENT_TYPES, Provisioning, Scenario, check_shares

from .criteria import CRITERIA

OPTIONS_SCHEMA_VERSION = 1
BASELINE = "baseline"
#: Weights of the reference case: energy 30%, carbon 30%, cost 20%, performance 10%, scalability 10%.
REFERENCE_WEIGHTS = {"energy": 0.3, "carbon": 0.3, "cost": 0.2, "performance": 0.1, "scalability": 0.1}
_TOL = 1e-6

Problem = tuple[str, str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Deactivate(_Strict):
    service: str
    languages: list[str] | None = Field(default=None, description="only these languages (default: all)")


class VolumeChange(_Strict):
    """Serve less than is requested, for the listed languages and content types (default: all)."""

    languages: list[str] | None = None
    content_types: list[str] | None = None
    reduce_share: float = Field(default=0.0, ge=0, le=1, description="share of files not served")
    cap_files_per_month: float | None = Field(default=None, ge=0, description="at most this many files a month")

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
    instances: int | None = Field(default=None, ge=1)
    slots_per_gpu: int | None = Field(default=None, ge=1)
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
    draws_per_replication: int = Field(default=200, ge=1, description="weight vectors drawn per Monte Carlo draw")


class OptionsFile(_Strict):
    schema_version: Literal[1] = OPTIONS_SCHEMA_VERSION
    description: str = ""
    replications: int | None = Field(default=None, ge=2, description="default: the scenario's (never more)")
    weights: dict[str, float] = Field(default_factory=lambda: dict(REFERENCE_WEIGHTS))
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="normalisation bounds per criterion (default: min and max over all options and draws)"
    )
    coverage_values: CoverageValues = Field(default_factory=CoverageValues)
    prices_per_hour: dict[str, float] = Field(default_factory=dict, description="SKU -> price per hour, overriding the catalogue")
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


# ---- loading and checking --------------------------------------------------------------


def _name_indices(loc: str, data: dict) -> str:
    """``options.3.region`` -> ``options.3(no-arabic).region``: name the option, not only its index."""
    parts = loc.split(".")
    if len(parts) >= 2 and parts[0] == "options" and parts[1].isdigit():
        opts = data.get("options") or []
        i = int(parts[1])
        if i < len(opts) and isinstance(opts[i], dict) and opts[i].get("name"):
            parts[1] = f"{parts[1]}({opts[i]['name']})"
    return ".".join(parts)


def load_options(path: Path | str, res: Resolved) -> OptionsFile:
    """Read and check an options file against the base scenario; raise ConfigError naming each problem."""
    path = Path(path)
    data = read_yaml(path)
    try:
        spec = OptionsFile.model_validate(data)
    except ValidationError as exc:
        problems = [(_name_indices(loc, data), msg, fix) for loc, msg, fix in problems_from_validation(exc)]
        raise ConfigError(path, problems) from None
    problems = option_problems(spec, res)
    if problems:
        raise ConfigError(path, problems)
    return spec


def option_problems(spec: OptionsFile, res: Resolved) -> list[Problem]:
    """Every broken reference of the options, then every problem of each overlaid scenario."""
    out: list[Problem] = []
    sc = res.scenario
    services, langs = sorted(sc.services), sorted(sc.workload.languages)
    names = [o.name for o in spec.options]
    for i, o in enumerate(spec.options):
        where = f"options.{i}({o.name})"
        if o.name == BASELINE:
            out.append((f"{where}.name", f"`{BASELINE}` is the name of the unchanged scenario", "choose another name"))
        if names.count(o.name) > 1 and names.index(o.name) != i:
            out.append((f"{where}.name", f"option `{o.name}` is defined twice", "give each option its own name"))
        out += _reference_problems(o, where, res, names)
    for name, value in spec.coverage_values.services.items():
        if name not in sc.services:
            out.append((f"coverage_values.services.{name}", f"unknown service `{name}`", f"use one of {services}"))
    for code in spec.coverage_values.languages:
        if code not in sc.workload.languages:
            out.append((f"coverage_values.languages.{code}", f"unknown language `{code}`", f"use one of {langs}"))
    for sku in spec.prices_per_hour:
        if sku not in res.skus.skus:
            out.append((f"prices_per_hour.{sku}", f"unknown SKU `{sku}`", f"use one of {sorted(res.skus.skus)}"))
    out += _cycle_problems(spec)
    if out:
        return list(dict.fromkeys(out))
    # References are sound: build every overlay and check the scenario it gives.
    for i, o in enumerate(spec.options):
        where = f"options.{i}({o.name})"
        try:
            apply_option(res, spec, o.name)
        except ConfigError as exc:
            out += [(f"{where}: {loc.split(': ', 1)[-1]}", msg, fix) for loc, msg, fix in exc.problems]
    return list(dict.fromkeys(out))


def _reference_problems(o: Option, where: str, res: Resolved, names: list[str]) -> list[Problem]:
    sc = res.scenario
    services, langs = sorted(sc.services), sorted(sc.workload.languages)
    out: list[Problem] = []

    def lang_list(field: str, codes: list[str] | None) -> None:
        for code in codes or []:
            if code not in sc.workload.languages:
                out.append((field, f"unknown language `{code}`", f"use one of {langs}"))

    for name in o.combine:
        if name not in names:
            out.append((f"{where}.combine", f"unknown option `{name}`", f"use one of {sorted(set(names) - {o.name})}"))
    for k, d in enumerate(o.deactivate):
        if d.service not in sc.services:
            out.append((f"{where}.deactivate.{k}.service", f"unknown service `{d.service}`", f"use one of {services}"))
        lang_list(f"{where}.deactivate.{k}.languages", d.languages)
    for k, v in enumerate(o.volume):
        lang_list(f"{where}.volume.{k}.languages", v.languages)
        for ct in v.content_types or []:
            if ct not in CONTENT_TYPES:
                out.append((f"{where}.volume.{k}.content_types", f"unknown content type `{ct}`", f"use one of {list(CONTENT_TYPES)}"))
    if o.translation_targets is not None:
        t = o.translation_targets
        lang_list(f"{where}.translation_targets.targets", t.targets)
        if t.service is not None:
            svc = sc.services.get(t.service)
            if svc is None:
                out.append((f"{where}.translation_targets.service", f"unknown service `{t.service}`", f"use one of {services}"))
            elif svc.task != "translate":
                out.append((f"{where}.translation_targets.service", f"`{t.service}` does not translate", "name a translate service"))
        elif not any(s.task == "translate" for s in sc.services.values()):
            out.append((f"{where}.translation_targets", "the scenario has no translate service", "remove this change"))
    for svc_name, model in o.models.items():
        svc = sc.services.get(svc_name)
        if svc is None:
            out.append((f"{where}.models.{svc_name}", f"unknown service `{svc_name}`", f"use one of {services}"))
            continue
        out += model_problems(f"{where}.models.{svc_name}", model, svc.task, res.profile)
    if o.region is not None and o.region not in res.regions.regions:
        out.append((f"{where}.region", f"unknown region `{o.region}`", f"use one of {sorted(res.regions.regions)}"))
    for pool, change in o.pools.items():
        if pool not in sc.pools:
            out.append((f"{where}.pools.{pool}", f"unknown pool `{pool}`", f"use one of {sorted(sc.pools)}"))
        if change.sku is not None and change.sku not in res.skus.skus:
            out.append((f"{where}.pools.{pool}.sku", f"unknown SKU `{change.sku}`", f"use one of {sorted(res.skus.skus)}"))
    if o.batch_window is not None:
        for pool in o.batch_window.pools or []:
            if pool not in sc.pools:
                out.append((f"{where}.batch_window.pools", f"unknown pool `{pool}`", f"use one of {sorted(sc.pools)}"))
        try:
            Provisioning(policy="scheduled", hours=o.batch_window.hours)
        except ValidationError as exc:  # the scenario's own rule for hours
            out.append((f"{where}.batch_window.hours", str(exc).splitlines()[-1].strip(), "use [start, end] hours, e.g. [22, 6]"))
    base = _dump(sc)
    for dotted in o.set_:
        if not _path_exists(base, dotted):
            out.append((f"{where}.set.{dotted}", f"`{dotted}` is not a field of the scenario",
                        "use a dotted path that exists in config.resolved.yaml, e.g. services.generation.keep_alive_s"))
    return out


def _cycle_problems(spec: OptionsFile) -> list[Problem]:
    out: list[Problem] = []
    graph: dict[str, list[str]] = {}
    for o in spec.options:
        graph.setdefault(o.name, o.combine)  # the first definition, as ``OptionsFile.option`` finds it
    for i, o in enumerate(spec.options):
        seen, stack = set(), list(o.combine)
        while stack:
            n = stack.pop()
            if n == o.name:
                out.append((f"options.{i}({o.name}).combine", "the option combines itself (directly or through others)",
                            "remove the cycle"))
                break
            if n not in seen:
                seen.add(n)
                stack.extend(graph.get(n, []))
    return out


# ---- applying an overlay ---------------------------------------------------------------


def _dump(sc: Scenario) -> dict:
    return sc.model_dump(mode="json", by_alias=True)


def _split(dotted: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in dotted.split(".")]


def _path_exists(data: Any, dotted: str) -> bool:
    node = data
    for part in _split(dotted):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


def _set_path(data: dict, dotted: str, value: Any) -> None:
    parts = _split(dotted)
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = copy.deepcopy(value)


def _overlay(data: dict, o: Option) -> None:
    """Apply the changes of one option (not its ``combine``) to a scenario dict, in place."""
    for d in o.deactivate:
        svc = data["services"][d.service]
        if d.languages is None:
            svc["enabled"] = False
        else:
            svc["disabled_languages"] = sorted(set(svc.get("disabled_languages") or []) | set(d.languages))
    for v in o.volume:
        data["workload"].setdefault("limits", []).append(v.model_dump(mode="json"))
    if o.translation_targets is not None:
        t = o.translation_targets
        for stages in data["pipelines"].values():
            for st in stages:
                svc = data["services"][st["service"]]
                if svc["task"] == "translate" and (t.service is None or st["service"] == t.service):
                    st["targets"] = list(t.targets)
    for svc_name, model in o.models.items():
        data["services"][svc_name]["model"] = model
    if o.region is not None:
        data["region"] = o.region
    for pool, change in o.pools.items():
        for key, value in change.model_dump(mode="json", exclude_none=True).items():
            data["pools"][pool][key] = value
    if o.batch_window is not None:
        bw = o.batch_window
        for pool in bw.pools or list(data["pools"]):
            data["pools"][pool]["provisioning"] = {"policy": "scheduled", "hours": list(bw.hours), "weekdays_only": bw.weekdays_only}
    for dotted, value in o.set_.items():
        _set_path(data, dotted, value)


def _chain(spec: OptionsFile, name: str) -> list[Option]:
    """The options to apply for ``name``: its combined options first (depth first), then itself."""
    out: list[Option] = []

    def visit(n: str) -> None:
        o = spec.option(n)
        for c in o.combine:
            visit(c)
        if o not in out:
            out.append(o)

    visit(name)
    return out


def apply_option(res: Resolved, spec: OptionsFile, name: str) -> Resolved:
    """The base scenario with option ``name`` (and the options it combines) applied."""
    if name == BASELINE:
        return res
    data = _dump(res.scenario)
    for o in _chain(spec, name):
        _overlay(data, o)
    where = f"options({name})"
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(res.path, [(f"{where}: {loc}", msg, fix) for loc, msg, fix in problems_from_validation(exc)]) from None
    problems = reference_problems(sc, res.profile, res.skus, res.regions)
    if problems:
        raise ConfigError(res.path, [(f"{where}: {loc}", msg, fix) for loc, msg, fix in problems])
    return replace(res, scenario=sc)


def option_label(spec: OptionsFile, name: str, lang: str = "en") -> str:
    """Plain-language description of an option (its name when it has none)."""
    if name == BASELINE:
        return {"en": "the scenario as it is", "fr": "le scénario tel quel"}[lang]
    o = spec.option(name)
    if lang == "fr" and o.label_fr:
        return o.label_fr
    return o.label or o.name
