"""The event loop's driver: it sizes the loop's ring, heap and interval rows, runs it again
with more where they were too small, and reads the autoscaled pools' instance intervals
back (see ``sim.engine.fast``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .event_loop import _simulate
from .inputs import MAX_I, START_I, KernelInputs, ScaleInputs, ScaleState, _scale_state
from .loop_state import DONE, EVENTS, fresh_state


class Sizes(NamedTuple):
    """The room the event loop is given: its ring of events due now (a power of two), its
    heap's room for timeouts besides the slots' own, and rows for instance intervals."""

    fifo: int
    heap_room: int
    rows: int

    @staticmethod
    def of(args: KernelInputs, scale: ScaleInputs | None) -> Sizes:
        """A first guess for the jobs of ``args``: enough in every case seen."""
        n_workers = len(args.worker_pool)
        fifo = 1024
        while fifo < 8 * (n_workers + 2):
            fifo *= 2
        if not autoscaled(scale):
            return Sizes(fifo, 2, 0)
        max_group = int(np.diff(args.group_first_job).max(initial=1))
        while fifo < 4 * (2 * n_workers + max_group * (3 + int(scale.rule[:, MAX_I].max()))):
            fifo *= 2
        return Sizes(fifo, 16 + 4 * len(scale.inst_pool), 64 + int(scale.rule[:, START_I].sum()) + len(args.time_s) // 64)

    def grown(self, scale: ScaleInputs | None, state: ScaleState | None, n_jobs: int, pool_names) -> Sizes:
        """The sizes after a run that returned ``GROW``: more rows where the intervals ran
        out (raises ``ValueError`` where a pool scales out and in without end: see
        ``_endless``), else a larger ring and heap (more events fell due at one instant
        than the ring holds, or more timeouts were pending than the heap's room)."""
        if state is not None and state.n_intervals[0] == len(state.interval_pool):
            _endless(scale, state, n_jobs, pool_names)
            return self._replace(rows=self.rows * 4)
        return self._replace(fifo=self.fifo * 4, heap_room=self.heap_room * 4)


def autoscaled(scale: ScaleInputs | None) -> bool:
    """Whether a pool autoscales (the loop then runs with the autoscaler compiled in)."""
    return scale is not None and bool(scale.on.any())


def _event_loop(args: KernelInputs, scale: ScaleInputs | None = None, pool_names=None) -> tuple:
    """``_simulate``'s timings on a whole replication (ready, start, end, cold, service
    time, energy, file end, GPU, SimPy's event count), with the autoscaled pools' instance
    intervals (``Timings.instance_intervals``: None when no pool autoscales) and True, its
    ring of events due now, its heap and its intervals made large enough.

    Raises ``ValueError`` where an autoscaled pool scales out and in without end at one
    instant (SimPy would never finish: see ``_endless``); ``pool_names`` name the pools.
    """
    sizes = Sizes.of(args, scale)
    on = autoscaled(scale)  # (else the loop compiled without the autoscaler: ``sc`` None)
    while True:
        state = _scale_state(scale, len(args.worker_pool), sizes.rows) if on else None
        s = fresh_state(args, sizes.fifo, sizes.heap_room)
        if _simulate(args, scale if on else None, state, s, np.inf) == DONE:
            return (s.ready, s.start, s.end, s.cold, s.service_s, s.energy, s.file_end, s.gpu, int(s.ints[EVENTS]),
                    _intervals(scale, state) if on else None, True)
        sizes = sizes.grown(scale, state, len(args.time_s), pool_names)


def _intervals(scale: ScaleInputs, state) -> tuple[np.ndarray | None, ...] | None:
    """Each autoscaled pool's instance intervals ([provisioned, retired) per instance, in
    order of provisioning; None for other pools), None when no pool autoscales."""
    if not scale.on.any():
        return None
    rows = int(state.n_intervals[0])
    pool, spans = state.interval_pool[:rows], state.interval[:rows]
    return tuple(spans[pool == p].copy() if on else None for p, on in enumerate(scale.on.tolist()))


def _endless(scale: ScaleInputs, state, n_jobs: int, pool_names) -> None:
    """Raise ``ValueError`` when the last instance provisioned is one of more than the jobs
    and four times the cap provisioned at the same instant: the pool scales out and in
    without end there, and SimPy would never finish. (With the utilisation metric, window,
    boot and cool-down all 0, or too short to move the clock, an instance added to a busy
    pool can leave a whole instance's worth of slots free, and go at once.)"""
    rows = int(state.n_intervals[0])
    p, t = int(state.interval_pool[rows - 1]), float(state.interval[rows - 1, 0])
    same = int(np.count_nonzero((state.interval_pool[:rows] == p) & (state.interval[:rows, 0] == t)))
    if same > n_jobs + 4 * int(scale.rule[p, MAX_I]):
        name = pool_names[p] if pool_names is not None else p
        raise ValueError(f"pool `{name}` scales out and in without end at t = {t} s: its busy share stays above the "
                         "threshold with a whole instance free (metric utilisation with time_window_s, boot_s and "
                         "cooldown_s all 0, or too short to move the clock); give one of them a positive time (a "
                         "second or more), or use metric queue_per_slot")
