"""An autoscaled scenario at 10x the base volume (configs/examples/autoscale.yaml): 100
replications of 36 months on two local processes, on the fast engine (``auto`` picks it).

Run with `make bench`; not part of the default test run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.config.resolve import load_and_check
from sim.montecarlo.run import run_monte_carlo

AUTOSCALE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "autoscale.yaml"


def test_autoscaled_10x_scenario_100_replications(benchmark):
    res = load_and_check(AUTOSCALE)
    assert res.scenario.horizon_months == 36 and res.scenario.workload.base_files_per_month == 5000
    mc = benchmark.pedantic(run_monte_carlo, args=(res,), kwargs={"replications": 100, "workers": 2, "progress": False},
                            rounds=1, iterations=1)
    assert mc.engine == "fast" and "engine_reason" not in mc.meta
    cap = mc.capacity
    assert cap["replication"].nunique() == 100 and len(cap) == 100 * 36
    rule = res.scenario.pools["gpu"].provisioning
    # between min and max instances in every month, on average over the month
    assert cap["instances"].between(rule.min_instances - 1e-9, rule.max_instances + 1e-9).all()
    # idle power is booked over the instance-seconds provisioned, no more, no less
    idle = mc.monthly[mc.monthly["component"] == "idle"].groupby("replication")["energy_kwh"].sum()
    watts = mc.replications.set_index("replication")["pool.gpu.gpu_idle_power_w"]
    seconds = cap.groupby("replication")["instance_s"].sum()
    np.testing.assert_allclose(idle * 3.6e6, watts * seconds, rtol=1e-9)
    benchmark.extra_info["jobs"] = mc.jobs
    benchmark.extra_info["final_month_instances_p50"] = float(cap[cap["month"] == 35]["instances"].median())
