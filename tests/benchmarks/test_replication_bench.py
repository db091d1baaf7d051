"""One replication of the default scenario in the SimPy engine: jobs per second of wall time.

Run with `make bench`; not part of the default test run.
"""

from __future__ import annotations

from pathlib import Path

from sim.config.resolve import load_and_check
from sim.engine.registry import simpy_engine
from sim.forecast.replication import run_replication, sample_inputs

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


def test_simpy_replication_jobs_per_second(benchmark):
    res = load_and_check(DEFAULT)
    result = benchmark.pedantic(run_replication, args=(res, 0, "simpy"), rounds=3, iterations=1)
    assert result.jobs > 10_000
    benchmark.extra_info["jobs"] = result.jobs
    benchmark.extra_info["jobs_per_s_whole_replication"] = result.jobs / benchmark.stats.stats.mean


def test_simpy_engine_alone_jobs_per_second(benchmark):
    res = load_and_check(DEFAULT)
    inp = sample_inputs(res, 0)
    timings = benchmark.pedantic(simpy_engine, args=(inp.for_engine,), rounds=3, iterations=1)
    assert len(timings.start_s) == len(inp.jobs)
    benchmark.extra_info["jobs"] = len(inp.jobs)
    benchmark.extra_info["jobs_per_s_engine"] = len(inp.jobs) / benchmark.stats.stats.mean
