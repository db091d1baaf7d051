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

import contextlib
import glob
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

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


# --- NVML -----------------------------------------------------------------------------------


class NvmlMeter(Meter):
    """GPU energy from NVML's cumulative counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ).

    Sums the selected GPUs (all by default). A GPU without the counter (pre-Volta, many
    vGPUs) is integrated from ``nvmlDeviceGetPowerUsage`` samples instead, and the meter
    says so in ``uncertainty``. ``nvml`` may be any object with the pynvml API (tests pass a
    fake); the real module is imported and initialised on the first reading.
    """

    method = "nvml"
    update_period_s = 0.1  # the counter refreshes every 20-100 ms depending on the GPU
    # NVML returns an unsigned 64-bit millijoule count.
    COUNTER_MODULUS_MJ = 2**64  # an int: floats cannot hold 2**64 to the millijoule

    def __init__(self, indices: list[int] | None = None, nvml: object | None = None, sample_period_s: float = 0.05):
        self._nvml = nvml
        self._indices = indices
        self._sample_period_s = sample_period_s
        self._handles: list = []
        self._counters: list[WrappingCounter | None] = []
        self._integrators: list[PowerIntegrator | None] = []
        self._ready = False
        self.uncertainty = "NVML energy counter: about +-5% of board energy (NVIDIA spec); GPU only, host excluded"

    def _init(self) -> None:
        if self._ready:
            return
        if self._nvml is None:
            try:
                import pynvml  # provided by nvidia-ml-py
            except ImportError as exc:
                raise MeterUnavailable("NVML needs `pip install nvidia-ml-py` and an NVIDIA driver") from exc
            self._nvml = pynvml
        nv = self._nvml
        try:
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
        except Exception as exc:  # NVMLError and its subclasses, or a missing libnvidia-ml
            raise MeterUnavailable(f"NVML could not start ({exc}); is an NVIDIA driver installed?") from exc
        if count == 0:
            raise MeterUnavailable("NVML sees no GPU")
        indices = self._indices if self._indices is not None else list(range(count))
        self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in indices]
        no_counter = 0
        for h in self._handles:
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(h)
                self._counters.append(WrappingCounter(self.COUNTER_MODULUS_MJ))
                self._integrators.append(None)
            except Exception:
                no_counter += 1
                self._counters.append(None)
                integ = PowerIntegrator(lambda h=h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0, self._sample_period_s)
                integ.start()
                self._integrators.append(integ)
        if no_counter:
            self.uncertainty = (
                f"{no_counter} of {len(self._handles)} GPU(s) have no energy counter: energy integrated from "
                f"power samples every {self._sample_period_s * 1000:.0f} ms (about +-10%, spikes shorter than that missed)"
            )
        self._ready = True

    @property
    def gpu_count(self) -> int:
        self._init()
        return len(self._handles)

    @property
    def steps(self) -> bool:
        """One GPU with a counter: windows are aligned on its steps. Summed over several
        GPUs, each counter steps at its own times, so no alignment holds for all."""
        self._init()
        return len(self._counters) == 1 and self._counters[0] is not None

    @property
    def has_counter(self) -> list[bool]:
        """Per selected GPU: does it expose the cumulative energy counter?"""
        self._init()
        return [c is not None for c in self._counters]

    def read_energy_j(self) -> float:
        self._init()
        total = 0.0
        for h, counter, integ in zip(self._handles, self._counters, self._integrators):
            if counter is not None:
                total += counter.update(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h))) / 1000.0
            else:
                total += integ.sample()
        return total

    def read_power_w(self) -> float | None:
        self._init()
        try:
            return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0
        except Exception:
            return None

    def describe(self) -> dict[str, str]:
        self._init()
        tools = {"nvml-driver": _decode(self._nvml.nvmlSystemGetDriverVersion())}
        with contextlib.suppress(ImportError, AttributeError):
            from importlib.metadata import version

            tools["nvidia-ml-py"] = version("nvidia-ml-py")
        return tools

    def close(self) -> None:
        for integ in self._integrators:
            if integ is not None:
                integ.stop()
        if self._ready:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._ready = False
        self._handles, self._counters, self._integrators = [], [], []


