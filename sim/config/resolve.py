"""Load a scenario with everything it refers to, and check the references between them.

Field-level problems come from pydantic; this module adds the cross-file ones (a service
on a missing pool, a model missing from the profile, an unknown SKU or region) and reports
all of them at once, each with the file, the field path and a fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalogues import RegionCatalogue, SkuCatalogue, load_regions, load_skus
from .errors import ConfigError, read_yaml, validate_model
from .profile import Profile, load_profile
from .scenario import MAX_SLOTS_PER_POOL, Scenario

Problem = tuple[str, str, str]


@dataclass(frozen=True)
class Resolved:
    """A validated scenario and the files it points to."""

    scenario: Scenario
    profile: Profile
    skus: SkuCatalogue
    regions: RegionCatalogue
    path: Path
    profile_path: Path


def _rel(base: Path, ref: str) -> Path:
    p = Path(ref)
    return p if p.is_absolute() else (base.parent / p)


def model_problems(field: str, model_name: str, task: str, profile: Profile) -> list[Problem]:
    """A service's model must be in the profile and calibrated for the service's task."""
    model = profile.models.get(model_name)
    if model is None:
        return [(field, f"model `{model_name}` is not in the calibration profile",
                 f"add it to the profile or use one of {sorted(profile.models)}")]
    if model.service != task:
        return [(field, f"model `{model_name}` serves `{model.service}`, not `{task}`", "pick a model calibrated for this task")]
    return []


def reference_problems(sc: Scenario, profile: Profile, skus: SkuCatalogue, regions: RegionCatalogue) -> list[Problem]:
    """Every broken reference inside a scenario, as (field, message, fix)."""
    out: list[Problem] = []
    langs = set(sc.workload.languages)
    if sc.region not in regions.regions:
        out.append(("region", f"unknown region `{sc.region}`", f"use one of {sorted(regions.regions)}"))
    for name, pool in sc.pools.items():
        if pool.sku not in skus.skus:
            out.append((f"pools.{name}.sku", f"unknown SKU `{pool.sku}`", f"use one of {sorted(skus.skus)}"))
        elif pool.instances * max(1, skus.skus[pool.sku].gpus) * pool.slots_per_gpu > MAX_SLOTS_PER_POOL:
            out.append((f"pools.{name}.instances", f"instances x GPUs x slots_per_gpu is above {MAX_SLOTS_PER_POOL:,} slots",
                        "use fewer instances or slots per GPU"))
    for name, svc in sc.services.items():
        where = f"services.{name}"
        if svc.pool not in sc.pools:
            out.append((f"{where}.pool", f"pool `{svc.pool}` is not defined", f"define it under `pools` or use one of {sorted(sc.pools)}"))
        out += model_problems(f"{where}.model", svc.model, svc.task, profile)
        for code in svc.disabled_languages:
            if code not in langs:
                out.append((f"{where}.disabled_languages", f"unknown language `{code}`", f"use one of {sorted(langs)}"))
    for ctype, stages in sc.pipelines.items():
        for i, st in enumerate(stages):
            where = f"pipelines.{ctype}.{i}"
            svc = sc.services.get(st.service)
            if svc is None:
                out.append((f"{where}.service", f"service `{st.service}` is not defined", f"use one of {sorted(sc.services)}"))
                continue
            if isinstance(st.targets, list):
                for code in st.targets:
                    if code not in langs:
                        out.append((f"{where}.targets", f"unknown language `{code}`", f"use one of {sorted(langs)}"))
            for req in st.requires or []:
                if req not in {s.service for s in stages[:i]}:
                    out.append((f"{where}.requires", f"`{req}` is not an earlier stage of this pipeline", "list earlier stages only"))
            if svc.task == "generate" and st.output_tokens is None:
                out.append((f"{where}.output_tokens", "a generate stage needs output_tokens",
                            "add e.g. output_tokens: {dist: lognormal, median: 300, p90: 600}"))
            if svc.task == "transcribe" and ctype == "text":
                out.append((f"{where}.service", "text files cannot be transcribed", "remove this stage"))
            model = profile.models.get(svc.model)
            if model is not None:
                priced = set(model.time_s.coef) | set(model.energy_j.coef)
                missing = sorted(c for c in langs if c not in model.chars_per_token)
                if priced & {"input_token", "output_token"} - ({"output_token"} if svc.task == "generate" else set()) and missing:
                    out.append((f"services.{st.service}.model",
                                f"profile model `{svc.model}` has no chars_per_token for {missing}",
                                "add them to the profile (carbonsim calibrate tokens)"))
    for code, lang in sc.workload.languages.items():
        for ctype, share in lang.content_mix.items():
            if share > 0 and ctype not in sc.pipelines:
                out.append(("pipelines", f"no pipeline for `{ctype}`, used by language `{code}`", f"add `pipelines.{ctype}`"))
    # One message per (field, message): the same broken model can be reached twice.
    return list(dict.fromkeys(out))


def check(sc: Scenario, profile: Profile, skus: SkuCatalogue, regions: RegionCatalogue, path: Path | str) -> None:
    """Raise ConfigError naming ``path`` when any reference is broken."""
    problems = reference_problems(sc, profile, skus, regions)
    if problems:
        raise ConfigError(path, problems)


def _referenced(path: Path, field: str, loader, ref: Path):
    """Load a file the scenario refers to. A problem with the file as a whole (missing, not
    a file, not YAML, the wrong kind) is the scenario's field's: it names both; a problem
    inside the file names that file and its field."""
    try:
        return loader(ref)
    except ConfigError as exc:
        if all(loc == "" for loc, _, _ in exc.problems):
            raise ConfigError(path, [(field, f"{ref}: {msg}", fix) for _, msg, fix in exc.problems]) from None
        raise


def load_and_check(path: Path | str, overrides: dict | None = None) -> Resolved:
    """Read a scenario YAML, apply top-level ``overrides``, load its profile and catalogues."""
    path = Path(path)
    data = read_yaml(path, "scenario")
    if overrides:
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    sc = validate_model(path, data, Scenario, what="scenario")
    profile_path = _rel(path, sc.calibration)
    profile = _referenced(path, "calibration", load_profile, profile_path)
    skus = _referenced(path, "skus_file", load_skus, _rel(path, sc.skus_file))
    regions = _referenced(path, "regions_file", load_regions, _rel(path, sc.regions_file))
    check(sc, profile, skus, regions, path)
    return Resolved(sc, profile, skus, regions, path, profile_path)
