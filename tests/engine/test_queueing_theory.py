"""M/M/c from a YAML scenario against Erlang C, over seeded replications."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication, sample_inputs
from tests.helpers import scenario_dict


def erlang_c_wait(lam: float, mean_service: float, c: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C)."""
    a = lam * mean_service
    rho = a / c
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait * mean_service / (c * (1 - rho))


@pytest.mark.parametrize("slots, files", [(1, 35_700), (3, 107_000)])
def test_mean_wait_matches_erlang_c(write_yaml, slots, files):
    data = scenario_dict("mmc")
    data["pools"]["pool"]["slots_per_gpu"] = slots
    data["workload"]["base_files_per_month"] = files
    res = load_and_check(write_yaml(data))
    month_s = res.scenario.month_edges_s()[1]
    lam = files / month_s
    rho = lam * 60.0 / slots
    assert 0.75 <= rho < 0.85
    expected = erlang_c_wait(lam, 60.0, slots)
    reps = 8
    means = []
    for r in range(reps):
        inp = sample_inputs(res, r)
        from sim.engine.registry import simpy_engine

        t = simpy_engine(inp.for_engine)
        means.append(float(np.mean(t.start_s - t.ready_s)))
    m, s = np.mean(means), np.std(means, ddof=1)
    half = stats.t.ppf(0.995, reps - 1) * s / math.sqrt(reps)
    assert abs(m - expected) < half + 0.02 * expected, (m, expected, half)


def test_utilisation_and_energy_follow_the_offered_load(write_yaml):
    data = scenario_dict("mmc")
    res = load_and_check(write_yaml(data))
    rr = run_replication(res, 0)
    st = rr.service_stats[rr.service_stats.service == "server"].iloc[0]
    lam = 67_000 / res.scenario.month_edges_s()[1]
    # utilisation = lambda * E[S] / c within Poisson and exponential sampling error (~1%)
    assert st.utilisation == pytest.approx(lam * 60 / 2, rel=0.03)
    active = rr.monthly[rr.monthly.component == "active"]
    # 40 J per second of service, exactly
    assert active.energy_kwh.sum() * 3.6e6 == pytest.approx(40 * active.busy_s.sum(), rel=1e-9)


def _autoscaled_mmc(write_yaml, files: int, max_instances: int, name: str, **rule):
    data = scenario_dict("mmc")
    data["pools"]["pool"]["slots_per_gpu"] = 1
    data["pools"]["pool"]["provisioning"] = {"policy": "autoscale", "min_instances": 1, "max_instances": max_instances, **rule}
    data["workload"]["base_files_per_month"] = files
    return load_and_check(write_yaml(data, name))


def test_an_autoscaled_pool_at_its_scaled_out_size_matches_erlang_c(write_yaml):
    # 1 slot per instance, offered load 1.5 (c = 1 cannot keep up): the pool scales out to 2
    # at the first queued job (window and boot 0) and, never scaling in, is M/M/2 at rho 0.75.
    files = 67_000
    res = _autoscaled_mmc(write_yaml, files, 2, "as.yaml", time_window_s=0, boot_s=0, cooldown_s=1e9)
    lam = files / res.scenario.month_edges_s()[1]
    from sim.engine.registry import simpy_engine

    means = []
    for r in range(8):
        t = simpy_engine(sample_inputs(res, r).for_engine)
        assert len(t.instance_intervals[0]) == 2 and t.instance_intervals[0][1, 0] < 600
        means.append(float(np.mean(t.start_s - t.ready_s)))
    expected = erlang_c_wait(lam, 60.0, 2)
    m, s = np.mean(means), np.std(means, ddof=1)
    half = stats.t.ppf(0.995, 7) * s / math.sqrt(8)
    assert abs(m - expected) < half + 0.02 * expected, (m, expected, half)


def test_waits_vanish_as_max_instances_grows(write_yaml):
    # the same offered load 1.5; a job waiting scales out at once (threshold and window 0,
    # boot 0) while there is room, and spare instances go after a 5-minute cool-down
    from sim.engine.registry import simpy_engine

    waits = []
    for cap in (2, 3, 6, 12):
        res = _autoscaled_mmc(write_yaml, 67_000, cap, f"cap{cap}.yaml", threshold=0, time_window_s=0, boot_s=0, cooldown_s=300)
        t = simpy_engine(sample_inputs(res, 0).for_engine)
        waits.append(float(np.mean(t.start_s - t.ready_s)))
    assert waits[0] > waits[1] > waits[2] >= waits[3]
    assert waits[0] > 60.0 and waits[2] < 0.01 * 60.0  # M/M/2 waits 77 s on average; 6 instances, almost never
