"""Run folders: complete when published, nothing that looks complete when interrupted."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.montecarlo import bands
from tests.helpers import scenario_dict


@pytest.fixture
def tiny(write_yaml):
    data = scenario_dict("default")
    data["horizon_months"] = 3
    data["workload"]["base_files_per_month"] = 60
    data["replications"] = 3
    return write_yaml(data)


def test_simulate_writes_a_complete_folder(tiny, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["simulate", str(tiny), "--out", str(out), "--no-progress", "-w", "1"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["engine"] in ("simpy", "fast")
    assert manifest["seed"] == 20261127 and manifest["replications"] == 3
    assert manifest["calibration"]["method"] == "literature"
    for name in ("config.resolved.yaml", "monthly.parquet", "bands.csv", "summary.md", "service_stats.parquet"):
        assert (out / name).exists() and name in manifest["files"]
    monthly = pd.read_parquet(out / "monthly.parquet")
    for col in ("replication", "month", "service", "language", "content_type", "component", "jobs", "energy_kwh", "co2e_kg"):
        assert col in monthly.columns
    bands = pd.read_csv(out / "bands.csv")
    tot = bands[(bands.metric == "co2e_kg") & (bands.group_by == "total")]
    per_rep = monthly.groupby(["replication", "month"]).co2e_kg.sum().unstack()
    assert tot.sort_values("month").p50.to_numpy() == pytest.approx(per_rep.median(axis=0).to_numpy())
    assert (tot.p5 <= tot.p50).all() and (tot.p50 <= tot.p95).all()


def test_interrupted_run_leaves_nothing_that_looks_complete(tiny, tmp_path, monkeypatch):
    out = tmp_path / "run"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bands, "compute_bands", boom)  # the forecast's last step, after the tables
    r = CliRunner().invoke(main, ["simulate", str(tiny), "--out", str(out), "--no-progress", "-w", "1"])
    assert r.exit_code != 0
    assert not out.exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_existing_folder_is_not_overwritten(tiny, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    r = CliRunner().invoke(main, ["simulate", str(tiny), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "already exists" in r.output


def test_bad_config_is_an_error_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    r = CliRunner().invoke(main, ["simulate", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "bad.yaml" in r.output and "horizon_months" in r.output


def _console(*args: str, cwd) -> subprocess.CompletedProcess:
    """The ``carbonsim`` console command (``console_main``) in a process of its own."""
    code = "import sys; from sim.cli import console_main; sys.argv[0] = 'carbonsim'; console_main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_console_command_exits_with_main_s_code_and_complete_output(tiny, tmp_path):
    """The console entry point, in a process of its own: the run folder, the printed
    summary and the exit status are all there."""
    out = tmp_path / "run"
    done = _console("simulate", str(tiny), "--out", str(out), "--no-progress", "-w", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "run folder:" in done.stdout and "emissions over the horizon" in done.stdout
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    bad = _console("simulate", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr
    assert _console("--version", cwd=tmp_path).returncode == 0
