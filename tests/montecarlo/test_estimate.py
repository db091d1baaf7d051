"""The estimate before a run: jobs, time and memory from the scenario alone; refusal of what does not fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.config.resolve import load_and_check
from sim.montecarlo.estimate import TooLarge, check_fits, estimate, jobs_per_file
from tests.helpers import scenario_dict, scenario_file, set_dotted

CARBONSIM = Path(sys.executable).with_name("carbonsim")


def test_jobs_per_file_by_hand(tmp_path):
    # default pipelines: a French text file is translated into the others offered (en, es;
    # ar from month 12) and generated from with probability 0.5; a media file is also
    # transcribed first (every generation and translation needs the transcript: it always runs)
    sc = load_and_check(scenario_file(tmp_path)).scenario
    per = jobs_per_file(sc)
    fr, ar = list(sc.workload.languages).index("fr"), list(sc.workload.languages).index("ar")
    audio, text = 0, 2  # CONTENT_TYPES order: audio, video, text
    assert per[0, fr, text] == pytest.approx(2.5)
    assert per[12, fr, text] == pytest.approx(3.5)
    assert per[0, fr, audio] == pytest.approx(3.5)
    assert per[12, ar, text] == pytest.approx(3.5)  # fr, en, es, and generation


def test_cap_and_limits_bound_the_jobs(tmp_path):
    free = estimate(load_and_check(scenario_file(tmp_path, **{"workload.growth.monthly_rate": 0.2})).scenario)
    capped = estimate(load_and_check(scenario_file(
        tmp_path, **{"workload.growth.monthly_rate": 0.2, "workload.growth.cap_files_per_month": 1000})).scenario)
    assert capped.files_per_month_p95.max() == pytest.approx(1000)
    assert capped.jobs_p50 < free.jobs_p50 / 10
    halved = estimate(load_and_check(scenario_file(
        tmp_path, **{"workload.limits": [{"reduce_share": 0.5}]})).scenario)
    whole = estimate(load_and_check(scenario_file(tmp_path)).scenario)
    assert halved.jobs_p50 == pytest.approx(whole.jobs_p50 / 2)


def test_check_fits_counts_the_workers_and_the_tables():
    res = load_and_check(Path("configs/default.yaml"))
    est = estimate(res.scenario, replications=10, workers=2)
    check_fits(est, available=est.total_bytes * 1.01)
    with pytest.raises(TooLarge, match="cap_files_per_month.*--months.*-n.*--scheduler.*--force"):
        check_fits(est, available=est.total_bytes * 0.99)
    # on a remote cluster the replications' memory is the workers' there, not this machine's
    check_fits(est, available=est.total_bytes - 2 * est.replication_bytes + 1, remote=True)


def test_refused_before_anything_runs(tmp_path, monkeypatch):
    import sim.runner

    def never(*args, **kwargs):
        raise AssertionError("the Monte Carlo started")

    monkeypatch.setattr(sim.runner, "run_monte_carlo", never)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario_file(tmp_path)), "--months", "240", "-n", "5",
                                       "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fix in ("cap_files_per_month", "--months", "-n", "--scheduler", "--force"):
        assert fix in result.output
    assert "estimate:" in result.output
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_steep_growth_on_the_simpy_engine_is_refused_before_anything_runs(tmp_path, monkeypatch):
    """19%/month over 60 months (90 million files) validates (the fast engine streams it),
    but the SimPy engine runs a replication whole: the estimate refuses, with the fixes."""
    import sim.runner

    def never(*args, **kwargs):
        raise AssertionError("the Monte Carlo started")

    monkeypatch.setattr(sim.runner, "run_monte_carlo", never)
    path = scenario_file(tmp_path, horizon_months=60, **{"workload.growth.monthly_rate": 0.19})
    sc = load_and_check(path).scenario
    fast, simpy = estimate(sc, replications=2, engine="fast"), estimate(sc, replications=2, engine="simpy")
    assert fast.replication_bytes < simpy.replication_bytes / 10 and simpy.peak_bytes > 100e9
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "-n", "2", "--engine", "simpy", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "cap_files_per_month" in result.output
    assert not out.exists()


def test_memory_error_is_a_clear_error(tmp_path, monkeypatch):
    import sim.runner

    def fails(*args, **kwargs):
        raise MemoryError("Allocation failed")

    monkeypatch.setattr(sim.runner, "run_monte_carlo", fails)
    for command in ("simulate", "run"):
        out = tmp_path / command
        result = CliRunner().invoke(main, [command, str(scenario_file(tmp_path)), "-n", "2", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "out of memory" in result.output and "cap_files_per_month" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not out.exists()


_PROBE = (  # a fresh parent, so that the children's peak is this command's alone
    "import json, resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(json.dumps({'cpu_s': r.ru_utime + r.ru_stime, 'peak_bytes': r.ru_maxrss * 1024}))"
)


def _measured(path: Path, n: int, out: Path) -> dict:
    """Run ``carbonsim simulate`` on one worker in a process of its own: jobs per
    replication, CPU time (its wall time on a machine to itself, and not stretched when
    others share the cores) and peak RSS."""
    done = subprocess.run([sys.executable, "-c", _PROBE, str(CARBONSIM), "simulate", str(path), "-n", str(n),
                           "--workers", "1", "--out", str(out)],
                          check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    got = json.loads(done.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"jobs": manifest["jobs_simulated"] / n, "time_s": got["cpu_s"], "peak_bytes": got["peak_bytes"]}


@pytest.mark.slow
def test_estimate_within_a_factor_two_of_measured(tmp_path):
    """Three scenarios: the default; ten times its volume on ten instances; 10%/month over 60 months. A first
    short run loads (or compiles) the kernels, which the estimate does not count."""
    _measured(scenario_file(tmp_path, horizon_months=1), 1, tmp_path / "warm-up")
    cases = [
        ("default", {}, 100),
        ("ten", {"workload.base_files_per_month": 5000, "pools.gpu.instances": 10,
                 "workload.growth.monthly_rate": 0.059}, 2),
        ("steep", {"horizon_months": 60, "workload.growth.monthly_rate": 0.10, "pools.gpu.instances": 4}, 2),
    ]
    for name, changes, n in cases:
        path = tmp_path / f"{name}.yaml"
        import yaml

        path.write_text(yaml.safe_dump(set_dotted(scenario_dict("default"), changes)))
        est = estimate(load_and_check(path).scenario, replications=n, workers=1)
        got = _measured(path, n, tmp_path / f"run-{name}")
        ratios = {"jobs": est.jobs_p50 / got["jobs"], "time": est.time_s / got["time_s"],
                  "memory": est.peak_bytes / got["peak_bytes"]}
        print(name, {k: round(v, 2) for k, v in ratios.items()}, got)
        assert all(0.5 <= r <= 2.0 for r in ratios.values()), (name, ratios, got)
        assert np.isfinite(list(ratios.values())).all()
