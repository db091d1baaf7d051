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


# -- streamed replications: records written block by block ------------------------------------------


class Collected:
    """``Records`` that keep what they are handed."""

    def __init__(self, res, replication):
        from sim.forecast.replication import job_rows

        self.rows, self.restarts = [], 0
        self.add = lambda jobs, t, j0, f0: self.rows.append(
            job_rows(jobs, t, tuple(res.scenario.workload.languages), replication, j0, f0).frame(categorical=True))

    def restart(self):
        self.rows, self.restarts = [], self.restarts + 1


@pytest.mark.parametrize("changes", [
    {},
    {"pools.gpu.provisioning": {"policy": "scheduled", "hours": [8, 18], "weekdays_only": True}},
])
def test_streamed_records_are_the_whole_runs_row_for_row(tmp_path, changes):
    """Blocks of 150 files (an office-hours pool carries files across most boundaries):
    the rows handed block by block, in order, are the whole replication's job table."""
    from sim.forecast.replication import job_table
    from sim.forecast.stream import run_streamed

    res = load_and_check(scenario_file(tmp_path, horizon_months=3, **changes))
    got = Collected(res, 1)
    done = run_streamed(res, 1, block_files=150, backlog_blocks=np.inf, records=got)
    assert done is not None and done.blocks > 5 and got.restarts == 0
    inp = sample_inputs(res, 1, details=False)
    whole = job_table(inp, get_engine("fast")(inp.for_engine), 1).frame(categorical=True)
    pd.testing.assert_frame_equal(pd.concat(got.rows, ignore_index=True), whole)


@pytest.fixture
def streamed_runs(monkeypatch):
    """Every run streams its replications, in blocks of 300 files."""
    import sim.forecast.stream
    import sim.montecarlo.run

    monkeypatch.setattr(sim.montecarlo.run, "STREAM_FROM_JOBS", 0)
    monkeypatch.setattr(sim.forecast.stream, "BLOCK_FILES", 300)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_keep_jobs_of_streamed_replications(tmp_path, streamed_runs, monkeypatch, workers):
    """``--keep-jobs 2`` on streamed replications: jobs.parquet holds replications 0 and 1,
    each the whole run's rows, and no part is left in the run folder."""
    import sim.forecast.job_parts as job_parts

    closed = []  # the parts this process published (replication 0 runs here first)
    close = job_parts.JobsPart.close
    monkeypatch.setattr(job_parts.JobsPart, "close", lambda self: closed.append(self.path.name) or close(self))
    path = scenario_file(tmp_path, horizon_months=3)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "-n", "3", "--keep-jobs", "2", "--engine", "fast",
                                       "--workers", workers, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "replication-000000.parquet" in closed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs_kept"] == {"replications": 2, "file": "jobs.parquet"}
    assert not any("parts" in f for f in manifest["files"]) and not (out / ".jobs-parts").exists()
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert list(jobs.columns) == COLUMNS and sorted(jobs["replication"].unique()) == [0, 1]
    res = load_and_check(path)
    for r in (0, 1):
        mine = jobs[jobs["replication"] == r].reset_index(drop=True)
        inp = sample_inputs(res, r, details=False)
        t = get_engine("fast")(inp.for_engine)
        np.testing.assert_array_equal(mine["job"], np.arange(len(inp.jobs)))
        np.testing.assert_array_equal(mine["file"], inp.jobs.file)
        np.testing.assert_array_equal(mine["end_s"], t.end_s)
        np.testing.assert_array_equal(mine["energy_j"], t.energy_j)


def test_a_failed_run_leaves_no_jobs_file(tmp_path, streamed_runs, monkeypatch):
    """The run fails as the second replication's records are copied: nothing is published
    (no jobs.parquet, no run folder), and no part is left behind."""
    import sim.montecarlo.job_records as job_records

    calls = []
    original = job_records.JobsWriter._write

    def fails_second(self, records):
        calls.append(records)
        if len(calls) == 2:
            raise OSError("disk full")
        original(self, records)

    monkeypatch.setattr(job_records.JobsWriter, "_write", fails_second)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario_file(tmp_path, horizon_months=3)), "-n", "3",
                                       "--keep-jobs", "2", "--workers", "1", "--out", str(out)])
    assert result.exit_code != 0
    assert "disk full" in result.output
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_parts_and_tables_go_into_one_file(tmp_path):
    """A replication that falls back to running whole returns a table, its neighbours
    parts: jobs.parquet takes both, in replication order, the same rows."""
    from sim.forecast.job_parts import JobsPart
    from sim.forecast.replication import job_table
    from sim.montecarlo.job_records import JobsWriter

    res = load_and_check(scenario_file(tmp_path, horizon_months=2))
    tables = []
    for r in range(3):
        inp = sample_inputs(res, r, details=False)
        tables.append(job_table(inp, get_engine("fast")(inp.for_engine), r))
    writer = JobsWriter(tmp_path / "jobs.parquet", 3)
    parts = []
    for r in (0, 2):
        part = JobsPart(writer.parts / f"replication-{r:06d}.parquet")
        part.add(tables[r])
        parts.append(part.close())
    writer.add({2: parts[1], 1: tables[1]})
    writer.add({0: parts[0]})
    assert writer.close() == 3 and not writer.parts.exists()
    got = pd.read_parquet(tmp_path / "jobs.parquet")
    want = pd.concat([t.frame(categorical=True) for t in tables], ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