def _decode(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# --- RAPL -----------------------------------------------------------------------------------


class RaplMeter(Meter):
    """CPU package energy from Linux powercap (``/sys/class/powercap/intel-rapl:N/energy_uj``).

    Sums the top-level package zones only (sub-zones such as core and dram are parts of
    them or separately scoped; adding them would double count). Wraps at each zone's
    ``max_energy_range_uj``. Also used by AMD CPUs on recent kernels. Rarely readable inside
    cloud VMs and often root-only since CVE-2020-8694.
    """

    method = "rapl"
    update_period_s = 0.001
    uncertainty = "RAPL package counters: a model-based estimate, within a few % on recent CPUs; DRAM and GPU excluded"

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        self.root = Path(root)
        self._zones: list[tuple[Path, WrappingCounter]] | None = None

    def _init(self) -> None:
        if self._zones is not None:
            return
        zones = sorted(p for p in glob.glob(str(self.root / "intel-rapl:*")) if p.count(":") == 1)
        if not zones:
            raise MeterUnavailable(f"no RAPL zones under {self.root} (not an x86 host, or inside a VM)")
        found = []
        for z in map(Path, zones):
            energy = z / "energy_uj"
            if not os.access(energy, os.R_OK):
                raise MeterUnavailable(f"{energy} is not readable; run as root or `chmod a+r` it")
            rng = z / "max_energy_range_uj"
            modulus = int(rng.read_text()) + 1 if rng.exists() else None
            found.append((energy, WrappingCounter(modulus)))
        self._zones = found

    def read_energy_j(self) -> float:
        self._init()
        return sum(counter.update(int(path.read_text())) for path, counter in self._zones) / 1e6


# --- codecarbon ----------------------------------------------------------------------------


class CodecarbonMeter(Meter):
    """Portable fallback: codecarbon's ``OfflineEmissionsTracker`` (CPU + RAM, + GPU if any).

    Its CPU energy is a model: in ``cpu_load`` mode the CPU's TDP scaled by utilisation
    (method ``codecarbon-cpu-load``), else a constant TDP (``codecarbon-constant``), which
    cannot see any difference between idle and busy. RAM is a constant power and cancels out
    of energy above idle. The method is known once the tracker has started.
    """

    update_period_s = 0.0  # each reading triggers a fresh measurement

    def __init__(self, tracker: object | None = None, country_iso_code: str = "FRA"):
        self._tracker = tracker
        self._country = country_iso_code
        self._started = False
        self.method = "codecarbon-cpu-load"

    def _init(self) -> None:
        if self._started:
            return
        if self._tracker is None:
            try:
                from codecarbon import OfflineEmissionsTracker
            except ImportError as exc:
                raise MeterUnavailable("the codecarbon fallback needs `pip install codecarbon`") from exc
            self._tracker = OfflineEmissionsTracker(
                country_iso_code=self._country,
                save_to_file=False,
                log_level="error",
                tracking_mode="machine",
                allow_multiple_runs=True,
            )
        self._tracker.start()
        modes = {getattr(h, "_mode", None) for h in getattr(self._tracker, "_hardware", [])}
        self.method = "codecarbon-cpu-load" if "cpu_load" in modes else "codecarbon-constant"
        self._started = True

    @property
    def uncertainty(self) -> str:  # type: ignore[override]
        if self.method == "codecarbon-constant":
            return "codecarbon constant TDP: no load signal, energy above idle is unresolvable (order of magnitude only)"
        return "codecarbon cpu_load: TDP x CPU utilisation, a model not a measurement (+-30% or worse)"

    def read_energy_j(self) -> float:
        self._init()
        # codecarbon has no public cumulative reading; the tracker's total is refreshed on demand.
        self._tracker._measure_power_and_energy()
        return float(self._tracker._total_energy.kWh) * 3.6e6

    def read_power_w(self) -> float | None:
        self._init()
        p = getattr(self._tracker, "_cpu_power", None)
        return None if p is None else float(p.W)

    def describe(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"codecarbon": version("codecarbon")}

    def close(self) -> None:
        if self._started:
            with contextlib.suppress(Exception):
                self._tracker.stop()
        self._started = False


# --- windows -------------------------------------------------------------------------------


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


POLL_S = 0.0005  # how often a stepping counter is read while waiting for its next step


def _next_step(meter: Meter, clock: Clock, sleep: Callable[[float], None]) -> tuple[float, float] | None:
    """The counter's reading just after its next step and the time the step was seen, or
    None when it has not stepped within three of its periods (a stalled counter)."""
    e = meter.read_energy_j()
    deadline = clock() + 3 * meter.update_period_s
    while True:
        sleep(POLL_S)
        e2, t = meter.read_energy_j(), clock()
        if e2 != e:
            return e2, t
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
    power reading is available rather than report 0 J.
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


# --- registry and detection ------------------------------------------------------------------

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
