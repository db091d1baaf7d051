"""Helpers to build small scenarios as real YAML files (the way users write them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def scenario_dict(name: str = "mmc") -> dict:
    """A shipped example scenario as a dict, with its file references made absolute."""
    path = CONFIGS / "examples" / f"{name}.yaml" if name != "default" else CONFIGS / "default.yaml"
    data = yaml.safe_load(path.read_text())
    base = path.parent
    for key, default in (("regions_file", "azure/regions.yaml"), ("skus_file", "azure/skus.yaml"), ("calibration", None)):
        ref = data.get(key, default)
        data[key] = str((base / ref).resolve())
    return data


@pytest.fixture
def write_config(tmp_path):
    """Write a scenario dict to a YAML file and return its path."""

    def _write(data: dict, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return _write
