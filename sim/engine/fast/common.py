"""What the fast engine's two kernels share: the event encoding, the heap, the arrays they
return, and the per-job totals."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.kernels.indices import ix as _ix

HOUR_S = 3600.0

# Event kinds (``_SCALE``: an autoscaler's timeout, see ``sim.engine.fast.autoscaler``)
_PUT, _GET, _WAKE, _END, _ARR, _SCALE = 0, 1, 2, 3, 4, 5


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


@njit(cache=True, inline="always")
def _join_waiting(p, w, gq_first, gq_last, gq_next, nil):
    """Slot ``w`` joins the tail of pool ``p``'s waiting slots (SimPy's get queue, a linked
    list: ``gq_next``, ended by ``nil``)."""
    if gq_last[p] != nil:
        gq_next[gq_last[p]] = w
    else:
        gq_first[p] = w
    gq_last[p] = w
    gq_next[w] = nil


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
    energy (J), cold and the GPU it ran on (within its pool); per file, when its last job
    ended (NaN until then)."""
    return (np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.zeros(n, dtype=np.bool_),
            np.full(n_files, np.nan), np.zeros(n, dtype=np.int32))


@njit(cache=True)
def _gpu_in_pool(worker_pool, worker_gpu, n_pools):
    """Each slot's GPU counted within its pool (slots come pool by pool, GPU by GPU)."""
    first = np.full(n_pools, -1, np.int64)
    out = np.empty(worker_pool.shape[0], np.int32)
    for w in range(worker_pool.shape[0]):
        p = worker_pool[w]
        if first[p] < 0:
            first[p] = worker_gpu[w]
        out[w] = worker_gpu[w] - first[p]
    return out



@njit(cache=True, inline="always")
def _job_totals(start, end, cold, energy_j, service, load_energy_j, service_s, energy):
    """Per job, in order (sequential, vectorised): SimPy's end - start, and energy plus the
    model's load where the job loaded it."""
    for j in range(start.shape[0]):
        service_s[j] = end[j] - start[j]
        energy[j] = energy_j[j] + (load_energy_j[np.int64(service[j])] if cold[j] else 0.0)

