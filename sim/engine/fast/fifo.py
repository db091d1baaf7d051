"""The fast engine's FIFO recursion: always-on pools without an event list (see ``sim.engine.fast``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sim.kernels.indices import ix as _ix

from .common import _gpu_in_pool, _job_totals, _timing_arrays

# How ``_fifo_from`` ended: every group of the block taken; a tie (the event loop must settle
# it); a group of the block released only after the next block's first arrival
DONE, TIED, PENDING = 1, 0, -1


class FifoState(NamedTuple):
    """What the FIFO recursion carries from one block of files to the next (changed in
    place): each slot's free time, the service of its last job (-1 once its end is
    recorded) and that job's rank (see ``_fifo_from``), the last end recorded per (GPU,
    service), the arrival process's clock (s) and waits so far, and the jobs ranked so far."""

    free_t: np.ndarray
    slot_service: np.ndarray
    last_end: np.ndarray
    clock: np.ndarray  # [arrival clock (s)]
    waits: np.ndarray  # [waits of the arrival process]
    slot_rank: np.ndarray
    ranked: np.ndarray  # [jobs started so far]

    @staticmethod
    def fresh(n_workers: int, n_gpus: int, n_services: int) -> "FifoState":
        w = max(n_workers, 1)
        return FifoState(np.full(w, -np.inf), np.full(w, -1, np.int64), np.full(n_gpus * n_services, -np.inf),
                         np.zeros(1), np.zeros(1, np.int64), np.full(w, -1, np.int64), np.zeros(1, np.int64))

    def copy(self) -> "FifoState":
        return FifoState(*(x.copy() for x in self))


class Released(NamedTuple):
    """Groups released after the last arrival a block could take (``_fifo_from``'s heap):
    per group, its release time (s), group index, and its releasing end's job start (s),
    rank and pool (-1 where two ends in different pools could release it: see
    ``_fifo_from``)."""

    times: np.ndarray
    groups: np.ndarray
    starts: np.ndarray
    ranks: np.ndarray
    pools: np.ndarray

    @staticmethod
    def none() -> "Released":
        return Released(np.empty(0), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))

    def take(self, idx: np.ndarray) -> "Released":
        return Released(*(x[idx] for x in self))


def _fifo(a):
    """``_fifo_from`` on a whole replication (fresh state, no block after it): its timings,
    with SimPy's event count, and ``ok`` False at a tie."""
    n_workers = a.worker_pool.shape[0]
    n_gpus = int(a.worker_gpu.max()) + 1 if n_workers else 1
    st = FifoState.fresh(n_workers, n_gpus, a.n_services)
    ready, start, end, cold, service_s, energy, file_end, gpu, status, *_ = _fifo_from(a, st, np.inf, *Released.none())
    events = n_workers + 1 + int(st.waits[0]) + 1 + 3 * a.time_s.shape[0]
    return ready, start, end, cold, service_s, energy, file_end, gpu, np.int64(events), status == DONE


@njit(cache=True, inline="always")
def _before(ht, hs, hk, i, t, s, k):
    """Whether heap entry ``i`` goes before (t, s, k): by release time, then start, then rank."""
    if ht[i] != t:
        return ht[i] < t
    if hs[i] != s:
        return hs[i] < s
    return hk[i] < k


@njit(cache=True, inline="always")
def _hpush(ht, hs, hk, hp, hg, size, t, s, k, p, g):
    """Push group ``g`` released at ``t`` by an end whose job started at ``s``, ranked
    ``k``, in pool ``p``, on the heap of ``size`` entries, ordered by (t, s, k)."""
    i = _ix(size)
    while i > 0:
        parent = _ix((i - 1) >> 1)
        if _before(ht, hs, hk, parent, t, s, k):
            break
        ht[i], hs[i], hk[i], hp[i], hg[i] = ht[parent], hs[parent], hk[parent], hp[parent], hg[parent]
        i = parent
    ht[i], hs[i], hk[i], hp[i], hg[i] = t, s, k, p, g


