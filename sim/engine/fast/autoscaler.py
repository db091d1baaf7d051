"""The autoscaler in the fast engine's event loop: ``sim.engine.autoscale``'s rule, step by step.

Each compiled function here is a piece of ``Autoscaler`` (its ``update``, ``scale_out``,
``scale_in``, ``finished``, an instance's boot), run by the event loop at the same points
of a step as SimPy runs it, so that what it reads (jobs queued, slots asking) and the
timeouts it creates (their creation counter settles ties) are SimPy's. Rules and state
are plain arrays (``ScaleInputs``, ``ScaleState``: their columns are named in ``inputs``),
changed in place; the loop's own scalars (the ring's tail, the heap's size, the creation
counter) go in and come back.

The rule is evaluated at every put and every request for a job, and each array handed to
a helper, inlined or not, costs reference counting each time: there ``_needs``, inlined,
looks at the pool's one row (and drops timers whose condition stopped holding);
``_timers`` is called only where a timer is to be set, and ``_update`` (a scale-out
first) only where a pool with no instance gets a job. These, and what runs at a boot, a
scale-in, a retirement or at t = 0 (``_scale_step``, ``_last_job``, ``_start``), are
functions of their own, not inlined: called rarely, they keep the loop small, and its
compilation short (about 10 s, against 35 s all inlined).

A ``HeldFor`` timer is a timeout of kind ``_SCALE`` owned by ``pool << 2 | _SC_OUT`` (or
``_SC_IN``); the pool keeps the creation counter of the one timer that counts
(``OUT_LIVE``/``IN_LIVE``, -1 when none): a timer set for an earlier stretch finds another
counter and does nothing, as SimPy's token does, but is processed all the same (an event).
A boot is a timeout owned by ``instance << 2 | _SC_BOOT``; the instance's slot processes
start at once (SimPy's ``Initialize`` events are urgent: nothing due now comes between).
A retired instance's slots that were still waiting leave the pool's waiting slots (SimPy
cancels their requests: those processes never run again).

Every push checks its room: ``ok`` False means the ring, the heap or the intervals were
too small, and the caller runs the replication again with more.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _GET, _SCALE, _join_waiting, _pack, _push
from .inputs import (
    ASKING,
    BOOT,
    BOOTING,
    COOLDOWN,
    DRAINING,
    FREE,
    GEN,
    GENS,
    IDLE,
    IN_LIVE,
    INST0,
    LIMIT,
    MAX_I,
    MIN_I,
    N_PROV,
    N_SERV,
    ON,
    OUT_BY,
    OUT_LIVE,
    ROW,
    SERVING,
    SLOT0,
    SPI,
    START_I,
    STARTING,
    STATE,
    THRESHOLD,
    UTIL,
    WINDOW,
    WORKERS,
)

# what a ``_SCALE`` timeout is for (its owner's two low bits)
_SC_OUT, _SC_IN, _SC_BOOT = 0, 1, 2


@njit(cache=True, inline="always")
def _timeout(t, now, key, fq, f_head, f_tail, room, ht, hk, hsize, hroom):
    """Schedule the timeout ``key`` ending at ``t`` (s): in the ring of events due now when it
    ends now, as SimPy orders it, else in the heap. Returns the ring's tail, the heap's
    size, and False where the ring or the heap's room (``hroom``) is full."""
    if t == now:
        if f_tail - f_head >= room:
            return f_tail, hsize, False
        fq[f_tail & (fq.shape[0] - 1)] = key
        return f_tail + 1, hsize, True
    if hsize >= hroom:
        return f_tail, hsize, False
    _push(ht, hk, hsize, t, key)
    return f_tail, hsize + 1, True


