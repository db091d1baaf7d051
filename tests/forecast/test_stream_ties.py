"""Streamed replications where events tie: block by block, the whole run's timings.

Whole-number durations and arrivals make ties common everywhere, on block boundaries too
(a stage released as the next block's first file arrives, groups carried into a block and
released together); a replication whose jobs all take the same time makes them common in
a real scenario.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.engine.fast import _event_loop, _fifo, _kernel_args, _timings
from sim.engine.fast.stream import FastStream
from sim.engine.types import JobTable
from sim.forecast.replication import sample_inputs
from sim.forecast.stream import BlockEngine
from tests.engine.test_fifo_ties import tie_cases
from tests.forecast.test_stream import assert_streamed_is_whole
from tests.helpers import ROOT, scenario_dict, set_dotted
from tests.jobhelpers import FIELDS


def file_slice(jobs: JobTable, lo: int, hi: int) -> JobTable:
    """The jobs of files ``lo`` to ``hi - 1``, indexed from 0 (files, groups and jobs are in order)."""
    j0, j1 = np.searchsorted(jobs.file, [lo, hi])
    g0, g1 = np.searchsorted(jobs.group_file, [lo, hi])
    nxt = jobs.group_next[g0:g1]
    return JobTable(
        file=jobs.file[j0:j1] - lo, group=jobs.group[j0:j1] - g0, service=jobs.service[j0:j1], pool=jobs.pool[j0:j1],
        language=jobs.language[j0:j1], content=jobs.content[j0:j1], target=None, time_s=jobs.time_s[j0:j1],
        energy_j=jobs.energy_j[j0:j1], audio_s=jobs.audio_s[j0:j1], tokens_in=None, tokens_out=None,
        group_first_job=jobs.group_first_job[g0 : g1 + 1] - j0, group_next=np.where(nxt >= 0, nxt - g0, -1),
        group_file=jobs.group_file[g0:g1] - lo, services=jobs.services, pools=jobs.pools)


def streamed_timings(jobs: JobTable, arrivals: np.ndarray, pools, services, cuts: list[int],
                     stream=FastStream) -> tuple[dict, int, int, BlockEngine]:
    """The timings of ``jobs`` simulated in blocks of files cut at ``cuts`` (``BlockEngine``
    over ``stream``), put back in job order; SimPy's event count; blocks that carried files
    on; the engine. None at a tie."""
    engine = BlockEngine(stream(pools, services))
    bounds = [0, *cuts, len(arrivals)]
    got: dict[str, list] = {name: [None] * (len(bounds) - 1) for name in (*FIELDS, "file_end_s")}
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        t_next = float(arrivals[hi]) if hi < len(arrivals) else np.inf
        complete = engine.add(file_slice(jobs, lo, hi), arrivals[lo:hi], t_next, b)
        if complete is None:
            return None
        for done in complete:
            for name in got:
                got[name][done.payload] = getattr(done.timings, name)
    assert engine.done == len(bounds) - 1
    return {name: np.concatenate(parts) for name, parts in got.items()}, engine.events, engine.carried, engine


@st.composite
def blocked(draw):
    jobs, arrivals, pools, services = draw(tie_cases())
    n = len(arrivals)
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    return jobs, arrivals, pools, services, cuts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked())
def test_blocks_with_ties_give_the_whole_runs_timings(case):
    jobs, arrivals, pools, services, cuts = case
    args = _kernel_args(jobs, arrivals, pools, services)
    whole = _timings(_fifo(args))
    loop = _event_loop(args)
    got = streamed_timings(jobs, arrivals, pools, services, cuts)
    assert got is not None, "a tie stopped the stream"
    timings, events, *_ = got
    for name in (*FIELDS, "file_end_s"):
        np.testing.assert_array_equal(timings[name], getattr(whole, name).astype(timings[name].dtype), err_msg=name)
    assert events == whole.events == loop[8]


def test_busy_blocks_with_ties_carry_files_on():
    """One slot, every job 2 s, files every second: a backlog at every boundary, and the
    stage released at the next block's first arrival goes to the right side of it."""
    from tests.engine.test_fast_engine import always, job_table
    from sim.engine.types import PoolSpec, ServiceSpec

    files = [[[(2.0, 0)], [(2.0, 0), (2.0, 0)]] for _ in range(30)]
    jobs = job_table(files, 1, [0])
    arrivals = np.arange(30, dtype=float)
    pools, services = [PoolSpec(1, 2, always())], [ServiceSpec(None, 0.0, 1.0)]
    whole = _timings(_fifo(_kernel_args(jobs, arrivals, pools, services)))
    for cuts in ([5, 10, 15, 20, 25], list(range(1, 30))):
        timings, events, carried, _ = streamed_timings(jobs, arrivals, pools, services, cuts)
        assert carried > 0
        for name in (*FIELDS, "file_end_s"):
            np.testing.assert_array_equal(timings[name], getattr(whole, name).astype(timings[name].dtype), err_msg=name)
        assert events == whole.events


def same_time_profile(tmp: Path) -> Path:
    """The default calibration with every job taking 2 s and every load 1 s (energies fixed)."""
    cal = yaml.safe_load((ROOT / "configs" / "calibration" / "priors.yaml").read_text())
    for m in cal["models"].values():
        m["time_s"] = {"intercept": 2.0, "coef": {u: 0.0 for u in m["time_s"]["coef"]}, "sigma": 0.0}
        m["energy_j"] = {"intercept": 100.0, "coef": {u: 0.0 for u in m["energy_j"]["coef"]}, "sigma": 0.0}
        m["load"] = {"time_s": 1.0, "energy_j": 100.0}
    path = tmp / "same-time.yaml"
    path.write_text(yaml.safe_dump(cal))
    return path


def test_a_scenario_whose_jobs_all_take_the_same_time_streams_as_whole(tmp_path):
    """Fan-outs started together end together, so slots free together and stages are
    released together all the time: the recursion settles them (the whole replication's
    FIFO recursion does not stop), and the streamed tables are the whole replication's."""
    data = set_dotted(scenario_dict("default"), {
        "horizon_months": 2, "calibration": str(same_time_profile(tmp_path)), "gpu_profiles": [],
        "pools.gpu.slots_per_gpu": 2, "workload.base_files_per_month": 20000})
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    inp = sample_inputs(res, 0, details=False).for_engine
    assert np.all(inp.jobs.time_s == 2.0)
    fifo = _fifo(_kernel_args(inp.jobs, inp.file_arrival_s, inp.pools, inp.services))
    assert fifo[-1], "the recursion stopped"
    ends = fifo[2]
    assert len(ends) - len(np.unique(ends)) > len(ends) // 10  # ends at the same time are common
    got = assert_streamed_is_whole(res, 0, 200)
    assert got.carried > 0
