"""Accounting: the parts sum to the total, idle is never double counted, hand-checked totals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.config.resolve import Resolved, load_and_check
from sim.engine.registry import simpy_engine
from sim.forecast.accounting import J_PER_KWH, grid_by_month, monthly_records
from sim.forecast.replication import run_replication, sample_inputs
from tests.helpers import scenario_dict


def small(data: dict, months: int = 3, base: float = 150) -> dict:
    data["horizon_months"] = months
    data["workload"]["base_files_per_month"] = base
    data["workload"]["languages"]["ar"]["start_month"] = 1
    return data


def with_slots(res: Resolved, slots: int) -> Resolved:
    """The same scenario with another slot count: a new scenario object (scenarios are frozen)."""
    pool = res.scenario.pools["gpu"].model_copy(update={"slots_per_gpu": slots})
    return replace(res, scenario=res.scenario.model_copy(update={"pools": {**res.scenario.pools, "gpu": pool}}))


@pytest.fixture
def small_res(write_yaml):
    return load_and_check(write_yaml(small(scenario_dict("default"))))


def test_components_sum_to_independently_computed_totals(small_res):
    res = small_res
    inp = sample_inputs(res, 0)
    t = simpy_engine(inp.for_engine)
    m = monthly_records(res.scenario, inp.jobs, t, inp.draws, inp.accounting, 0)
    d = inp.draws
    pool = d.pools["gpu"]
    edges = np.asarray(res.scenario.month_edges_s())
    month_s = np.diff(edges)
    grid = grid_by_month(d, 3)
    # active: every job's energy (cold loads included), once
    active = m[m.component == "active"]
    assert active.energy_kwh.sum() * J_PER_KWH == pytest.approx(t.energy_j.sum(), rel=1e-12)
    assert active.jobs.sum() == len(inp.jobs)
    # idle and host: power x provisioned time, per month, whatever the allocation
    for comp, watts in (("idle", pool.gpu_idle_power_w * 1), ("host", pool.host_power_w)):
        per_month = m[m.component == comp].groupby("month").energy_kwh.sum().to_numpy() * J_PER_KWH
        assert per_month == pytest.approx(watts * month_s, rel=1e-9)
    emb = m[m.component == "embodied"].groupby("month").co2e_kg.sum().to_numpy()
    assert emb == pytest.approx(pool.embodied_kg * month_s / pool.lifetime_s, rel=1e-9)
    # emissions: energy x PUE x grid of the month, plus embodied
    energy_by_month = m[m.component != "embodied"].groupby("month").energy_kwh.sum().to_numpy()
    co2_by_month = m.groupby("month").co2e_kg.sum().to_numpy()
    assert co2_by_month == pytest.approx(energy_by_month * d.pue * grid / 1000 + emb, rel=1e-9)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rep=st.integers(0, 10_000), slots=st.integers(1, 6))
def test_parts_sum_to_the_total_for_every_month_and_replication(small_res, rep, slots):
    res = with_slots(small_res, slots)
    rr = run_replication(res, rep)
    m = rr.monthly
    total = m.groupby("month").co2e_kg.sum()
    by_component = m.groupby(["month", "component"]).co2e_kg.sum().groupby("month").sum()
    by_service = m.groupby(["month", "service"]).co2e_kg.sum().groupby("month").sum()
    by_language = m.groupby(["month", "language"]).co2e_kg.sum().groupby("month").sum()
    assert np.allclose(total, by_component) and np.allclose(total, by_service) and np.allclose(total, by_language)
    assert rr.summary["co2e_kg"] == pytest.approx(m.co2e_kg.sum())
    assert (m.co2e_kg >= 0).all() and (m.energy_kwh >= 0).all()


def test_concurrency_does_not_change_energy(write_yaml):
    """Overlapping jobs: active energy is per job, idle per provisioned hour; neither doubles."""
    totals = {}
    for slots in (1, 8):
        data = small(scenario_dict("default"))
        data["pools"]["gpu"]["slots_per_gpu"] = slots
        data["services"]["generation"]["keep_alive_s"] = None  # same cold loads whatever the order
        rr = run_replication(load_and_check(write_yaml(data, f"s{slots}.yaml")), 3)
        totals[slots] = rr.monthly.groupby("component").energy_kwh.sum()
    assert np.allclose(totals[1], totals[8], rtol=1e-12)


def test_an_idle_month_books_overheads_as_unused(write_yaml):
    data = small(scenario_dict("default"))
    for lang in data["workload"]["languages"].values():
        lang["start_month"] = 2
    data["workload"]["languages"]["ar"]["start_month"] = 2
    rr = run_replication(load_and_check(write_yaml(data)), 0)
    m = rr.monthly
    early = m[m.month < 2]
    assert set(early.service) == {"(unused)"}
    assert set(early.component) == {"idle", "host", "embodied"}
    assert early.co2e_kg.sum() > 0


def test_a_scenario_cannot_be_changed_in_place_and_a_rebuilt_one_is_seen(small_res):
    """Replications cache what follows from the scenario alone: an in-place change is refused,
    and a rebuilt scenario (another object) is seen by the very next replication."""
    with pytest.raises(ValidationError, match="frozen"):
        small_res.scenario.pools["gpu"].slots_per_gpu = 6
    single = with_slots(small_res, 1)
    one = run_replication(single, 0)
    six = run_replication(with_slots(single, 6), 0)
    again = run_replication(single, 0)
    wait = lambda rr: rr.stats_table.frame().wait_mean_s.sum()  # noqa: E731
    assert wait(six) < wait(one)  # six slots serve the same jobs with less waiting
    assert wait(again) == wait(one)