@njit(cache=True, inline="always")
def _set_limit(p, st, times):
    """Pool ``p``'s ``LIMIT`` for its serving slots now: ``waiting > threshold x slots`` (or
    ``busy > ...``) as SimPy compares them, an int against a float, is ``waiting >
    floor(threshold x slots)``; with no slot serving, SimPy asks for ``waiting > 0``."""
    slots = st[p, N_SERV] * st[p, SPI]
    x = times[p, THRESHOLD] * slots
    st[p, LIMIT] = 0 if slots == 0 else (np.int64(np.floor(x)) if x < 4e18 else np.int64(4e18))


@njit(cache=True, inline="always")
def _evaluate(p, queued, st):
    """``Autoscaler.update``'s reading of pool ``p`` with ``queued`` jobs queued: whether a
    serverless pool scales out at once, whether the metric is above the threshold (scale
    out once it stays so) and whether an instance's worth of slots is spare (scale in)."""
    # jobs waiting and slots free, the ones a put is about to match counted as matched
    asking = st[p, ASKING]
    waiting = queued - asking if queued > asking else 0
    free = asking - queued if asking > queued else 0
    n_prov = st[p, N_PROV]
    out = False
    if n_prov < st[p, MAX_I]:
        if n_prov == 0 and waiting > 0:  # serverless: the first job waits for the boot, not a window
            return True, False, False
        if st[p, BOOTING] == 0:
            if st[p, UTIL] and st[p, N_SERV] > 0:
                out = st[p, N_SERV] * st[p, SPI] - free > st[p, LIMIT]
            else:
                out = waiting > st[p, LIMIT]
    spare = st[p, N_SERV] > st[p, MIN_I] and waiting == 0 and free >= st[p, SPI]
    return False, out, spare


@njit(cache=True, inline="always")
def _needs(p, queued, st):
    """``Autoscaler.update`` of pool ``p`` where it creates nothing: a timer whose condition
    stopped holding is dropped. True when it would create something (a timer, a
    scale-out): ``_timers`` (or ``_update``) does it then."""
    scale_out, out, spare = _evaluate(p, queued, st)
    act = scale_out
    if out != (st[p, OUT_LIVE] >= 0):
        if out:
            act = True
        else:
            st[p, OUT_LIVE] = -1
    if spare != (st[p, IN_LIVE] >= 0):
        if spare:
            act = True
        else:
            st[p, IN_LIVE] = -1
    return act


@njit(cache=True)
def _timers(p, now, queued, st, times, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq):
    """``Autoscaler.update`` of pool ``p`` at ``now`` (s) with ``queued`` jobs queued, where
    no scale-out is due at once: it sets the timer of a condition that starts to hold (its
    creation counter kept as the one that counts) and drops the other's. Returns the ring's
    tail, the heap's size, the creation counter, whether a pool with no instance scales out
    at once instead (``_update`` does it) and ``ok``."""
    scale_out, out, spare = _evaluate(p, queued, st)
    if scale_out:
        return f_tail, hsize, seq, True, True
    f_tail, hsize, seq, ok = _follow(p, out, OUT_LIVE, times[p, WINDOW], _SC_OUT, now, st, fq, f_head, f_tail, room,
                                     ht, hk, hsize, hroom, seq)
    if ok:
        f_tail, hsize, seq, ok = _follow(p, spare, IN_LIVE, times[p, COOLDOWN], _SC_IN, now, st, fq, f_head, f_tail,
                                         room, ht, hk, hsize, hroom, seq)
    return f_tail, hsize, seq, False, ok


@njit(cache=True, inline="always")
def _follow(p, holds, live, delay, which, now, st, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq):
    """Pool ``p``'s timer ``which`` (its creation counter in column ``live``: -1 when none
    counts) follows its condition: set, to end after ``delay`` (s), when the condition
    starts to hold; dropped when it stops. Returns the ring's tail, the heap's size, the
    creation counter and ``ok``."""
    ok = True
    if holds != (st[p, live] >= 0):
        if holds:
            st[p, live] = seq
            f_tail, hsize, ok = _timeout(now + delay, now, _pack(_SCALE, (p << 2) | which, seq), fq, f_head, f_tail,
                                         room, ht, hk, hsize, hroom)
            seq += 1
        else:
            st[p, live] = -1
    return f_tail, hsize, seq, ok


