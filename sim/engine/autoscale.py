"""Autoscaling in the SimPy model: instances of a pool provisioned and retired with the load.

The rule is ``AutoscaleRule``'s, as an Azure autoscale rule reads:

- **scale out** by ``scale_out_by`` (up to ``max_instances``) once the metric has stayed
  above ``threshold`` for a whole ``time_window_s`` (Azure's time aggregation *Minimum*).
  The metric is ``queue_per_slot`` (jobs waiting per serving slot) or ``utilisation``
  (busy share of the serving slots). A new instance is provisioned (billed, drawing idle
  power) at once and serves ``boot_s`` later; while one boots no further scale-out is
  considered, and the window starts again when it serves (Azure's cool-down after a
  scale-out). A pool with no instance at all scales out as soon as a job waits
  (serverless: that job pays the boot, then its model's cold load).
- **scale in** one instance once a whole instance's worth of slots has stayed free, with
  nothing queued, for ``cooldown_s``, down to ``min_instances``. The instance retired is
  the one with the most free slots (the latest provisioned among equals); its running
  jobs finish first, and it is provisioned until the last one ends.

The metric changes only when a job is queued, a slot asks for its next job, or an
instance comes or goes: the rule is evaluated then, and a timer checks that a condition
held without a break. No polling, so an idle pool costs no events.
"""

from __future__ import annotations

import math
from typing import Callable

import simpy

from .provisioning import AutoscaleRule


class Instance:
    """One provisioned instance: its GPUs, the slots' pending requests for a job, its life."""

    def __init__(self, index: int, generation: int, interval: int):
        self.index = index  # its GPUs are index * gpus_per_instance + 0..gpus_per_instance-1
        self.generation = generation  # a new instance never finds a model resident
        self.interval = interval  # its row in ``Autoscaler.intervals``
        self.waiting: list[simpy.resources.store.StoreGet] = []  # slots' requests for their next job
        self.workers = 0  # slot processes still running
        self.serving = False
        self.draining = False

    def free_slots(self) -> int:
        return sum(1 for r in self.waiting if not r.triggered)


class HeldFor:
    """Calls ``action`` once a condition has held for ``delay_s`` without a break."""

    def __init__(self, env: simpy.Environment, delay_s: float, action: Callable[[], None]):
        self.env = env
        self.delay_s = delay_s
        self.action = action
        self.since: float | None = None
        self.token = 0  # a timer set for an earlier stretch finds a newer token and does nothing

    def update(self, holds: bool) -> None:
        if holds and self.since is None:
            self.since = self.env.now
            self.token += 1
            token = self.token
            self.env.timeout(self.delay_s).callbacks.append(lambda _event: self._fire(token))
        elif not holds and self.since is not None:
            self.since = None
            self.token += 1

    def _fire(self, token: int) -> None:
        if token == self.token:
            self.since = None
            self.token += 1
            self.action()


class Autoscaler:
    """The instances of one pool and the rule that adds and retires them.

    ``start_workers(instance)`` starts an instance's slot processes, which take jobs from
    ``queue``; each calls ``update`` after it asks for a job, and ``finished`` when it ends
    (a draining instance's slot, after its last job).
    """

    def __init__(self, env: simpy.Environment, rule: AutoscaleRule, slots_per_gpu: int, queue: simpy.Store,
                 start_workers: Callable[[Instance], None]):
        self.env = env
        self.rule = rule
        self.slots_per_instance = rule.gpus_per_instance * slots_per_gpu
        self.queue = queue
        self.start_workers = start_workers
        self.instances: list[Instance | None] = []  # by index; None where an index is free
        self.intervals: list[list[float]] = []  # [provisioned, retired] per instance ever provisioned
        self.generations = 0
        self.booting = 0
        self.n_provisioned = 0  # billed now: booting, serving or finishing their last jobs
        self.n_serving = 0  # taking jobs (serving and not draining)
        self.out = HeldFor(env, rule.time_window_s, self.scale_out)
        self.in_ = HeldFor(env, rule.cooldown_s, self.scale_in)

    # -- state ------------------------------------------------------------------------------
    def update(self) -> None:
        """Re-evaluate the rule after a change of the queue, the slots or the instances.

        A job put in the queue meets a free slot's request only when its put event is
        processed, later in the same instant: jobs waiting and slots free are counted with
        the two matched already, so that the metric does not flicker within an instant.
        (Called at every put and every request for a job: kept lean.)
        """
        rule = self.rule
        queued, asking = len(self.queue.items), len(self.queue.get_queue)
        waiting = queued - asking if queued > asking else 0
        free = asking - queued if asking > queued else 0
        out = False
        if self.n_provisioned < rule.max_instances:
            if self.n_provisioned == 0 and waiting:
                self.scale_out()  # serverless: the first job waits for the boot, not for a window
                return
            if self.booting == 0:
                slots = self.n_serving * self.slots_per_instance
                if slots == 0:
                    out = waiting > 0
                elif rule.metric == "queue_per_slot":
                    out = waiting > rule.threshold * slots
                else:
                    out = slots - free > rule.threshold * slots
        if out != (self.out.since is not None):
            self.out.update(out)
        spare = self.n_serving > rule.min_instances and waiting == 0 and free >= self.slots_per_instance
        if spare != (self.in_.since is not None):
            self.in_.update(spare)

    # -- actions ----------------------------------------------------------------------------
    def start(self, count: int) -> None:
        """Provision ``count`` instances serving at once (the instances at t = 0); the rule
        is first evaluated when their slots ask for work."""
        for _ in range(count):
            self._serve(self._provision())

    def scale_out(self) -> None:
        add = min(self.rule.scale_out_by, self.rule.max_instances - self.n_provisioned)
        for _ in range(add):
            inst = self._provision()
            self.booting += 1
            self.env.timeout(self.rule.boot_s).callbacks.append(lambda _event, inst=inst: self._booted(inst))
        self.update()

    def scale_in(self) -> None:
        candidates = [i for i in self.instances if i is not None and i.serving and not i.draining]
        inst = max(candidates, key=lambda i: (i.free_slots(), i.generation))
        inst.draining = True
        self.n_serving -= 1
        for req in inst.waiting:
            if not req.triggered:  # a triggered request already holds a job: that slot runs it
                req.cancel()
                inst.workers -= 1
        inst.waiting = [r for r in inst.waiting if r.triggered]
        if inst.workers == 0:
            self._retire(inst)
        self.update()

    def finished(self, inst: Instance) -> None:
        """A slot of a draining instance ran its last job."""
        inst.workers -= 1
        if inst.workers == 0:
            self._retire(inst)
            self.update()

    # -- bookkeeping ------------------------------------------------------------------------
    def _provision(self) -> Instance:
        free = [k for k, i in enumerate(self.instances) if i is None]
        index = free[0] if free else len(self.instances)
        inst = Instance(index, self.generations, len(self.intervals))
        self.generations += 1
        self.n_provisioned += 1
        self.intervals.append([self.env.now, math.inf])
        if index == len(self.instances):
            self.instances.append(inst)
        else:
            self.instances[index] = inst
        return inst

    def _serve(self, inst: Instance) -> None:
        inst.serving = True
        self.n_serving += 1
        inst.workers = self.slots_per_instance
        self.start_workers(inst)

    def _booted(self, inst: Instance) -> None:
        self.booting -= 1
        self._serve(inst)  # (its slots evaluate the rule as they ask for work)

    def _retire(self, inst: Instance) -> None:
        self.intervals[inst.interval][1] = self.env.now
        self.instances[inst.index] = None
        self.n_provisioned -= 1
