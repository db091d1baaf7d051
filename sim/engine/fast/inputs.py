"""The fast engine's inputs: an engine's jobs, arrivals, pools and services as the kernels read them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.engine.provisioning import WEEK_H

from .common import _first_groups


def _schedule_arrays(pools):
    """Per pool: always-on flag, hour offset, weekly mask, hours to next on, cumulative switch-ons."""
    n = len(pools)
    always = np.zeros(n, dtype=np.bool_)
    offset = np.zeros(n, dtype=np.int64)
    on = np.ones((n, WEEK_H), dtype=np.bool_)
    wait = np.zeros((n, WEEK_H), dtype=np.int64)
    starts_cum = np.zeros((n, WEEK_H + 1), dtype=np.int64)
    for i, p in enumerate(pools):
        sch = p.schedule
        always[i] = sch.always
        offset[i] = sch.offset_h
        on[i] = sch.weekly_on
        wait[i] = sch.wait_h
        starts_cum[i] = sch.starts_cum
    return always, offset, on, wait, starts_cum


def _ints(column) -> np.ndarray:
    """An integer column as the kernel reads it: as it is when it already is one (no copy).

    Each new combination of dtypes compiles its own specialisation once (cached on disk).
    """
    a = np.asarray(column)
    if a.dtype.kind not in "iu":
        a = a.astype(np.int64)
    return np.ascontiguousarray(a)


def _unsigned(column) -> np.ndarray:
    """An index column (all >= 0) as the kernel reads it: viewed as unsigned, not copied.

    Numba wraps negative indices around, as NumPy does, at a cost at every signed index.
    """
    a = _ints(column)
    # only narrow ones: the kernel widens them to int64, known >= 0; a 64-bit unsigned index
    # would not mix with int64 ones (numba types the mix as float64)
    return a.view(a.dtype.str.replace("i", "u")) if a.dtype.kind == "i" and a.dtype.itemsize <= 4 else a


class KernelInputs(NamedTuple):
    """What both kernels read (``_simulate`` and ``_fifo`` take it whole; numba passes a
    named tuple of arrays as a struct): the jobs, the files' first groups in order of
    arrival, the slots (pool by pool, GPU by GPU), the pools' schedules and the services."""

    time_s: np.ndarray
    energy_j: np.ndarray
    service: np.ndarray
    pool_of_job: np.ndarray
    group_of_job: np.ndarray
    group_first_job: np.ndarray
    group_next: np.ndarray
    group_file: np.ndarray
    n_files: int
    arr_groups: np.ndarray
    arr_times: np.ndarray
    worker_pool: np.ndarray
    worker_gpu: np.ndarray
    pool_always: np.ndarray
    pool_offset_h: np.ndarray
    pool_on: np.ndarray
    pool_wait_h: np.ndarray
    pool_starts_cum: np.ndarray
    keep_alive_s: np.ndarray
    load_time_s: np.ndarray
    load_energy_j: np.ndarray
    n_services: int
    n_pools: int


def _kernel_args(jobs, file_arrival_s: np.ndarray, pools, services) -> KernelInputs:
    """Pre-sampled jobs, arrivals (s), pools and services as the kernels read them."""
    gfile = _ints(jobs.group_file)
    arrival = np.ascontiguousarray(file_arrival_s, dtype=float)
    arr_groups, arr_times = _first_groups(gfile, arrival)
    # Sampled files come in order of arrival; others (hand-built tables, NaN times) are put
    # in order by a stable sort, as SimPy's arrival process orders them.
    if not np.all(arr_times[1:] >= arr_times[:-1]):
        order = np.argsort(arr_times, kind="stable")
        arr_groups, arr_times = arr_groups[order], arr_times[order]
    worker_pool, worker_gpu = [], []  # slots pool by pool, GPU by GPU
    gpu0 = 0
    for pi, p in enumerate(pools):
        for g in range(p.gpus):
            worker_pool += [pi] * p.slots_per_gpu
            worker_gpu += [gpu0 + g] * p.slots_per_gpu
        gpu0 += p.gpus
    always, offset, on, wait, starts_cum = _schedule_arrays(pools)
    keep = np.array([np.inf if s.keep_alive_s is None else float(s.keep_alive_s) for s in services], dtype=float)
    load_t = np.array([float(s.load_time_s) for s in services], dtype=float)
    load_e = np.array([float(s.load_energy_j) for s in services], dtype=float)
    return KernelInputs(
        np.ascontiguousarray(jobs.time_s, dtype=float), np.ascontiguousarray(jobs.energy_j, dtype=float),
        _unsigned(jobs.service), _unsigned(jobs.pool), _unsigned(jobs.group), _unsigned(jobs.group_first_job),
        _ints(jobs.group_next), _unsigned(gfile), len(arrival), arr_groups, arr_times,
        np.asarray(worker_pool, dtype=np.uint32), np.asarray(worker_gpu, dtype=np.uint32),
        always, offset, on, wait, starts_cum, keep, load_t, load_e, max(len(services), 1), max(len(pools), 1),
    )