@njit(cache=True)
def _update(p, scale_out, now, queued, st, times, inst, iv_pool, iv_t, iv_n, fq, f_head, f_tail, room, ht, hk, hsize,
            hroom, seq):
    """``Autoscaler.update`` of pool ``p`` at ``now`` (s) with ``queued`` jobs queued; with
    ``scale_out``, its ``scale_out`` first (which ends with an update). Returns the ring's
    tail, the heap's size, the creation counter and ``ok``."""
    ok = True
    while True:
        if scale_out:  # instances provisioned now, serving ``boot_s`` later
            for _ in range(min(st[p, OUT_BY], st[p, MAX_I] - st[p, N_PROV])):
                row = iv_n[0]
                if row == iv_pool.shape[0]:
                    return f_tail, hsize, seq, False
                gi = st[p, INST0]  # the lowest free index
                while inst[gi, STATE] != IDLE:
                    gi += 1
                _provision(p, gi, row, STARTING, now, st, inst, iv_pool, iv_t, iv_n)
                st[p, BOOTING] += 1
                f_tail, hsize, ok = _timeout(now + times[p, BOOT], now, _pack(_SCALE, (gi << 2) | _SC_BOOT, seq), fq,
                                             f_head, f_tail, room, ht, hk, hsize, hroom)
                seq += 1
                if not ok:
                    return f_tail, hsize, seq, False
        f_tail, hsize, seq, scale_out, ok = _timers(p, now, queued, st, times, fq, f_head, f_tail, room, ht, hk, hsize,
                                                    hroom, seq)
        if not scale_out or not ok:
            return f_tail, hsize, seq, ok


@njit(cache=True, inline="always")
def _provision(p, gi, row, state, now, st, inst, iv_pool, iv_t, iv_n):
    """``Autoscaler._provision``: instance ``gi`` of pool ``p`` provisioned at ``now`` (s),
    its interval in row ``row``."""
    inst[gi, STATE] = state
    inst[gi, GEN] = st[p, GENS]
    st[p, GENS] += 1
    st[p, N_PROV] += 1
    inst[gi, ROW] = row
    iv_pool[row] = p
    iv_t[row, 0] = now
    iv_t[row, 1] = np.inf
    iv_n[0] = row + 1


@njit(cache=True, inline="always")
def _retire(p, gi, now, st, inst, iv_t):
    """``Autoscaler._retire``: instance ``gi`` of pool ``p`` no longer provisioned from ``now``."""
    iv_t[inst[gi, ROW], 1] = now
    inst[gi, STATE] = IDLE
    st[p, N_PROV] -= 1


@njit(cache=True, inline="always")
def _scale_in(p, now, st, times, inst, iv_t, slot_inst, gq_first, gq_last, gq_next, nil):
    """``Autoscaler.scale_in`` of pool ``p``, but its final update: the serving instance with
    the most free slots (the latest provisioned among equals) drains; its waiting slots
    leave the pool's waiting slots (their requests are cancelled)."""
    g0, g1 = st[p, INST0], st[p, INST0] + st[p, MAX_I]
    for gi in range(g0, g1):
        inst[gi, FREE] = 0
    w = np.int64(gq_first[p])
    while w != nil:
        inst[slot_inst[w], FREE] += 1
        w = np.int64(gq_next[w])
    best = -1
    for gi in range(g0, g1):
        if inst[gi, STATE] == SERVING and (best < 0 or inst[gi, FREE] > inst[best, FREE] or (
                inst[gi, FREE] == inst[best, FREE] and inst[gi, GEN] > inst[best, GEN])):
            best = gi
    inst[best, STATE] = DRAINING
    st[p, N_SERV] -= 1
    _set_limit(p, st, times)
    prev = np.int64(nil)
    w = np.int64(gq_first[p])
    dropped = 0
    while w != nil:
        nxt = np.int64(gq_next[w])
        if slot_inst[w] == best:
            if prev == nil:
                gq_first[p] = nxt
            else:
                gq_next[prev] = nxt
            if nxt == nil:
                gq_last[p] = prev
            dropped += 1
        else:
            prev = w
        w = nxt
    st[p, ASKING] -= dropped
    inst[best, WORKERS] -= dropped
    if inst[best, WORKERS] == 0:
        _retire(p, best, now, st, inst, iv_t)


