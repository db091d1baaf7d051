"""The fast engine fed a replication's files block by block (always-on pools).

The FIFO recursion takes groups in order of release, so a block of files can be simulated
on its own, from the state the blocks before it left (``FifoState``: the slots' free times
and last services, the models' last ends per GPU, the arrival process's clock), as long as
none of its groups is released after the next block's first arrival: then nothing of the
next block could have come between, and the timings are the whole run's, bit for bit.
Groups released later (``PENDING``) are handed back (``Released``: when, and by which end,
which orders them among groups and arrivals at the same time), for the caller to carry
into the next block. A tie the recursion cannot settle (``TIED``: ends at the same time in
different pools of jobs started together, or a job that ends as it starts) needs the
event loop, on the whole replication.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from sim.engine.types import JobTable, PoolSpec, ServiceSpec, Timings

from . import loop_state
from .driver import Sizes, _intervals, autoscaled
from .event_loop import _simulate
from .fifo import DONE, PENDING, TIED, FifoState, Released, _fifo_from
from .inputs import ScaleState, _kernel_args, _scale_args, _scale_state
from .loop_state import Boundary, Presets

__all__ = ["DONE", "PENDING", "TIED", "Carried", "FastStream", "LoopCarried", "LoopStream", "Released", "Step"]


class FastStream:
    """The FIFO recursion's state across the blocks of one replication (an autoscaler's
    state, for a policy that had one, would travel with it)."""

    def __init__(self, pools: list[PoolSpec], services: list[ServiceSpec]):
        if not all(p.schedule.always for p in pools):
            raise ValueError("streamed replications need always-on pools (the FIFO recursion)")
        self.pools, self.services = pools, services
        n_workers = sum(p.gpus * p.slots_per_gpu for p in pools)
        self.state = FifoState.fresh(n_workers, max(1, sum(p.gpus for p in pools)), max(len(services), 1))
        self._first = True

    def block(self, jobs: JobTable, file_arrival_s: np.ndarray, t_next: float, carried: Carried | None = None) -> Step:
        """Simulate a block of files (``jobs`` index them from 0; the first
        ``carried.files`` of them are files carried from the block before, whose groups
        ``carried.released.groups`` are to be released) whose next block's first file
        arrives at ``t_next`` (s; inf for the last): ``DONE``, ``PENDING`` (groups still to
        release after ``t_next``, in ``Step.released``: the jobs of their files from those
        groups on are not simulated yet) or ``TIED``."""
        args = _kernel_args(jobs, file_arrival_s, self.pools, self.services)
        init = Released.none()
        if carried is not None and carried.files:
            first = args.group_file[args.arr_groups] >= carried.files  # carried files do not arrive
            args = args._replace(arr_groups=args.arr_groups[first], arr_times=args.arr_times[first])
            init = carried.released
        waits0 = int(self.state.waits[0])
        ready, start, end, cold, service_s, energy, file_end, gpu, status, *left = _fifo_from(
            args, self.state, float(t_next), *init)
        if status == TIED:
            return Step.tied()
        released = Released(*(x.copy() for x in left))
        timed = len(jobs) - _untimed(jobs, released.groups)
        # SimPy's count, shared out: the slots' and the arrival process's starts and end once,
        # each wait of the arrival process, and a put, a get and an end per job
        events = 3 * timed + int(self.state.waits[0]) - waits0 + (len(self.state.free_t) + 2 if self._first else 0)
        self._first = False
        t = Timings(ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=service_s, energy_j=energy,
                    file_end_s=file_end, events=events, gpu=gpu)
        return Step(PENDING if status == PENDING else DONE, t, released.groups, timed, released)

    @staticmethod
    def carried(step: Step, order: np.ndarray, heads: np.ndarray, rows: np.ndarray, groups: np.ndarray) -> Carried:
        """What the next block takes from ``step`` (``Step.heads`` in the ``order`` their files
        come; ``heads``, their groups in the next block's table; ``rows`` and ``groups``,
        its carried jobs' and groups' rows in this block's)."""
        return Carried(len(heads), step.left.take(order)._replace(groups=heads))


class Carried(NamedTuple):
    """Files carried into a block: the first ``files`` of its table, and their groups to
    release (``released.groups``: indices in its table)."""

    files: int
    released: Released


class Step(NamedTuple):
    """What a stream's ``block`` did: its status, the timings (final for the jobs not
    carried on), the groups its unfinished files are carried on from (``heads``: one a
    file; the FIFO recursion's groups still to release after the next block's first
    arrival), how many jobs it timed, and what the next block takes from it (``left``:
    ``Released``; the event loop's ``_LoopLeft``)."""

    status: int
    timings: Timings | None
    heads: np.ndarray
    timed: int
    left: Any

    @staticmethod
    def tied() -> Step:
        """A block the stream cannot simulate (the replication must run whole)."""
        return Step(TIED, None, np.zeros(0, np.int64), 0, None)


def _untimed(jobs: JobTable, groups: np.ndarray) -> int:
    """Jobs of ``groups`` and of the groups after them in their files."""
    n = 0
    for g in groups.tolist():
        while g >= 0:
            n += int(jobs.group_first_job[g + 1] - jobs.group_first_job[g])
            g = int(jobs.group_next[g])
    return n


class LoopCarried(NamedTuple):
    """Files carried into a block by the event loop: the first ``files`` of its table, where
    the loop stopped (``boundary``, its jobs renamed to the table's rows) and the carried
    jobs' timings so far (``presets``)."""

    files: int
    boundary: Boundary
    presets: Presets


class _LoopLeft(NamedTuple):
    boundary: Boundary
    group_left: np.ndarray


class LoopStream:
    """The event loop's state across the blocks of one replication: any pools (always on,
    scheduled, autoscaled). Each block runs until the arrival process is about to wake for
    the next block's first file (see ``loop_state``); the files not ended then are carried
    into the next block from their first group not complete, with their jobs' timings so
    far. It never meets a tie it cannot settle: the loop is SimPy's order itself."""

    def __init__(self, pools: list[PoolSpec], services: list[ServiceSpec], pool_names=None):
        self.pools, self.services, self.pool_names = pools, services, pool_names
        scale = _scale_args(pools)
        self.scale = scale if autoscaled(scale) else None
        self.sizes: Sizes | None = None
        self.events = 0  # SimPy's count, so far
        self.intervals = None  # the autoscaled pools' instance intervals, after the last block
        self.wakes_at: float | None = None  # the first arrival the block before stopped for (s)

    def block(self, jobs: JobTable, file_arrival_s: np.ndarray, t_next: float,
              carried: LoopCarried | None = None) -> Step:
        """Simulate a block of files (``jobs`` index them from 0; the first
        ``carried.files`` of them carried from the block before) whose next block's first
        file arrives at ``t_next`` (s; inf for the last): ``DONE`` (the last block) or
        ``PENDING``, with the groups its unfinished files go on from (``Step.heads``);
        ``TIED`` where the next block's first file arrives with this block's last (the
        arrival process would release both in one step), or where this block's first
        arrival is not the one the block before stopped for (its first file had no job)."""
        args = _kernel_args(jobs, file_arrival_s, self.pools, self.services)
        if carried is not None and carried.files:
            first = args.group_file[args.arr_groups] >= carried.files  # carried files do not arrive
            args = args._replace(arr_groups=args.arr_groups[first], arr_times=args.arr_times[first])
        if len(args.arr_times) and not args.arr_times[-1] < t_next:
            return Step.tied()
        if self.wakes_at is not None and not (len(args.arr_times) and args.arr_times[0] == self.wakes_at):
            return Step.tied()  # the block before stopped for a first arrival that is not this block's
        self.wakes_at = t_next if t_next < np.inf else None
        sizes = Sizes.of(args, self.scale)
        if self.sizes is not None:
            sizes = Sizes(*(max(x, y) for x, y in zip(sizes, self.sizes)))
        while True:
            z = self._scale_state(sizes.rows, carried)
            if carried is None:
                s, fifo = loop_state.fresh_state(args, sizes.fifo, sizes.heap_room), sizes.fifo
            else:
                s, fifo = carried.boundary.resumed(args, sizes.fifo, sizes.heap_room, carried.presets)
            status = _simulate(args, self.scale, z, s, t_next)
            if status != loop_state.GROW:
                break
            sizes = sizes._replace(fifo=fifo).grown(self.scale, z, len(jobs), self.pool_names)
        self.sizes = sizes._replace(fifo=fifo)
        events = int(s.ints[loop_state.EVENTS])
        t = Timings(ready_s=s.ready, start_s=s.start, end_s=s.end, cold=s.cold, service_s=s.service_s,
                    energy_j=s.energy, file_end_s=s.file_end, events=events - self.events, gpu=s.gpu)
        self.events = events
        if status == loop_state.DONE:
            self.intervals = _intervals(self.scale, z) if z is not None else None
            return Step(DONE, t, np.zeros(0, np.int64), len(jobs), None)
        heads = _heads(jobs, s.group_left)
        return Step(PENDING, t, heads, len(jobs), _LoopLeft(Boundary.of(s, z), s.group_left))

    def _scale_state(self, rows: int, carried: LoopCarried | None) -> ScaleState | None:
        """The autoscalers' state for a block: fresh, or as the block before left it, with
        room for ``rows`` more instance intervals."""
        if self.scale is None:
            return None
        n_workers = len(self.scale.slot_inst)
        if carried is None:
            return _scale_state(self.scale, n_workers, rows)
        before = carried.boundary.scale
        n = int(before.n_intervals[0])
        z = _scale_state(self.scale, n_workers, n + rows)
        for name in ("pool", "inst", "slot_gen", "n_intervals"):
            getattr(z, name)[:] = getattr(before, name)
        z.interval_pool[:n], z.interval[:n] = before.interval_pool[:n], before.interval[:n]
        return z

    @staticmethod
    def carried(step: Step, order: np.ndarray, heads: np.ndarray, rows: np.ndarray, groups: np.ndarray) -> LoopCarried:
        """What the next block takes from ``step`` (see ``FastStream.carried``)."""
        t = step.timings
        new_row = np.full(len(t.ready_s), -1, np.int64)
        new_row[rows] = np.arange(len(rows))
        presets = Presets(t.ready_s[rows], t.start_s[rows], t.end_s[rows], t.cold[rows], t.gpu[rows],
                          step.left.group_left[groups])
        return LoopCarried(len(heads), step.left.boundary.renamed(new_row), presets)


def _heads(jobs: JobTable, group_left: np.ndarray) -> np.ndarray:
    """Per file not ended: its first group with a job not ended (released: the groups
    before it are complete)."""
    gn = np.asarray(jobs.group_next, dtype=np.int64)
    complete_before = np.ones(len(gn), dtype=bool)  # the group before it in its file is complete (or there is none)
    has_next = gn >= 0
    complete_before[gn[has_next]] = group_left[has_next] == 0
    return np.flatnonzero((group_left > 0) & complete_before)
