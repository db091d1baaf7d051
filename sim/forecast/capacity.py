"""Capacity per pool and month: instances provisioned, utilisation, waits and file latency.

One row per month and pool of a replication (months in order within each pool): the
provisioned instance-seconds (the schedule's, or an autoscaled pool's instance intervals),
the slot-seconds they offer, the busy time of the jobs that started in the month, and the
P95 of those jobs' waits and of the end-to-end latency of the files that arrived in the
month and used the pool. ``offered_instances`` is the work released in the month over one
instance's slot-seconds: the instances it would keep busy all the time (what a saturated
pool needs, where its busy time is capped by the hours it has).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.config.scenario import Scenario, pool_codes
from sim.engine.types import JobTable, Timings
from sim.kernels.indices import ix

from .accounting import PoolAccountingSpec, instance_seconds, month_step
from .statistics import (  # the statistics' own kernels
    _percentiles,
    _ratio,
    _value_cells,
)
from .tables import Table


def capacity_table(sc: Scenario, jobs: JobTable, timings: Timings, file_month: np.ndarray, file_arrival_s: np.ndarray,
                   pools: list[PoolAccountingSpec], stats: Table, replication: int) -> Table:
    """The replication's capacity rows (see the module's docstring); times in s.

    ``stats`` is the replication's ``service_table``: its busy times add up per pool, and
    with a single pool its file latencies are the pool's.
    """
    horizon = sc.horizon_months
    n_p = len(pools)
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    order_of = np.empty(len(jobs.pools), dtype=np.int64)  # pool code -> row block here
    order_of[[jobs.pools.index(p.name) for p in pools]] = np.arange(n_p)
    job_pool = order_of[jobs.pool]
    wait_p95, offered = _wait_cells(job_pool, timings.start_s, timings.ready_s, timings.service_s, edges, n_p, 95.0)
    if n_p == 1:  # every file that ran used the pool
        n_s = len(jobs.services)
        lat_p95 = stats.columns["latency_p95_s"][n_s * horizon:(n_s + 1) * horizon]  # the (file) rows
    else:
        latency = timings.file_end_s - file_arrival_s
        used = np.zeros((len(file_month), n_p), dtype=bool)
        used[jobs.file, job_pool] = True
        lat_p95 = np.concatenate([np.empty(0)] + [_value_cells(file_month[used[:, p]], horizon, latency[used[:, p]], 95.0)[2]
                                                  for p in range(n_p)])
    return capacity_rows(sc, jobs.services, jobs.pools, pools, stats, wait_p95, offered, lat_p95, timings, replication)


def capacity_rows(sc: Scenario, services: tuple[str, ...], pool_names: tuple[str, ...], pools: list[PoolAccountingSpec],
                  stats: Table, wait_p95: np.ndarray, offered: np.ndarray, lat_p95: np.ndarray, timings: Timings | None,
                  replication: int) -> Table:
    """``capacity_table`` from its cells, pool x month (flat, pools in ``pools``' order): the
    P95 of waits and of file latencies (s), the work released (s); ``services`` and
    ``pool_names`` are the jobs' codes, ``timings`` an autoscaled pool's instances (or None)."""
    horizon = sc.horizon_months
    n_p = len(pools)
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    order_of = np.empty(len(pool_names), dtype=np.int64)  # pool code -> row block here
    order_of[[pool_names.index(p.name) for p in pools]] = np.arange(n_p)
    codes = np.array(pool_codes(sc, services, pool_names), dtype=np.int64)  # -1: managed, on no pool
    on_pool = codes >= 0
    n_s = len(services)
    busy_by_service = stats.columns["busy_s"][: n_s * horizon].reshape(n_s, horizon)
    busy = np.zeros((n_p, horizon))
    np.add.at(busy, order_of[codes[on_pool]], busy_by_service[on_pool])
    instance_s = instance_seconds(sc, pools, timings).ravel()
    month_s = np.tile(np.diff(edges), n_p)
    slot_s = np.repeat(np.array([p.slots for p in pools], dtype=float), horizon) * instance_s
    return Table({
        "replication": np.full(n_p * horizon, replication, dtype=np.int64),
        "month": np.tile(np.arange(horizon, dtype=np.int64), n_p),
        "pool": np.repeat(np.arange(n_p, dtype=np.int16), horizon),
        "instance_s": instance_s,
        "instances": instance_s / month_s,
        "busy_s": busy.ravel(),
        "utilisation": _ratio(busy.ravel(), slot_s),
        "offered_instances": offered / (np.repeat(np.array([p.slots for p in pools], dtype=float), horizon) * month_s),
        "wait_p95_s": wait_p95,
        "latency_p95_s": lat_p95,
    }, {"pool": tuple(p.name for p in pools)})


@njit(cache=True)
def _wait_cells(pool, start_s, ready_s, service_s, edges, n_pools, pct):
    """Per cell pool x month (flat, in that order): the ``pct`` percentile of the jobs' waits
    (start - ready, s; jobs count in the month they start, as in the service statistics;
    NaN for an empty cell), and the work released (service time of the jobs by the month
    they are ready, s), which a queue carried past the month end does not move."""
    horizon = len(edges) - 1
    n = len(pool)
    key = np.empty(n, dtype=np.int32)
    bounds = np.zeros(n_pools * horizon + 1, dtype=np.int64)
    offered = np.zeros(n_pools * horizon)
    m = 0
    r = 0
    for i in range(n):
        m = month_step(start_s[i], edges, m)
        r = month_step(ready_s[i], edges, r)
        offered[ix(pool[i] * horizon + r)] += service_s[i]
        k = ix(pool[i] * horizon + m)
        key[i] = k
        bounds[k + 1] += 1
    for c in range(n_pools * horizon):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    wait = np.empty(n)
    for i in range(n):
        k = ix(key[i])
        wait[ix(fill[k])] = start_s[i] - ready_s[i]
        fill[k] += 1
    return _percentiles(wait, bounds, pct), offered