@njit(cache=True, inline="always")
def _ask(p, w, gq_first, gq_last, gq_next, nil, st):
    """Slot ``w`` of autoscaled pool ``p`` asks for a job: it joins the pool's waiting slots."""
    _join_waiting(p, w, gq_first, gq_last, gq_next, nil)
    st[p, ASKING] += 1


@njit(cache=True, inline="always")
def _take_head(p, gq_first, gq_last, gq_next, nil, it_head, items, w_job, st):
    """SimPy's ``_trigger_get`` for a new request where a job is queued: the head of the
    pool's waiting slots takes the pool's first queued job. Returns that slot."""
    w = np.int64(gq_first[p])
    first = np.int64(gq_next[w])
    gq_first[p] = first
    if first == nil:
        gq_last[p] = nil
    w_job[w] = items[np.int64(it_head[p])]
    it_head[p] += 1
    st[p, ASKING] -= 1
    return w


@njit(cache=True, inline="always")
def _booted(gi, now, times, inst_pool, st, inst, slot_gen, iv_pool, iv_t, iv_n, it_head, it_tail, items, w_job,
            gq_first, gq_last, gq_next, nil, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq):
    """``Autoscaler._booted``: instance ``gi`` serves from ``now``; each of its slot processes
    starts (an event each, in order), asks for a job (taking one that waits: its get is
    queued) and evaluates the rule. Returns the ring's tail, the heap's size, the creation
    counter, the events processed and ``ok``."""
    p = inst_pool[gi]
    spi = st[p, SPI]
    st[p, BOOTING] -= 1
    inst[gi, STATE] = SERVING
    st[p, N_SERV] += 1
    _set_limit(p, st, times)
    inst[gi, WORKERS] = spi
    w0 = st[p, SLOT0] + (gi - st[p, INST0]) * spi
    ok = True
    events = 0
    for w in range(w0, w0 + spi):
        events += 1
        slot_gen[w] = inst[gi, GEN]
        _ask(p, w, gq_first, gq_last, gq_next, nil, st)
        if it_head[p] != it_tail[p]:
            h = _take_head(p, gq_first, gq_last, gq_next, nil, it_head, items, w_job, st)
            fq[f_tail & (fq.shape[0] - 1)] = _pack(_GET, h, 0)
            f_tail += 1
        f_tail, hsize, seq, ok = _update(p, False, now, np.int64(it_tail[p]) - np.int64(it_head[p]), st, times, inst,
                                         iv_pool, iv_t, iv_n, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq)
        if not ok:
            break
    return f_tail, hsize, seq, events, ok


@njit(cache=True)
def _start(st, times, slot_inst, inst, slot_gen, iv_pool, iv_t, iv_n, worker_pool, gq_first, gq_last, gq_next,
           nil, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq):
    """The slots at t = 0, in registration order: every pool's, but an autoscaled pool's
    instances beyond its first ones (all provisioned first, as ``Autoscaler.start``), ask
    for a job; an autoscaled pool's evaluate its rule as they do (no job is queued yet).
    Returns the ring's tail, the heap's size, the creation counter, the slots started
    (SimPy's Initialize events) and ``ok``."""
    for p in range(st.shape[0]):
        if st[p, ON]:
            for k in range(st[p, START_I]):
                gi = st[p, INST0] + k
                _provision(p, gi, iv_n[0], SERVING, 0.0, st, inst, iv_pool, iv_t, iv_n)
                st[p, N_SERV] += 1
                inst[gi, WORKERS] = st[p, SPI]
            _set_limit(p, st, times)
    events = 0
    ok = True
    for w in range(worker_pool.shape[0]):
        p = np.int64(worker_pool[w])
        gi = slot_inst[w]
        if gi >= 0 and inst[gi, STATE] == IDLE:
            continue  # an instance not provisioned (yet)
        events += 1
        _ask(p, w, gq_first, gq_last, gq_next, nil, st)
        if gi >= 0:  # (a timer due now goes after the arrival process's first step, already queued)
            slot_gen[w] = inst[gi, GEN]
            f_tail, hsize, seq, ok = _update(p, False, 0.0, 0, st, times, inst, iv_pool, iv_t, iv_n, fq, f_head, f_tail,
                                             room, ht, hk, hsize, hroom, seq)
            if not ok:
                break
    return f_tail, hsize, seq, events, ok


