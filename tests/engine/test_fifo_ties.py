"""The FIFO recursion settles ties as SimPy does, and stops only where it cannot.

Each hand case is built so that another order would put a job on another GPU (slots of
one GPU each), and is checked against SimPy and the event loop. Hypothesis then draws
whole-number times, where every kind of tie is common.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.engine.fast import _event_loop, _fifo, _kernel_args, _timings, simulate_fast
from sim.engine.simpy_model import simulate
from sim.engine.types import PoolSpec, ServiceSpec
from tests.engine.test_fast_engine import always, job_table
from tests.jobhelpers import assert_same_timings

NO_LOAD = ServiceSpec(30.0, 0.0, 4.0)  # no load time: jobs end as given


def run_all(jobs, arrivals, pools, services):
    """The FIFO recursion's and the event loop's results, and SimPy's timings."""
    args = _kernel_args(jobs, arrivals, pools, services)
    return _fifo(args), _event_loop(args), simulate(jobs, arrivals, pools, services)


def gpus(n: int) -> list[PoolSpec]:
    return [PoolSpec(n, 1, always())]


@pytest.mark.parametrize("files, arrivals, n_gpus, expected_gpu", [
    # GPU 0 and GPU 1 free at 12; GPU 1's job started first (1 < 5), so it asks first and
    # takes the job waiting since 6
    ([[[(4.0, 0)]], [[(11.0, 0)]], [[(7.0, 0)]], [[(1.0, 0)]]], [0.0, 1.0, 5.0, 6.0], 2, [0, 1, 0, 1]),
    # a fan-out started together ends together: the job taken first ends first
    ([[[(3.0, 0), (3.0, 0)]], [[(1.0, 0)]]], [0.0, 1.0], 2, [0, 1, 0]),
    # file 0's next stage and file 1 at 5: the arrival process made its timeout at 0,
    # before file 0's job started (also at 0), so file 1 comes first, to the GPU waiting longest
    ([[[(5.0, 0)], [(1.0, 0)]], [[(2.0, 0)]]], [0.0, 5.0], 2, [0, 0, 1]),
    # the same, but the arrival process last woke at 3 (file 2), after file 0's job started:
    # file 0's next stage comes first
    ([[[(5.0, 0)], [(1.0, 0)]], [[(10.0, 0)]], [[(2.0, 0)]]], [0.0, 3.0, 5.0], 3, [0, 2, 1, 0]),
    # two files' next stages released at 6: file 1's ending job started first (0.5 < 1), so
    # its stage is released first and goes to that job's GPU, which asked first
    ([[[(1.0, 0)], [(5.0, 0)], [(1.0, 0)]], [[(5.5, 0)], [(1.0, 0)]]], [0.0, 0.5], 2, [0, 0, 0, 1, 1]),
], ids=["slots-free-together", "fan-out-ends-together", "arrival-before-release", "release-before-arrival",
        "releases-together"])
def test_ties_settled_as_simpy_by_hand(files, arrivals, n_gpus, expected_gpu):
    jobs = job_table(files, 1, [0])
    fifo, loop, ref = run_all(jobs, np.array(arrivals), gpus(n_gpus), [NO_LOAD])
    assert fifo[-1], "the recursion stopped"
    assert fifo[7].tolist() == expected_gpu
    assert_same_timings(_timings(fifo), ref)
    assert_same_timings(_timings(fifo), _timings(loop))
    assert fifo[8] == loop[8]


@pytest.mark.parametrize("files, arrivals, shape", [
    ([[[(0.0, 0)]], [[(3.0, 0)]]], [0.0, 1.0], [(1, 1)]),  # a job that ends as it starts
    # jobs of two pools started together end together, each releasing a stage: SimPy's order
    # between them is not the order in which the recursion took them
    ([[[(3.0, 0)], [(1.0, 0)]], [[(3.0, 1)], [(1.0, 1)]]], [0.0, 0.0], [(1, 1), (1, 1)]),
    # the same within a group (file 2's first stage ends at 2 in both pools), with another
    # group released at 2 (file 3's)
    ([[[(2.0, 1), (2.0, 1)]], [[(2.0, 1), (2.0, 1), (2.0, 0)]], [[(1.0, 1), (2.0, 0), (1.0, 0)], [(1.0, 0)]],
      [[(1.0, 1)], [(1.0, 0)]]], [0.0] * 4, [(2, 1), (2, 2)]),
], ids=["zero-duration", "two-pools-end-together", "a-group-ends-in-two-pools"])
def test_ties_it_cannot_settle_stop_it_and_the_event_loop_runs(files, arrivals, shape):
    n_services = len(shape)
    jobs = job_table(files, n_services, list(range(n_services)))
    pools = [PoolSpec(g, slots, always()) for g, slots in shape]
    services = [NO_LOAD] * n_services
    arrivals = np.array(arrivals)
    fifo, _, ref = run_all(jobs, arrivals, pools, services)
    assert not fifo[-1]
    assert_same_timings(simulate_fast(jobs, arrivals, pools, services), ref)


@st.composite
def tie_cases(draw, n_pools_max: int = 1):
    """Whole-number durations (1 to ``dmax`` s), loads and arrivals, fan-outs: equal ends,
    releases at arrivals and groups released together are everywhere."""
    n_services = draw(st.integers(1, 3))
    n_pools = draw(st.integers(1, n_pools_max))
    pool_of_service = [0] + [draw(st.integers(0, n_pools - 1)) for _ in range(n_services - 1)]
    n_pools = max(pool_of_service) + 1
    dmax = draw(st.integers(1, 8))
    job = st.tuples(st.integers(1, dmax).map(float), st.integers(0, n_services - 1))
    files = draw(st.lists(st.lists(st.lists(job, min_size=1, max_size=4), min_size=1, max_size=3), min_size=1, max_size=40))
    span = draw(st.integers(0, 100))
    arrivals = np.sort(np.array([draw(st.integers(0, span)) for _ in files], dtype=float))
    pools = [PoolSpec(draw(st.integers(1, 3)), draw(st.integers(1, 3)), always()) for _ in range(n_pools)]
    services = [ServiceSpec(draw(st.one_of(st.none(), st.integers(0, 20).map(float))), float(draw(st.integers(0, 3))),
                            7.0) for _ in range(n_services)]
    return job_table(files, n_services, pool_of_service), arrivals, pools, services


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tie_cases())
def test_one_pool_never_stops_and_equals_the_event_loop(case):
    jobs, arrivals, pools, services = case
    args = _kernel_args(jobs, arrivals, pools, services)
    fifo, loop = _fifo(args), _event_loop(args)
    assert fifo[-1], "the recursion stopped"
    assert_same_timings(_timings(fifo), _timings(loop))
    assert fifo[8] == loop[8]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tie_cases(n_pools_max=2))
def test_two_pools_equal_the_event_loop_or_stop(case):
    jobs, arrivals, pools, services = case
    args = _kernel_args(jobs, arrivals, pools, services)
    fifo, loop = _fifo(args), _event_loop(args)
    if fifo[-1]:
        assert_same_timings(_timings(fifo), _timings(loop))
        assert fifo[8] == loop[8]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tie_cases(n_pools_max=2))
def test_tie_cases_equal_simpy(case):
    jobs, arrivals, pools, services = case
    assert_same_timings(simulate_fast(jobs, arrivals, pools, services), simulate(jobs, arrivals, pools, services))
