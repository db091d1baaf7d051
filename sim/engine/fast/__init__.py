"""The fast engine: the SimPy model's queueing and accounting, compiled with numba.

It consumes the same ``ReplicationInputs`` as the SimPy engine and returns the same
``Timings``, job by job. To get the same numbers it follows SimPy's own event order rather
than an idealised queue, because order decides outcomes at equal times (which of two jobs
of a service that start together on one GPU pays the cold load, which idle slot takes a
released job):

- SimPy processes events by (time, priority, creation order). Every event here is created
  either for a later time (a service end, the wait of a scheduled pool until it switches
  on: kept in a small binary heap keyed by (time, creation counter); the next file
  arrival, of which there is at most one, beside it with its own time and counter) or for
  the current time (the put and get events of the pools' ``Store``:
  kept in a FIFO). An event for a later time was created before any event created at the
  time it fires, so at each instant the heap's events due now go first, then the FIFO.
  A timeout whose end rounds to the current time joins the FIFO, as in SimPy.
- ``Store`` semantics: a put appends the job to the pool's queue at once and schedules a
  put event; a processed put event, and every new get, serves at most the head of the
  pool's waiting slots (SimPy's ``_trigger_get`` stops after one). Slots are registered
  pool -> GPU -> slot, so at t = 0 they wait in that order; the arrival process starts
  after them.
- Consecutive put events of one pool (a released group's jobs) are queued as one entry
  (pool, count) and processed back to back, as SimPy does, since nothing can come between
  (but in an autoscaled pool, whose rule is evaluated after each put and may set a timer
  due at once: one entry a put there).
- A *quiet* step is one after which nothing else is due now (the usual case: a service
  end or an arrival at an instant of its own). SimPy then processes the put events that
  step queued, then the get events they triggered, in order; the engine does the same
  within the step, without the round trips of those events through the FIFO (the events
  are still counted).
- Times are computed with SimPy's arithmetic (``now + delay`` where ``delay = t - now``),
  so floating-point results are identical, not just close.

Ties are therefore resolved as SimPy resolves them, deterministically: at t = 0 the slots
wait in registration order, so the first released job goes to slot 0 of GPU 0; at the
hour a scheduled pool switches on, the slots that took jobs while it was off start them in
the order they took them (the first job of a service on a GPU pays the cold load, the
others find it loading and start warm); jobs released together queue in (file, stage,
target) order and go to the slots that have waited longest.

Where every pool is always on, the queue is a FIFO recursion over the groups in order of
release (``_fifo``), which gives the same timings without an event per job's end, 40%
faster on the default scenario; it looks at every slot of a pool for each job, so it runs
only where the slots are few (``fifo_suits``). It settles ties in SimPy's order too (ends at the same
time are processed in the order their jobs started; see ``_fifo_from``), except ends at
the same time, in different pools, of jobs that started together, and jobs that end as
they start: at those it stops, for the event loop to run instead.

Autoscaled pools run the event loop with the autoscaler compiled in (``autoscaler``): the
slots of every instance a pool may have are laid out beforehand (instance k's GPUs are k x
gpus_per_instance onwards, as SimPy numbers them), and an instance's slots ask for jobs
while it serves. The autoscaler's timeouts (its ``HeldFor`` timers, boots) are events like
the others, ordered by their creation counter; a boot starts the instance's slot processes
at once (SimPy's ``Initialize`` events are urgent); the rule is evaluated where SimPy
evaluates it (after each put, each request for a job, each scale-out, scale-in and
retirement), and each instance's provisioned interval is recorded. The loop is compiled a
second time without the autoscaler (``_simulate``'s ``sc`` None prunes it), so that pools
that do not autoscale pay nothing for it.

The event loop can stop between two events, just before the arrival process wakes for a
given file, and go on from there with more jobs (``loop_state``): a streamed replication
(``sim.forecast.stream``) runs it block by block of files, as ``stream.LoopStream``.

Layout: ``event_loop`` (the event loop, ``_simulate``), ``loop_state`` (its state: fresh,
or resumed where a block stopped), ``autoscaler`` (the autoscaler's pieces it inlines),
``driver`` (``_event_loop``: the loop run with room enough), ``stream`` (the engines fed
block by block), ``fifo``
(the FIFO recursion, ``_fifo``), ``common`` (what both share: the event encoding, the
heap, the arrays they return), ``inputs`` (``KernelInputs``, the record both take;
``ScaleInputs`` and ``ScaleState``, the autoscaler's). The engine supports the
provisioning policies in ``SUPPORTED_POLICIES``; ``unsupported`` says why a scenario needs
the SimPy engine instead.
"""

from __future__ import annotations

import numpy as np

