"""Autoscaled pools: hand cases with exact times, and the rule's limits, in both engines.

Each case runs on the SimPy model and on the fast engine, which must agree job by job
(start, end, cold, energy, GPU), on every instance's provisioned interval and on the events
processed; the exact values are then checked once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.engine import simpy_model
from sim.engine.fast import simulate_fast
from sim.engine.provisioning import AutoscaleRule
from sim.engine.types import PoolSpec
from tests.jobhelpers import always_on, assert_same_timings, hand_jobs, service


def simulate(jobs, arrivals, pools, services):
    """SimPy's timings, once the fast engine gave the same."""
    reference = simpy_model.simulate(jobs, arrivals, pools, services)
    assert_same_timings(simulate_fast(jobs, arrivals, pools, services), reference)
    return reference


def scaled(min_instances=1, max_instances=2, start=1, window=10.0, boot=5.0, cooldown=100.0, out_by=1,
           metric="queue_per_slot", threshold=1.0, gpus=1, slots=1) -> PoolSpec:
    rule = AutoscaleRule(min_instances=min_instances, max_instances=max_instances, start_instances=start,
                         gpus_per_instance=gpus, metric=metric, threshold=threshold, time_window_s=window,
                         scale_out_by=out_by, boot_s=boot, cooldown_s=cooldown)
    return PoolSpec(gpus=gpus * start, slots_per_gpu=slots, schedule=always_on(), autoscale=rule)


def files_at(durations):
    return hand_jobs([[[(d, 1.0, 0)]] for d in durations])


def most_at_once(intervals: np.ndarray) -> int:
    """Most intervals open at any instant (an end at t closes before a start at t opens)."""
    moves = sorted([(s, 1) for s in intervals[:, 0]] + [(e, -1) for e in intervals[:, 1]], key=lambda m: (m[0], m[1]))
    return int(np.max(np.cumsum([d for _, d in moves])))


def test_a_burst_scales_out_after_the_window_and_the_boot_then_in_after_the_cool_down():
    # 4 jobs of 100 s at t = 0 on one 1-slot instance: 3 wait (> 1 per slot) from t = 0, so
    # at 10 (window) a second instance is provisioned; it serves from 15 (boot).
    t = simulate(files_at([100.0] * 4), np.zeros(4), [scaled()], [service()])
    assert t.start_s.tolist() == [0.0, 15.0, 100.0, 115.0]
    assert t.end_s.tolist() == [100.0, 115.0, 200.0, 215.0]
    # both idle from 215 (one spare instance from 200): the later one goes at 200 + 100
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [10.0, 300.0]]
    assert t.cold.tolist() == [True, True, False, False]  # the new instance loads its model


def test_max_instances_holds_whatever_the_step():
    t = simulate(files_at([100.0] * 12), np.zeros(12), [scaled(max_instances=3, out_by=5, window=0.0, boot=0.0)], [service()])
    spans = t.instance_intervals[0]
    assert len(spans) == 3 and most_at_once(spans) == 3
    # 3 slots from t = 0 (window and boot 0): 12 jobs of 100 s end at 400
    assert t.end_s.max() == 400.0


def test_scale_to_zero_then_a_cold_start_pays_boot_and_load():
    # serverless: no instance at the start; a job waits for the boot (30 s), then loads its
    # model (5 s); 60 s idle retires the instance; the next job boots a new one, cold again.
    jobs = files_at([20.0, 20.0])
    pool = scaled(min_instances=0, max_instances=1, start=0, boot=30.0, cooldown=60.0)
    t = simulate(jobs, np.array([10.0, 200.0]), [pool], [service(load_time=5.0, load_energy=7.0)])
    assert t.start_s.tolist() == [40.0, 230.0]
    assert t.end_s.tolist() == [65.0, 255.0]
    assert t.cold.tolist() == [True, True]
    assert t.energy_j.tolist() == [8.0, 8.0]
    assert t.instance_intervals[0].tolist() == [[10.0, 125.0], [200.0, 315.0]]


def test_a_busy_instance_chosen_to_go_takes_no_new_job_and_finishes_its_own():
    # 2 instances of 2 slots; at t = 0 jobs go to slots 0a, 0b, 1a, 1b (waiting order). From
    # 10 one slot of each is free (2 = one instance's worth): at 60 the later instance goes;
    # it still runs a job until 100, and the job arriving at 75 waits for instance 0 (80).
    jobs = files_at([1000.0, 10.0, 100.0, 10.0, 10.0, 5.0])
    pool = scaled(min_instances=1, max_instances=2, start=2, slots=2, cooldown=50.0)
    t = simulate(jobs, np.array([0.0, 0.0, 0.0, 0.0, 70.0, 75.0]), [pool], [service()])
    assert t.start_s.tolist() == [0.0, 0.0, 0.0, 0.0, 70.0, 80.0]
    assert t.end_s.tolist() == [1000.0, 10.0, 100.0, 10.0, 80.0, 85.0]
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [0.0, 100.0]]


