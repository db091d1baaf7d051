"""Loading an options file: schema, references to the base scenario, and every overlay built
once, so that every problem is reported at once, naming the option and the field."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from sim.config.errors import (
    ConfigError,
    check_kind,
    problems_from_validation,
    read_yaml,
)
from sim.config.resolve import Resolved, managed_problems, model_problems
from sim.config.scenario import CONTENT_TYPES
from sim.config.serving import Provisioning

from .options import BASELINE, Option, OptionsFile, Problem
from .overlay import apply_option, path_exists, scenario_dict


def _name_indices(loc: str, data: dict) -> str:
    """``options.3.region`` -> ``options.3(no-arabic).region``: name the option, not only its index."""
    parts = loc.split(".")
    if len(parts) >= 2 and parts[0] == "options" and parts[1].isdigit():
        opts = data.get("options")
        i = int(parts[1])
        if isinstance(opts, list) and i < len(opts) and isinstance(opts[i], dict) and isinstance(opts[i].get("name"), str):
            parts[1] = f"{parts[1]}({opts[i]['name']})"
    return ".".join(parts)


def load_options(path: Path | str, res: Resolved) -> OptionsFile:
    """Read and check an options file against the base scenario; raise ConfigError naming each problem."""
    path = Path(path)
    data = read_yaml(path, "decision options file")
    try:
        check_kind(path, data, OptionsFile, "decision options file")
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
    for svc_name, endpoint in o.managed.items():
        svc = sc.services.get(svc_name)
        if svc is None:
            out.append((f"{where}.managed.{svc_name}", f"unknown service `{svc_name}`", f"use one of {services}"))
            continue
        if svc.task != "generate" and endpoint.per_unit is None:
            out.append((f"{where}.managed.{svc_name}.per_unit", f"a managed `{svc.task}` endpoint needs per-unit figures",
                        "add per_unit: {unit, energy_j, pue, embodied_g, latency_s, source} (EcoLogits covers generation only)"))
        out += managed_problems(f"{where}.managed.{svc_name}", endpoint, svc.task)
    for pool in o.remove_pools:
        if pool not in sc.pools:
            out.append((f"{where}.remove_pools", f"unknown pool `{pool}`", f"use one of {sorted(sc.pools)}"))
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
    base = scenario_dict(sc)
    for dotted in o.set_:
        if not path_exists(base, dotted):
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


