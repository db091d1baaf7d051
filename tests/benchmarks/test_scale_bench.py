"""What one replication costs as its volume grows: time and peak memory per job, against
the figures the estimate before a run uses (``sim.montecarlo.estimate``).

Each case runs in a process of its own (peak RSS is per process): a first replication of
the default scenario loads the kernels, then the measured one runs.
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
from sim.montecarlo.run import tune_allocator
tune_allocator()
run_replication(load_and_check(sys.argv[2]), 0, "fast")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.process_time()
r = run_replication(load_and_check(sys.argv[1]), 0, "fast")
print(json.dumps({"jobs": r.jobs, "cpu_s": time.process_time() - t,
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "before_bytes": before * 1024}))
"""

CASES = {
    "default": {"workload.growth.monthly_rate": 0.059},
    "ten_times": {"workload.base_files_per_month": 5000, "pools.gpu.instances": 10, "workload.growth.monthly_rate": 0.059},
    "ten_percent_60_months": {"horizon_months": 60, "workload.growth.monthly_rate": 0.10, "pools.gpu.instances": 4},
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