@njit(cache=True)
def _scale_step(a, b, now, times, inst_pool, slot_inst, st, inst, slot_gen, iv_pool, iv_t, iv_n, it_head, it_tail,
                items, w_job, gq_first, gq_last, gq_next, nil, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq):
    """A ``_SCALE`` timeout of owner ``a`` that acts (``_acts``): a boot, or the timer that
    counts of a pool's scale-out or scale-in, ``b`` its creation counter. Returns the
    ring's tail, the heap's size, the creation counter, the events processed besides the
    timeout itself and ``ok``."""
    x = a >> 2
    sub = a & 3
    if sub == _SC_BOOT:  # instance x serves: its slots start
        return _booted(x, now, times, inst_pool, st, inst, slot_gen, iv_pool, iv_t, iv_n, it_head, it_tail, items,
                       w_job, gq_first, gq_last, gq_next, nil, fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq)
    queued = np.int64(it_tail[x]) - np.int64(it_head[x])
    if sub == _SC_OUT:  # pool x's queue stayed long for a whole window: scale out
        st[x, OUT_LIVE] = -1
        f_tail, hsize, seq, ok = _update(x, True, now, queued, st, times, inst, iv_pool, iv_t, iv_n, fq, f_head, f_tail,
                                         room, ht, hk, hsize, hroom, seq)
    else:  # an instance's worth of pool x's slots stayed free: scale in
        st[x, IN_LIVE] = -1
        _scale_in(x, now, st, times, inst, iv_t, slot_inst, gq_first, gq_last, gq_next, nil)
        f_tail, hsize, seq, ok = _update(x, False, now, queued, st, times, inst, iv_pool, iv_t, iv_n, fq, f_head, f_tail,
                                         room, ht, hk, hsize, hroom, seq)
    return f_tail, hsize, seq, 0, ok


@njit(cache=True, inline="always")
def _acts(a, b, st):
    """Whether the ``_SCALE`` timeout of owner ``a``, created ``b``-th, acts: a boot does; a
    ``HeldFor`` timer does when it is the one that counts (SimPy's token), else it is
    processed doing nothing."""
    sub = a & 3
    if sub == _SC_BOOT:
        return True
    return b == st[a >> 2, OUT_LIVE if sub == _SC_OUT else IN_LIVE]


@njit(cache=True)
def _last_job(p, gi, now, st, times, inst, iv_pool, iv_t, iv_n, it_head, it_tail, fq, f_head, f_tail, room, ht, hk,
              hsize, hroom, seq):
    """``Autoscaler.finished``: a slot of draining instance ``gi`` of pool ``p`` ran its last
    job; the instance retires with its last slot, and the rule is evaluated. Returns the
    ring's tail, the heap's size, the creation counter and ``ok``."""
    inst[gi, WORKERS] -= 1
    if inst[gi, WORKERS] > 0:
        return f_tail, hsize, seq, True
    _retire(p, gi, now, st, inst, iv_t)
    return _update(p, False, now, np.int64(it_tail[p]) - np.int64(it_head[p]), st, times, inst, iv_pool, iv_t, iv_n,
                   fq, f_head, f_tail, room, ht, hk, hsize, hroom, seq)
