"""The SimPy model: GPU pools serving the jobs of a replication, FIFO, with contention.

Shape (as SimPy's carwash example): a class owns the resources, generator functions are
the processes. Each pool has one worker process per GPU slot, all taking jobs from the
pool's FIFO ``simpy.Store``; an idle slot that has waited longest takes the next job. A
file's first stage is released at its arrival; each later stage when the whole previous
stage (all fan-out jobs) has finished.

Model residency: a slot's GPU holds a service's model while the pool is on. A job is cold
(pays the model's load time and energy) when no job of that service is running on the GPU
and the model was never loaded in this on-period, or has sat unused longer than the
service's keep-alive. A scheduled pool starts jobs only while on; a job started before the
pool switches off runs to its end. An autoscaled pool's instances come and go with the load
(``sim.engine.autoscale``); a new instance never finds a model resident.

Inputs are arrays sampled beforehand (``JobTable``), so the model draws no random numbers:
any other engine fed the same arrays must give the same timings.
"""

from __future__ import annotations

import gc

import numpy as np
import simpy

from .autoscale import Autoscaler, Instance
from .types import JobTable, PoolSpec, ServiceSpec, Timings


class PoolModel:
    """The GPUs of one pool and the residency of models on them."""

    def __init__(self, env: simpy.Environment, spec: PoolSpec):
        self.env = env
        self.spec = spec
        self.queue = simpy.Store(env)
        self.inflight: dict[tuple[int, int], int] = {}
        self.last_end: dict[tuple[int, int], tuple[int, float]] = {}  # (gpu, svc) -> (period, end)
        self.scaler: Autoscaler | None = None


