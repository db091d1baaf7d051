"""Load a scenario with everything it refers to, and check the references between them.

Field-level problems come from pydantic; this module adds the cross-file ones (a service
on a missing pool, a model missing from the profile, an unknown SKU or region) and reports
all of them at once, each with the file, the field path and a fix.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from .catalogues import RegionCatalogue, SkuCatalogue, load_regions, load_skus
from .errors import ConfigError, read_yaml, validate_model
from .gridprofile import GridProfile, load_grid_profile
from .layers import LayeredProfile, load_layered
from .profile import ModelProfile, Profile, energy_only_terms, load_profile
from .scenario import Scenario
from .serving import MAX_SLOTS_PER_POOL, ManagedEndpoint

Problem = tuple[str, str, str]


@dataclass(frozen=True)
class Resolved:
    """A validated scenario and the files it points to."""

    scenario: Scenario
    profile: Profile
    skus: SkuCatalogue
    regions: RegionCatalogue
    path: Path
    profile_path: Path  # the last calibration file (the only one when the scenario names one)
    layers: LayeredProfile | None = None  # every calibration file and where each entry came from
    warnings: tuple[str, ...] = field(default=())  # what a user should know before trusting the forecast
    gpu_profiles: dict[str, Profile] = field(default_factory=dict)  # GPU -> the scenario's ``gpu_profiles``
    gpu_profile_paths: dict[str, Path] = field(default_factory=dict)

    @property
    def profile_paths(self) -> tuple[Path, ...]:
        return self.layers.paths if self.layers is not None else (self.profile_path,)

    def grid_profile(self) -> GridProfile | None:
        """The scenario's hourly grid intensity, if any, read once per file (relative paths
        from the scenario's folder, also when an option sets the field)."""
        ref = self.scenario.carbon.grid_profile
        if ref is None:
            return None
        path = _rel(self.path, ref.path).resolve()
        stamp = path.stat().st_mtime_ns if path.is_file() else 0
        return _grid_profile(path, stamp, ref.datetime_column, ref.intensity_column)


@functools.lru_cache(maxsize=8)
def _grid_profile(path: Path, stamp: int, datetime_column: str, intensity_column: str | None) -> GridProfile:
    """(``stamp``, the file's modification time, keys the cache: a changed file is read again)"""
    return load_grid_profile(path, datetime_column, intensity_column)


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
    if svc.pool is None:  # a managed endpoint: the profile's entry, if any, is not run on a GPU of ours
        return svc.model, res.profile.models.get(svc.model)
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


def managed_problems(where: str, endpoint: ManagedEndpoint, task: str) -> list[Problem]:
    """A managed endpoint's references into EcoLogits (loaded only when a service is managed)."""
    from .endpoints import endpoint_problems

    return endpoint_problems(where, endpoint.provider, endpoint.model, endpoint.electricity_mix_zone, task == "generate")


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
        elif pool.instances * max(1, skus.skus[pool.sku].gpus) * pool.slots_per_gpu > MAX_SLOTS_PER_POOL:
            out.append((f"pools.{name}.instances", f"instances x GPUs x slots_per_gpu is above {MAX_SLOTS_PER_POOL:,} slots",
                        "use fewer instances or slots per GPU"))
    for name, svc in sc.services.items():
        where = f"services.{name}"
        if svc.managed is not None:
            out += managed_problems(f"{where}.managed", svc.managed, svc.task)
        elif svc.pool not in sc.pools:
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


def profile_warnings(sc: Scenario, profile: Profile) -> list[str]:
    """What to know before trusting the forecast: models the scenario uses whose energy fit
    is flagged (``calibrate.quality``) or has terms with energy but no time, translation
    pairs with no length ratio, and a partial calibration."""
    out = []
    for model_name in dict.fromkeys(svc.model for svc in sc.services.values()):
        model = profile.models.get(model_name)
        q = model.fit.get("energy_j") if model is not None else None
        if q is not None and q.flags:
            out.append(f"model `{model_name}`: its energy fit is flagged ({', '.join(q.flags)}): {q.notes or 'see the profile'}; "
                       "its energy is not a trustworthy measurement (recalibrate with a meter that sees the device)")
        unbounded = energy_only_terms(model) if model is not None else []
        if unbounded:
            out.append(f"model `{model_name}`: {unbounded} add energy but no time, so the GPU power limit cannot be "
                       "checked on them; give them a time term (refit, or set it in the profile)")
    missing = _pairs_without_ratio(sc, profile)
    if missing:
        out.append(f"no translation length ratio for {missing} in the calibration: those translations are as long as "
                   "their source (1.0); add `translation_length` (carbonsim calibrate lengths) or a stage `length_ratio`")
    if profile.partial:
        out.append(f"calibration `{profile.name}` is partial (written with --allow-partial): "
                   + "; ".join(f"{f.model}: {f.error}" for f in profile.failures if not f.sample))
    return out


def _pairs_without_ratio(sc: Scenario, profile: Profile) -> list[str]:
    """``src>tgt`` pairs a translate stage produces with neither its own ratio nor the profile's."""
    known = set(profile.translation_length.ratios) if profile.translation_length is not None else set()
    langs = list(sc.workload.languages)
    out = []
    for ctype, stages in sc.pipelines.items():
        for st in stages:
            svc = sc.services.get(st.service)
            if svc is None or svc.task != "translate" or st.length_ratio is not None:
                continue
            for src in langs:
                if sc.workload.languages[src].content_mix.get(ctype, 0) <= 0:
                    continue
                targets = [t for t in langs if t != src] if st.targets == "others" else (st.targets or [])
                out += [f"{src}>{t}" for t in targets if t != src and f"{src}>{t}" not in known]
    return sorted(set(out))


def check(sc: Scenario, profile: Profile, skus: SkuCatalogue, regions: RegionCatalogue, path: Path | str,
          gpu_profiles: dict[str, Profile] | None = None) -> None:
    """Raise ConfigError naming ``path`` when any reference is broken."""
    problems = reference_problems(sc, profile, skus, regions, gpu_profiles)
    if problems:
        raise ConfigError(path, problems)


def _referenced(path: Path, field: str, loader, ref):
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
    layers = _referenced(path, "calibration", load_layered, [_rel(path, ref) for ref in sc.calibration_files])
    profile = layers.profile
    skus = _referenced(path, "skus_file", load_skus, _rel(path, sc.skus_file))
    regions = _referenced(path, "regions_file", load_regions, _rel(path, sc.regions_file))
    gpu_profiles, gpu_paths = load_gpu_profiles(sc, path, profile)
    check(sc, profile, skus, regions, path, gpu_profiles)
    res = Resolved(sc, profile, skus, regions, path, layers.paths[-1], layers=layers,
                   warnings=tuple(profile_warnings(sc, profile)), gpu_profiles=gpu_profiles, gpu_profile_paths=gpu_paths)
    res.grid_profile()  # a bad profile fails here, before any simulation
    return res


def load_gpu_profiles(sc: Scenario, path: Path, profile: Profile) -> tuple[dict[str, Profile], dict[str, Path]]:
    """The scenario's ``gpu_profiles`` by the GPU each states; each must state one GPU of its own."""
    profiles: dict[str, Profile] = {}
    paths: dict[str, Path] = {}
    problems: list[Problem] = []
    for i, ref in enumerate(sc.gpu_profiles):
        p = _rel(path, ref)
        prof = _referenced(path, f"gpu_profiles.{i}", load_profile, p)
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
