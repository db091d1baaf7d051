"""Measured windows: the energy and duration of a block of code, from a meter's readings."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .base import Clock, Meter, MeterUnavailable


@dataclass
class Window:
    """Energy (J) and durations (s) of one measured window; filled when the window closes.

    ``duration_s`` is the time the body took; ``span_s`` the time the energy covers: the
    same, except on a window aligned on a stepping counter (see ``measure``), where it runs
    on to the counter's next step. Energy above idle is ``energy_j - idle_w * span_s``.
    ``estimated`` is True when the counter could not resolve the window and energy came
    from power x time; ``note`` says why.
    """

    method: str
    energy_j: float = float("nan")
    duration_s: float = float("nan")
    span_s: float = float("nan")
    estimated: bool = False
    aligned: bool = False
    note: str = ""
    power_w: list[float] = field(default_factory=list)
    min_step_j: float | None = None  # smallest nonzero change between two consecutive readings


def _smallest_step(steps: list[float]) -> float | None:
    """The smallest positive change among ``steps`` (J), None when the counter never moved."""
    moved = [d for d in steps if d > 0]
    return min(moved) if moved else None


POLL_S = 0.0005  # how often a stepping counter is read while waiting for its next step


def _next_step(meter: Meter, clock: Clock, sleep: Callable[[float], None]) -> tuple[float, float, float] | None:
    """The counter's reading just after its next step, the time the step was seen and the
    step's size (J), or None when it has not stepped within three of its periods (stalled)."""
    e = meter.read_energy_j()
    deadline = clock() + 3 * meter.update_period_s
    while True:
        sleep(POLL_S)
        e2, t = meter.read_energy_j(), clock()
        if e2 != e:
            return e2, t, e2 - e
        if t > deadline:
            return None


@contextlib.contextmanager
def measure(meter: Meter, clock: Clock = time.perf_counter, sleep: Callable[[float], None] = time.sleep) -> Iterator[Window]:
    """Measure the energy (J, total, idle included) and wall time (s) of the ``with`` body.

    A counter that moves in steps (``Meter.steps``: NVML's refreshes every 20-100 ms) would
    misread a window by up to a step's energy at either end: at 100 ms steps, a 0.3 s call
    reads 30% high or low. Such a window is aligned on the steps instead: it opens just
    after a step and closes at the first step after the body, so the counter delta covers
    exactly ``span_s`` (the body, then the wait for the step, at idle power). This costs a
    wait of up to one period on each side.

    Otherwise, falls back to mean sampled power x time when the window is shorter than two
    counter periods or the counter did not move; raises if neither a counter delta nor a
    power reading is available rather than report 0 J. ``min_step_j`` keeps the smallest
    change seen between readings: the meter's resolution, or an upper bound on it.
    """
    win = Window(method=meter.method)
    p0 = meter.read_power_w()
    first = _next_step(meter, clock, sleep) if meter.steps else None
    e0 = first[0] if first else meter.read_energy_j()
    t0 = clock()
    yield win
    t1 = clock()
    last = _next_step(meter, clock, sleep) if first else None
    e1 = last[0] if last else meter.read_energy_j()
    p1 = meter.read_power_w()
    win.duration_s = win.span_s = t1 - t0
    win.power_w = [p for p in (p0, p1) if p is not None]
    delta = e1 - e0
    win.min_step_j = _smallest_step([delta] + [step[2] for step in (first, last) if step])
    if last and delta > 0:
        win.energy_j, win.span_s, win.aligned = delta, last[1] - first[1], True
        return
    too_short = meter.update_period_s > 0 and win.duration_s < 2 * meter.update_period_s
    if delta > 0 and not too_short:
        win.energy_j = delta
        return
    if not win.power_w:
        raise MeterUnavailable(
            f"{meter.method}: window of {win.duration_s * 1000:.1f} ms not resolved by the counter "
            "and the device gives no power reading; measure longer windows (batch the work)"
        )
    win.energy_j = sum(win.power_w) / len(win.power_w) * win.duration_s
    win.estimated = True
    win.note = "window shorter than the counter period" if too_short else "counter did not advance"


def measure_idle_power_w(meter: Meter, seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> float:
    """Mean power (W) over ``seconds`` of doing nothing: the idle baseline."""
    with measure(meter) as win:
        sleep(seconds)
    return win.energy_j / win.span_s
