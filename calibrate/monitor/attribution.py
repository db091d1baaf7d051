"""Split measured energy among overlapping requests, and keep idle energy apart.

The sampler reads a cumulative meter every interval. The energy of an interval
``[t0, t1]`` is split in three:

- **idle**: the idle baseline ``idle_power_w * (t1 - t0)`` (capped at the measured energy),
  or all of it when no request was in flight. It is recorded as idle, never on a request;
  this matches the calibration profile, whose ``energy_j`` is energy above idle.
- **attributed**: the rest, shared among the requests in flight in proportion to
  ``overlap_s * service_weight``, where ``overlap_s`` is how long each request ran
  inside the interval.
- **unattributed**: energy the meter reports across a span it could not read (after a
  meter failure); it cannot be placed in time, so it goes to no request.

Per interval, idle + attributed + unattributed equals the measured energy exactly (up to
float rounding), so totals are conserved however requests overlap. A request's record is
complete at the first interval that ends after the request does.

Times are ``time.monotonic()`` seconds; energies are joules.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from dataclasses import dataclass, field

from .routes import Usage


@dataclass
class Flight:
    """One monitored request, from its start to the interval that completes it."""

    service: str
    language: str | None
    route: str
    method: str
    t_start: float
    wall_start: float  # unix seconds, for the record
    month: str  # YYYY-MM (UTC) the request started in; budgets count it there
    weight: float = 1.0
    usage: Usage = field(default_factory=Usage)
    t_end: float | None = None
    status: int = 0
    energy_j: float = 0.0
    concurrency: int = 1  # most requests in flight in any interval it overlapped
    metered: bool = True  # False when an interval it overlapped could not be measured


@dataclass
class Interval:
    """What one sampler interval measured and where its energy went (J)."""

    t0: float
    t1: float
    energy_j: float | None  # None: meter failed
    idle_j: float = 0.0
    attributed_j: float = 0.0
    unattributed_j: float = 0.0
    in_flight: int = 0


class Attributor:
    """Holds requests in flight and splits each interval's energy among them.

    ``begin``/``end`` are called on the request path and only touch a dict under a lock;
    ``split`` runs on the sampler thread.
    """

    def __init__(self, idle_power_w: float | None = None, idle_window: int = 64):
        self.idle_power_w_fixed = idle_power_w
        self._idle_samples: deque[float] = deque(maxlen=idle_window)
        self._flights: dict[int, Flight] = {}
        self._lock = threading.Lock()

    @property
    def idle_power_w(self) -> float:
        """The idle baseline (W): configured, else the median power of recent idle intervals, else 0."""
        if self.idle_power_w_fixed is not None:
            return self.idle_power_w_fixed
        return statistics.median(self._idle_samples) if self._idle_samples else 0.0

    def in_flight(self) -> int:
        with self._lock:
            return sum(1 for f in self._flights.values() if f.t_end is None)

    def begin(self, flight: Flight) -> None:
        with self._lock:
            self._flights[id(flight)] = flight

    def end(self, flight: Flight, t_end: float) -> None:
        flight.t_end = t_end  # the sampler reads it under the lock; one attribute store is atomic

    def split(self, t0: float, t1: float, energy_j: float | None, unattributed_j: float = 0.0) -> tuple[Interval, list[Flight]]:
        """Share the energy of ``[t0, t1]``; return the interval and the requests now complete.

        ``energy_j=None`` marks the interval unmeasured: overlapping requests are flagged
        ``metered=False`` and nothing is shared. ``unattributed_j`` is recorded as is.
        """
        dt = max(t1 - t0, 0.0)
        with self._lock:
            overlaps: list[tuple[Flight, float]] = []
            done: list[Flight] = []
            for key, f in list(self._flights.items()):
                if f.t_start >= t1:
                    continue  # began after this reading; belongs to the next interval
                te = f.t_end  # read once: the request path may set it meanwhile
                end = t1 if te is None else min(te, t1)
                overlap = end - max(f.t_start, t0)
                if overlap > 0 or (te is not None and te >= t0):
                    overlaps.append((f, max(overlap, 0.0)))
                if te is not None and te <= t1:
                    done.append(f)
                    del self._flights[key]
        iv = Interval(t0=t0, t1=t1, energy_j=energy_j, unattributed_j=unattributed_j, in_flight=len(overlaps))
        for f, _ in overlaps:
            f.concurrency = max(f.concurrency, len(overlaps))
        if energy_j is None:
            for f, _ in overlaps:
                f.metered = False
            return iv, done
        weights = [ov * f.weight for f, ov in overlaps]
        total_w = sum(weights)
        if total_w <= 0:
            iv.idle_j = energy_j
            if dt > 0 and not overlaps:
                self._idle_samples.append(energy_j / dt)
            return iv, done
        iv.idle_j = min(energy_j, self.idle_power_w * dt)
        active = energy_j - iv.idle_j
        for (f, _), w in zip(overlaps, weights):
            # the fraction first: with a vanishing overlap (a request of a few ns), active * w
            # would round in the subnormal range and the shares would exceed the energy
            share = active * (w / total_w)
            f.energy_j += share
            iv.attributed_j += share
        return iv, done

    def drain(self, t_now: float) -> list[Flight]:
        """Remove and return every request still held (at shutdown), ending open ones at ``t_now``."""
        with self._lock:
            out = list(self._flights.values())
            self._flights.clear()
        for f in out:
            if f.t_end is None:
                f.t_end = t_now
        return out
