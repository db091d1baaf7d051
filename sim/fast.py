"""The fast engine: the SimPy model's queueing and accounting, compiled with numba.

It consumes the same ``ReplicationInputs`` as the SimPy engine and returns the same
``Timings``, job by job. To get the same numbers it follows SimPy's own event order rather
than an idealised queue, because order decides outcomes at equal times (which of two jobs
of a service that start together on one GPU pays the cold load, which idle slot takes a
released job):

- SimPy processes events by (time, priority, creation order). Every event here is created
  either for a later time (a service end, the wait of a scheduled pool until it switches
  on, the next file arrival: kept in a small binary heap keyed by (time, creation
  counter)) or for the current time (the put and get events of the pools' ``Store``:
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
- Times are computed with SimPy's arithmetic (``now + delay`` where ``delay = t - now``),
  so floating-point results are identical, not just close.

Ties are therefore resolved as SimPy resolves them, deterministically: at t = 0 the slots
wait in registration order, so the first released job goes to slot 0 of GPU 0; at the
hour a scheduled pool switches on, the slots that took jobs while it was off start them in
the order they took them (the first job of a service on a GPU pays the cold load, the
others find it loading and start warm); jobs released together queue in (file, stage,
target) order and go to the slots that have waited longest.

The engine supports the provisioning policies in ``SUPPORTED_POLICIES``; ``unsupported``
says why a scenario needs the SimPy engine instead.
"""

from __future__ import annotations

import numpy as np

from .model import Timings
from .provisioning import WEEK_H

try:  # numba is a core dependency; the guard keeps the SimPy engine usable without it
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - only on broken installs: ``auto`` then picks SimPy
    AVAILABLE = False

    def njit(**_options):  # type: ignore[no-redef]
        return lambda func: func


SUPPORTED_POLICIES = frozenset({"always_on", "scheduled"})
HOUR_S = 3600.0

# Event kinds
_PUT, _GET, _WAKE, _END, _ARR = 0, 1, 2, 3, 4


def unsupported(scenario) -> list[str]:
    """Reasons the fast engine cannot run ``scenario`` (empty when it can)."""
    reasons = []
    if not AVAILABLE:
        reasons.append("numba is not installed")
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
    """One event in one int64: kind (3 bits), slot or pool (21 bits), job (39 bits)."""
    return (b << 24) | (a << 3) | kind


@njit(cache=True)
def _stable_order(times):
    """``np.argsort(times, kind="stable")`` for non-negative finite times, by LSD radix sort.

    The IEEE bit patterns of non-negative doubles sort as the numbers do, and each pass
    keeps the order of equal digits, so ties keep their input order, as a stable sort does.
    """
    n = times.shape[0]
    keys = times.view(np.uint64)
    order = np.arange(n)
    other = np.empty(n, dtype=np.int64)
    count = np.empty(2049, dtype=np.int64)
    for shift in range(0, 64, 11):
        count[:] = 0
        for i in range(n):
            count[((keys[order[i]] >> np.uint64(shift)) & np.uint64(2047)) + 1] += 1
        if count.max() == n:  # every key has the same digit here: nothing to move
            continue
        for d in range(2048):
            count[d + 1] += count[d]
        for i in range(n):
            d = (keys[order[i]] >> np.uint64(shift)) & np.uint64(2047)
            other[count[d]] = order[i]
            count[d] += 1
        order, other = other, order
    return order


