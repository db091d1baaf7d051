"""What one replication costs as its volume grows: time and peak memory per job, against
the figures the estimate before a run uses (``sim.montecarlo.estimate``).

Each case runs in a process of its own (peak RSS is per process): a first replication of
the default scenario loads the kernels, then the measured one runs, streamed where a run
would stream it (``streams_replications``).

15%/month over 60 months (57 million jobs a replication) is measured always on (40
instances), on office hours (120 instances on 7:00-21:00) and autoscaled (1 to 60
instances): the FIFO recursion or the event loop, streamed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.config.resolve import load_and_check
from sim.montecarlo.estimate import BASE_BYTES, STARTUP_S, estimate
from tests.helpers import scenario_dict, set_dotted

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, resource, sys, time
from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication
from sim.montecarlo.run import streams_replications
run_replication(load_and_check(sys.argv[2]), 0, "fast")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.process_time()
res = load_and_check(sys.argv[1])
r = run_replication(res, 0, "fast", stream=streams_replications(res))
print(json.dumps({"jobs": r.jobs, "cpu_s": time.process_time() - t, "streamed": streams_replications(res),
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "before_bytes": before * 1024}))
"""

CASES = {
    "default": {"workload.growth.monthly_rate": 0.059},
    "ten_times": {"workload.base_files_per_month": 5000, "pools.gpu.instances": 10, "workload.growth.monthly_rate": 0.059},
    "ten_percent_60_months": {"horizon_months": 60, "workload.growth.monthly_rate": 0.10, "pools.gpu.instances": 4},
    # 14.6 million files; 40 instances stay under 45% busy in the last month
    "fifteen_percent_60_months": {"horizon_months": 60, "workload.growth.monthly_rate": 0.15, "pools.gpu.instances": 40},
    "fifteen_percent_60_months_office_hours": {
        "horizon_months": 60, "workload.growth.monthly_rate": 0.15, "pools.gpu.instances": 120,
        "pools.gpu.provisioning": {"policy": "scheduled", "hours": [7, 21]}},
    "fifteen_percent_60_months_autoscaled": {
        "horizon_months": 60, "workload.growth.monthly_rate": 0.15, "pools.gpu.provisioning": {
            "policy": "autoscale", "min_instances": 1, "max_instances": 60, "time_window_s": 120, "boot_s": 300,
            "cooldown_s": 900}},
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_replication_per_job_against_the_estimate(benchmark, tmp_path, case):
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(set_dotted(scenario_dict("default"), CASES[case])))

    def measure() -> dict:
        done = subprocess.run([sys.executable, "-c", PROBE, str(path), str(ROOT / "configs" / "default.yaml")],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(done.stdout)

    got = benchmark.pedantic(measure, rounds=1, iterations=1)
    est = estimate(load_and_check(path).scenario, replications=1, workers=1)
    per_job_ns = got["cpu_s"] / got["jobs"] * 1e9
    per_job_bytes = (got["peak_bytes"] - got["before_bytes"]) / got["jobs"]
    benchmark.extra_info.update({"jobs": got["jobs"], "ns_per_job": round(per_job_ns, 1),
                                 "peak_mib": round(got["peak_bytes"] / 2**20), "bytes_per_job": round(per_job_bytes, 1)})
    assert 0.5 <= est.jobs_p50 / got["jobs"] <= 2
    assert 0.5 <= (est.time_s - STARTUP_S) / got["cpu_s"] <= 2 or got["cpu_s"] < 0.1  # (startup left out; tiny runs are noise)
    assert 0.5 <= (BASE_BYTES + est.replication_bytes) / got["peak_bytes"] <= 2
    if case.startswith("fifteen_percent_60_months"):
        assert got["streamed"] and got["peak_bytes"] < 1.5e9  # streamed through, ties and all


STREAM_PROBE = """
import json, resource, sys
from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication
r = run_replication(load_and_check(sys.argv[1]), 0, "fast", stream=sys.argv[2] == "stream")
print(json.dumps({"jobs": r.jobs, "co2e_kg": r.summary["co2e_kg"],
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def test_streamed_replication_peak_grows_slower_than_its_jobs(benchmark, tmp_path):
    """15%/month on 40 instances over 36, 44 and 48 months (2.0, 6.0 and 10.5 million
    jobs), streamed, and whole at 44 months, each in a process of its own: the same
    totals; streamed, the peak grows far less than the jobs, and stays well under the
    whole replication's."""

    def peak(months: int, how: str) -> dict:
        path = tmp_path / f"s{months}.yaml"
        path.write_text(yaml.safe_dump(set_dotted(scenario_dict("default"), {
            "horizon_months": months, "workload.growth.monthly_rate": 0.15, "pools.gpu.instances": 40})))
        done = subprocess.run([sys.executable, "-c", STREAM_PROBE, str(path), how], capture_output=True, text=True,
                              check=True, cwd=ROOT)
        return json.loads(done.stdout)

    cases = ((36, "stream"), (44, "stream"), (48, "stream"), (44, "whole"))
    got = benchmark.pedantic(lambda: {case: peak(*case) for case in cases}, rounds=1, iterations=1)
    assert got[44, "stream"]["co2e_kg"] == got[44, "whole"]["co2e_kg"]
    small, large = got[36, "stream"], got[48, "stream"]
    assert large["jobs"] > 5 * small["jobs"]
    assert large["peak_bytes"] < 2 * small["peak_bytes"]
    assert got[44, "stream"]["peak_bytes"] < 0.75 * got[44, "whole"]["peak_bytes"]
    benchmark.extra_info.update({f"{m}_months_{how}_mib": round(v["peak_bytes"] / 2**20) for (m, how), v in got.items()})
    benchmark.extra_info.update({f"{m}_months_jobs": got[m, "stream"]["jobs"] for m in (36, 44, 48)})
