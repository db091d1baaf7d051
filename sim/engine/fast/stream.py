"""The fast engine fed a replication's files block by block (always-on pools).

The FIFO recursion takes groups in order of release, so a block of files can be simulated
on its own, from the state the blocks before it left (``FifoState``: the slots' free times
and last services, the models' last ends per GPU, the arrival process's clock), as long as
none of its groups is released after the next block's first arrival: then nothing of the
next block could have come between, and the timings are the whole run's, bit for bit.
Otherwise (``PENDING``) the state is left as it was, and the caller takes the two blocks
together. A tie (``TIED``) needs the event loop, on the whole replication.
"""

from __future__ import annotations

import numpy as np

from sim.engine.types import JobTable, PoolSpec, ServiceSpec, Timings

from .fifo import DONE, PENDING, TIED, FifoState, _fifo_from
from .inputs import _kernel_args

__all__ = ["DONE", "PENDING", "TIED", "FastStream"]


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

    def block(self, jobs: JobTable, file_arrival_s: np.ndarray, t_next: float) -> tuple[int, Timings | None]:
        """Simulate a block of files (``jobs`` index them from 0) whose next block's first
        file arrives at ``t_next`` (s; inf for the last): (``DONE``, its timings), or
        (``PENDING`` or ``TIED``, None) with the state unchanged."""
        args = _kernel_args(jobs, file_arrival_s, self.pools, self.services)
        saved = self.state.copy()
        waits0 = int(self.state.waits[0])
        ready, start, end, cold, service_s, energy, file_end, gpu, status = _fifo_from(args, *self.state, float(t_next))
        if status != DONE:
            for now, before in zip(self.state, saved):
                now[:] = before
            return (PENDING if status == PENDING else TIED), None
        # SimPy's count, shared out: the slots' and the arrival process's starts and end once,
        # each wait of the arrival process, and a put, a get and an end per job
        events = 3 * len(jobs) + int(self.state.waits[0]) - waits0 + (len(self.state.free_t) + 2 if self._first else 0)
        self._first = False
        return DONE, Timings(ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=service_s, energy_j=energy,
                             file_end_s=file_end, events=events, gpu=gpu)
