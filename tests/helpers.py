"""Scenarios for tests, written as real YAML files (the way users write them)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
CATALOGUE_REFS = (("regions_file", "azure/regions.yaml"), ("skus_file", "azure/skus.yaml"), ("calibration", None))


def scenario_dict(name: str = "mmc") -> dict:
    """A shipped scenario (``default`` or one of ``configs/examples``) as a dict, with its
    file references made absolute so that it can be written anywhere."""
    path = CONFIGS / "examples" / f"{name}.yaml" if name != "default" else CONFIGS / "default.yaml"
    data = yaml.safe_load(path.read_text())
    for key, default in CATALOGUE_REFS:
        data[key] = str((path.parent / data.get(key, default)).resolve())
    if "gpu_profiles" in data:
        data["gpu_profiles"] = [str((path.parent / ref).resolve()) for ref in data["gpu_profiles"]]
    return data


def set_dotted(data: dict, changes: dict) -> dict:
    """Replace fields given by dotted paths (``workload.base_files_per_month``, a number for a
    list's item: ``pipelines.audio.0.service``); return ``data``."""
    for key, value in changes.items():
        node = data
        *path, last = key.split(".")
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
    return data


def scenario_file(tmp_path: Path, name: str = "default", **changes) -> Path:
    """A shipped scenario with some fields replaced (dotted keys), written to ``tmp_path``."""
    out = tmp_path / "scenario.yaml"
    out.write_text(yaml.safe_dump(set_dotted(scenario_dict(name), changes), sort_keys=False))
    return out
