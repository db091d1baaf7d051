"""The event loop's state (``LoopState``): fresh at t = 0, or resumed where the block of a
streamed replication before stopped (``Boundary``).

The loop stops between two events, just before the arrival process wakes for the next
block's first file. Everything it needs to go on is then either indexed by slot, pool, GPU
or instance (the waiting slots, the models' residency, the events due now and the heap of
timeouts, whose keys name slots and pools, never jobs), or names jobs: the jobs queued in
each pool and the job each slot took. Those are renamed to the rows of the next block's
table (``Boundary.renamed``), whose first rows are the jobs carried into it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .inputs import KernelInputs, ScaleState

# ``LoopState.ints``: the ring's head and tail (counters), the heap's size, the creation
# counter, SimPy's event count, whether the arrival process waits on its timeout and that
# timeout's key, whether its next group goes first when it wakes, and t = 0 still to set up
F_HEAD, F_TAIL, HSIZE, SEQ, EVENTS, ARR_PENDING, ARR_KEY, RESUME, FRESH = range(9)
# ``LoopState.floats``: the clock and the arrival process's timeout (s)
NOW, ARR_T = range(2)
# what ``_simulate`` returns
GROW, DONE, STOPPED = 0, 1, 2


class LoopState(NamedTuple):
    """What the event loop reads and changes in place (numba passes it as a struct)."""

    fq: np.ndarray  # int64 ring of events due now (power-of-two size)
    ht: np.ndarray  # heap of timeouts: times (s)
    hk: np.ndarray  # and keys
    items: np.ndarray  # uint32, each pool's queued jobs in a segment of its own
    it_head: np.ndarray  # uint32 per pool
    it_tail: np.ndarray
    gq_first: np.ndarray  # uint32 per pool: its waiting slots (linked list)
    gq_last: np.ndarray
    gq_next: np.ndarray  # uint32 per slot, + 1
    w_job: np.ndarray  # uint32 per slot: the job it took
    w_period: np.ndarray  # int64 per slot: the residency period it started its job in
    inflight: np.ndarray  # int64 per (GPU, service): jobs running
    last_period: np.ndarray  # int64 per (GPU, service): period of its last end (-1: none)
    last_end: np.ndarray  # per (GPU, service): time of its last end (s)
    group_left: np.ndarray  # uint32 per group: its jobs not ended
    ready: np.ndarray  # per job (s)
    start: np.ndarray
    end: np.ndarray
    service_s: np.ndarray
    energy: np.ndarray  # J
    cold: np.ndarray  # bool
    file_end: np.ndarray  # per file (s; NaN until it ends)
    gpu: np.ndarray  # int32 per job: its GPU within its pool
    ints: np.ndarray  # int64, see F_HEAD ...
    floats: np.ndarray  # see NOW, ARR_T


def fresh_state(a: KernelInputs, fifo: int, heap_room: int) -> LoopState:
    """The state at t = 0 (the loop sets up the slots and the arrival process) for the
    jobs of ``a``, with a ring of ``fifo`` events (a power of two) and room in the heap
    for ``heap_room`` timeouts besides the slots' own."""
    return _state(a, fifo, heap_room, _residency_size(a))


def _residency_size(a: KernelInputs) -> int:
    n_gpus = int(a.worker_gpu.max()) + 1 if len(a.worker_gpu) else 1
    return n_gpus * a.n_services


@njit(cache=True)
def _counts(pool_of_job, n_pools, group_first_job):
    """Where each pool's segment of queued jobs starts (the jobs before it, pools in order),
    and each group's jobs."""
    it_off = np.zeros(n_pools + 1, np.int64)
    if n_pools == 1:  # (a count per job would wait on the last one's store)
        it_off[1] = pool_of_job.shape[0]
    else:
        for j in range(pool_of_job.shape[0]):
            it_off[np.int64(pool_of_job[j]) + 1] += 1
    for p in range(n_pools):
        it_off[p + 1] += it_off[p]
    n_groups = group_first_job.shape[0] - 1
    left = np.empty(max(n_groups, 0), np.uint32)
    for g in range(n_groups):
        left[g] = np.int64(group_first_job[g + 1]) - np.int64(group_first_job[g])
    return it_off, left


def _state(a: KernelInputs, fifo: int, heap_room: int, residency: int) -> LoopState:
    n, n_workers, n_pools = len(a.time_s), len(a.worker_pool), a.n_pools
    it_off, group_left = _counts(a.pool_of_job, n_pools, a.group_first_job)
    nil = n_workers
    ints = np.zeros(9, np.int64)
    ints[FRESH] = 1
    return LoopState(
        fq=np.empty(fifo, np.int64), ht=np.empty(n_workers + heap_room), hk=np.empty(n_workers + heap_room, np.int64),
        items=np.empty(max(n, 1), np.uint32), it_head=it_off[:-1].astype(np.uint32), it_tail=it_off[:-1].astype(np.uint32),
        gq_first=np.full(n_pools, nil, np.uint32), gq_last=np.full(n_pools, nil, np.uint32),
        gq_next=np.full(n_workers + 1, nil, np.uint32), w_job=np.zeros(max(n_workers, 1), np.uint32),
        w_period=np.zeros(max(n_workers, 1), np.int64), inflight=np.zeros(residency, np.int64),
        last_period=np.full(residency, -1, np.int64), last_end=np.zeros(residency),
        group_left=group_left,
        # (every job of a whole run is released, started and ended: its timings are all written)
        ready=np.empty(n), start=np.empty(n), end=np.empty(n), service_s=np.empty(n), energy=np.empty(n),
        cold=np.zeros(n, np.bool_), file_end=np.full(a.n_files, np.nan), gpu=np.zeros(n, np.int32),
        ints=ints, floats=np.zeros(2))


