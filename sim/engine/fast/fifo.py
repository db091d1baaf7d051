"""The fast engine's FIFO recursion: always-on pools without an event list (see ``sim.engine.fast``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sim.kernels.indices import ix as _ix

from .common import _gpu_in_pool, _job_totals, _push, _refill_root, _timing_arrays

# How ``_fifo_from`` ended: every group of the block taken; a tie (the event loop must settle
# it); a group of the block released only after the next block's first arrival
DONE, TIED, PENDING = 1, 0, -1


class FifoState(NamedTuple):
    """What the FIFO recursion carries from one block of files to the next (changed in
    place): each slot's free time and the service of its last job (-1 once its end is
    recorded), the last end recorded per (GPU, service), and the arrival process's clock
    (s) and waits so far."""

    free_t: np.ndarray
    slot_service: np.ndarray
    last_end: np.ndarray
    clock: np.ndarray  # [arrival clock (s)]
    waits: np.ndarray  # [waits of the arrival process]

    @staticmethod
    def fresh(n_workers: int, n_gpus: int, n_services: int) -> "FifoState":
        return FifoState(np.full(max(n_workers, 1), -np.inf), np.full(max(n_workers, 1), -1, np.int64),
                         np.full(n_gpus * n_services, -np.inf), np.zeros(1), np.zeros(1, np.int64))

    def copy(self) -> "FifoState":
        return FifoState(*(x.copy() for x in self))


def _fifo(a):
    """``_fifo_from`` on a whole replication (fresh state, no block after it): its timings,
    with SimPy's event count, and ``ok`` False at a tie."""
    n_workers = a.worker_pool.shape[0]
    n_gpus = int(a.worker_gpu.max()) + 1 if n_workers else 1
    st = FifoState.fresh(n_workers, n_gpus, a.n_services)
    ready, start, end, cold, service_s, energy, file_end, gpu, status, _, _ = _fifo_from(
        a, st, np.inf, np.empty(0), np.empty(0, np.int64))
    events = n_workers + 1 + int(st.waits[0]) + 1 + 3 * a.time_s.shape[0]
    return ready, start, end, cold, service_s, energy, file_end, gpu, np.int64(events), status == DONE


