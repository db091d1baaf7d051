"""Streamed replications on the event loop (``LoopStream``): scheduled and autoscaled pools,
and always-on pools where the FIFO recursion meets a tie. Block by block, the whole run's
timings, job by job and event by event: SimPy's, run whole."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.config.serving import Provisioning
from sim.engine.fast.stream import TIED, LoopStream
from sim.engine.provisioning import schedule_for
from sim.engine.simpy_model import simulate
from sim.engine.types import PoolSpec, ServiceSpec, Timings
from sim.forecast.replication import run_replication
from sim.forecast.stream import run_streamed, streamable
from tests.engine.test_fast_engine import cases, job_table
from tests.forecast.test_stream import assert_same_tables, assert_streamed_is_whole
from tests.forecast.test_stream_ties import file_slice, streamed_timings
from tests.helpers import scenario_file
from tests.jobhelpers import assert_same_timings


def loop_streamed(jobs, arrivals, pools, services, cuts: list[int]) -> tuple[Timings, int] | None:
    """The timings of ``jobs`` simulated in blocks of files cut at ``cuts`` by the event
    loop, put back in job order (with the instance intervals), and the blocks that carried
    files on; None where the stream met a tie."""
    got = streamed_timings(jobs, arrivals, pools, services, cuts, LoopStream)
    if got is None:
        return None
    parts, events, carried, engine = got
    return Timings(**parts, events=events, instance_intervals=engine.engine.intervals), carried


@st.composite
def blocked(draw, autoscale: bool):
    """A case of ``cases`` with its files in order of arrival, cut into blocks between files
    that arrive at different times."""
    jobs, arrivals, pools, services = draw(cases(autoscale=autoscale))
    arrivals = np.sort(arrivals)  # (any arrival may go to any file)
    between = [i for i in range(1, len(arrivals)) if arrivals[i - 1] < arrivals[i]]
    cuts = sorted(draw(st.sets(st.sampled_from(between), max_size=len(between)))) if between else []
    return jobs, arrivals, pools, services, cuts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked(autoscale=False))
def test_streamed_event_loop_equals_simpy_whole(case):
    """Scheduled and always-on pools, several services and pools, whole-second times
    (ties everywhere): blocks cut anywhere give SimPy's timings of the whole run."""
    jobs, arrivals, pools, services, cuts = case
    got = loop_streamed(jobs, arrivals, pools, services, cuts)
    assert got is not None
    assert_same_timings(got[0], simulate(jobs, arrivals, pools, services))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked(autoscale=True))
def test_streamed_autoscaled_pools_equal_simpy_whole(case):
    """Autoscaled pools (timers, boots, scale-ins, serverless pools) carried across the
    boundaries: SimPy's timings and each instance's provisioned interval."""
    jobs, arrivals, pools, services, cuts = case
    got = loop_streamed(jobs, arrivals, pools, services, cuts)
    assert got is not None
    assert_same_timings(got[0], simulate(jobs, arrivals, pools, services))


def office_hours_case():
    """A pool on 09:00-17:00 every day, one slot; two-hour jobs. Files arrive at 15:00 (its
    first job, with the model's load, runs past 17:00) and 16:00, at 20:00 (the pool is off)
    and at 10:00 the next day."""
    sched = schedule_for(Provisioning(policy="scheduled", hours=(9, 17)), 0)
    h = 3600.0
    files = [[[(2 * h, 0)], [(600.0, 0)]], [[(2 * h, 0)]], [[(1800.0, 0)]], [[(900.0, 0)]]]
    jobs = job_table(files, 1, [0])
    arrivals = np.array([15 * h, 16 * h, 20 * h, 34 * h])
    return jobs, arrivals, [PoolSpec(1, 1, sched)], [ServiceSpec(300.0, 60.0, 500.0)]


def test_a_scheduled_pool_switching_off_across_boundaries():
    """Blocks end at 16:00, 20:00 and 10:00 the next day. At 20:00 the pool is off: the job
    started at 15:00 ended after 17:00, a file's second stage and another file wait for
    09:00 (the slot took one of them and waits for the switch-on). They are carried into
    the next blocks, whose jobs start after them, as in SimPy's whole run."""
    jobs, arrivals, pools, services = office_hours_case()
    whole = simulate(jobs, arrivals, pools, services)
    h = 3600.0
    assert whole.start_s[0] < 17 * h < whole.end_s[0]  # a job runs past the switch-off
    waiting = (whole.ready_s < 20 * h) & (whole.start_s > 20 * h)
    assert waiting.sum() >= 2 and whole.start_s[waiting].min() == 33 * h  # ... others wait for 09:00
    for cuts in ([2], [3], [2, 3], [1, 2, 3]):
        got, carried = loop_streamed(jobs, arrivals, pools, services, cuts)
        assert carried >= 1
        assert_same_timings(got, whole)


def test_files_arriving_together_across_a_boundary_are_a_tie():
    """The arrival process releases files arriving at one instant in one step: a boundary
    between two of them cannot be resumed exactly, so the stream says so (the replication
    then runs whole)."""
    jobs, arrivals, pools, services = office_hours_case()
    arrivals = np.array([15.0, 16.0, 16.0, 20.0]) * 3600.0
    stream = LoopStream(pools, services)
    assert stream.block(file_slice(jobs, 0, 2), arrivals[:2], float(arrivals[2])).status == TIED
    assert loop_streamed(jobs, arrivals, pools, services, [2]) is None
    got, _ = loop_streamed(jobs, arrivals, pools, services, [1, 3])
    assert_same_timings(got, simulate(jobs, arrivals, pools, services))