class Boundary(NamedTuple):
    """Where a block's loop stopped (copies): its jobs named by their rows in that block's
    table (``queued``: each pool's queue, pool after pool, ``queued_n`` long; ``w_job``),
    the rest as the loop left it."""

    fq: np.ndarray  # events due now, in order
    ht: np.ndarray  # the heap's entries, as laid out
    hk: np.ndarray
    queued: np.ndarray
    queued_n: np.ndarray
    gq_first: np.ndarray
    gq_last: np.ndarray
    gq_next: np.ndarray
    w_job: np.ndarray
    w_period: np.ndarray
    inflight: np.ndarray
    last_period: np.ndarray
    last_end: np.ndarray
    ints: np.ndarray
    floats: np.ndarray
    scale: ScaleState | None

    @staticmethod
    def of(s: LoopState, z: ScaleState | None) -> Boundary:
        """The boundary where the loop on ``s`` (and the autoscalers' ``z``) stopped."""
        f_head, f_tail, hsize = (int(s.ints[i]) for i in (F_HEAD, F_TAIL, HSIZE))
        mask = len(s.fq) - 1
        fq = s.fq[np.arange(f_head, f_tail) & mask]
        queued = [s.items[h:t] for h, t in zip(s.it_head.astype(np.int64), s.it_tail.astype(np.int64))]
        z = None if z is None else ScaleState(*(x.copy() for x in z))
        return Boundary(fq, s.ht[:hsize].copy(), s.hk[:hsize].copy(), np.concatenate(queued).astype(np.int64),
                        np.array([len(q) for q in queued], np.int64), s.gq_first.copy(), s.gq_last.copy(),
                        s.gq_next.copy(), s.w_job.astype(np.int64), s.w_period.copy(), s.inflight.copy(),
                        s.last_period.copy(), s.last_end.copy(), s.ints.copy(), s.floats.copy(), z)

    def renamed(self, new_row: np.ndarray) -> Boundary:
        """The boundary with its jobs renamed by ``new_row`` (old row -> new, -1 for a job
        not carried on: only a slot's stale job can be one, and becomes 0)."""
        queued = new_row[self.queued]
        if (queued < 0).any():
            raise AssertionError("a queued job was not carried into the next block")
        renamed = new_row[np.minimum(self.w_job, len(new_row) - 1)] if len(new_row) else np.full(len(self.w_job), -1)
        w_job = np.where((self.w_job < len(new_row)) & (renamed >= 0), renamed, 0)
        return self._replace(queued=queued, w_job=w_job)

    def resumed(self, a: KernelInputs, fifo: int, heap_room: int, carried: Presets) -> tuple[LoopState, int]:
        """The state for the next block's jobs ``a`` (the carried ones first, their timings
        so far and their groups' jobs left in ``carried``), and the ring's size used: at
        least ``fifo``, and twice the events due now."""
        while fifo < 2 * len(self.fq) + 2 * len(a.worker_pool) + 4:
            fifo *= 2
        s = _state(a, fifo, max(heap_room, len(self.ht)), len(self.inflight))
        k = len(self.fq)
        s.fq[:k] = self.fq
        s.ht[: len(self.ht)] = self.ht
        s.hk[: len(self.hk)] = self.hk
        lo = 0
        for p, count in enumerate(self.queued_n.tolist()):
            head = int(s.it_head[p])
            s.items[head : head + count] = self.queued[lo : lo + count]
            s.it_tail[p] = head + count
            lo += count
        for name in ("gq_first", "gq_last", "gq_next", "w_period", "inflight", "last_period", "last_end", "floats"):
            getattr(s, name)[:] = getattr(self, name)
        s.w_job[:] = self.w_job
        s.ints[:] = self.ints
        s.ints[F_HEAD], s.ints[F_TAIL] = 0, k
        carried.into(s)
        return s, fifo


class Presets(NamedTuple):
    """The jobs carried into a block, the first rows of its table: their timings so far
    (released, started, ended or not), and their groups' jobs not ended yet."""

    ready: np.ndarray
    start: np.ndarray
    end: np.ndarray
    cold: np.ndarray
    gpu: np.ndarray
    group_left: np.ndarray  # per carried group, the first groups of the table

    def into(self, s: LoopState) -> None:
        k = len(self.ready)
        for name in ("ready", "start", "end", "cold", "gpu"):
            getattr(s, name)[:k] = getattr(self, name)
        s.group_left[: len(self.group_left)] = self.group_left
