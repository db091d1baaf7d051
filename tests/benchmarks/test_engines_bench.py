"""Speed and scale: both engines side by side, the whole default run (`simulate` and `run`), peak memory.

Run with `make bench` (or `pytest tests/benchmarks/test_engines_bench.py --benchmark-only
-o addopts=""`); not part of the default test run. Figures land in the benchmark table and
in each benchmark's ``extra_info`` (jobs/s, speed-up, wall seconds, peak MiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.config.resolve import load_and_check
from sim.engine.fast import warm_up
from sim.engine.registry import fast_engine, simpy_engine
from sim.forecast.replication import sample_inputs
from tests.jobhelpers import assert_same_timings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.yaml"
CARBONSIM = Path(sys.executable).with_name("carbonsim")


@pytest.fixture(scope="module")
def inputs():
    """The default scenario's replication 0, sampled once and fed to both engines."""
    return sample_inputs(load_and_check(DEFAULT), 0)


@pytest.fixture(scope="module")
def reference(inputs):
    """SimPy's timings of the same inputs: what every engine must reproduce job by job."""
    return simpy_engine(inputs.for_engine)


@pytest.mark.parametrize("name, engine, rounds", [("simpy", simpy_engine, 3), ("fast", fast_engine, 30)])
def test_engine_jobs_per_second(benchmark, inputs, reference, name, engine, rounds):
    warm_up()
    timings = benchmark.pedantic(engine, args=(inputs.for_engine,), rounds=rounds, iterations=1, warmup_rounds=1)
    assert_same_timings(timings, reference)
    benchmark.extra_info["jobs"] = len(inputs.jobs)
    benchmark.extra_info["jobs_per_s"] = round(len(inputs.jobs) / benchmark.stats.stats.min)


def test_fast_engine_speed_up_over_simpy_side_by_side(benchmark, inputs, reference):
    """Both engines on the same inputs in one run: best of 3 for SimPy, the benchmark's best for fast."""
    warm_up()
    simpy_s = min(_timed(simpy_engine, inputs.for_engine) for _ in range(3))
    timings = benchmark.pedantic(fast_engine, args=(inputs.for_engine,), rounds=30, iterations=1, warmup_rounds=1)
    assert_same_timings(timings, reference)
    fast_s = benchmark.stats.stats.min
    n = len(inputs.jobs)
    benchmark.extra_info.update(jobs=n, simpy_jobs_per_s=round(n / simpy_s), fast_jobs_per_s=round(n / fast_s),
                                speed_up=round(simpy_s / fast_s, 1))


def test_replication_stage_breakdown(benchmark):
    """Milliseconds per replication in each stage (one core, fast engine), over replications 0-19,
    with the tables built as the Monte Carlo builds them (NumPy columns, no DataFrame)."""
    from sim.forecast.accounting import monthly_table
    from sim.forecast.replication import file_table, service_table

    res = load_and_check(DEFAULT)
    warm_up()
    spent = {"sample": 0.0, "engine": 0.0, "accounting": 0.0}
    jobs = 0

    def run_all():
        nonlocal jobs
        for rep in range(20):
            t0 = time.perf_counter()
            inp = sample_inputs(res, rep, details=False)  # as the Monte Carlo samples them
            t1 = time.perf_counter()
            timings = fast_engine(inp.for_engine)
            t2 = time.perf_counter()
            monthly = monthly_table(res.scenario, inp.jobs, timings, inp.draws, inp.accounting, rep)
            service_table(res, inp, timings, rep)
            file_table(res, inp, rep)
            t3 = time.perf_counter()
            spent["sample"] += t1 - t0
            spent["engine"] += t2 - t1
            spent["accounting"] += t3 - t2
            jobs += len(inp.jobs)
            checked.append((monthly, timings))

    checked: list = []
    benchmark.pedantic(run_all, rounds=1, iterations=1)
    for monthly, timings in checked:  # conservation: the active component books every job's energy once
        frame = monthly.frame()
        active_j = frame[frame.component == "active"].energy_kwh.sum() * 3.6e6
        assert active_j == pytest.approx(timings.energy_j.sum(), rel=1e-9)
    benchmark.extra_info.update({f"{k}_ms_per_replication": round(v / 20 * 1000, 1) for k, v in spent.items()})
    benchmark.extra_info["jobs_per_replication"] = jobs // 20


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


def _simulate_cli(tmp_path: Path, replications: int, workers: int) -> dict:
    """`carbonsim simulate` on the default config in a fresh process: wall seconds and peak RSS (MiB)."""
    out = tmp_path / f"run{replications}"
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [sys.executable, "-c", probe, str(CARBONSIM), "simulate", str(DEFAULT), "-n", str(replications),
           "--workers", str(workers), "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ})
    wall, rss_kib = done.stdout.split()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["replications"] == replications
    assert_totals_conserved(out)
    return {"wall_s": float(wall), "peak_mib": int(rss_kib) / 1024, "engine": manifest["engine"],
            "monte_carlo_s": manifest["wall_s"], "jobs": manifest["jobs_simulated"]}


def assert_totals_conserved(out: Path) -> None:
    """The run's monthly bands and its per-replication totals tell the same emissions: the mean
    over replications of the horizon total equals the sum over months of the monthly means."""
    import pandas as pd

    bands = pd.read_csv(out / "bands.csv")
    monthly_mean = bands[(bands.metric == "co2e_kg") & (bands.group_by == "total")]["mean"].sum()
    assert pd.read_csv(out / "replications.csv")["co2e_kg"].mean() == pytest.approx(monthly_mean, rel=1e-9)


def test_default_run_1000_replications_two_workers(benchmark, tmp_path):
    """The whole `carbonsim simulate --workers 2` at 1,000 replications x 36 months (wall time and peak memory)."""
    result = benchmark.pedantic(_simulate_cli, args=(tmp_path, 1000, 2), rounds=1, iterations=1)
    assert result["engine"] == "fast"
    benchmark.extra_info.update(result)


def test_peak_memory_100_replications(benchmark, tmp_path):
    result = benchmark.pedantic(_simulate_cli, args=(tmp_path, 100, 2), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def test_default_run_command_wall_and_peak_memory(benchmark, tmp_path):
    """`carbonsim run` on the default config (forecast, the options, the report): wall time
    and peak memory of its largest process."""
    out = tmp_path / "run"
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [sys.executable, "-c", probe, str(CARBONSIM), "run", str(DEFAULT), "--out", str(out), "--no-progress"]

    def run() -> dict:
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        wall, rss_kib = done.stdout.split()
        manifest = json.loads((out / "manifest.json").read_text())
        assert_totals_conserved(out)
        assert (out / "decision.csv").exists() and (out / "report.html").exists()
        return {"wall_s": float(wall), "peak_mib": int(rss_kib) / 1024, "monte_carlo_s": manifest["wall_s"],
                "decision_s": manifest["decision"]["wall_s"]}

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
