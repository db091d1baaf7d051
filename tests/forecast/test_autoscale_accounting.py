"""Autoscaled pools in the forecast: min = max is always-on, and instances coming and going
are booked over their provisioned time only, with the parts still summing to the total."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.resolve import load_and_check
from sim.engine.registry import simpy_engine
from sim.forecast.accounting import J_PER_KWH, instance_seconds, interval_seconds
from sim.forecast.replication import run_replication, sample_inputs
from tests.helpers import scenario_dict


def small(data: dict, months: int = 2, base: float = 3000) -> dict:
    data["horizon_months"] = months
    data["workload"]["base_files_per_month"] = base
    return data


def autoscale(data: dict, lo: int, hi: int, start: int, **rule) -> dict:
    data["pools"]["gpu"]["instances"] = start
    data["pools"]["gpu"]["provisioning"] = {"policy": "autoscale", "min_instances": lo, "max_instances": hi, **rule}
    return data


def test_min_equal_max_is_always_on_bit_for_bit(write_yaml):
    on = small(scenario_dict("default"))
    on["pools"]["gpu"]["instances"] = 2
    fixed = autoscale(small(scenario_dict("default")), 2, 2, 2, time_window_s=0, cooldown_s=0)
    res_on, res_fixed = load_and_check(write_yaml(on, "on.yaml")), load_and_check(write_yaml(fixed, "fixed.yaml"))
    t_on = simpy_engine(sample_inputs(res_on, 1).for_engine)
    t_fixed = simpy_engine(sample_inputs(res_fixed, 1).for_engine)
    for name in ("ready_s", "start_s", "end_s", "cold", "service_s", "energy_j", "file_end_s"):
        assert np.array_equal(getattr(t_on, name), getattr(t_fixed, name), equal_nan=True), name
    assert t_on.events == t_fixed.events
    a, b = run_replication(res_on, 1), run_replication(res_fixed, 1)
    assert a.monthly.equals(b.monthly) and a.service_stats.equals(b.service_stats)


@pytest.fixture
def scaled(write_yaml):
    data = autoscale(small(scenario_dict("default")), 0, 3, 1, time_window_s=60, boot_s=120, cooldown_s=300)
    res = load_and_check(write_yaml(data))
    inp = sample_inputs(res, 0)
    return res, inp, simpy_engine(inp.for_engine)


def test_instances_come_and_go_and_idle_is_booked_over_their_intervals_only(scaled):
    res, inp, t = scaled
    spans = t.instance_intervals[0]
    assert len(spans) > 2 and np.isfinite(spans[:, 1]).any()  # it scaled out and in
    edges = np.asarray(res.scenario.month_edges_s())
    # instance-hours are the sum of the provisioned intervals, cut at the horizon
    inside = np.clip(np.minimum(spans[:, 1], edges[-1]) - spans[:, 0], 0, None).sum()
    on_s = instance_seconds(res.scenario, inp.accounting, t)[0]
    assert on_s.sum() == pytest.approx(inside, rel=1e-12)
    assert (on_s < np.diff(edges) * 3).all()
    rr = run_replication(res, 0)
    m, d = rr.monthly, inp.draws.pools["gpu"]
    for comp, watts in (("idle", d.gpu_idle_power_w), ("host", d.host_power_w)):
        per_month = m[m.component == comp].groupby("month").energy_kwh.sum().to_numpy() * J_PER_KWH
        assert per_month == pytest.approx(watts * on_s, rel=1e-9)
    emb = m[m.component == "embodied"].groupby("month").co2e_kg.sum().to_numpy()
    assert emb == pytest.approx(d.embodied_kg * on_s / d.lifetime_s, rel=1e-9)
    # conservation: every way of cutting the total gives the total
    total = m.groupby("month").co2e_kg.sum()
    for key in ("component", "service", "language"):
        assert np.allclose(total, m.groupby(["month", key]).co2e_kg.sum().groupby("month").sum(), rtol=1e-12)
    # utilisation is busy time over the slot-seconds actually provisioned
    st = rr.service_stats[~rr.service_stats.service.astype(str).str.startswith("(file)")]
    busy = st.groupby("month").busy_s.sum().to_numpy()
    assert st.groupby("month").utilisation.sum().to_numpy() == pytest.approx(busy / (4 * on_s), rel=1e-9)


def test_interval_seconds_cuts_at_month_edges():
    edges = np.array([0.0, 10.0, 20.0, 30.0])
    spans = np.array([[5.0, 15.0], [12.0, np.inf], [0.0, 3.0]])
    assert interval_seconds(spans, edges).tolist() == [8.0, 13.0, 10.0]
    assert interval_seconds(np.empty((0, 2)), edges).tolist() == [0.0, 0.0, 0.0]
