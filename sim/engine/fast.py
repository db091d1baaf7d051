"""The fast engine: the SimPy model's queueing and accounting, compiled with numba.

It consumes the same ``ReplicationInputs`` as the SimPy engine and returns the same
``Timings``, job by job. To get the same numbers it follows SimPy's own event order rather
than an idealised queue, because order decides outcomes at equal times (which of two jobs
of a service that start together on one GPU pays the cold load, which idle slot takes a
released job):

- SimPy processes events by (time, priority, creation order). Every event here is created
  either for a later time (a service end, the wait of a scheduled pool until it switches
  on: kept in a small binary heap keyed by (time, creation counter); the next file
  arrival, of which there is at most one, beside it with its own time and counter) or for
  the current time (the put and get events of the pools' ``Store``:
  kept in a FIFO). An event for a later time was created before any event created at the
  time it fires, so at each instant the heap's events due now go first, then the FIFO.
  A timeout whose end rounds to the current time joins the FIFO, as in SimPy.
- ``Store`` semantics: a put appends the job to the pool's queue at once and schedules a
  put event; a processed put event, and every new get, serves at most the head of the
  pool's waiting slots (SimPy's ``_trigger_get`` stops after one). Slots are registered
  pool -> GPU -> slot, so at t = 0 they wait in that order; the arrival process starts
  after them.
- Consecutive put events of one pool (a released group's jobs) are queued as one entry
  (pool, count) and processed back to back, as SimPy does, since nothing can come between.
- A *quiet* step is one after which nothing else is due now (the usual case: a service
  end or an arrival at an instant of its own). SimPy then processes the put events that
  step queued, then the get events they triggered, in order; the engine does the same
  within the step, without the round trips of those events through the FIFO (the events
  are still counted).
- Times are computed with SimPy's arithmetic (``now + delay`` where ``delay = t - now``),
  so floating-point results are identical, not just close.

Ties are therefore resolved as SimPy resolves them, deterministically: at t = 0 the slots
wait in registration order, so the first released job goes to slot 0 of GPU 0; at the
hour a scheduled pool switches on, the slots that took jobs while it was off start them in
the order they took them (the first job of a service on a GPU pays the cold load, the
others find it loading and start warm); jobs released together queue in (file, stage,
target) order and go to the slots that have waited longest.

Where every pool is always on and nothing ties, SimPy's order settles nothing: the queue
is then a FIFO recursion over the groups in order of release (``_fifo``), which gives the
same timings without an event per job's end, 40% faster on the default scenario. It runs
first there, and stops at the first tie, for the event loop to run instead.

The engine supports the provisioning policies in ``SUPPORTED_POLICIES``; ``unsupported``
says why a scenario needs the SimPy engine instead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.kernels.compiled import njit
from sim.kernels.indices import ix as _ix

from .provisioning import WEEK_H
from .types import Timings

SUPPORTED_POLICIES = frozenset({"always_on", "scheduled"})
HOUR_S = 3600.0

# Event kinds
_PUT, _GET, _WAKE, _END, _ARR = 0, 1, 2, 3, 4


def unsupported(scenario) -> list[str]:
    """Reasons the fast engine cannot run ``scenario`` (empty when it can)."""
    reasons = []
    for name, pool in scenario.pools.items():
        policy = pool.provisioning.policy
        if policy not in SUPPORTED_POLICIES:
            reasons.append(f"pool `{name}` uses provisioning policy `{policy}`")
    return reasons


# -- compiled core ----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _hour(t):
    """``int(t // 3600)`` as Python computes it for t >= 0: the exact floor of t / 3600.

    Dividing first can round up onto the next whole hour just below it; one check fixes
    that, and avoids the ``fmod`` call of floor division.
    """
    h = np.floor(t / HOUR_S)
    if h * HOUR_S > t:
        h -= 1.0
    return np.int64(h)


@njit(cache=True, inline="always")
def _pack(kind, a, b):
    """One event in one int64: kind (3 bits), slot or pool (21 bits), number of puts (39 bits)."""
    return (b << 24) | (a << 3) | kind


@njit(cache=True, inline="always")
def _push(ht, hk, size, t, key):
    """Push the timeout (t, key) on the heap of ``size`` entries (times ``ht``, keys ``hk``)
    and sift it up: the heap orders by time, then key (the event loop's creation counter
    first; the FIFO recursion's group)."""
    i = _ix(size)
    while i > 0:
        parent = _ix((i - 1) >> 1)
        if ht[parent] < t or (ht[parent] == t and hk[parent] < key):
            break
        ht[i], hk[i] = ht[parent], hk[parent]
        i = parent
    ht[i], hk[i] = t, key


@njit(cache=True, inline="always")
def _refill_root(ht, hk, size):
    """After the root of a heap of ``size + 1`` entries (see ``_push``) was taken: move its
    last entry, at ``size``, into the root's place and sift it down."""
    t, key = ht[size], hk[size]
    i = 0
    while True:
        c = _ix(2 * i + 1)
        if c >= size:
            break
        r = _ix(c + 1)
        if r < size and (ht[r] < ht[c] or (ht[r] == ht[c] and hk[r] < hk[c])):
            c = r
        if t < ht[c] or (t == ht[c] and key < hk[c]):
            break
        ht[i], hk[i] = ht[c], hk[c]
        i = c
    ht[i], hk[i] = t, key


@njit(cache=True)
def _first_groups(group_file, file_arrival_s):
    """Each file's first group and its arrival time (s), in group order."""
    n_groups = group_file.shape[0]
    groups = np.empty(n_groups, dtype=np.int64)
    times = np.empty(n_groups)
    n = 0
    for gr in range(n_groups):  # compact the first groups without a branch (files have few groups each)
        groups[n] = gr
        times[n] = file_arrival_s[group_file[gr]]
        n += (gr == 0) | (group_file[gr] != group_file[gr - 1])
    return groups[:n].copy(), times[:n].copy()


@njit(cache=True, inline="always")
def _timing_arrays(n, n_files):
    """What the kernels return, allocated: per job, ready, start, end, service time (s),
    energy (J) and cold; per file, when its last job ended (NaN until then)."""
    return np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.zeros(n, dtype=np.bool_), np.full(n_files, np.nan)


@njit(cache=True, error_model="numpy")
def _simulate(
    time_s, energy_j, service, pool_of_job, group_of_job, group_first_job, group_next, group_file, n_files,
    arr_groups, arr_times, worker_pool, worker_gpu, pool_always, pool_offset_h, pool_on, pool_wait_h,
    pool_starts_cum, keep_alive_s, load_time_s, load_energy_j, n_services, n_pools, fifo_size,
):
    """One replication's event loop; ``ok`` is False when ``fifo_size`` was too small (run again, larger).

    Indices are read from unsigned arrays (the caller views narrow index columns as
    unsigned) or through ``_ix``: numba wraps negative indices around, as NumPy does, with
    a compare and a select at every signed index; an index known to be >= 0 skips that,
    which matters in a loop of a few dozen array accesses per event.
    """
    n = time_s.shape[0]
    n_workers = worker_pool.shape[0]
    # every job is released, started and ended before the loop runs out of events
    ready, start, end, service_s, energy, cold, file_end = _timing_arrays(n, n_files)
    n_groups = group_first_job.shape[0] - 1
    group_left = np.empty(n_groups, dtype=np.uint32)
    max_group = 1
    for gr in range(n_groups):
        size = np.int64(group_first_job[gr + 1]) - np.int64(group_first_job[gr])
        group_left[gr] = size
        max_group = max(max_group, size)

    # Per-pool FIFO of jobs: each job enters once, so a segment per pool never wraps.
    it_off = np.zeros(n_pools + 1, dtype=np.uint32)
    if n_pools == 1:
        it_off[1] = n
    else:
        for j in range(n):
            it_off[pool_of_job[j] + 1] += 1
        for p in range(n_pools):
            it_off[p + 1] += it_off[p]
    items = np.empty(max(n, 1), dtype=np.uint32)
    it_head = it_off[:-1].copy()
    it_tail = it_off[:-1].copy()
    # Per-pool FIFO of waiting slots (SimPy's get_queue) as a linked list: a slot waits at most
    # once; ``nil`` (n_workers) ends it.
    nil = np.uint32(n_workers)
    gq_first = np.full(n_pools, nil, dtype=np.uint32)
    gq_last = np.full(n_pools, nil, dtype=np.uint32)
    gq_next = np.full(n_workers + 1, nil, dtype=np.uint32)

    # Model residency per (GPU, service), flat: entry w_gs[w] + s for slot w's GPU
    w_gs = np.empty(max(n_workers, 1), dtype=np.uint32)
    n_gpus = 1
    for w in range(n_workers):
        w_gs[w] = worker_gpu[w] * n_services
        n_gpus = max(n_gpus, worker_gpu[w] + 1)
    inflight = np.zeros(n_gpus * n_services, dtype=np.int64)
    last_period = np.full(n_gpus * n_services, -1, dtype=np.int64)
    last_end = np.zeros(n_gpus * n_services)
    w_job = np.zeros(max(n_workers, 1), dtype=np.uint32)  # the job a slot took
    w_period = np.zeros(max(n_workers, 1), dtype=np.int64)

    # Events due now: a ring (power-of-two size) of packed events. It is never reallocated
    # inside the loop (a rebound array costs reference counting on every iteration): if
    # a release could overflow it, the run stops and the caller runs it again, larger.
    # Besides the puts, it holds at most a get and a timeout per slot and the arrivals' step.
    fq = np.empty(fifo_size, dtype=np.int64)
    mask = np.uint32(fifo_size - 1)
    room = fifo_size - 2 * n_workers - 2
    f_head = 0
    f_tail = 0  # counters; the slot is counter & mask
    # Events due later: a binary heap of timeouts on (time, key), key = creation counter << 24
    # | owner << 3 | kind: the counter orders timeouts due at the same time, as SimPy's event
    # ids do. Each slot, and the arrival process (owner n_workers), waits on at most one.
    hcap = n_workers + 2
    ht = np.empty(hcap)
    hk = np.empty(hcap, dtype=np.int64)
    hsize = 0
    seq = 0

    now = 0.0
    events = n_workers  # SimPy's Initialize events of the slots; the arrival process's is the first event below
    for w in range(n_workers):  # every slot asks its pool for a job, in registration order
        p = worker_pool[w]
        if gq_last[p] != nil:
            gq_next[gq_last[p]] = w
        else:
            gq_first[p] = w
        gq_last[p] = w
    fq[0] = _pack(_ARR, n_workers, 0)  # the arrival process's first step, at t = 0 after the slots
    f_tail = 1

    # Helpers that take arrays are inlined by numba (``inline="always"``, as ``_push``) or written
    # out here: an ordinary call passing arrays costs atomic reference counts.
    n_arr = arr_groups.shape[0]
    arr_i = 0
    resume_arrival = False  # the arrival process was woken by its timeout
    todo = np.empty(n_workers + 1, dtype=np.uint32)  # slots that start their job in this step
    any_scheduled = not pool_always.all()
    arr_pending = False  # the arrival process waits on its timeout (arr_t, arr_key)
    arr_t = 0.0
    arr_key = np.int64(0)
    while True:
        # The next event: a timeout due now goes first (it was created before any event due now).
        # ``quiet``: nothing else is due now, so whatever this step queues is processed next,
        # in queue order (see the serve phase below).
        # The arrival process's timeout is kept apart from the heap (it has at most one): the
        # next timeout is the earlier of the heap's root and it, by (time, key).
        arr_first = arr_pending and (hsize == 0 or arr_t < ht[0] or (arr_t == ht[0] and arr_key < hk[0]))
        if f_head == f_tail or (hsize > 0 and ht[0] == now) or (arr_pending and arr_t == now):
            if hsize == 0 and not arr_pending:
                break
            if arr_first:
                now = arr_t
                code = arr_key
                arr_pending = False
                quiet = f_head == f_tail and not (hsize > 0 and ht[0] == now)
            else:
                now = ht[0]
                code = hk[0]
                hsize = _ix(hsize - 1)
                _refill_root(ht, hk, hsize)
                quiet = f_head == f_tail and not ((hsize > 0 and ht[0] == now) or (arr_pending and arr_t == now))
        else:
            code = fq[f_head & mask]
            f_head += 1
            quiet = f_head == f_tail
        events += 1
        kind = code & 7
        a = (code >> 3) & 0x1FFFFF  # a slot, or a pool for puts
        b = code >> 24  # how many puts

        new_t = -1.0  # a timeout to schedule for owner a: (new_t, new_kind)
        new_kind = -1
        serve_pool = -1  # a pool whose head waiting slots may take jobs: at most serve_max
        serve_max = 1
        rel_group = -1  # a group to release now
        n_todo = 0
        if kind == _PUT:  # b put events of pool a: each lets the head waiting slot take a job
            events += b - 1
            serve_pool = a
            serve_max = b
        elif kind == _GET or kind == _WAKE:  # slot a got its job (or its pool switched on): see the start phase
            todo[0] = a
            n_todo = 1
        elif kind == _END:
            w = a
            j = np.int64(w_job[w])
            p = np.int64(worker_pool[w])
            k = _ix(np.int64(w_gs[w]) + _ix(service[j]))
            end[j] = now
            inflight[k] -= 1
            period = w_period[w]
            lp = last_period[k]
            if lp < 0 or lp != period or last_end[k] < now:
                last_period[k] = period
                last_end[k] = now
            gr = _ix(group_of_job[j])
            group_left[gr] -= 1
            if group_left[gr] == 0:
                if group_next[gr] >= 0:
                    rel_group = _ix(group_next[gr])
                else:
                    file_end[_ix(group_file[gr])] = now
            # the slot asks for its next job: it joins the waiting slots, and the head may take a
            # job once the release below has put the next group's jobs in the queues
            if gq_last[p] != nil:
                gq_next[gq_last[p]] = w
            else:
                gq_first[p] = w
            gq_last[p] = w
            gq_next[w] = nil
            serve_pool = p
        else:  # _ARR: the arrival process releases the first groups that are due (see below)
            if resume_arrival:  # woken by its timeout: the group it waited for goes first
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1
                resume_arrival = False
            elif arr_i < n_arr and not arr_times[arr_i] > now:
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1

        while rel_group >= 0:  # put the group's jobs in their pools' queues, one put event each
            if f_tail - f_head + max_group > room:
                return ready, start, end, cold, service_s, energy, file_end, events, False
            # consecutive puts of one pool are queued as one entry (pool, count): nothing can
            # come between them, so processing them back to back is what SimPy does
            # (the run's queue tail is kept in a local, not read back from memory after each put)
            run_pool = -1
            run_len = 0
            tail = np.int64(0)
            for jj in range(_ix(group_first_job[rel_group]), _ix(group_first_job[rel_group + 1])):
                jj = _ix(jj)
                ready[jj] = now
                pp = _ix(pool_of_job[jj])
                if pp != run_pool:
                    if run_len > 0:
                        it_tail[run_pool] = tail
                        fq[f_tail & mask] = _pack(_PUT, run_pool, run_len)
                        f_tail += 1
                        run_len = 0
                    run_pool = pp
                    tail = np.int64(it_tail[pp])
                items[_ix(tail)] = jj
                tail += 1
                run_len += 1
            if run_len > 0:
                it_tail[run_pool] = tail
                fq[f_tail & mask] = _pack(_PUT, run_pool, run_len)
                f_tail += 1
            rel_group = -1
            # the arrival process goes on without waiting while its next group is due
            if kind == _ARR and arr_i < n_arr and not arr_times[arr_i] > now:
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1
        if kind == _ARR:  # it waits for its next group, or ends
            if arr_i < n_arr:
                t = arr_times[arr_i]
                new_t, new_kind = now + (t - now), _ARR
                resume_arrival = True
            if arr_i == n_arr:
                events += 1  # the arrival process ends: SimPy processes its exit event

        # Serve phase: waiting slots take jobs, each with a get event. Usually these are queued
        # and processed as events of their own. In a quiet step, though, nothing else is due
        # now: SimPy processes the puts this step queued, then the gets in the order they were
        # made, then whatever these queue. So the puts are processed here, and the slots that
        # took jobs start them below, in order, without the round trips through the queue.
        while True:
            if serve_pool >= 0:
                p = serve_pool
                head, tail, first = np.int64(it_head[p]), np.int64(it_tail[p]), np.int64(gq_first[p])
                for _ in range(serve_max):
                    w = first
                    if w == nil or head == tail:
                        break
                    first = np.int64(gq_next[w])
                    w_job[w] = items[_ix(head)]
                    head += 1
                    if quiet:
                        todo[_ix(n_todo)] = w
                        n_todo += 1
                    else:
                        fq[f_tail & mask] = _pack(_GET, w, 0)
                        f_tail += 1
                it_head[p] = head
                gq_first[p] = first
                if first == nil:
                    gq_last[p] = nil
            if not quiet or f_head == f_tail:
                break
            code = fq[f_head & mask]  # a put this step queued (nothing else is in the queue yet)
            f_head += 1
            serve_pool = (code >> 3) & 0x1FFFFF
            serve_max = code >> 24
            events += serve_max

        if new_kind >= 0:  # the arrival process's timeout
            if new_t == now:  # a timeout ending now is processed after the events already due now
                fq[f_tail & mask] = _pack(new_kind, a, 0)
                f_tail += 1
            else:
                arr_t, arr_key = new_t, (seq << 24) | (a << 3) | new_kind
                arr_pending = True
                seq += 1

        # Start phase: the get events of the slots in ``todo``, in order: this step's get (or
        # wake-up), or the gets of a quiet step. If that step queued a timeout ending now,
        # SimPy processes it before those gets: they are queued behind it instead.
        served = kind != _GET and kind != _WAKE  # the slots took their jobs in this step
        if served and f_head != f_tail:
            for ti in range(n_todo):
                fq[f_tail & mask] = _pack(_GET, np.int64(todo[ti]), 0)
                f_tail += 1
            n_todo = 0
        check_on = kind != _WAKE and any_scheduled  # a get finds its pool off: the slot waits until it is on
        h = _hour(now) if n_todo > 0 and any_scheduled else 0  # (here: the compiler would hoist it anyway)
        for ti in range(n_todo):
            w = np.int64(todo[ti])
            events += served  # their get events, processed here
            p = np.int64(worker_pool[w])
            t_kind = _END
            t_new = now
            if check_on and not pool_always[p]:
                hw = (pool_offset_h[p] + h) % WEEK_H
                if not pool_on[p, hw]:
                    wait = pool_wait_h[p, hw]
                    nxt = now if wait == 0 else float(h + wait) * HOUR_S
                    t_kind = _WAKE
                    t_new = now + (nxt - now)
            if t_kind == _END:  # the slot starts its job now
                j = np.int64(w_job[w])
                s = _ix(service[j])
                k = _ix(np.int64(w_gs[w]) + s)
                period = 0
                if not pool_always[p]:
                    hh = pool_offset_h[p] + h
                    week = hh // WEEK_H
                    period = week * pool_starts_cum[p, WEEK_H] + pool_starts_cum[p, hh - week * WEEK_H + 1]
                busy = inflight[k]
                dur = time_s[j]
                if busy == 0:
                    lp = last_period[k]
                    if lp < 0 or lp != period or now - last_end[k] > keep_alive_s[s]:
                        cold[j] = True
                        dur += load_time_s[s]
                inflight[k] = busy + 1
                start[j] = now
                w_period[w] = period
                t_new = now + dur
            if t_new == now:  # a timeout ending now is processed after the events already due now
                fq[f_tail & mask] = _pack(t_kind, w, 0)
                f_tail += 1
            else:
                _push(ht, hk, hsize, t_new, (seq << 24) | (w << 3) | t_kind)
                seq += 1
                hsize += 1
    _job_totals(start, end, cold, energy_j, service, load_energy_j, service_s, energy)
    return ready, start, end, cold, service_s, energy, file_end, events, True


@njit(cache=True, inline="always")
def _job_totals(start, end, cold, energy_j, service, load_energy_j, service_s, energy):
    """Per job, in order (sequential, vectorised): SimPy's end - start, and energy plus the
    model's load where the job loaded it."""
    for j in range(start.shape[0]):
        service_s[j] = end[j] - start[j]
        energy[j] = energy_j[j] + (load_energy_j[np.int64(service[j])] if cold[j] else 0.0)


@njit(cache=True, error_model="numpy")
def _fifo(
    time_s, energy_j, service, pool_of_job, group_first_job, group_next, group_file, n_files, arr_groups, arr_times,
    worker_pool, worker_gpu, keep_alive_s, load_time_s, load_energy_j, n_services, n_pools,
):
    """The event loop's timings for always-on pools, without an event list, when nothing
    ties; ``ok`` is False at the first tie (the event loop then runs).

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
    n = time_s.shape[0]
    n_workers = worker_pool.shape[0]
    ready, start, end, service_s, energy, cold, file_end = _timing_arrays(n, n_files)
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
    free_t = np.full(max(n_workers, 1), -np.inf)  # when each slot is free (-inf: never used)
    slot_service = np.full(max(n_workers, 1), -1, np.int64)  # the service of its last job, -1 once recorded
    last_end = np.full(n_gpus * n_services, -np.inf)  # per (GPU, service): the last end recorded
    # heap of released groups (release time, group: see ``_push``): each group enters it at
    # most once, so it is never full (an array rebound inside the loop, to grow it, would
    # cost reference counts on every iteration: a sixth of the time)
    n_groups = group_first_job.shape[0] - 1
    ht = np.empty(max(n_groups, 1))
    hg = np.empty(max(n_groups, 1), np.int64)
    hsize = 0
    n_arr = arr_groups.shape[0]
    arr_i = 0
    arr_now = 0.0  # the arrival process's clock
    waits = 0
    tied = (ready, start, end, cold, service_s, energy, file_end, np.int64(0), False)
    while True:
        # the next group: the heap's root or the next arrival, whichever is released first
        if arr_i < n_arr:
            t = arr_times[arr_i]
            t_arr = arr_now + (t - arr_now) if t > arr_now else arr_now
        else:
            t_arr = np.inf
        if hsize > 0 and ht[0] <= t_arr:
            if ht[0] == t_arr:
                return tied
            now = ht[0]
            gr = _ix(hg[0])
            hsize -= 1
            if hsize > 0:
                _refill_root(ht, hg, hsize)
                if ht[0] == now:
                    return tied
        elif arr_i < n_arr:
            if t_arr > arr_now:
                waits += 1
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
    events = n_workers + 1 + waits + 1 + 3 * n
    return ready, start, end, cold, service_s, energy, file_end, np.int64(events), True


# -- Python side -----------------------------------------------------------------------------


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


class _Args(NamedTuple):
    """The kernels' arguments: ``_simulate`` takes them all (and its ring's size), ``_fifo``
    those of ``fifo_args``."""

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

    def fifo_args(self) -> tuple:
        return (self.time_s, self.energy_j, self.service, self.pool_of_job, self.group_first_job, self.group_next,
                self.group_file, self.n_files, self.arr_groups, self.arr_times, self.worker_pool, self.worker_gpu,
                self.keep_alive_s, self.load_time_s, self.load_energy_j, self.n_services, self.n_pools)


def _kernel_args(jobs, file_arrival_s: np.ndarray, pools, services) -> _Args:
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
    return _Args(
        np.ascontiguousarray(jobs.time_s, dtype=float), np.ascontiguousarray(jobs.energy_j, dtype=float),
        _unsigned(jobs.service), _unsigned(jobs.pool), _unsigned(jobs.group), _unsigned(jobs.group_first_job),
        _ints(jobs.group_next), _unsigned(gfile), len(arrival), arr_groups, arr_times,
        np.asarray(worker_pool, dtype=np.uint32), np.asarray(worker_gpu, dtype=np.uint32),
        always, offset, on, wait, starts_cum, keep, load_t, load_e, max(len(services), 1), max(len(pools), 1),
    )


def _event_loop(args: _Args) -> tuple:
    """``_simulate``'s results, its ring of events due now made large enough."""
    fifo = 1024
    while fifo < 8 * (len(args.worker_pool) + 2):
        fifo *= 2
    while True:
        out = _simulate(*args, fifo)
        if out[-1]:
            return out
        fifo *= 4  # more events fell due at one instant than the ring holds: run again, larger


def simulate_fast(jobs, file_arrival_s: np.ndarray, pools, services) -> Timings:
    """Run the compiled engine on pre-sampled jobs; same contract as ``model.simulate``.

    Where every pool is always on, the FIFO recursion (``_fifo``) runs first, and the
    event loop only if it met a tie; both give SimPy's timings.
    """
    if any(p.autoscale is not None for p in pools):
        raise ValueError("the fast engine does not autoscale pools; use the SimPy engine (--engine simpy or auto)")
    args = _kernel_args(jobs, file_arrival_s, pools, services)
    out = _fifo(*args.fifo_args()) if args.pool_always.all() else None
    if out is None or not out[-1]:
        out = _event_loop(args)
    return _timings(out)


def _timings(out: tuple) -> Timings:
    """A kernel's results (``_simulate``'s or ``_fifo``'s) as ``Timings``."""
    ready, start, end, cold, service_s, energy, file_end, events, _ = out
    return Timings(
        ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=service_s,
        energy_j=energy, file_end_s=file_end, events=int(events),
    )


def warm_up() -> None:
    """Compile the engine (or load it from numba's on-disk cache) on a two-job case."""
    from .provisioning import Schedule
    from .types import JobTable, PoolSpec, ServiceSpec

    one = np.zeros(2, dtype=np.int64)
    small = np.zeros(2, dtype=np.int16)  # service and pool indices come as int16 from ``build_jobs``
    jobs = JobTable(
        file=np.array([0, 0]), group=np.array([0, 1]), service=small, pool=small, language=one, content=one,
        target=np.full(2, -1), time_s=np.ones(2), energy_j=np.ones(2), audio_s=np.zeros(2), tokens_in=np.zeros(2),
        tokens_out=np.zeros(2), group_first_job=np.array([0, 1, 2]), group_next=np.array([1, -1]),
        group_file=np.array([0, 0]), services=("s",), pools=("p",),
    )
    mask = np.zeros(WEEK_H, dtype=bool)
    mask[9:17] = True
    for on in (mask, np.ones(WEEK_H, dtype=bool)):  # the event loop, then the FIFO recursion
        simulate_fast(jobs, np.array([1.0]), [PoolSpec(1, 1, Schedule(on, 0))], [ServiceSpec(None, 1.0, 1.0)])