# -- real scenarios ---------------------------------------------------------------------------------

SCENARIOS = {
    "office hours": {"horizon_months": 3, "pools.gpu.provisioning": {
        "policy": "scheduled", "hours": [8, 18], "weekdays_only": True}},
    "nights, two GPUs": {"horizon_months": 3, "pools.gpu.instances": 2, "pools.gpu.slots_per_gpu": 1,
                         "pools.gpu.provisioning": {"policy": "scheduled", "hours": [22, 6]}},
    "autoscaled": {"horizon_months": 2, "workload.base_files_per_month": 3000, "services.generation.keep_alive_s": 60,
                   "pools.gpu.provisioning": {"policy": "autoscale", "min_instances": 1, "max_instances": 3,
                                              "time_window_s": 60, "boot_s": 120, "cooldown_s": 300}},
    "serverless": {"horizon_months": 2, "workload.base_files_per_month": 3000, "pools.gpu.slots_per_gpu": 2,
                   "pools.gpu.provisioning": {"policy": "autoscale", "min_instances": 0, "max_instances": 2,
                                              "metric": "utilisation", "threshold": 0.6, "time_window_s": 30,
                                              "boot_s": 60, "cooldown_s": 120}},
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scheduled_and_autoscaled_scenarios_stream_as_whole(tmp_path, name):
    res = load_and_check(scenario_file(tmp_path, **SCENARIOS[name]))
    assert streamable(res)
    for block in (37, 500):
        got = assert_streamed_is_whole(res, 0, block)
        assert got.carried > 0
    if name == "serverless":  # the instances' hours are the intervals' (none while idle), not a schedule's
        instances = run_streamed(res, 1, block_files=200, backlog_blocks=np.inf).capacity.columns["instances"]
        assert ((0 < instances) & (instances < 1)).all()


def test_streamed_tables_equal_simpy_whole(tmp_path):
    """The reference engine, run whole, gives the streamed tables too."""
    res = load_and_check(scenario_file(tmp_path, **{**SCENARIOS["office hours"], "horizon_months": 2}))
    assert_streamed_is_whole(res, 1, 90, engine="simpy")


def test_always_on_pools_on_the_event_loop(tmp_path):
    """Where the FIFO recursion meets a tie it hands the replication to the event loop,
    streamed too: one slot and a backlog at every boundary."""
    res = load_and_check(scenario_file(tmp_path, horizon_months=4, **{
        "pools.gpu.slots_per_gpu": 1, "workload.base_files_per_month": 1500}))
    got = assert_streamed_is_whole(res, 0, 60, loop=True)
    assert got.carried > got.blocks // 2


def test_instance_intervals_span_boundaries(tmp_path):
    """An autoscaled pool's instances provisioned in one block and retired in a later one:
    the intervals the stream hands back are the whole run's."""
    res = load_and_check(scenario_file(tmp_path, **SCENARIOS["serverless"]))
    from sim.forecast.replication import sample_inputs

    inp = sample_inputs(res, 0, details=False).for_engine
    n = len(inp.file_arrival_s)
    cuts = list(range(n // 7, n, n // 7))
    cuts = [c for c in cuts if inp.file_arrival_s[c - 1] < inp.file_arrival_s[c]]
    got, carried = loop_streamed(inp.jobs, inp.file_arrival_s, list(inp.pools), list(inp.services), cuts)
    from sim.engine.fast import simulate_fast

    whole = simulate_fast(inp.jobs, inp.file_arrival_s, inp.pools, inp.services)
    assert_same_timings(got, whole)
    spans = whole.instance_intervals[0]
    edges = inp.file_arrival_s[cuts]
    assert ((spans[:, :1] < edges) & (edges < spans[:, 1:])).any()  # an instance serves across a boundary
    assert len(spans) > 1 and carried > 0


def test_a_queue_that_does_not_empty_runs_whole(tmp_path):
    """Office hours on weekdays, one slot, ten times the volume, blocks of 100 files: more
    jobs wait at a boundary (a weekend's) than a block brings. The queue holds them anyway (the stream would copy them block after
    block), so the replication runs whole, with the same tables."""
    res = load_and_check(scenario_file(tmp_path, **{**SCENARIOS["office hours"], "pools.gpu.slots_per_gpu": 1,
                                                   "workload.base_files_per_month": 5000}))
    assert run_streamed(res, 0, block_files=100) is None
    got = run_streamed(res, 0, block_files=100, backlog_blocks=np.inf)
    assert got is not None and got.carried > 0
    whole = run_replication(res, 0, "fast", stream=False)
    assert_same_tables(got.monthly, whole.monthly_table)


@pytest.mark.parametrize("name", ["office hours", "always on"])
def test_files_not_served_at_the_boundaries(tmp_path, name):
    """A volume limit leaves 60% of the files unserved (no job): the engines' next arrival
    is the next block's first file served, and a block with none joins the one before."""
    changes = {"horizon_months": 3, "workload.limits": [{"reduce_share": 0.6}]}
    if name == "office hours":
        changes.update(SCENARIOS["office hours"])
    res = load_and_check(scenario_file(tmp_path, **changes))
    for block in (2, 37):
        assert_streamed_is_whole(res, 0, block)
