"""The fast engine reproduces the SimPy engine job by job, and ``auto`` picks it where it can.

Equality is exact (same floats), not approximate: the fast engine follows SimPy's event
order, so even ties (equal arrival times, equal durations, jobs woken together when a
scheduled pool switches on) must resolve the same way. Hypothesis draws the job tables,
including integer times that make ties common.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.config.serving import Provisioning
from sim.engine.fast import (
    _event_loop,
    _fifo,
    _kernel_args,
    _timings,
    simulate_fast,
    unsupported,
)
from sim.engine.provisioning import WEEK_H, AutoscaleRule, Schedule, schedule_for
from sim.engine.registry import choose_engine, fast_engine, simpy_engine
from sim.engine.simpy_model import simulate
from sim.engine.types import PoolSpec, ServiceSpec
from sim.forecast.jobs import JobTable
from sim.forecast.replication import sample_inputs
from sim.montecarlo.run import run_monte_carlo
from tests.helpers import ROOT, scenario_file
from tests.jobhelpers import assert_same_timings, hand_jobs

# -- hand-computed cases -----------------------------------------------------------------------


def job_table(files: list[list[list[tuple[float, int]]]], n_services: int, pool_of_service: list[int]) -> JobTable:
    """``files[f][stage] = [(time_s, service), ...]``; energy is 10 J a job."""
    return hand_jobs(
        [[[(t, 10.0, svc) for t, svc in jobs] for jobs in stages] for stages in files],
        services=tuple(f"s{i}" for i in range(n_services)),
        pools=tuple(f"p{i}" for i in range(max(pool_of_service) + 1)),
        pool_of_service=tuple(pool_of_service),
    )


def always() -> Schedule:
    return Schedule(np.ones(WEEK_H, dtype=bool), 0)


def test_scheduled_pool_holds_jobs_until_it_switches_on_and_they_start_together():
    # on 09:00-17:00 every day; three one-job files arrive at 01:00, 02:00, 03:00 on day 0
    sched = schedule_for(Provisioning(policy="scheduled", hours=(9, 17)), 0)
    jobs = job_table([[[(100.0, 0)]], [[(50.0, 0)]], [[(10.0, 0)]]], 1, [0])
    arrivals = np.array([3600.0, 7200.0, 10800.0])
    t = simulate_fast(jobs, arrivals, [PoolSpec(1, 2, sched)], [ServiceSpec(None, 5.0, 7.0)])
    nine = 9 * 3600.0
    # two slots take the first two jobs at 09:00; only the first of them loads the model
    assert t.start_s.tolist() == [nine, nine, nine + 50.0]
    assert t.cold.tolist() == [True, False, False]
    assert t.end_s.tolist() == [nine + 105.0, nine + 50.0, nine + 60.0]
    assert t.energy_j.tolist() == [17.0, 10.0, 10.0]
    assert_same_timings(t, simulate(jobs, arrivals, [PoolSpec(1, 2, sched)], [ServiceSpec(None, 5.0, 7.0)]))


def test_keep_alive_expiry_and_fan_out_release_by_hand():
    # one slot; file 0: stage 0 (2 s), then a fan-out of two 1 s jobs; file 1 arrives at 100 s
    jobs = job_table([[[(2.0, 0)], [(1.0, 0), (1.0, 0)]], [[(3.0, 0)]]], 1, [0])
    arrivals = np.array([0.0, 100.0])
    spec = [ServiceSpec(30.0, 0.5, 4.0)]
    t = simulate_fast(jobs, arrivals, [PoolSpec(1, 1, always())], spec)
    assert t.start_s.tolist() == [0.0, 2.5, 3.5, 100.0]
    assert t.cold.tolist() == [True, False, False, True]  # 100 - 4.5 > 30 s keep-alive
    assert t.file_end_s.tolist() == [4.5, 103.5]
    assert_same_timings(t, simulate(jobs, arrivals, [PoolSpec(1, 1, always())], spec))


# -- property: any job table, any pools ---------------------------------------------------------


@st.composite
def rules(draw, ties: bool) -> AutoscaleRule:
    """An autoscale rule; with ``ties``, whole seconds. Windows, boots and cool-downs of 0
    among them: timeouts due at once."""
    lo = draw(st.integers(0, 2))
    hi = draw(st.integers(max(lo, 1), 4))
    # a quarter of them 0; none so short that it does not move the clock (as 0, with the
    # utilisation metric, a pool could scale without end)
    positive = st.integers(1, 30).map(float) if ties else st.floats(0.001, 500.0)
    metric = draw(st.sampled_from(["queue_per_slot", "utilisation"]))
    window, boot, cooldown = (0.0 if draw(st.integers(0, 3)) == 0 else draw(positive) for _ in range(3))
    if metric == "utilisation" and window == boot == cooldown == 0.0:
        boot = 1.0  # else a pool busy enough scales out and in without end at one instant (neither engine ends)
    return AutoscaleRule(
        min_instances=lo, max_instances=hi, start_instances=draw(st.one_of(st.just(lo), st.integers(lo, hi))),
        gpus_per_instance=draw(st.integers(1, 2)), metric=metric,
        threshold=draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(0.0, 3.0))),
        time_window_s=window, scale_out_by=draw(st.integers(1, 3)), boot_s=boot, cooldown_s=cooldown,
    )


@st.composite
def cases(draw, autoscale: bool = False):
    """A job table, arrivals, pools and services; with ``autoscale``, most pools autoscale
    and files arrive close together (the pools then scale out and in)."""
    n_services = draw(st.integers(1, 3))
    n_pools = draw(st.integers(1, 2))
    pool_of_service = [draw(st.integers(0, n_pools - 1)) for _ in range(n_services)]
    pool_of_service[0] = 0
    if n_pools == 2 and 1 not in pool_of_service:
        pool_of_service[-1] = 1 if n_services > 1 else 0
        n_pools = max(pool_of_service) + 1
    ties = draw(st.booleans())  # integer times make equal arrivals and ends common
    time_st = st.integers(1, 40).map(float) if ties else st.floats(0.01, 5000.0)
    n_files = draw(st.integers(1, 40 if autoscale else 25))
    files = []
    for _ in range(n_files):
        stages = draw(st.lists(st.lists(st.tuples(time_st, st.integers(0, n_services - 1)), min_size=1, max_size=3),
                               min_size=1, max_size=3))
        files.append(stages)
    horizon = 4 * 86400.0
    arr_st = st.integers(0, 200).map(lambda h: h * 1800.0) if ties else st.floats(0.0, horizon)
    if autoscale:
        arr_st = st.integers(0, 150).map(float) if ties else st.floats(0.0, 3000.0)
    arrivals = np.array([draw(arr_st) for _ in range(n_files)])
    pools = []
    for _ in range(n_pools):
        if autoscale and draw(st.integers(0, 3)) > 0:
            rule = draw(rules(ties))
            slots = draw(st.integers(1, 3))
            pools.append(PoolSpec(rule.gpus_per_instance * rule.start_instances, slots, always(), autoscale=rule))
            continue
        if draw(st.booleans()):
            a = draw(st.integers(0, 23))
            b = draw(st.integers(0, 24).filter(lambda h: h != a))
            sched = schedule_for(Provisioning(policy="scheduled", hours=(a, b), weekdays_only=draw(st.booleans())),
                                 draw(st.integers(0, 6)))
        else:
            sched = always()
        pools.append(PoolSpec(draw(st.integers(1, 2)), draw(st.integers(1, 3)), sched))
    services = [
        ServiceSpec(draw(st.one_of(st.none(), st.floats(0.0, 3000.0), st.integers(0, 60).map(float))),
                    draw(st.one_of(st.just(0.0), st.floats(0.0, 60.0))), draw(st.floats(0.0, 500.0)))
        for _ in range(n_services)
    ]
    return job_table(files, n_services, pool_of_service), arrivals, pools, services


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_engine_equals_simpy_job_by_job(case):
    jobs, arrivals, pools, services = case
    assert_same_timings(simulate_fast(jobs, arrivals, pools, services), simulate(jobs, arrivals, pools, services))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(autoscale=True))
def test_fast_engine_equals_simpy_with_autoscaled_pools(case):
    """Also every instance's provisioned interval (``assert_same_timings``): scale-outs after
    the window and the boot, scale-ins after the cool-down, serverless pools, timers due at
    once (whole seconds, zeros among them), instances of several GPUs reusing freed indices."""
    jobs, arrivals, pools, services = case
    assert_same_timings(simulate_fast(jobs, arrivals, pools, services), simulate(jobs, arrivals, pools, services))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["queue_per_slot", "utilisation"]), st.booleans())
def test_autoscale_with_min_equal_max_is_always_on(case, metric, one_instance):
    """N GPUs always on, or autoscaled with min = max (as N instances of one GPU, or one of
    N): the same timings, job by job and event by event."""
    jobs, arrivals, pools, services = case
    on = [PoolSpec(p.gpus, p.slots_per_gpu, always()) for p in pools]
    fixed = []
    for p in pools:
        n, gpus = (1, p.gpus) if one_instance else (p.gpus, 1)
        rule = AutoscaleRule(min_instances=n, max_instances=n, start_instances=n, gpus_per_instance=gpus, metric=metric,
                             threshold=0.0, time_window_s=0.0, scale_out_by=1, boot_s=0.0, cooldown_s=0.0)
        fixed.append(PoolSpec(p.gpus, p.slots_per_gpu, always(), autoscale=rule))
    scaled = simulate_fast(jobs, arrivals, fixed, services)
    assert all(iv.tolist() == [[0.0, np.inf]] * len(iv) for iv in scaled.instance_intervals)
    assert_same_timings(scaled, dataclasses.replace(simulate_fast(jobs, arrivals, on, services),
                                                    instance_intervals=scaled.instance_intervals))


# -- the FIFO recursion (always-on pools) ------------------------------------------------------------


def fifo_and_event_loop(jobs, arrivals, pools, services):
    args = _kernel_args(jobs, arrivals, pools, services)
    return _fifo(args), _event_loop(args)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fifo_recursion_gives_the_event_loops_timings_or_stops_at_a_tie_it_cannot_settle(case):
    jobs, arrivals, pools, services = case
    pools = [PoolSpec(p.gpus, p.slots_per_gpu, always()) for p in pools]
    fifo, loop = fifo_and_event_loop(jobs, arrivals, pools, services)
    if fifo[-1]:
        assert_same_timings(_timings(fifo), _timings(loop))


def test_fifo_recursion_runs_through_random_continuous_cases():
    """Without ties (continuous random times) the recursion never stops, and matches the
    event loop, with one or two pools, one or two GPUs a pool, fan-outs and keep-alives."""
    rng = np.random.default_rng(7)
    for case in range(60):
        n_services, n_pools = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        pool_of_service = [0] + [int(rng.integers(0, n_pools)) for _ in range(n_services - 1)]
        n_pools = max(pool_of_service) + 1
        files = [[[(float(rng.exponential(600.0)), int(rng.integers(0, n_services))) for _ in range(rng.integers(1, 4))]
                  for _ in range(rng.integers(1, 4))] for _ in range(int(rng.integers(20, 200)))]
        arrivals = np.sort(rng.uniform(0.0, 5 * 86400.0, len(files)))
        pools = [PoolSpec(int(rng.integers(1, 3)), int(rng.integers(1, 4)), always()) for _ in range(n_pools)]
        services = [ServiceSpec(None if rng.random() < 0.3 else float(rng.uniform(0, 3000)), float(rng.uniform(0, 60)),
                                float(rng.uniform(0, 500))) for _ in range(n_services)]
        jobs = job_table(files, n_services, pool_of_service)
        fifo, loop = fifo_and_event_loop(jobs, arrivals, pools, services)
        assert fifo[-1], f"case {case} stopped"
        assert_same_timings(_timings(fifo), _timings(loop))
        if case < 10:
            assert_same_timings(simulate_fast(jobs, arrivals, pools, services), simulate(jobs, arrivals, pools, services))


# (ties: tests/engine/test_fifo_ties.py)


# -- real scenarios --------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [
    {"horizon_months": 4},
    {"horizon_months": 3, "pools.gpu.slots_per_gpu": 2, "services.translation.keep_alive_s": 60},
    {"horizon_months": 3, "pools.gpu.provisioning": {"policy": "scheduled", "hours": [8, 18], "weekdays_only": True}},
    {"horizon_months": 3, "pools.gpu.instances": 2, "pools.gpu.slots_per_gpu": 1,
     "pools.gpu.provisioning": {"policy": "scheduled", "hours": [22, 6]}},
    {"horizon_months": 2, "workload.base_files_per_month": 3000, "services.generation.keep_alive_s": 60,
     "pools.gpu.provisioning": {"policy": "autoscale", "min_instances": 1, "max_instances": 3, "time_window_s": 60,
                                "boot_s": 120, "cooldown_s": 300}},
    {"horizon_months": 2, "workload.base_files_per_month": 3000, "pools.gpu.slots_per_gpu": 2,
     "pools.gpu.provisioning": {"policy": "autoscale", "min_instances": 0, "max_instances": 2, "metric": "utilisation",
                                "threshold": 0.6, "time_window_s": 30, "boot_s": 60, "cooldown_s": 120}},
], ids=["default", "slots-keepalive", "office-hours", "two-instances-night", "autoscale", "serverless-utilisation"])
def test_fast_engine_equals_simpy_on_sampled_scenarios(tmp_path, changes):
    res = load_and_check(scenario_file(tmp_path, **changes))
    for rep in (0, 1):
        inp = sample_inputs(res, rep)
        assert len(inp.jobs) > 100
        assert_same_timings(fast_engine(inp.for_engine), simpy_engine(inp.for_engine))
        if all(p.schedule.always and p.autoscale is None for p in inp.pools):  # no tie: the recursion ran
            assert _fifo(_kernel_args(inp.jobs, inp.files.arrival_s, inp.pools, inp.services))[-1]


@pytest.mark.parametrize("changes", [
    {"horizon_months": 3},
    {"horizon_months": 2, "workload.base_files_per_month": 3000,
     "pools.gpu.provisioning": {"policy": "autoscale", "min_instances": 0, "max_instances": 3, "time_window_s": 60,
                                "boot_s": 120, "cooldown_s": 300}},
], ids=["default", "autoscale"])
def test_monte_carlo_tables_are_identical_with_either_engine(tmp_path, changes):
    res = load_and_check(scenario_file(tmp_path, **changes))
    fast = run_monte_carlo(res, replications=3, engine="fast", progress=False)
    ref = run_monte_carlo(res, replications=3, engine="simpy", progress=False)
    assert (fast.engine, ref.engine) == ("fast", "simpy")
    for name in ("monthly", "service_stats", "files", "replications", "capacity"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(ref, name), check_exact=True)
    assert fast.events == ref.events and fast.jobs == ref.jobs


# -- choosing the engine ----------------------------------------------------------------------------


def test_auto_picks_fast_where_supported_and_simpy_otherwise():
    res = load_and_check(ROOT / "configs" / "default.yaml")
    assert choose_engine("auto", res.scenario) == "fast"
    scaled = load_and_check(ROOT / "configs" / "examples" / "autoscale.yaml")
    assert unsupported(scaled.scenario) == [] and choose_engine("auto", scaled.scenario) == "fast"
    other = SimpleNamespace(pools={"gpu": SimpleNamespace(provisioning=SimpleNamespace(policy="spot"))})  # none it has
    assert unsupported(other) == ["pool `gpu` uses provisioning policy `spot`"]
    assert choose_engine("auto", other) == "simpy"
    assert choose_engine("simpy", other) == "simpy"
    with pytest.raises(ValueError, match="spot"):
        choose_engine("fast", other)
    with pytest.raises(ValueError, match="unknown engine"):
        choose_engine("warp", res.scenario)


@pytest.mark.parametrize("engine, expected", [("auto", "fast"), ("simpy", "simpy")])
def test_manifest_records_the_engine_that_ran(tmp_path, engine, expected):
    from sim.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario_file(tmp_path, horizon_months=2)), "-n", "2",
                                       "--workers", "1", "--engine", engine, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == expected
    assert f"engine {expected}" in result.output

