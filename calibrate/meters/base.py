"""The meter interface and the counters meters are built from.

A meter exposes a **cumulative** energy reading in joules since an arbitrary origin
(monotonic; counter wraps and resets are absorbed) and, when the device has one, an
instantaneous power reading in watts.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

Clock = Callable[[], float]


class MeterUnavailable(RuntimeError):
    """The meter cannot run here; the message says what is missing and what to install."""


class Meter:
    """Cumulative energy reader.

    ``update_period_s`` is how often the underlying counter refreshes: a window shorter
    than about two periods cannot be resolved by counter deltas alone, unless ``steps``
    says the counter moves in steps that ``measure`` can align the window on.
    ``uncertainty`` says, in words, how far the readings can be trusted.
    """

    method: str = "none"
    update_period_s: float = 0.0
    uncertainty: str = ""
    steps: bool = False  # the counter moves in steps every update_period_s: ``measure`` aligns on them

    def read_energy_j(self) -> float:
        """Cumulative energy in joules since an arbitrary origin (never decreases)."""
        raise NotImplementedError

    def read_power_w(self) -> float | None:
        """Instantaneous power in watts, or None when the device cannot say."""
        return None

    def describe(self) -> dict[str, str]:
        """Tool names and versions behind this meter, for the profile's ``measurement.tools``."""
        return {}

    def close(self) -> None:
        """Release devices and background threads; safe to call twice."""

    def __enter__(self) -> "Meter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- counters -----------------------------------------------------------------------------


class WrappingCounter:
    """Accumulates deltas of a raw hardware counter that may wrap or reset.

    ``modulus`` is the counter's range (it wraps to 0 after ``modulus - 1``); when it is
    unknown a decrease is read as a reset and the new raw value counts from zero.
    """

    def __init__(self, modulus: int | None = None):
        self.modulus = modulus
        self._last: float | None = None
        self.total = 0.0
        self.wraps = 0

    def update(self, raw: float) -> float:
        """Feed a raw reading; return the accumulated total in the counter's unit."""
        if self._last is not None:
            delta = raw - self._last
            if delta < 0:
                self.wraps += 1
                delta = delta + self.modulus if self.modulus else raw
            self.total += delta
        self._last = raw
        return self.total


class PowerIntegrator:
    """Integrates a power reader (W) into energy (J) on a background thread (trapezoid).

    Used for devices without an energy counter. ``read_energy_j`` includes the partial
    interval up to now, so short windows still get energy = power x time.
    """

    def __init__(self, read_power_w: Callable[[], float], period_s: float = 0.05, clock: Clock = time.perf_counter):
        self._read = read_power_w
        self.period_s = period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._energy_j = 0.0
        self._t = clock()
        self._p = read_power_w()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="carbonsim-power", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def sample(self) -> float:
        """Take one power sample now; return cumulative energy (J)."""
        p, t = self._read(), self._clock()
        with self._lock:
            self._energy_j += 0.5 * (p + self._p) * (t - self._t)
            self._p, self._t = p, t
            return self._energy_j

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
