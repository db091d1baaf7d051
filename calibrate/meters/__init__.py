"""Energy meters: one interface over NVML, RAPL and codecarbon.

A meter exposes a **cumulative** energy reading in joules since an arbitrary origin
(monotonic; counter wraps and resets are absorbed) and, when the device has one, an
instantaneous power reading in watts. ``measure(meter)`` turns two readings into the
energy and duration of a window and falls back to sampled power x time when the counter
cannot resolve the window (too short, or a device without a counter): a window is never
reported as 0 J because the counter did not tick.

Meters are chosen by ``detect_meter(device)`` in the order NVML > RAPL > codecarbon, or by
method name through ``METERS``. Device libraries are imported and initialised lazily, on
the first reading, never at import. Every meter accepts injected fake readers for tests.
"""

from __future__ import annotations

from typing import Callable

from .base import Clock, Meter, MeterUnavailable, PowerIntegrator, WrappingCounter
from .codecarbon_meter import CodecarbonMeter
from .nvml import NvmlMeter
from .rapl import RaplMeter
from .window import POLL_S, Window, measure, measure_idle_power_w

#: Meter classes by method name (codecarbon's two methods share one class).
METERS: dict[str, Callable[[], Meter]] = {
    "nvml": NvmlMeter,
    "rapl": RaplMeter,
    "codecarbon-cpu-load": CodecarbonMeter,
    "codecarbon-constant": CodecarbonMeter,
}


def make_meter(method: str) -> Meter:
    """Build a meter by method name; unknown names list the known ones."""
    try:
        return METERS[method]()
    except KeyError:
        raise ValueError(f"unknown meter {method!r}; use one of {sorted(METERS)}") from None


def detect_meter(device: str = "cuda", candidates: list[Callable[[], Meter]] | None = None) -> Meter:
    """The best meter that works here: NVML (``device='cuda'``) > RAPL > codecarbon.

    Each candidate is probed with one reading; ``reasons`` on the returned meter lists why
    the better ones were skipped, so the profile can say which method was possible.
    """
    if candidates is None:
        candidates = ([NvmlMeter] if device.startswith("cuda") else []) + [RaplMeter, CodecarbonMeter]
    reasons: list[str] = []
    for make in candidates:
        meter = make()
        try:
            meter.read_energy_j()
        except MeterUnavailable as exc:
            reasons.append(f"{meter.method}: {exc}")
            meter.close()
            continue
        meter.skipped = reasons  # type: ignore[attr-defined]
        return meter
    raise MeterUnavailable("no energy meter works here: " + "; ".join(reasons))


__all__ = [
    "METERS", "POLL_S", "Clock", "CodecarbonMeter", "Meter", "MeterUnavailable", "NvmlMeter", "PowerIntegrator",
    "RaplMeter", "Window", "WrappingCounter", "detect_meter", "make_meter", "measure", "measure_idle_power_w",
]
