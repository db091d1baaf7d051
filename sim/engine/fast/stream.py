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

from typing import NamedTuple

import numpy as np

from sim.engine.types import JobTable, PoolSpec, ServiceSpec, Timings

from .fifo import DONE, PENDING, TIED, FifoState, Released, _fifo_from
from .inputs import _kernel_args

__all__ = ["DONE", "PENDING", "TIED", "Carried", "FastStream", "Released", "Step"]


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
            return Step(TIED, None, Released.none(), 0)
        released = Released(*(x.copy() for x in left))
        timed = len(jobs) - _untimed(jobs, released.groups)
        # SimPy's count, shared out: the slots' and the arrival process's starts and end once,
        # each wait of the arrival process, and a put, a get and an end per job
        events = 3 * timed + int(self.state.waits[0]) - waits0 + (len(self.state.free_t) + 2 if self._first else 0)
        self._first = False
        t = Timings(ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=service_s, energy_j=energy,
                    file_end_s=file_end, events=events, gpu=gpu)
        return Step(PENDING if status == PENDING else DONE, t, released, timed)


class Carried(NamedTuple):
    """Files carried into a block: the first ``files`` of its table, and their groups to
    release (``released.groups``: indices in its table)."""

    files: int
    released: Released


class Step(NamedTuple):
    """What ``FastStream.block`` did: its status, the timings (of the jobs not carried on),
    the groups still to release after the next block's first arrival (and when), and how
    many jobs it timed."""

    status: int
    timings: Timings | None
    released: Released
    timed: int


def _untimed(jobs: JobTable, groups: np.ndarray) -> int:
    """Jobs of ``groups`` and of the groups after them in their files."""
    n = 0
    for g in groups.tolist():
        while g >= 0:
            n += int(jobs.group_first_job[g + 1] - jobs.group_first_job[g])
            g = int(jobs.group_next[g])
    return n
