"""Build JobTables by hand for exact, deterministic engine checks."""

from __future__ import annotations

import numpy as np

from sim.engine.provisioning import WEEK_H, Schedule
from sim.engine.types import PoolSpec, ServiceSpec
from sim.forecast.jobs import JobTable


def hand_jobs(files: list[list[list[tuple[float, float, int]]]], services=("s",), pools=("p",), pool_of_service=(0,)) -> JobTable:
    """``files[f][stage] = [(time_s, energy_j, service), ...]``: one group per stage."""
    rows = []
    for f, stages in enumerate(files):
        for k, jobs in enumerate(stages):
            for t, (time_s, energy_j, svc) in enumerate(jobs):
                rows.append((f, k, t, time_s, energy_j, svc))
    n = len(rows)
    arr = np.array(rows, dtype=float).reshape(n, 6)
    file = arr[:, 0].astype(np.int64)
    stage = arr[:, 1].astype(np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = (file[1:] != file[:-1]) | (stage[1:] != stage[:-1])
    first = np.flatnonzero(new)
    gfile = file[first]
    gnext = np.full(len(first), -1, dtype=np.int64)
    same = gfile[1:] == gfile[:-1]
    gnext[:-1][same] = np.arange(1, len(first))[same]
    svc = arr[:, 5].astype(np.int64)
    zeros = np.zeros(n)
    return JobTable(
        file=file, group=np.cumsum(new) - 1, service=svc, pool=np.asarray(pool_of_service, dtype=np.int64)[svc],
        language=np.zeros(n, np.int64), content=np.zeros(n, np.int64), target=np.full(n, -1, np.int64),
        time_s=arr[:, 3].copy(), energy_j=arr[:, 4].copy(), audio_s=zeros, tokens_in=zeros, tokens_out=zeros,
        group_first_job=np.append(first, n), group_next=gnext, group_file=gfile, services=tuple(services), pools=tuple(pools),
    )


def always_on() -> Schedule:
    return Schedule(np.ones(WEEK_H, dtype=bool), 0)


def pool(gpus=1, slots=1, schedule=None) -> PoolSpec:
    return PoolSpec(gpus=gpus, slots_per_gpu=slots, schedule=schedule or always_on())


def service(keep_alive=None, load_time=0.0, load_energy=0.0) -> ServiceSpec:
    return ServiceSpec(keep_alive, load_time, load_energy)


FIELDS = ("ready_s", "start_s", "end_s", "cold", "service_s", "energy_j", "file_end_s", "gpu")


def assert_same_timings(a, b) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        # values, bit for bit (SimPy's clock is the int 0 until the first timeout: compare as floats)
        assert x.shape == y.shape, name
        np.testing.assert_array_equal(x, y.astype(x.dtype), err_msg=name)
    assert a.events == b.events
    # autoscaled pools: each instance's provisioned interval, in order of provisioning
    ia, ib = a.instance_intervals, b.instance_intervals
    assert (ia is None) == (ib is None)
    if ia is not None:
        assert len(ia) == len(ib)
        for x, y in zip(ia, ib):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y, err_msg="instance_intervals")
