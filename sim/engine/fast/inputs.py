"""The fast engine's inputs: an engine's jobs, arrivals, pools and services as the kernels read them,
and the autoscaled pools' rules and state as the event loop reads them."""

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
        gpus = _gpus(p)
        for g in range(gpus):
            worker_pool += [pi] * p.slots_per_gpu
            worker_gpu += [gpu0 + g] * p.slots_per_gpu
        gpu0 += gpus
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



def _gpus(p) -> int:
    """The GPUs the kernels lay out for pool ``p``: an autoscaled pool's at its cap
    (instance k has GPUs k * gpus_per_instance + 0..gpus_per_instance-1, as in SimPy)."""
    rule = p.autoscale
    return p.gpus if rule is None else rule.max_instances * rule.gpus_per_instance


# ``ScaleInputs.rule`` columns (per pool): the pool autoscales (0/1), min, max and start
# instances, slots per instance, metric utilisation (0/1; else queue_per_slot), instances per
# scale-out, the pool's first slot and first instance
ON, MIN_I, MAX_I, START_I, SPI, UTIL, OUT_BY, SLOT0, INST0 = range(9)
# ``ScaleInputs.times`` columns (per pool): threshold, time window, boot, cool-down (s)
THRESHOLD, WINDOW, BOOT, COOLDOWN = range(4)


class ScaleInputs(NamedTuple):
    """The autoscaled pools' rules as the event loop reads them (``AutoscaleRule``, per pool
    in ``rule`` and ``times``: zeros for a pool that does not autoscale), and where their
    instances' slots lie: the slots of pool p's instance k are ``SLOT0 + k * SPI`` onwards,
    and the instance is ``INST0 + k`` among all the pools' instances.

    Plain arrays, not one per field: the loop takes them apart once (each field taken from
    a record inside the loop costs reference counting)."""

    rule: np.ndarray  # int64, pools x 9
    times: np.ndarray  # float, pools x 4
    slot_inst: np.ndarray  # per slot: its instance, -1 in a pool that does not autoscale
    inst_pool: np.ndarray  # per instance: its pool

    @property
    def on(self) -> np.ndarray:
        return self.rule[:, ON] > 0


def _scale_args(pools) -> ScaleInputs:
    """The pools' autoscale rules, on the slot layout of ``_kernel_args``."""
    rule, times = np.zeros((max(len(pools), 1), 9), np.int64), np.zeros((max(len(pools), 1), 4))
    slot_inst: list[int] = []
    inst_pool: list[int] = []
    for pi, p in enumerate(pools):
        r = p.autoscale
        rule[pi, SLOT0], rule[pi, INST0] = len(slot_inst), len(inst_pool)
        if r is None:
            slot_inst += [-1] * (_gpus(p) * p.slots_per_gpu)
            continue
        spi = r.gpus_per_instance * p.slots_per_gpu
        rule[pi, [ON, MIN_I, MAX_I, START_I, SPI, UTIL, OUT_BY]] = (
            1, r.min_instances, r.max_instances, r.start_instances, spi, r.metric == "utilisation", r.scale_out_by)
        times[pi] = r.threshold, r.time_window_s, r.boot_s, r.cooldown_s
        slot_inst += [len(inst_pool) + k for k in range(r.max_instances) for _ in range(spi)]
        inst_pool += [pi] * r.max_instances
    return ScaleInputs(rule, times, np.asarray(slot_inst, np.int64).reshape(-1),
                       np.asarray(inst_pool, np.int64).reshape(-1))


# ``ScaleState.pool`` columns (per pool), after a copy of its rule (``ScaleInputs.rule``'s
# columns): instances provisioned, serving (not draining), booting; generations so far; the
# creation counter of the scale-out and scale-in timers that count (-1: none); slots waiting
# for a job (SimPy's get queue); the most jobs waiting (queue_per_slot) or slots busy
# (utilisation) that do not yet call for a scale-out: floor(threshold x serving slots)
N_PROV, N_SERV, BOOTING, GENS, OUT_LIVE, IN_LIVE, ASKING, LIMIT = range(9, 17)
# ``ScaleState.inst`` columns (per instance): state, generation, row of ``interval``, slot
# processes still running, free slots (scratch, when one is chosen to go)
STATE, GEN, ROW, WORKERS, FREE = range(5)
# instance states
IDLE, STARTING, SERVING, DRAINING = 0, 1, 2, 3


class ScaleState(NamedTuple):
    """The autoscalers' state, changed in place by the event loop: per pool (``pool``: its
    rule, then its state) and per instance (``inst``), per slot the generation of its
    instance (the residency period of its jobs), and each instance ever provisioned: its
    pool and [provisioned, retired] (s, inf while provisioned), in ``n_intervals[0]`` rows.

    The loop reads a pool's rule and state from one array: every array a compiled helper
    is handed costs reference counting each time, and the rule is evaluated at every put
    and every request for a job."""

    pool: np.ndarray  # int64, pools x 17
    inst: np.ndarray  # int64, instances x 5
    slot_gen: np.ndarray
    interval_pool: np.ndarray
    interval: np.ndarray
    n_intervals: np.ndarray


def _scale_state(s: ScaleInputs, n_workers: int, rows: int) -> ScaleState:
    """A fresh ``ScaleState`` with room for ``rows`` instance intervals."""
    pool = np.zeros((len(s.rule), 17), np.int64)
    pool[:, :9] = s.rule
    pool[:, OUT_LIVE] = pool[:, IN_LIVE] = -1
    return ScaleState(pool, np.zeros((max(len(s.inst_pool), 1), 5), np.int64), np.zeros(max(n_workers, 1), np.int64),
                      np.zeros(rows, np.int64), np.zeros((rows, 2)), np.zeros(1, np.int64))
