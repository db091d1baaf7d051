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
    # 100 J per second of service, exactly
    assert active.energy_kwh.sum() * 3.6e6 == pytest.approx(100 * active.busy_s.sum(), rel=1e-9)
