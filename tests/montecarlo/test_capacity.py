"""capacity.csv and the summary's words on capacity: layout, consistency with the
replications' own figures, and a saturating pool said in plain words with its fix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.montecarlo.capacity import CAPACITY_COLUMNS, CAPACITY_METRICS
from tests.helpers import scenario_dict


def mmc(files: float, **pool) -> dict:
    """M/M/c with 1 slot per instance: offered load files * 60 s / January's seconds."""
    data = scenario_dict("mmc")
    data["replications"] = 3
    data["horizon_months"] = 2
    data["workload"]["base_files_per_month"] = files
    data["pools"]["pool"].update({"slots_per_gpu": 1, **pool})
    return data


def simulate(write_yaml, tmp_path, data: dict, name: str):
    out = tmp_path / name
    r = CliRunner().invoke(main, ["simulate", str(write_yaml(data, f"{name}.yaml")), "--out", str(out), "--no-progress", "-w", "1"])
    assert r.exit_code == 0, r.output
    return out


def test_capacity_csv_is_long_with_the_agreed_columns_and_matches_the_service_statistics(write_yaml, tmp_path):
    out = simulate(write_yaml, tmp_path, mmc(22_000), "light")  # offered load 0.5 on one instance
    cap = pd.read_csv(out / "capacity.csv")
    assert tuple(cap.columns) == CAPACITY_COLUMNS
    assert set(cap.metric) == set(CAPACITY_METRICS) and len(cap) == 2 * len(CAPACITY_METRICS)
    assert cap.period.tolist()[:2] == ["2027-01", "2027-02"]
    row = cap.set_index(["month", "metric"])
    # one always-on instance: exactly 1 provisioned, the month's hours
    assert row.loc[(0, "instances"), ["mean", "p5", "p95"]].tolist() == [1.0, 1.0, 1.0]
    assert row.loc[(0, "instance_hours"), "p50"] == 31 * 24
    stats = pd.read_parquet(out / "service_stats.parquet")
    util = stats[(stats.service == "server") & (stats.month == 0)].utilisation
    assert row.loc[(0, "utilisation"), "mean"] == pytest.approx(util.mean(), rel=1e-12)
    assert row.loc[(0, "utilisation"), "p50"] == pytest.approx(0.5, rel=0.05)
    summary = (out / "summary.md").read_text()
    assert "stays below 80% utilisation" in summary


def test_a_saturating_always_on_pool_is_said_in_plain_words_with_its_fix(write_yaml, tmp_path):
    out = simulate(write_yaml, tmp_path, mmc(67_000), "saturated")  # offered load 1.5 on one slot
    summary = (out / "summary.md").read_text()
    assert "cannot keep up" in summary and "policy: autoscale" in summary and "instances" in summary
    head = json.loads((out / "headline.json").read_text())["capacity"]["pool"]
    assert head["saturates"] and head["first_busy_month"]["p50"] == "2027-01"
    # February's work: 67,000 x 60 s in 28 days keeps 1.66 slots busy; at 80% at most, 3 instances
    assert head["instances_needed"] == 3
    # the report says the same, in both languages
    from sim.report.content import capacity_notes
    from sim.report.i18n import Strings

    full = json.loads((out / "headline.json").read_text())["capacity"]
    en, fr = capacity_notes(full, Strings("en")), capacity_notes(full, Strings("fr"))
    assert "first passes 80% utilisation in 2027-01" in en[0] and "cannot keep up" in en[1] and "3 instances" in en[1]
    assert "ne suit pas" in fr[1]


def test_an_autoscaled_pool_reports_the_instances_its_final_month_needs(write_yaml, tmp_path):
    rule = {"policy": "autoscale", "min_instances": 1, "max_instances": 4, "threshold": 0, "time_window_s": 0,
            "boot_s": 60, "cooldown_s": 600}
    out = simulate(write_yaml, tmp_path, mmc(67_000, provisioning=rule), "scaled")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "fast" and "engine_reason" not in manifest
    cap = pd.read_csv(out / "capacity.csv").set_index(["month", "metric"])
    inst = cap.loc[(1, "instances")]
    assert 1.5 < inst["p50"] < 4  # at least the offered load, at most the cap
    hours = cap.loc[(1, "instance_hours")]
    assert hours["p50"] == pytest.approx(inst["p50"] * 28 * 24, rel=1e-9)
    summary = (out / "summary.md").read_text()
    assert "With autoscaling, the final month needs" in summary and "cannot keep up" not in summary
    assert np.isfinite(cap.loc[(1, "wait_p95_s"), "p50"])
