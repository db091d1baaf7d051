"""The event loop's driver: it sizes the loop's ring, heap and interval rows, runs it again
with more where they were too small, and reads the autoscaled pools' instance intervals
back (see ``sim.engine.fast``)."""

from __future__ import annotations

import numpy as np

from .event_loop import _simulate
from .inputs import MAX_I, START_I, KernelInputs, ScaleInputs, _scale_state


def _event_loop(args: KernelInputs, scale: ScaleInputs | None = None, pool_names=None) -> tuple:
    """``_simulate``'s results, with the autoscaled pools' instance intervals before ``ok``
    (``Timings.instance_intervals``: None when no pool autoscales), its ring of events due
    now, its heap and its intervals made large enough.

    Raises ``ValueError`` where an autoscaled pool scales out and in without end at one
    instant (SimPy would never finish: see ``_endless``); ``pool_names`` name the pools.
    """
    n_workers = len(args.worker_pool)
    fifo = 1024
    while fifo < 8 * (n_workers + 2):
        fifo *= 2
    if scale is None or not scale.on.any():  # the loop compiled without the autoscaler (``sc`` None)
        return _simulate_grown(args, fifo, 2) + (None, True)
    max_group = int(np.diff(args.group_first_job).max(initial=1))
    while fifo < 4 * (2 * n_workers + max_group * (3 + int(scale.rule[:, MAX_I].max()))):
        fifo *= 2
    heap_room = 16 + 4 * len(scale.inst_pool)
    rows = 64 + int(scale.rule[:, START_I].sum()) + len(args.time_s) // 64
    while True:
        state = _scale_state(scale, n_workers, rows)
        out = _simulate(args, scale, state, fifo, heap_room)
        if out[-1]:
            return out[:-1] + (_intervals(scale, state), True)
        if state.n_intervals[0] == rows:  # more instances were provisioned than rows
            _endless(scale, state, len(args.time_s), pool_names)
            rows *= 4
        else:  # more events fell due at one instant than the ring holds, or more timeouts
            fifo, heap_room = fifo * 4, heap_room * 4  # were pending than the heap's room


def _simulate_grown(args: KernelInputs, fifo: int, heap_room: int) -> tuple:
    """``_simulate`` without autoscaling (the loop compiled without it), but ``ok``, its ring
    made large enough."""
    while True:
        out = _simulate(args, None, None, fifo, heap_room)
        if out[-1]:
            return out[:-1]
        fifo *= 4  # more events fell due at one instant than the ring holds: run again, larger


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
