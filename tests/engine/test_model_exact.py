"""The SimPy engine on hand-computed cases: waits, busy time, energy, residency, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.serving import Provisioning
from sim.engine.provisioning import schedule_for
from sim.engine.simpy_model import simulate
from tests.jobhelpers import hand_jobs, pool, service


def one_job_files(times, energies=None):
    energies = energies or [10.0] * len(times)
    return [[[(t, e, 0)]] for t, e in zip(times, energies)]


def test_single_server_fifo_by_hand():
    # arrivals 0, 1, 2.5; durations 3, 1, 2 -> starts 0, 3, 4; ends 3, 4, 6
    jobs = hand_jobs(one_job_files([3.0, 1.0, 2.0], [30.0, 10.0, 20.0]))
    t = simulate(jobs, np.array([0.0, 1.0, 2.5]), [pool()], [service()])
    assert t.start_s.tolist() == [0.0, 3.0, 4.0]
    assert t.end_s.tolist() == [3.0, 4.0, 6.0]
    assert (t.start_s - t.ready_s).tolist() == [0.0, 2.0, 1.5]
    assert t.service_s.sum() == 6.0
    assert t.energy_j.tolist() == [30.0, 10.0, 20.0]
    assert t.cold.tolist() == [True, False, False]  # the first job loads the model (here at no cost)


def test_two_slots_serve_in_parallel_and_the_longest_idle_slot_takes_the_next_job():
    # job 1 ends at 2 on slot 1; job 2 arrives at 2.5 and starts at once
    jobs = hand_jobs(one_job_files([3.0, 1.0, 2.0]))
    t = simulate(jobs, np.array([0.0, 1.0, 2.5]), [pool(slots=2)], [service()])
    assert t.start_s.tolist() == [0.0, 1.0, 2.5]
    assert t.end_s.tolist() == [3.0, 2.0, 4.5]
    assert (t.start_s - t.ready_s).max() == 0.0


def test_next_stage_is_released_when_the_whole_fan_out_has_finished():
    # file 0: stage 0 one job (2 s); stage 1 two jobs (1 s, 3 s) in parallel; stage 2 one job (1 s)
    jobs = hand_jobs([[[(2.0, 1.0, 0)], [(1.0, 1.0, 0), (3.0, 1.0, 0)], [(1.0, 1.0, 0)]]])
    t = simulate(jobs, np.array([5.0]), [pool(slots=2)], [service()])
    assert t.start_s.tolist() == [5.0, 7.0, 7.0, 10.0]
    assert t.ready_s.tolist() == [5.0, 7.0, 7.0, 10.0]
    assert t.file_end_s.tolist() == [11.0]


def test_cold_load_and_keep_alive():
    # keep-alive 1 s, load 0.5 s / 10 J: first job cold, second warm (queued), third after 5.5 s idle -> cold
    jobs = hand_jobs(one_job_files([3.0, 1.0, 2.0], [1.0, 1.0, 1.0]))
    t = simulate(jobs, np.array([0.0, 1.0, 10.0]), [pool()], [service(keep_alive=1.0, load_time=0.5, load_energy=10.0)])
    assert t.cold.tolist() == [True, False, True]
    assert t.start_s.tolist() == [0.0, 3.5, 10.0]
    assert t.end_s.tolist() == [3.5, 4.5, 12.5]
    assert t.energy_j.tolist() == [11.0, 1.0, 11.0]


def test_resident_model_loads_once_per_gpu():
    # no keep-alive limit: each GPU loads the model on its first job only
    jobs = hand_jobs(one_job_files([1.0] * 4))
    t = simulate(jobs, np.array([0.0, 0.1, 100.0, 200.0]), [pool(gpus=2)], [service(keep_alive=None, load_time=2.0)])
    assert t.cold.sum() == 2
    assert t.cold[:2].all()


def test_models_are_resident_per_service():
    # two services share a GPU: each pays its own first load
    files = [[[(1.0, 0.0, 0)]], [[(1.0, 0.0, 1)]], [[(1.0, 0.0, 0)]]]
    jobs = hand_jobs(files, services=("a", "b"), pool_of_service=(0, 0))
    t = simulate(jobs, np.array([0.0, 10.0, 20.0]), [pool()], [service(load_time=1.0), service(load_time=1.0)])
    assert t.cold.tolist() == [True, True, False]


def test_scheduled_pool_starts_jobs_only_while_on():
    # on 08:00-20:00 every day; a job arriving at midnight waits until 08:00 (Monday start)
    sched = schedule_for(Provisioning(policy="scheduled", hours=(8, 20)), weekday0=0)
    jobs = hand_jobs(one_job_files([60.0, 60.0]))
    arrivals = np.array([0.0, 9 * 3600.0])
    t = simulate(jobs, arrivals, [pool(schedule=sched)], [service()])
    assert t.start_s.tolist() == [8 * 3600.0, 9 * 3600.0]


def test_scheduled_pool_reloads_models_after_switching_off():
    sched = schedule_for(Provisioning(policy="scheduled", hours=(8, 20)), weekday0=0)
    jobs = hand_jobs(one_job_files([10.0, 10.0, 10.0]))
    arrivals = np.array([9 * 3600.0, 10 * 3600.0, 33 * 3600.0])  # third: next day 09:00
    t = simulate(jobs, arrivals, [pool(schedule=sched)], [service(keep_alive=None, load_time=1.0)])
    assert t.cold.tolist() == [True, False, True]


def test_weekdays_only_schedule_skips_the_weekend():
    sched = schedule_for(Provisioning(policy="scheduled", hours=(8, 20), weekdays_only=True), weekday0=5)  # Saturday
    assert not sched.is_on(9 * 3600.0)
    assert sched.next_on(9 * 3600.0) == pytest.approx((48 + 8) * 3600.0)
    assert sched.on_seconds(0, 7 * 86400) == 5 * 12 * 3600


def test_night_window_wraps_midnight():
    sched = schedule_for(Provisioning(policy="scheduled", hours=(22, 6)), weekday0=0)
    assert sched.is_on(23 * 3600.0) and sched.is_on(3 * 3600.0) and not sched.is_on(12 * 3600.0)
    assert sched.on_seconds(0, 86400) == 8 * 3600


def test_the_engine_conserves_work():
    rng = np.random.default_rng(5)
    n = 500
    times = rng.exponential(2.0, n).tolist()
    energies = rng.uniform(1, 5, n).tolist()
    jobs = hand_jobs(one_job_files(times, energies))
    arrivals = np.sort(rng.uniform(0, 600, n))
    t = simulate(jobs, arrivals, [pool(gpus=2, slots=2)], [service()])
    assert t.service_s.sum() == pytest.approx(sum(times))
    assert t.energy_j.sum() == pytest.approx(sum(energies))
    assert (t.start_s >= t.ready_s - 1e-9).all()
    # never more than 4 jobs at once
    ev = np.concatenate([np.c_[t.start_s, np.ones(n)], np.c_[t.end_s, -np.ones(n)]])
    ev = ev[np.lexsort((ev[:, 1], ev[:, 0]))]
    assert np.cumsum(ev[:, 1]).max() <= 4


def test_a_window_from_0_to_24_is_the_whole_day():
    sched = schedule_for(Provisioning(policy="scheduled", hours=(0, 24)), weekday0=0)
    assert sched.on_seconds(0, 7 * 86400) == 7 * 86400