@njit(cache=True, error_model="numpy")
def _simulate(
    time_s, service, pool_of_job, group_of_job, group_first_job, group_next, group_file, n_files,
    arr_groups, arr_times, worker_pool, worker_gpu, pool_always, pool_offset_h, pool_on, pool_wait_h,
    pool_starts_cum, keep_alive_s, load_time_s, n_gpus, n_services, n_pools, fifo_size,
):
    """One replication's event loop; ``ok`` is False when ``fifo_size`` was too small (run again, larger)."""
    n = time_s.shape[0]
    n_workers = worker_pool.shape[0]
    # every job is released, started and ended before the loop runs out of events
    ready = np.empty(n)
    start = np.empty(n)
    end = np.empty(n)
    cold = np.zeros(n, dtype=np.bool_)
    file_end = np.empty(n_files)
    for f in range(n_files):
        file_end[f] = np.nan
    n_groups = group_first_job.shape[0] - 1
    group_left = np.empty(n_groups, dtype=np.int64)
    max_group = 1
    for gr in range(n_groups):
        group_left[gr] = group_first_job[gr + 1] - group_first_job[gr]
        max_group = max(max_group, group_left[gr])

    # Per-pool FIFO of jobs: each job enters once, so a segment per pool never wraps.
    it_off = np.zeros(n_pools + 1, dtype=np.int64)
    for j in range(n):
        it_off[pool_of_job[j] + 1] += 1
    for p in range(n_pools):
        it_off[p + 1] += it_off[p]
    items = np.empty(max(n, 1), dtype=np.int64)
    it_head = it_off[:-1].copy()
    it_tail = it_off[:-1].copy()
    # Per-pool FIFO of waiting slots (SimPy's get_queue) as a linked list: a slot waits at most once.
    gq_first = np.full(n_pools, -1, dtype=np.int64)
    gq_last = np.full(n_pools, -1, dtype=np.int64)
    gq_next = np.full(max(n_workers, 1), -1, dtype=np.int64)

    inflight = np.zeros((n_gpus, n_services), dtype=np.int64)
    last_period = np.full((n_gpus, n_services), -1, dtype=np.int64)
    last_end = np.zeros((n_gpus, n_services))
    w_period = np.zeros(n_workers, dtype=np.int64)

    # Events due now: a ring (power-of-two size) of packed events. It is never reallocated
    # inside the loop (a rebound array costs reference counting on every iteration): if
    # it would overflow, the run stops and the caller runs it again with a larger ring.
    fq = np.empty(fifo_size, dtype=np.int64)
    mask = fifo_size - 1
    ok = True
    f_head = 0
    f_tail = 0  # counters; the slot is counter & mask
    # Events due later: a binary heap on (time, creation counter); at most one per slot, plus the arrivals.
    hcap = n_workers + 2
    ht = np.empty(hcap)
    hs = np.empty(hcap, dtype=np.int64)
    hp = np.empty(hcap, dtype=np.int64)
    hsize = 0
    seq = 0

    now = 0.0
    events = n_workers + 1  # SimPy's Initialize events of the slots and of the arrivals
    for w in range(n_workers):  # every slot asks its pool for a job, in registration order
        p = worker_pool[w]
        if gq_last[p] >= 0:
            gq_next[gq_last[p]] = w
        else:
            gq_first[p] = w
        gq_last[p] = w

    # Helpers are written inline: passing arrays to functions costs atomic reference counts.
    n_arr = arr_groups.shape[0]
    arr_i = 0
    resume_arrival = False  # the arrival process was woken by its timeout
    kind = _ARR  # the arrival process's first step, at t = 0 after the slots
    a = 0
    b = 0
    while True:
        # room for what one step can queue: a group's puts or gets, a get, a timeout
        if f_tail - f_head + max_group + 2 > mask + 1:
            ok = False
            break
        if kind < 0:
            if hsize > 0 and ht[0] == now:  # pop the heap's root, sift the last entry down
                code = hp[0]
                hsize -= 1
                t, sq, pl = ht[hsize], hs[hsize], hp[hsize]
                i = 0
                while True:
                    c = 2 * i + 1
                    if c >= hsize:
                        break
                    r = c + 1
                    if r < hsize and (ht[r] < ht[c] or (ht[r] == ht[c] and hs[r] < hs[c])):
                        c = r
                    if t < ht[c] or (t == ht[c] and sq < hs[c]):
                        break
                    ht[i], hs[i], hp[i] = ht[c], hs[c], hp[c]
                    i = c
                ht[i], hs[i], hp[i] = t, sq, pl
            elif f_head != f_tail:
                code = fq[f_head & mask]
                f_head += 1
            elif hsize > 0:
                now = ht[0]
                continue
            else:
                break
            events += 1
            kind = code & 7
            a = (code >> 3) & 0x1FFFFF
            b = code >> 24

        new_t = -1.0  # a timeout to schedule: (new_t, new_code)
        new_code = -1
        serve_pool = -1  # a pool whose head waiting slot may take a job
        serve_max = 1
        rel_group = -1  # a group to release now
        next_kind = -1  # a step to take next without popping an event (the arrival process going on)
        if kind == _PUT:  # b put events of pool a: each lets the head waiting slot take a job
            events += b - 1
            serve_pool = a
            serve_max = b
        elif kind == _GET or kind == _WAKE:
            w, j = a, b
            p = worker_pool[w]
            if kind == _GET and not pool_always[p]:
                h = _hour(now)
                hw = (pool_offset_h[p] + h) % WEEK_H
                if not pool_on[p, hw]:
                    wait = pool_wait_h[p, hw]
                    nxt = now if wait == 0 else float(h + wait) * HOUR_S
                    new_t, new_code = now + (nxt - now), _pack(_WAKE, w, j)
            if new_code < 0:  # the slot starts job j now
                s = service[j]
                g = worker_gpu[w]
                period = 0
                if not pool_always[p]:
                    hh = pool_offset_h[p] + _hour(now)
                    week = hh // WEEK_H
                    period = week * pool_starts_cum[p, WEEK_H] + pool_starts_cum[p, hh - week * WEEK_H + 1]
                busy = inflight[g, s]
                dur = time_s[j]
                if busy == 0:
                    lp = last_period[g, s]
                    if lp < 0 or lp != period or now - last_end[g, s] > keep_alive_s[s]:
                        cold[j] = True
                        dur += load_time_s[s]
                inflight[g, s] = busy + 1
                start[j] = now
                w_period[w] = period
                new_t, new_code = now + dur, _pack(_END, w, j)
        elif kind == _END:
            w, j = a, b
            p = worker_pool[w]
            s = service[j]
            g = worker_gpu[w]
            end[j] = now
            inflight[g, s] -= 1
            period = w_period[w]
            lp = last_period[g, s]
            if lp < 0 or lp != period or last_end[g, s] < now:
                last_period[g, s] = period
                last_end[g, s] = now
            gr = group_of_job[j]
            group_left[gr] -= 1
            if group_left[gr] == 0:
                if group_next[gr] >= 0:
                    rel_group = group_next[gr]
                else:
                    file_end[group_file[gr]] = now
            # the slot asks for its next job: it joins the waiting slots, and the head may take a
            # job once the release below has put the next group's jobs in the queues
            if gq_last[p] >= 0:
                gq_next[gq_last[p]] = w
            else:
                gq_first[p] = w
            gq_last[p] = w
            gq_next[w] = -1
            serve_pool = p
        else:  # _ARR: the arrival process releases each first group that is due, one per step
            if resume_arrival:  # woken by its timeout: the group it waited for goes first
                rel_group = arr_groups[arr_i]
                arr_i += 1
                resume_arrival = False
            elif arr_i < n_arr and not arr_times[arr_i] > now:
                rel_group = arr_groups[arr_i]
                arr_i += 1
            if arr_i < n_arr:
                t = arr_times[arr_i]
                if t > now:
                    new_t, new_code = now + (t - now), _pack(_ARR, 0, 0)
                    resume_arrival = True
                else:
                    next_kind = _ARR
            else:
                events += 1  # the arrival process ends: SimPy processes its exit event
        kind = next_kind

        if rel_group >= 0:  # put the group's jobs in their pools' queues, one put event each
            # consecutive puts of one pool are queued as one entry (pool, count): nothing can
            # come between them, so processing them back to back is what SimPy does
            run_pool = -1
            run_len = 0
            for jj in range(group_first_job[rel_group], group_first_job[rel_group + 1]):
                ready[jj] = now
                pp = pool_of_job[jj]
                items[it_tail[pp]] = jj
                it_tail[pp] += 1
                if pp != run_pool and run_len > 0:
                    fq[f_tail & mask] = _pack(_PUT, run_pool, run_len)
                    f_tail += 1
                    run_len = 0
                run_pool = pp
                run_len += 1
            if run_len > 0:
                fq[f_tail & mask] = _pack(_PUT, run_pool, run_len)
                f_tail += 1
        if serve_pool >= 0:
            p = serve_pool
            for _ in range(serve_max):
                w = gq_first[p]
                if w < 0 or it_head[p] == it_tail[p]:
                    break
                gq_first[p] = gq_next[w]
                if gq_first[p] < 0:
                    gq_last[p] = -1
                fq[f_tail & mask] = _pack(_GET, w, items[it_head[p]])
                it_head[p] += 1
                f_tail += 1
        if new_code >= 0:
            if new_t == now:  # a timeout ending now is processed after the events already due now
                fq[f_tail & mask] = new_code
                f_tail += 1
            else:  # push on the heap, sift up
                i = hsize
                while i > 0:
                    parent = (i - 1) >> 1
                    if ht[parent] < new_t or (ht[parent] == new_t and hs[parent] < seq):
                        break
                    ht[i], hs[i], hp[i] = ht[parent], hs[parent], hp[parent]
                    i = parent
                ht[i], hs[i], hp[i] = new_t, seq, new_code
                hsize += 1
                seq += 1
    return ready, start, end, cold, file_end, events, ok


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
        idx = np.flatnonzero(sch.weekly_on)
        ahead = np.concatenate([idx, idx + WEEK_H])
        hours = np.arange(WEEK_H)
        wait[i] = ahead[np.searchsorted(ahead, hours)] - hours
        starts = sch.weekly_on & ~np.roll(sch.weekly_on, 1)
        starts_cum[i, 1:] = np.cumsum(starts)
    return always, offset, on, wait, starts_cum