@njit(cache=True, error_model="numpy")
def _fifo_from(a, st, t_next, init_t, init_g):
    """The event loop's timings for always-on pools, without an event list, when nothing
    ties (status ``DONE``; ``TIED`` at the first tie: the event loop then runs), going on
    from the state ``st`` (a ``FifoState``, its arrays changed in place) with a block of files
    whose next block's first arrival is at ``t_next`` (s; inf for the last block).

    The block's groups are taken in order of release, as they would be with the next
    block's after them, beginning with ``init_t``/``init_g`` (release times and groups
    carried from the block before, put in the heap); where some are released only after
    ``t_next`` (status ``PENDING``), the run stops there and returns them (the heap's
    times and groups), for the next block to take on.

    With every pool always on, a pool is a FIFO queue of jobs in front of slots that take
    the next job as soon as they are free, the one free longest first (SimPy's get queue).
    So the groups can be taken in order of release, each job going to its pool's slot free
    earliest, starting when both are ready: no job's end is an event of its own, which is
    half of the event loop's events. Groups are released by the arrivals (with the arrival
    process's arithmetic) and by a heap of groups whose previous group has ended, each
    when its last job ends; starts never decrease, so a slot's earlier jobs have ended and
    its last one is the only one that can still run.

    Ties would need SimPy's event order to settle: two groups released at the same time
    (other than arrivals at the same time, which the arrival process releases in order),
    two slots free at the same time other than never used at all (those wait in
    registration order, as at t = 0), a job that ends when it starts. At any of them this
    stops. Model residency is decided as the event loop decides it, from the jobs of the
    service running on the GPU at the start and the last end of one; a job of it ending at
    that very instant leaves it warm either way. The GPU's slots are looked at only when
    the ends recorded so far (those of jobs whose slot has moved on) leave the model
    possibly cold: with a keep-alive longer than the gaps between jobs, almost never.

    Events are counted as the event loop counts them: each slot's start, the arrival
    process's start, waits and end, and a put, a get and an end per job.
    """
    time_s, energy_j, service, pool_of_job = a.time_s, a.energy_j, a.service, a.pool_of_job
    group_first_job, group_next, group_file, n_files = a.group_first_job, a.group_next, a.group_file, a.n_files
    arr_groups, arr_times, worker_pool, worker_gpu = a.arr_groups, a.arr_times, a.worker_pool, a.worker_gpu
    keep_alive_s, load_time_s, load_energy_j = a.keep_alive_s, a.load_time_s, a.load_energy_j
    n_services, n_pools = a.n_services, a.n_pools
    free_t, slot_service, last_end, clock, waits = st.free_t, st.slot_service, st.last_end, st.clock, st.waits
    n = time_s.shape[0]
    n_workers = worker_pool.shape[0]
    ready, start, end, service_s, energy, cold, file_end, gpu = _timing_arrays(n, n_files)
    w_gpu = _gpu_in_pool(worker_pool, worker_gpu, n_pools)
    # slots of a pool, and of a GPU, are contiguous: [lo[i], lo[i + 1])
    pool_lo = np.zeros(n_pools + 1, np.int64)
    n_gpus = 1
    for w in range(n_workers):
        pool_lo[worker_pool[w] + 1] = w + 1
        n_gpus = max(n_gpus, worker_gpu[w] + 1)
    gpu_lo = np.zeros(n_gpus + 1, np.int64)
    for w in range(n_workers):
        gpu_lo[worker_gpu[w] + 1] = w + 1
    for p in range(n_pools):
        pool_lo[p + 1] = max(pool_lo[p + 1], pool_lo[p])
    for g in range(n_gpus):
        gpu_lo[g + 1] = max(gpu_lo[g + 1], gpu_lo[g])
    # free_t: when each slot is free (-inf: never used); slot_service: the service of its
    # last job, -1 once recorded; last_end: per (GPU, service), the last end recorded
    # heap of released groups (release time, group: see ``_push``): each group enters it at
    # most once, so it is never full (an array rebound inside the loop, to grow it, would
    # cost reference counts on every iteration: a sixth of the time)
    n_groups = group_first_job.shape[0] - 1
    ht = np.empty(max(n_groups, 1))
    hg = np.empty(max(n_groups, 1), np.int64)
    hsize = 0
    for i in range(init_t.shape[0]):  # groups carried from the block before, released when its last job ends
        _push(ht, hg, hsize, init_t[i], init_g[i])
        hsize += 1
    n_arr = arr_groups.shape[0]
    arr_i = 0
    arr_now = clock[0]  # the arrival process's clock
    n_waits = waits[0]
    tied = (ready, start, end, cold, service_s, energy, file_end, gpu, TIED, ht[:0], hg[:0])
    while True:
        # the next group: the heap's root or the next arrival, whichever is released first
        # (after the block's arrivals, the next block's first)
        t = arr_times[arr_i] if arr_i < n_arr else t_next
        if t == np.inf:
            t_arr = np.inf
        else:
            t_arr = arr_now + (t - arr_now) if t > arr_now else arr_now
        if hsize > 0 and ht[0] <= t_arr:
            if ht[0] == t_arr:  # a tie, or at the next block's first arrival: take the blocks together
                if arr_i < n_arr:
                    return tied
                clock[0] = arr_now
                waits[0] = n_waits
                return ready, start, end, cold, service_s, energy, file_end, gpu, PENDING, ht[:hsize], hg[:hsize]
            now = ht[0]
            gr = _ix(hg[0])
            hsize -= 1
            if hsize > 0:
                _refill_root(ht, hg, hsize)
                if ht[0] == now:
                    return tied
        elif arr_i < n_arr:
            if t_arr > arr_now:
                n_waits += 1
                arr_now = t_arr
            now = t_arr
            gr = _ix(arr_groups[arr_i])
            arr_i += 1
        else:
            break
        done = -np.inf
        for j in range(_ix(group_first_job[gr]), _ix(group_first_job[gr + 1])):
            j = _ix(j)
            p = _ix(pool_of_job[j])
            best = np.inf  # the pool's slot free earliest
            w = 0
            tie = False
            for u in range(pool_lo[p], pool_lo[p + 1]):
                f = free_t[u]
                if f < best:
                    best, w, tie = f, u, False
                elif f == best:
                    tie = True
            if tie and best != -np.inf:
                return tied
            at = now if best <= now else best
            k = _ix(service[j])
            g = _ix(worker_gpu[w])
            if slot_service[w] >= 0:  # the slot's last job has ended: record its end
                gx = _ix(g * n_services + slot_service[w])
                last_end[gx] = max(last_end[gx], free_t[w])
                slot_service[w] = -1
            dur = time_s[j]
            latest = last_end[_ix(g * n_services + k)]
            if not (latest > -np.inf and at - latest <= keep_alive_s[k]):  # not warm from an end recorded already
                running = 0
                for u in range(gpu_lo[g], gpu_lo[g + 1]):  # the GPU's other slots' last jobs of the service
                    if slot_service[u] == k:
                        e = free_t[u]
                        if e > at:
                            running += 1
                        elif e > latest:
                            latest = e
                if running == 0 and (latest == -np.inf or at - latest > keep_alive_s[k]):
                    cold[j] = True
                    dur += load_time_s[k]
            e = at + dur
            if not e > at:  # ends as it starts (or NaN)
                return tied
            ready[j] = now
            start[j] = at
            gpu[j] = w_gpu[w]
            end[j] = e
            free_t[w] = e
            slot_service[w] = k
            done = max(done, e)
        nxt = group_next[gr]
        if nxt >= 0:  # the file's next group is released when this one's last job ends
            _push(ht, hg, hsize, done, nxt)
            hsize += 1
        else:
            file_end[_ix(group_file[gr])] = done
    _job_totals(start, end, cold, energy_j, service, load_energy_j, service_s, energy)
    clock[0] = arr_now
    waits[0] = n_waits
    status = PENDING if hsize > 0 else DONE  # (groups released after the next block's first arrival)
    return ready, start, end, cold, service_s, energy, file_end, gpu, status, ht[:hsize], hg[:hsize]

