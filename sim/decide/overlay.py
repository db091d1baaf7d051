"""Applying an option: the base scenario, overlaid with the option's changes and checked again.

An overlay changes a copy of the scenario and nothing else, so run on the same replication
seeds an option differs from the baseline only where it differs (common random numbers).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from sim.config.errors import ConfigError, problems_from_validation
from sim.config.resolve import Resolved, reference_problems
from sim.config.scenario import Scenario

from .options import BASELINE, Option, OptionsFile


def scenario_dict(sc: Scenario) -> dict:
    return sc.model_dump(mode="json", by_alias=True)


def _split(dotted: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in dotted.split(".")]


def path_exists(data: Any, dotted: str) -> bool:
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
    for svc_name, endpoint in o.managed.items():
        data["services"][svc_name]["pool"] = None
        data["services"][svc_name]["managed"] = endpoint.model_dump(mode="json")
    for pool in o.remove_pools:
        data["pools"].pop(pool, None)
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
    data = scenario_dict(res.scenario)
    for o in _chain(spec, name):
        _overlay(data, o)
    where = f"options({name})"
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(res.path, [(f"{where}: {loc}", msg, fix) for loc, msg, fix in problems_from_validation(exc)]) from None
    problems = reference_problems(sc, res.profile, res.skus, res.regions, res.gpu_profiles)
    if problems:
        raise ConfigError(res.path, [(f"{where}: {loc}", msg, fix) for loc, msg, fix in problems])
    return replace(res, scenario=sc)