@njit(cache=True, inline="always")
def _hrefill(ht, hs, hk, hp, hg, size):
    """After the root of a heap of ``size + 1`` entries was taken: its last entry, at
    ``size``, into the root's place, sifted down."""
    t, s, k, p, g = ht[size], hs[size], hk[size], hp[size], hg[size]
    i = 0
    while True:
        c = _ix(2 * i + 1)
        if c >= size:
            break
        r = _ix(c + 1)
        if r < size and _before(ht, hs, hk, r, ht[c], hs[c], hk[c]):
            c = r
        if not _before(ht, hs, hk, c, t, s, k):
            break
        ht[i], hs[i], hk[i], hp[i], hg[i] = ht[c], hs[c], hk[c], hp[c], hg[c]
        i = c
    ht[i], hs[i], hk[i], hp[i], hg[i] = t, s, k, p, g


@njit(cache=True, error_model="numpy")
def _fifo_from(a, st, t_next, init_t, init_g, init_s, init_k, init_p):
    """The event loop's timings for always-on pools, without an event list (status
    ``DONE``; ``TIED`` at a tie it cannot settle: the event loop then runs), going on from
    the state ``st`` (a ``FifoState``, its arrays changed in place) with a block of files
    whose next block's first arrival is at ``t_next`` (s; inf for the last block).

    The block's groups are taken in order of release, as they would be with the next
    block's after them, beginning with the groups carried from the block before (a
    ``Released``'s columns ``init_*``, put in the heap); where some are released only
    after ``t_next`` (status ``PENDING``), the run stops there and returns them (a
    ``Released``'s columns), for the next block to take on.

    With every pool always on, a pool is a FIFO queue of jobs in front of slots that take
    the next job as soon as they are free, the one free longest first (SimPy's get queue).
    So the groups can be taken in order of release, each job going to its pool's slot free
    earliest, starting when both are ready: no job's end is an event of its own, which is
    half of the event loop's events. Groups are released by the arrivals (with the arrival
    process's arithmetic) and by a heap of groups whose previous group has ended, each
    when its last job ends; starts never decrease, so a slot's earlier jobs have ended and
    its last one is the only one that can still run.

    Ties are settled in SimPy's order. Ends at the same time are processed in the order
    their timeouts were made, which is the order their jobs started (every start at an
    instant comes after every end due then, and the arrival process's step). Within a
    pool that is the order its jobs were taken (its queue and its waiting slots are both
    FIFO), the *rank* counted here; across pools, jobs that started at the same instant
    are not ordered by it. So:

    - two slots free at the same time: the one whose last job ranks first was waiting
      first (never-used slots wait in registration order, as at t = 0);
    - two groups released at the same time: in the order of their releasing ends (start,
      then rank; the releasing end is a group's last by that order); two ends that
      started together in different pools cannot be ordered this way: a tie;
    - a group released as a file arrives: the arrival process's timeout was made when it
      last woke (its clock), so the group goes first if its releasing end's job started
      before that, else after the arrival (and those due with it);
    - a job that ends as it starts: a tie.

    Model residency is decided as the event loop decides it, from the jobs of the service
    running on the GPU at the start and the last end of one; a job of it ending at that
    very instant leaves it warm either way. The GPU's slots are looked at only when the
    ends recorded so far (those of jobs whose slot has moved on) leave the model possibly
    cold: with a keep-alive longer than the gaps between jobs, almost never.

    Events are counted as the event loop counts them: each slot's start, the arrival
    process's start, waits and end, and a put, a get and an end per job.
    """
    time_s, energy_j, service, pool_of_job = a.time_s, a.energy_j, a.service, a.pool_of_job
    group_first_job, group_next, group_file, n_files = a.group_first_job, a.group_next, a.group_file, a.n_files
    arr_groups, arr_times, worker_pool, worker_gpu = a.arr_groups, a.arr_times, a.worker_pool, a.worker_gpu
    keep_alive_s, load_time_s, load_energy_j = a.keep_alive_s, a.load_time_s, a.load_energy_j
    n_services, n_pools = a.n_services, a.n_pools
    free_t, slot_service, last_end, clock, waits = st.free_t, st.slot_service, st.last_end, st.clock, st.waits
    slot_rank = st.slot_rank
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
    # last job, -1 once recorded; slot_rank: that job's rank; last_end: per (GPU, service),
    # the last end recorded
    # heap of released groups (release time, releasing end's start, rank and pool, group:
    # see ``_hpush``): each group enters it at most once, so it is never full (an array
    # rebound inside the loop, to grow it, would cost reference counts on every iteration)
    n_groups = group_first_job.shape[0] - 1
    ht = np.empty(max(n_groups, 1))
    hs = np.empty(max(n_groups, 1))
    hk = np.empty(max(n_groups, 1), np.int64)
    hp = np.empty(max(n_groups, 1), np.int64)
    hg = np.empty(max(n_groups, 1), np.int64)
    hsize = 0
    for i in range(init_t.shape[0]):  # groups carried from the block before, released when its last job ends
        _hpush(ht, hs, hk, hp, hg, hsize, init_t[i], init_s[i], init_k[i], init_p[i], init_g[i])
        hsize += 1
    n_arr = arr_groups.shape[0]
    arr_i = 0
    arr_now = clock[0]  # the arrival process's clock
    n_waits = waits[0]
    rank = st.ranked[0]
    tied = (ready, start, end, cold, service_s, energy, file_end, gpu, TIED, ht[:0], hg[:0], hs[:0], hk[:0], hp[:0])
    while True:
        # the next group: the heap's root or the next arrival, whichever is released first
        # (after the block's arrivals, the next block's first)
        t = arr_times[arr_i] if arr_i < n_arr else t_next
        if t == np.inf:
            t_arr = np.inf
        else:
            t_arr = arr_now + (t - arr_now) if t > arr_now else arr_now
        # at the same time, the root goes first if its releasing end's job started before
        # the arrival process's timeout was made (when it last woke); arrivals due with the
        # last one come in its step, before the root
        if hsize > 0 and (ht[0] < t_arr or (ht[0] == t_arr and t_arr > arr_now and hs[0] < arr_now)):
            now = ht[0]
            first_s, first_p = hs[0], hp[0]
            gr = _ix(hg[0])
            hsize -= 1
            if hsize > 0:
                _hrefill(ht, hs, hk, hp, hg, hsize)
                if ht[0] == now and hs[0] == first_s and (first_p < 0 or hp[0] != first_p):
                    return tied  # released by ends in different pools whose jobs started together
        elif arr_i < n_arr:
            if t_arr > arr_now:
                n_waits += 1
                arr_now = t_arr
            now = t_arr
            gr = _ix(arr_groups[arr_i])
            arr_i += 1
        else:  # (groups left in the heap are released after the next block's first arrival)
            break
        done = -np.inf  # when the group's last job ends; its releasing end's start, rank and pool
        d_s = -np.inf
        d_k = np.int64(-1)
        d_p = np.int64(-1)
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
            if tie and best != -np.inf:  # of those free together, the one whose last job ranks first (rare)
                for u in range(w + 1, pool_lo[p + 1]):
                    if free_t[u] == best and slot_rank[u] < slot_rank[w]:
                        w = u
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
            slot_rank[w] = rank
            # the last of the ends at ``done`` releases the group: the latest start (a group's
            # jobs in a pool are ranked one after another, so any of them ranks it there)
            if e > done:
                done, d_s, d_k, d_p = e, at, rank, p
            elif e == done and at > d_s:
                d_s, d_k, d_p = at, rank, p
            elif e == done and at == d_s and p != d_p:  # started together in another pool: which ends last is not known
                d_p = -1
            rank += 1
        nxt = group_next[gr]
        if nxt >= 0:  # the file's next group is released when this one's last job ends
            _hpush(ht, hs, hk, hp, hg, hsize, done, d_s, d_k, d_p, nxt)
            hsize += 1
        else:
            file_end[_ix(group_file[gr])] = done
    _job_totals(start, end, cold, energy_j, service, load_energy_j, service_s, energy)
    clock[0] = arr_now
    waits[0] = n_waits
    st.ranked[0] = rank
    status = PENDING if hsize > 0 else DONE  # (groups released after the next block's first arrival)
    return (ready, start, end, cold, service_s, energy, file_end, gpu, status, ht[:hsize], hg[:hsize], hs[:hsize],
            hk[:hsize], hp[:hsize])
