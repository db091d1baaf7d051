"""``--keep-jobs N``: every job of the first N replications in ``jobs.parquet``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.config.resolve import load_and_check
from sim.engine.registry import get_engine
from sim.forecast.accounting import J_PER_KWH
from sim.forecast.replication import sample_inputs
from tests.helpers import scenario_file

COLUMNS = ["replication", "job", "file", "service", "language", "content_type", "pool", "gpu", "start_s", "end_s",
           "wait_s", "service_s", "energy_j", "cold"]


@pytest.mark.parametrize("engine, workers", [("fast", "2"), ("simpy", "1")])
def test_jobs_parquet_holds_the_first_replications_jobs(tmp_path, engine, workers):
    path = scenario_file(tmp_path, horizon_months=4, **{"pools.gpu.instances": 2})
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "-n", "3", "--keep-jobs", "2", "--engine", engine,
                                       "--workers", workers, "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs_kept"] == {"replications": 2, "file": "jobs.parquet"} and "jobs.parquet" in manifest["files"]
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert list(jobs.columns) == COLUMNS
    assert sorted(jobs["replication"].unique()) == [0, 1]
    res = load_and_check(path)
    monthly = pd.read_parquet(out / "monthly.parquet")
    for r in (0, 1):
        mine = jobs[jobs["replication"] == r]
        inp = sample_inputs(res, r, details=False)
        t = get_engine(engine)(inp.for_engine)
        assert len(mine) == len(inp.jobs) == manifest_jobs(out, r)
        np.testing.assert_array_equal(mine["job"], np.arange(len(inp.jobs)))
        np.testing.assert_array_equal(mine["file"], inp.jobs.file)
        np.testing.assert_array_equal(mine["start_s"], t.start_s)
        np.testing.assert_array_equal(mine["end_s"], t.end_s)
        np.testing.assert_array_equal(mine["wait_s"], t.start_s - t.ready_s)
        np.testing.assert_array_equal(mine["cold"], t.cold)
        np.testing.assert_array_equal(mine["gpu"], t.gpu)
        assert mine["gpu"].between(0, 1).all() and set(mine["gpu"]) == {0, 1}  # two instances of one GPU each
        assert (mine["wait_s"] >= 0).all()
        np.testing.assert_allclose(mine["service_s"], mine["end_s"] - mine["start_s"])
        assert list(mine["service"].cat.categories) == list(inp.jobs.services)
        assert (mine["service"].astype(str).to_numpy() == np.asarray(inp.jobs.services)[inp.jobs.service]).all()
        # the jobs' energy is the monthly table's active energy, in all
        active = monthly[(monthly["replication"] == r) & (monthly["component"] == "active")]["energy_kwh"].sum()
        assert mine["energy_j"].sum() / J_PER_KWH == pytest.approx(active, rel=1e-9)


def manifest_jobs(out, r: int) -> int:
    reps = pd.read_csv(out / "replications.csv")
    return int(reps.loc[reps["replication"] == r, "jobs"].iloc[0])


def test_no_jobs_file_by_default(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario_file(tmp_path, horizon_months=2)), "-n", "2",
                                       "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "jobs.parquet").exists()
    assert "jobs_kept" not in json.loads((out / "manifest.json").read_text())