def test_utilisation_rule_scales_out_when_the_busy_share_stays_above_the_threshold():
    # one instance of 2 slots, busy 2/2 > 0.5 from t = 0: a second serves from 10 + 5
    jobs = files_at([100.0, 100.0, 100.0])
    pool = scaled(metric="utilisation", threshold=0.5, slots=2)
    t = simulate(jobs, np.zeros(3), [pool], [service()])
    assert t.start_s.tolist() == [0.0, 0.0, 15.0]
    # from 100 three slots are free (one instance's worth and more): the later one goes at 200
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [10.0, 200.0]]


def test_an_instance_of_several_gpus_and_slots_serves_on_its_own_gpus_and_a_new_one_loads_again():
    # instances of 2 GPUs x 2 slots; 9 jobs of 50 s at t = 0: 5 wait (> 1 per slot) until the
    # second instance (GPUs 2 and 3) serves at 10 + 5. The first job on each GPU loads the
    # model (1 s), the second finds it loading; the last job goes to the slot free first (50)
    t = simulate(files_at([50.0] * 9), np.zeros(9), [scaled(gpus=2, slots=2)], [service(load_time=1.0)])
    assert t.gpu.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 0]
    assert t.start_s.tolist() == [0.0, 0.0, 0.0, 0.0, 15.0, 15.0, 15.0, 15.0, 50.0]
    assert t.cold.tolist() == [True, False, True, False, True, False, True, False, False]
    # from 65 four slots are free (an instance's worth): the later instance goes at 65 + 100
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [10.0, 165.0]]


def test_timers_due_at_once_follow_simpy_s_order():
    # window, boot and cool-down 0, threshold 0: the pool scales out as soon as a job waits
    # (one instance at a time: none while one boots) and in as soon as an instance's worth of
    # slots is free (the latest first), all at the instants the jobs come and go
    t = simulate(files_at([10.0, 10.0, 10.0, 5.0]), np.array([0.0, 0.0, 0.0, 12.0]),
                 [scaled(max_instances=3, window=0.0, boot=0.0, cooldown=0.0, threshold=0.0)], [service()])
    assert t.start_s.tolist() == [0.0, 0.0, 0.0, 12.0]
    assert t.gpu.tolist() == [0, 1, 2, 0]
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [0.0, 10.0], [0.0, 10.0]]


@pytest.mark.parametrize("metric", ["queue_per_slot", "utilisation"])
def test_min_equal_max_is_always_on(metric):
    # two instances of one GPU and two slots, never scaled: always-on two GPUs, bit for bit
    jobs = files_at([30.0, 5.0, 12.0, 7.0, 30.0, 1.0])
    arrivals = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 40.0])
    fixed = scaled(min_instances=2, max_instances=2, start=2, slots=2, window=0.0, cooldown=0.0, metric=metric)
    t = simulate(jobs, arrivals, [fixed], [service(keep_alive=20.0, load_time=2.0)])
    on = simulate_fast(jobs, arrivals, [PoolSpec(2, 2, always_on())], [service(keep_alive=20.0, load_time=2.0)])
    assert on.instance_intervals is None
    assert_same_timings(t, dataclasses.replace(on, instance_intervals=t.instance_intervals))
    assert t.instance_intervals[0].tolist() == [[0.0, np.inf], [0.0, np.inf]]


def test_a_pool_that_scales_out_and_in_without_end_is_refused_by_name():
    # utilisation above 0 with a whole instance free, window, boot and cool-down 0: SimPy
    # would provision and retire instances at t = 0 for ever; the fast engine says why
    rule = AutoscaleRule(min_instances=1, max_instances=2, start_instances=1, gpus_per_instance=1,
                         metric="utilisation", threshold=0.0, time_window_s=0.0, scale_out_by=1, boot_s=0.0,
                         cooldown_s=0.0)
    with pytest.raises(ValueError, match="pool `p` scales out and in without end at t = 0.0 s"):
        simulate_fast(files_at([10.0]), np.zeros(1), [PoolSpec(1, 1, always_on(), rule)], [service()])
