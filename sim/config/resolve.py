"""Load a scenario with everything it refers to, and check the references between them.

Field-level problems come from pydantic; this module adds the cross-file ones (a service
on a missing pool, a model missing from the profile, an unknown SKU or region) and reports
all of them at once, each with the file, the field path and a fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .catalogues import RegionCatalogue, SkuCatalogue, load_regions, load_skus
from .errors import ConfigError, read_yaml, validate_model
from .profile import ModelProfile, Profile, load_profile
from .scenario import Scenario

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
    gpu_profiles: dict[str, Profile] = field(default_factory=dict)  # GPU -> the scenario's ``gpu_profiles``
    gpu_profile_paths: dict[str, Path] = field(default_factory=dict)


#: ``hardware.gpu.model`` of a profile that states no GPU (synthetic, or measured on a CPU).
NO_GPU = "none"


def profile_for_gpu(profile: Profile, gpu_profiles: dict[str, Profile], gpu: str) -> Profile | None:
    """The profile with figures for ``gpu``: the scenario's own when it was measured on that
    GPU (or states none), else the one listed for it in ``gpu_profiles``; None when none has."""
    own = profile.hardware.gpu.model
    if own == gpu:
        return profile
    if gpu in gpu_profiles:
        return gpu_profiles[gpu]
    return profile if own == NO_GPU else None


def service_model(res: Resolved, service: str) -> tuple[str, ModelProfile]:
    """The figures a service's model runs with on its pool's GPU, and the name its draws go
    by: the model's own, or ``model@GPU`` when they come from another GPU's profile."""
    svc = res.scenario.services[service]
    gpu = res.skus.skus[res.scenario.pools[svc.pool].sku].gpu
    prof = profile_for_gpu(res.profile, res.gpu_profiles, gpu)
    assert prof is not None  # refused at load (reference_problems)
    return (svc.model if prof is res.profile else f"{svc.model}@{gpu}"), prof.models[svc.model]


def _rel(base: Path, ref: str) -> Path:
    p = Path(ref)
    return p if p.is_absolute() else (base.parent / p)


def model_problems(field: str, model_name: str, task: str, profile: Profile, gpu: str | None = None) -> list[Problem]:
    """A service's model must be in the profile (for ``gpu``, when named) and calibrated for the service's task."""
    model = profile.models.get(model_name)
    if model is None:
        where = "" if gpu is None else f" for GPU `{gpu}` ({profile.name})"
        return [(field, f"model `{model_name}` is not in the calibration profile{where}",
                 f"add it to the profile (carbonsim calibrate run on that GPU) or use one of {sorted(profile.models)}")]
    if model.service != task:
        return [(field, f"model `{model_name}` serves `{model.service}`, not `{task}`", "pick a model calibrated for this task")]
    return []


def gpu_problems(name: str, svc, sc: Scenario, profile: Profile, skus: SkuCatalogue,
                 gpu_profiles: dict[str, Profile]) -> tuple[list[Problem], Profile | None]:
    """A service's pool must run on a GPU some profile has figures for; returns that profile."""
    pool = sc.pools.get(svc.pool)
    if pool is None or pool.sku not in skus.skus:
        return [], profile  # reported as a missing pool or SKU
    gpu = skus.skus[pool.sku].gpu
    prof = profile_for_gpu(profile, gpu_profiles, gpu)
    if prof is not None:
        return model_problems(f"services.{name}.model", svc.model, svc.task, prof, None if prof is profile else gpu), prof
    have = sorted({profile.hardware.gpu.model, *gpu_profiles})
    return [(f"pools.{svc.pool}.sku",
             f"SKU `{pool.sku}` runs on GPU `{gpu}`, for which no calibration profile has figures: model `{svc.model}` "
             f"(service `{name}`) was measured on {have} only",
             f"calibrate it on that GPU (carbonsim calibrate run --vm-sku {pool.sku} --out FILE) and list FILE under "
             f"`gpu_profiles`, or give a profile of figures for `{gpu}` (see configs/calibration/priors-t4.yaml), "
             f"or use a SKU with one of {have}")], None


def reference_problems(sc: Scenario, profile: Profile, skus: SkuCatalogue, regions: RegionCatalogue,
                       gpu_profiles: dict[str, Profile] | None = None) -> list[Problem]:
    """Every broken reference inside a scenario, as (field, message, fix)."""
    gpu_profiles = gpu_profiles or {}
    out: list[Problem] = []
    langs = set(sc.workload.languages)
    if sc.region not in regions.regions:
        out.append(("region", f"unknown region `{sc.region}`", f"use one of {sorted(regions.regions)}"))
    for name, pool in sc.pools.items():
        if pool.sku not in skus.skus:
            out.append((f"pools.{name}.sku", f"unknown SKU `{pool.sku}`", f"use one of {sorted(skus.skus)}"))
    for name, svc in sc.services.items():
        where = f"services.{name}"
        if svc.pool not in sc.pools:
            out.append((f"{where}.pool", f"pool `{svc.pool}` is not defined", f"define it under `pools` or use one of {sorted(sc.pools)}"))
        found, _ = gpu_problems(name, svc, sc, profile, skus, gpu_profiles)
        out += found
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
            _, prof = gpu_problems(st.service, svc, sc, profile, skus, gpu_profiles)
            model = prof.models.get(svc.model) if prof is not None else None
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


def check(sc: Scenario, profile: Profile, skus: SkuCatalogue, regions: RegionCatalogue, path: Path | str,
          gpu_profiles: dict[str, Profile] | None = None) -> None:
    """Raise ConfigError naming ``path`` when any reference is broken."""
    problems = reference_problems(sc, profile, skus, regions, gpu_profiles)
    if problems:
        raise ConfigError(path, problems)


def load_and_check(path: Path | str, overrides: dict | None = None) -> Resolved:
    """Read a scenario YAML, apply top-level ``overrides``, load its profile and catalogues."""
    path = Path(path)
    data = read_yaml(path)
    if overrides:
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    sc = validate_model(path, data, Scenario)
    profile_path = _rel(path, sc.calibration)
    profile = load_profile(profile_path)
    skus = load_skus(_rel(path, sc.skus_file))
    regions = load_regions(_rel(path, sc.regions_file))
    gpu_profiles, gpu_paths = load_gpu_profiles(sc, path, profile)
    check(sc, profile, skus, regions, path, gpu_profiles)
    return Resolved(sc, profile, skus, regions, path, profile_path, gpu_profiles, gpu_paths)


def load_gpu_profiles(sc: Scenario, path: Path, profile: Profile) -> tuple[dict[str, Profile], dict[str, Path]]:
    """The scenario's ``gpu_profiles`` by the GPU each states; each must state one GPU of its own."""
    profiles: dict[str, Profile] = {}
    paths: dict[str, Path] = {}
    problems: list[Problem] = []
    for i, ref in enumerate(sc.gpu_profiles):
        p = _rel(path, ref)
        prof = load_profile(p)
        gpu = prof.hardware.gpu.model
        if gpu == NO_GPU:
            problems.append((f"gpu_profiles.{i}", f"profile {p} states no GPU",
                             "set its hardware.gpu.model to the GPU it was measured on, as configs/azure/skus.yaml names it"))
        elif gpu in profiles or gpu == profile.hardware.gpu.model:
            problems.append((f"gpu_profiles.{i}", f"a second profile for GPU `{gpu}` ({p})", "list one profile per GPU"))
        else:
            profiles[gpu], paths[gpu] = prof, p
    if problems:
        raise ConfigError(path, problems)
    return profiles, paths