class Simulation:
    """Runs one replication's jobs through the pools."""

    def __init__(self, jobs: JobTable, file_arrival_s: np.ndarray, pools: list[PoolSpec], services: list[ServiceSpec]):
        self.jobs = jobs
        self.arrival = file_arrival_s
        self.env = simpy.Environment()
        self.pools = [PoolModel(self.env, p) for p in pools]
        for pool in self.pools:
            if pool.spec.autoscale is not None:
                pool.scaler = Autoscaler(self.env, pool.spec.autoscale, pool.spec.slots_per_gpu, pool.queue,
                                         lambda inst, pool=pool: self.start_instance(pool, inst))
        self.services = services
        n = len(jobs)
        # Python lists: element writes are several times cheaper than on NumPy arrays.
        self._time = jobs.time_s.tolist()
        self._energy = jobs.energy_j.tolist()
        self._service = jobs.service.tolist()
        self._pool = jobs.pool.tolist()
        self._group = jobs.group.tolist()
        self._gfirst = jobs.group_first_job.tolist()
        self._gnext = jobs.group_next.tolist()
        self._gfile = jobs.group_file.tolist()
        self.ready = [0.0] * n
        self.start = [0.0] * n
        self.end = [0.0] * n
        self.cold = [False] * n
        self.gpu = [0] * n
        self.extra_energy = [0.0] * n
        self.group_left = np.diff(jobs.group_first_job).tolist()
        self.file_end = np.full(len(file_arrival_s), np.nan)

    # -- processes --------------------------------------------------------------------
    def arrivals(self):
        """Release each file's first group at the file's arrival time."""
        first_groups = np.flatnonzero(np.r_[True, self.jobs.group_file[1:] != self.jobs.group_file[:-1]]) if len(self._gfile) else []
        times = self.arrival[self.jobs.group_file[first_groups]] if len(first_groups) else []
        order = np.argsort(times, kind="stable")
        env = self.env
        for g, t in zip(np.asarray(first_groups)[order].tolist(), np.asarray(times)[order].tolist()):
            if t > env.now:
                yield env.timeout(t - env.now)
            self.release(g)

    def release(self, g: int) -> None:
        now = self.env.now
        for j in range(self._gfirst[g], self._gfirst[g + 1]):
            self.ready[j] = now
            pool = self.pools[self._pool[j]]
            pool.queue.put(j)
            if pool.scaler is not None:
                pool.scaler.update()

    def worker(self, pool: PoolModel, gpu: int):
        env = self.env
        schedule = pool.spec.schedule
        while True:
            j = yield pool.queue.get()
            if not schedule.always and not schedule.is_on(env.now):
                yield env.timeout(schedule.next_on(env.now) - env.now)
            yield from self.serve(pool, gpu, schedule.on_period(env.now), j)

    def instance_worker(self, pool: PoolModel, inst: Instance, gpu: int):
        """A slot of an autoscaled instance: takes jobs until the instance is retired."""
        scaler = pool.scaler
        assert scaler is not None
        while True:
            request = pool.queue.get()
            inst.waiting.append(request)
            scaler.update()  # a slot asked for work: it is free unless a job was waiting
            j = yield request  # (a retired instance cancels the request: the process ends here)
            inst.waiting.remove(request)
            yield from self.serve(pool, gpu, inst.generation, j)
            if inst.draining:
                scaler.finished(inst)
                return

    def start_instance(self, pool: PoolModel, inst: Instance) -> None:
        gpus = pool.spec.autoscale.gpus_per_instance  # type: ignore[union-attr]
        for gpu in range(inst.index * gpus, (inst.index + 1) * gpus):
            for _ in range(pool.spec.slots_per_gpu):
                self.env.process(self.instance_worker(pool, inst, gpu))

    def serve(self, pool: PoolModel, gpu: int, period: int, j: int):
        """Run job ``j`` on ``gpu``, loading its model first when it is not resident there
        in on-period (or instance) ``period``."""
        env = self.env
        now = env.now
        s = self._service[j]
        key = (gpu, s)
        svc = self.services[s]
        busy = pool.inflight.get(key, 0)
        dur = self._time[j]
        if busy == 0:
            last = pool.last_end.get(key)
            if last is None or last[0] != period or (svc.keep_alive_s is not None and now - last[1] > svc.keep_alive_s):
                self.cold[j] = True
                dur += svc.load_time_s
                self.extra_energy[j] = svc.load_energy_j
        pool.inflight[key] = busy + 1
        self.start[j] = now
        self.gpu[j] = gpu
        yield env.timeout(dur)
        now = env.now
        self.end[j] = now
        pool.inflight[key] -= 1
        prev = pool.last_end.get(key)
        if prev is None or prev[0] != period or prev[1] < now:
            pool.last_end[key] = (period, now)
        self.complete(j)

    def complete(self, j: int) -> None:
        g = self._group[j]
        self.group_left[g] -= 1
        if self.group_left[g] == 0:
            nxt = self._gnext[g]
            if nxt >= 0:
                self.release(nxt)
            else:
                self.file_end[self._gfile[g]] = self.env.now

    # -- run ----------------------------------------------------------------------------
    def run(self) -> Timings:
        for pool in self.pools:
            if pool.scaler is not None:
                pool.scaler.start(pool.spec.autoscale.start_instances)  # type: ignore[union-attr]
                continue
            for gpu in range(pool.spec.gpus):
                for _ in range(pool.spec.slots_per_gpu):
                    self.env.process(self.worker(pool, gpu))
        self.env.process(self.arrivals())
        events = 0
        step = self.env.step
        try:
            while True:
                step()
                events += 1
        except simpy.core.EmptySchedule:
            pass
        start = np.asarray(self.start)
        end = np.asarray(self.end)
        return Timings(
            ready_s=np.asarray(self.ready), start_s=start, end_s=end,
            cold=np.asarray(self.cold, dtype=bool), service_s=end - start,
            energy_j=self.jobs.energy_j + np.asarray(self.extra_energy),
            file_end_s=self.file_end, events=events, gpu=np.asarray(self.gpu, dtype=np.int32),
            instance_intervals=self._intervals(),
        )

    def _intervals(self) -> tuple[np.ndarray | None, ...] | None:
        if all(p.scaler is None for p in self.pools):
            return None
        return tuple(None if p.scaler is None else np.array(p.scaler.intervals, dtype=float).reshape(-1, 2)
                     for p in self.pools)


def simulate(jobs: JobTable, file_arrival_s: np.ndarray, pools: list[PoolSpec], services: list[ServiceSpec]) -> Timings:
    """Run the SimPy model on pre-sampled jobs."""
    timings = Simulation(jobs, file_arrival_s, pools, services).run()
    # The slots still waiting for a job at the end hold the model through reference cycles
    # (a SimPy process and its pending request refer to each other): collected now, the
    # replication's memory is freed at once, not at the collector's next full pass, which
    # comes late with millions of objects alive (memory then grew by a replication's worth
    # with each replication a worker ran).
    gc.collect()
    return timings
