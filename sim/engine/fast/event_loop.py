"""The fast engine's event loop: SimPy's event order, compiled (see ``sim.engine.fast``)."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.engine.provisioning import WEEK_H
from sim.kernels.indices import ix as _ix

from .autoscaler import _acts, _last_job, _needs, _scale_step, _start, _timers, _update
from .common import (
    _ARR,
    _END,
    _GET,
    _PUT,
    _SCALE,
    _WAKE,
    HOUR_S,
    _gpu_in_pool,
    _hour,
    _job_totals,
    _join_waiting,
    _pack,
    _push,
    _refill_root,
)
from .inputs import ASKING, DRAINING, MAX_I, ON, STATE
from .loop_state import ARR_PENDING, ARR_KEY, ARR_T, DONE, EVENTS, F_HEAD, F_TAIL, FRESH, GROW, HSIZE, NOW, RESUME, SEQ, STOPPED


@njit(cache=True, error_model="numpy")
def _simulate(a, sc, z, s, t_next):
    """One replication's event loop, or a block of it, on the kernel inputs ``a``
    (``KernelInputs``), the pools' autoscale rules ``sc`` (``ScaleInputs``) and their state
    ``z`` (``ScaleState``, changed in place: the instances' intervals are read from it),
    from the loop's state ``s`` (``LoopState``: fresh, or where the block before stopped;
    changed in place, the timings included).

    It runs until no event is left (``t_next`` inf) or until the arrival process is about
    to wake for the next block's first file, due at ``t_next`` (s): every event before it
    is then processed, in the whole run's order, and none after. Returns ``DONE``,
    ``STOPPED``, or ``GROW`` when the state's ring of events due now, its heap or the
    intervals' rows were too small (run again from the same start, larger).

    Indices are read from unsigned arrays (the caller views narrow index columns as
    unsigned) or through ``_ix``: numba wraps negative indices around, as NumPy does, with
    a compare and a select at every signed index; an index known to be >= 0 skips that,
    which matters in a loop of a few dozen array accesses per event.
    """
    time_s, energy_j, service, pool_of_job, group_of_job = a.time_s, a.energy_j, a.service, a.pool_of_job, a.group_of_job
    group_first_job, group_next, group_file = a.group_first_job, a.group_next, a.group_file
    arr_groups, arr_times, worker_pool, worker_gpu = a.arr_groups, a.arr_times, a.worker_pool, a.worker_gpu
    pool_always, pool_offset_h, pool_on, pool_wait_h = a.pool_always, a.pool_offset_h, a.pool_on, a.pool_wait_h
    pool_starts_cum, keep_alive_s, load_time_s, load_energy_j = a.pool_starts_cum, a.keep_alive_s, a.load_time_s, a.load_energy_j
    n_services, n_pools = a.n_services, a.n_pools
    n_workers = worker_pool.shape[0]
    ready, start, end, service_s, energy, cold, file_end, gpu = s.ready, s.start, s.end, s.service_s, s.energy, s.cold, s.file_end, s.gpu
    w_gpu = _gpu_in_pool(worker_pool, worker_gpu, n_pools)
    group_left = s.group_left  # jobs of each group not ended yet
    max_group = 1
    for gr in range(group_first_job.shape[0] - 1):
        max_group = max(max_group, np.int64(group_first_job[gr + 1]) - np.int64(group_first_job[gr]))

    # Per-pool FIFO of jobs: each job enters once, so a segment per pool never wraps.
    items, it_head, it_tail = s.items, s.it_head, s.it_tail
    # Per-pool FIFO of waiting slots (SimPy's get_queue) as a linked list: a slot waits at most
    # once; ``nil`` (n_workers) ends it.
    nil = np.uint32(n_workers)
    gq_first, gq_last, gq_next = s.gq_first, s.gq_last, s.gq_next

    # Model residency per (GPU, service), flat: entry w_gs[w] + s for slot w's GPU
    w_gs = np.empty(max(n_workers, 1), dtype=np.uint32)
    for w in range(n_workers):
        w_gs[w] = worker_gpu[w] * n_services
    inflight, last_period, last_end = s.inflight, s.last_period, s.last_end
    w_job, w_period = s.w_job, s.w_period  # the job a slot took; the residency period it started it in

    # Events due now: a ring (power-of-two size) of packed events. It is never reallocated
    # inside the loop (a rebound array costs reference counting on every iteration): if
    # a release could overflow it, the run stops and the caller runs it again, larger.
    # Besides the puts, it holds at most a get and a timeout per slot and the arrivals' step;
    # with autoscaling, the autoscalers' timeouts due now too (after a put, at most two
    # timers and a scale-out's boots: ``per_put``).
    fq = s.fq
    fifo_size = fq.shape[0]
    mask = np.uint32(fifo_size - 1)
    room = fifo_size - 2 * n_workers - 2
    per_put = 1
    if sc is not None:  # the autoscalers' rules and state, taken apart once (see ``ScaleInputs``)
        times, slot_inst, inst_pool = sc.times, sc.slot_inst, sc.inst_pool
        st, inst, slot_gen, iv_pool, iv_t, iv_n = z.pool, z.inst, z.slot_gen, z.interval_pool, z.interval, z.n_intervals
        for p in range(n_pools):
            if st[p, ON]:
                per_put = max(per_put, 3 + st[p, MAX_I])
    # Events due later: a binary heap of timeouts on (time, key), key = creation counter << 24
    # | owner << 3 | kind: the counter orders timeouts due at the same time, as SimPy's event
    # ids do. Each slot waits on at most one; the autoscalers' timeouts take at most
    # ``heap_room`` more (the arrival process's is kept apart).
    ht, hk = s.ht, s.hk
    heap_room = ht.shape[0] - n_workers
    # The counters and clocks the block before left (``LoopState.ints``, ``.floats``)
    si, sf = s.ints, s.floats
    f_head, f_tail, hsize, seq, events = si[F_HEAD], si[F_TAIL], si[HSIZE], si[SEQ], si[EVENTS]
    now, arr_t = sf[NOW], sf[ARR_T]
    arr_pending = si[ARR_PENDING] != 0  # the arrival process waits on its timeout (arr_t, arr_key)
    arr_key = si[ARR_KEY]
    resume_arrival = si[RESUME] != 0  # the arrival process was woken by its timeout: its next group goes first
    ok = True
    if si[FRESH]:  # t = 0
        fq[0] = _pack(_ARR, n_workers, 0)  # the arrival process's first step, at t = 0 after the slots
        f_head, f_tail = 0, 1
        if sc is None:
            events = n_workers  # SimPy's Initialize events of the slots; the arrival process's is the first event below
            for w in range(n_workers):  # every slot asks its pool for a job, in registration order
                _join_waiting(worker_pool[w], w, gq_first, gq_last, gq_next, nil)
        else:  # (only the autoscaled pools' first instances' slots; their rule is evaluated as each asks)
            f_tail, hsize, seq, events, ok = _start(st, times, slot_inst, inst, slot_gen, iv_pool, iv_t, iv_n,
                                                    worker_pool, gq_first, gq_last, gq_next, nil, fq, f_head, f_tail,
                                                    room, ht, hk, hsize, heap_room, seq)
            if not ok:
                return GROW

    # Helpers that take arrays are inlined by numba (``inline="always"``, as ``_push``) or written
    # out here: an ordinary call passing arrays costs atomic reference counts.
    n_arr = arr_groups.shape[0]
    arr_i = 0
    todo = np.empty(n_workers + 1, dtype=np.uint32)  # slots that start their job in this step
    any_scheduled = not pool_always.all()
    status = DONE
    while True:
        # The next event: a timeout due now goes first (it was created before any event due now).
        # ``quiet``: nothing else is due now, so whatever this step queues is processed next,
        # in queue order (see the serve phase below).
        # The arrival process's timeout is kept apart from the heap (it has at most one): the
        # next timeout is the earlier of the heap's root and it, by (time, key).
        arr_first = arr_pending and (hsize == 0 or arr_t < ht[0] or (arr_t == ht[0] and arr_key < hk[0]))
        if resume_arrival and arr_i == n_arr:  # the arrival process waits for the next block's first file
            if f_head == f_tail or (hsize > 0 and ht[0] == now) or (arr_pending and arr_t == now):
                wakes = arr_first
            else:
                wakes = (fq[f_head & mask] & 7) == _ARR
            if wakes:  # it is the next event: the block ends here
                status = STOPPED
                break
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
        scaled_end = -1  # a slot of an autoscaled pool that ended its job: it goes on after the release
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
            if sc is None or slot_inst[w] < 0:
                _join_waiting(p, w, gq_first, gq_last, gq_next, nil)
                if sc is not None:
                    st[p, ASKING] += 1
                serve_pool = p
            else:
                scaled_end = w
        elif sc is not None and kind == _SCALE:  # an autoscaler's timeout; b: its creation counter
            quiet = False  # (the gets it makes are queued, in order)
            if _acts(a, b, st):
                f_tail, hsize, seq, n_init, ok = _scale_step(a, b, now, times, inst_pool, slot_inst, st, inst, slot_gen,
                                                             iv_pool, iv_t, iv_n, it_head, it_tail, items, w_job,
                                                             gq_first, gq_last, gq_next, nil, fq, f_head, f_tail, room,
                                                             ht, hk, hsize, heap_room, seq)
                events += n_init
                if not ok:
                    return GROW
        else:  # _ARR: the arrival process releases the first groups that are due (see below)
            if resume_arrival:  # woken by its timeout: the group it waited for goes first
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1
                resume_arrival = False
            elif arr_i < n_arr and not arr_times[arr_i] > now:
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1

        while rel_group >= 0:  # put the group's jobs in their pools' queues, one put event each
            if f_tail - f_head + max_group * per_put > room:
                return GROW
            # consecutive puts of one pool are queued as one entry (pool, count): nothing can
            # come between them, so processing them back to back is what SimPy does (but an
            # autoscaled pool's rule, evaluated after each put, may queue a timeout: one a put)
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
                if sc is not None and st[pp, ON]:  # an autoscaled pool evaluates its rule after each put
                    it_tail[pp] = tail
                    fq[f_tail & mask] = _pack(_PUT, pp, run_len)
                    f_tail += 1
                    run_len = 0
                    queued = tail - np.int64(it_head[pp])
                    if _needs(pp, queued, st):
                        f_tail, hsize, seq, grow, ok = _timers(pp, now, queued, st, times, fq, f_head, f_tail, room,
                                                               ht, hk, hsize, heap_room, seq)
                        if grow:  # a pool with no instance: one boots for this job
                            f_tail, hsize, seq, ok = _update(pp, True, now, queued, st, times, inst, iv_pool, iv_t,
                                                             iv_n, fq, f_head, f_tail, room, ht, hk, hsize, heap_room,
                                                             seq)
                        if not ok:
                            return GROW
            if run_len > 0:
                it_tail[run_pool] = tail
                fq[f_tail & mask] = _pack(_PUT, run_pool, run_len)
                f_tail += 1
            rel_group = -1
            # the arrival process goes on without waiting while its next group is due
            if kind == _ARR and arr_i < n_arr and not arr_times[arr_i] > now:
                rel_group = _ix(arr_groups[arr_i])
                arr_i += 1
        if sc is not None and scaled_end >= 0:  # the autoscaled slot goes on, after the release
            w = scaled_end
            p = np.int64(worker_pool[w])
            gi = slot_inst[w]
            if inst[gi, STATE] == DRAINING:  # it ends: SimPy processes its exit event, which does nothing
                events += 1
                f_tail, hsize, seq, ok = _last_job(p, gi, now, st, times, inst, iv_pool, iv_t, iv_n, it_head, it_tail,
                                                   fq, f_head, f_tail, room, ht, hk, hsize, heap_room, seq)
            else:  # it asks for a job: the head of the waiting slots takes one that is queued
                _join_waiting(p, w, gq_first, gq_last, gq_next, nil)
                head = np.int64(it_head[p])
                if head != np.int64(it_tail[p]):
                    w = np.int64(gq_first[p])
                    gq_first[p] = gq_next[w]
                    if gq_first[p] == nil:
                        gq_last[p] = nil
                    w_job[w] = items[_ix(head)]
                    it_head[p] = head + 1
                    if quiet:  # its get starts with this step's others
                        todo[0] = w
                        n_todo = 1
                    else:
                        fq[f_tail & mask] = _pack(_GET, w, 0)
                        f_tail += 1
                else:
                    st[p, ASKING] += 1
                queued = np.int64(it_tail[p]) - np.int64(it_head[p])
                if _needs(p, queued, st):  # (a slot asks: the pool has an instance, so no scale-out now)
                    f0 = f_tail
                    f_tail, hsize, seq, _, ok = _timers(p, now, queued, st, times, fq, f_head, f_tail, room, ht, hk,
                                                        hsize, heap_room, seq)
                    if n_todo == 1 and f_tail != f0:  # a timeout due now came after that get: it goes first
                        for i in range(f_tail, f0, -1):
                            fq[i & mask] = fq[(i - 1) & mask]
                        fq[f0 & mask] = _pack(_GET, np.int64(todo[0]), 0)
                        f_tail += 1
                        n_todo = 0
            if not ok:
                return GROW
        if kind == _ARR:  # it waits for its next group (the next block's first, at t_next), or ends
            if arr_i < n_arr or t_next < np.inf:
                t = arr_times[arr_i] if arr_i < n_arr else t_next
                new_t, new_kind = now + (t - now), _ARR
                resume_arrival = True
            else:
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
                if sc is not None:
                    st[p, ASKING] -= head - np.int64(it_head[p])
                it_head[p] = head
                gq_first[p] = first
                if first == nil:
                    gq_last[p] = nil
            if not quiet or f_head == f_tail:
                break
            code = fq[f_head & mask]  # a put this step queued (nothing else is in the queue yet)
            if sc is not None and code & 7 != _PUT:  # an autoscaler's timeout due now: the puts behind
                break  # it are events of their own
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
                if sc is not None:
                    period = slot_gen[w]  # an autoscaled slot's instance's generation (0 in other always-on pools)
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
                gpu[j] = w_gpu[w]
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
    si[F_HEAD], si[F_TAIL], si[HSIZE], si[SEQ], si[EVENTS] = f_head, f_tail, hsize, seq, events
    si[ARR_PENDING], si[ARR_KEY], si[RESUME], si[FRESH] = arr_pending, arr_key, resume_arrival, 0
    sf[NOW], sf[ARR_T] = now, arr_t
    return status