from sim.engine.provisioning import WEEK_H
from sim.engine.types import Timings

from .driver import _event_loop
from .fifo import _fifo
from .inputs import KernelInputs, _kernel_args, _scale_args

__all__ = ["FIFO_MAX_SLOTS", "SUPPORTED_POLICIES", "KernelInputs", "fifo_suits", "simulate_fast", "unsupported", "warm_up", "_event_loop", "_fifo",
           "_kernel_args", "_timings"]

SUPPORTED_POLICIES = frozenset({"always_on", "scheduled", "autoscale"})
# The FIFO recursion looks at every slot of a job's pool for the one free earliest: faster
# than the event loop up to this many slots in all (20 against 28 ns a job at 4 slots,
# 34 against 29 at 8, 159 against 29 at 160).
FIFO_MAX_SLOTS = 6


def fifo_suits(pools) -> bool:
    """Whether the FIFO recursion runs ``pools`` (``PoolSpec``) faster than the event loop:
    every pool always on and not autoscaled, and few slots."""
    return (all(p.schedule.always and p.autoscale is None for p in pools)
            and sum(p.gpus * p.slots_per_gpu for p in pools) <= FIFO_MAX_SLOTS)


def unsupported(scenario) -> list[str]:
    """Reasons the fast engine cannot run ``scenario`` (empty when it can)."""
    reasons = []
    for name, pool in scenario.pools.items():
        policy = pool.provisioning.policy
        if policy not in SUPPORTED_POLICIES:
            reasons.append(f"pool `{name}` uses provisioning policy `{policy}`")
    return reasons


def simulate_fast(jobs, file_arrival_s: np.ndarray, pools, services) -> Timings:
    """Run the compiled engine on pre-sampled jobs; same contract as ``model.simulate``.

    Where every pool is always on and the slots are few (``fifo_suits``), the FIFO
    recursion (``_fifo``) runs first, and the event loop only if it met a tie it cannot
    settle; both give SimPy's timings. Where a
    pool autoscales, the event loop runs with the autoscaler, and the timings carry the
    instance intervals. Raises ``ValueError`` for a pool that would scale out and in
    without end at one instant (SimPy would never finish).
    """
    args = _kernel_args(jobs, file_arrival_s, pools, services)
    if any(p.autoscale is not None for p in pools):
        return _timings(_event_loop(args, _scale_args(pools), jobs.pools))
    out = _fifo(args) if fifo_suits(pools) else None
    if out is None or not out[-1]:
        out = _event_loop(args)
    return _timings(out)


def _timings(out: tuple) -> Timings:
    """A kernel's results (``_event_loop``'s, with the instance intervals, or ``_fifo``'s) as ``Timings``."""
    ready, start, end, cold, service_s, energy, file_end, gpu, events = out[:9]
    return Timings(
        ready_s=ready, start_s=start, end_s=end, cold=cold, service_s=service_s,
        energy_j=energy, file_end_s=file_end, events=int(events), gpu=gpu,
        instance_intervals=out[9] if len(out) == 11 else None,
    )


def warm_up() -> None:
    """Compile the engine (or load it from numba's on-disk cache) on a two-job case."""
    from sim.engine.provisioning import AutoscaleRule, Schedule
    from sim.engine.types import JobTable, PoolSpec, ServiceSpec

    one = np.zeros(2, dtype=np.int64)
    small = np.zeros(2, dtype=np.int16)  # service and pool indices come as int16 from ``build_jobs``
    jobs = JobTable(
        file=np.array([0, 0]), group=np.array([0, 1]), service=small, pool=small, language=one, content=one,
        target=np.full(2, -1), time_s=np.ones(2), energy_j=np.ones(2), audio_s=np.zeros(2), tokens_in=np.zeros(2),
        tokens_out=np.zeros(2), group_first_job=np.array([0, 1, 2]), group_next=np.array([1, -1]),
        group_file=np.array([0, 0]), services=("s",), pools=("p",),
    )
    mask = np.zeros(WEEK_H, dtype=bool)
    mask[9:17] = True
    always = np.ones(WEEK_H, dtype=bool)
    rule = AutoscaleRule(min_instances=1, max_instances=2, start_instances=1, gpus_per_instance=1,
                         metric="queue_per_slot", threshold=1.0, time_window_s=1.0, scale_out_by=1, boot_s=1.0,
                         cooldown_s=1.0)
    # the event loop, the FIFO recursion, the event loop with the autoscaler
    for on, scaling in ((mask, None), (always, None), (always, rule)):
        simulate_fast(jobs, np.array([1.0]), [PoolSpec(1, 1, Schedule(on, 0), scaling)], [ServiceSpec(None, 1.0, 1.0)])