def simulate_fast(jobs, file_arrival_s: np.ndarray, pools, services) -> Timings:
    """Run the compiled engine on pre-sampled jobs; same contract as ``model.simulate``."""
    gfile = np.asarray(jobs.group_file, dtype=np.int64)
    if len(gfile):
        first_groups = np.flatnonzero(np.r_[True, gfile[1:] != gfile[:-1]])
        times = np.asarray(file_arrival_s, dtype=float)[gfile[first_groups]]
        plain = np.isfinite(times).all() and not np.signbit(times).any()
        order = _stable_order(np.ascontiguousarray(times)) if plain else np.argsort(times, kind="stable")
        arr_groups, arr_times = first_groups[order].astype(np.int64), times[order]
    else:
        arr_groups, arr_times = np.zeros(0, np.int64), np.zeros(0)
    worker_pool, worker_gpu = [], []
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
    # service and pool indices travel as int16 (as ``build_jobs`` makes them): no copies
    service = np.asarray(jobs.service).astype(np.int16, copy=False)
    args = (
        np.asarray(jobs.time_s, dtype=float), service, np.asarray(jobs.pool).astype(np.int16, copy=False),
        np.asarray(jobs.group, dtype=np.int64), np.asarray(jobs.group_first_job, dtype=np.int64),
        np.asarray(jobs.group_next, dtype=np.int64), gfile, len(file_arrival_s), arr_groups, arr_times,
        np.asarray(worker_pool, dtype=np.int64), np.asarray(worker_gpu, dtype=np.int64),
        always, offset, on, wait, starts_cum, keep, load_t, max(gpu0, 1), max(len(services), 1), max(len(pools), 1),
    )
    fifo = 1024
    while True:
        ready, start, end, cold, file_end, events, ok = _simulate(*args, fifo)
        if ok:
            break
        fifo *= 4  # more events fell due at one instant than the ring holds: run again, larger
    del args
    energy = np.array(jobs.energy_j, dtype=float)  # a copy: cold jobs add the model's load energy
    energy[cold] += load_e[service[cold]]
    return Timings(
        ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=end - start,
        energy_j=energy, file_end_s=file_end, events=int(events),
    )


def warm_up() -> None:
    """Compile the engine (or load it from numba's on-disk cache) on a two-job case."""
    if not AVAILABLE:
        return
    from .jobs import JobTable
    from .model import PoolSpec, ServiceSpec
    from .provisioning import Schedule

    one = np.zeros(2, dtype=np.int64)
    jobs = JobTable(
        file=np.array([0, 0]), group=np.array([0, 1]), service=one, pool=one, language=one, content=one,
        target=np.full(2, -1), time_s=np.ones(2), energy_j=np.ones(2), audio_s=np.zeros(2), tokens_in=np.zeros(2),
        tokens_out=np.zeros(2), group_first_job=np.array([0, 1, 2]), group_next=np.array([1, -1]),
        group_file=np.array([0, 0]), services=("s",), pools=("p",),
    )
    mask = np.zeros(WEEK_H, dtype=bool)
    mask[9:17] = True
    simulate_fast(jobs, np.array([1.0]), [PoolSpec(1, 1, Schedule(mask, 0))], [ServiceSpec(None, 1.0, 1.0)])
