"""A streamed replication's peak memory stays flat as its horizon or its volume grows: it depends on the
largest month, not on the number of months. Measured in processes of their own (peak RSS
is per process), against the whole replication, whose peak grows with its jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import scenario_dict, set_dotted

ROOT = Path(__file__).resolve().parents[2]

# A first month of the same scenario, whole and streamed, loads (or compiles) the kernels;
# then the process's peak is reset (Linux: ``clear_refs``) and the measured replication
# runs, whole or streamed in blocks of 10,000 files: it grew the peak from the resident
# size before it.
_PROBE = """
import json, sys
from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication
from sim.forecast.stream import run_streamed
def status(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))
run_replication(load_and_check(sys.argv[2]), 0, "fast")
run_streamed(load_and_check(sys.argv[2]), 0, block_files=10_000)
res = load_and_check(sys.argv[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
if sys.argv[3] == "stream":
    jobs = run_streamed(res, 0, block_files=10_000).n_jobs
else:
    jobs = run_replication(res, 0, "fast", stream=False).jobs
print(json.dumps({"jobs": jobs, "grew_bytes": status("VmHWM:") - before}))
"""

# 15,000 files a month, no growth: each month the same, the horizon 8 or 32 months
FLAT = {"workload.base_files_per_month": 15000, "workload.growth.monthly_rate": 0.0, "pools.gpu.instances": 60}
POOLS = {
    "always on": {},
    "office hours": {"pools.gpu.provisioning": {"policy": "scheduled", "hours": [7, 21], "weekdays_only": False}},
}


def _grew(tmp_path: Path, changes: dict, how: str) -> dict:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(set_dotted(scenario_dict("default"), changes)))
    warm = tmp_path / "warm.yaml"
    warm.write_text(yaml.safe_dump(set_dotted(scenario_dict("default"), {**changes, "horizon_months": 1})))
    done = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(warm), how], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak reset (clear_refs)")
@pytest.mark.parametrize("pools", list(POOLS))
def test_streamed_peak_memory_is_flat_in_the_horizon(tmp_path, pools):
    short, long = ({**FLAT, **POOLS[pools], "horizon_months": h} for h in (8, 32))
    s_short, s_long = _grew(tmp_path, short, "stream"), _grew(tmp_path, long, "stream")
    w_short, w_long = _grew(tmp_path, short, "whole"), _grew(tmp_path, long, "whole")
    assert s_long["jobs"] == w_long["jobs"] > 3.5 * s_short["jobs"]
    whole_growth = w_long["grew_bytes"] - w_short["grew_bytes"]
    stream_growth = s_long["grew_bytes"] - s_short["grew_bytes"]
    assert whole_growth > 100 * (w_long["jobs"] - w_short["jobs"])  # the whole run holds every job (>= 100 B each)
    # (the allocator's heap settles over the first few dozen blocks: some MB, not per job)
    assert stream_growth < whole_growth / 5, (s_short, s_long, w_short, w_long)
    assert s_long["grew_bytes"] < w_long["grew_bytes"] / 3


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak reset (clear_refs)")
def test_streamed_peak_memory_grows_with_the_month_not_the_jobs(tmp_path):
    """Four times the volume over 8 months: a streamed replication holds a month's files and
    its jobs' waits and latencies (about 16 bytes a job) until the month's statistics are
    computed, not its jobs' tables: its peak grows by a small share of the whole run's."""
    small, large = ({**FLAT, "horizon_months": 8, "workload.base_files_per_month": n} for n in (15000, 60000))
    s_small, s_large = _grew(tmp_path, small, "stream"), _grew(tmp_path, large, "stream")
    w_small, w_large = _grew(tmp_path, small, "whole"), _grew(tmp_path, large, "whole")
    assert s_large["jobs"] == w_large["jobs"] > 3.5 * s_small["jobs"]
    more_jobs = w_large["jobs"] - w_small["jobs"]
    whole_growth = w_large["grew_bytes"] - w_small["grew_bytes"]
    stream_growth = s_large["grew_bytes"] - s_small["grew_bytes"]
    assert whole_growth > 100 * more_jobs
    assert stream_growth < whole_growth / 4, (s_small, s_large, w_small, w_large)
