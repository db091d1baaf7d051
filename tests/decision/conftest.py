"""Small scenarios and options files for the decision tests, written as real YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def small_scenario(**changes) -> dict:
    """The reference case made small: 14 months, ~30 files a month, Arabic from month 2, 8 replications."""
    data = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    for key, default in (("regions_file", "azure/regions.yaml"), ("skus_file", "azure/skus.yaml"), ("calibration", None)):
        data[key] = str((CONFIGS / data.get(key, default)).resolve())
    data.update(name="small", horizon_months=14, replications=8)
    data["workload"]["base_files_per_month"] = 30
    data["workload"]["languages"]["ar"]["start_month"] = 2
    data["carbon"]["budget"] = {"total_kg": 1000, "exceed_threshold": 0.1}
    data.update(changes)
    return data


@pytest.fixture
def write_yaml(tmp_path):
    """Write a dict to ``tmp_path/name`` as YAML and return the path."""

    def _write(data: dict, name: str) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def small_res(write_yaml):
    from sim.resolve import load_and_check

    return load_and_check(write_yaml(small_scenario(), "small.yaml"))
