"""Run the benchmark: idle baseline, cold load, warm-up and measured calls per sample.

For each configured service the runner builds its backend, measures the cold load, then
for each sample runs ``warmup`` unmeasured calls and ``repeats`` measured ones. Energy is stored
**above idle**: the idle power measured before and after all runs (mean of the two) times
the time the window's energy covers (its duration; on a counter that steps, up to the
step after it, see ``meters.measure``) is subtracted from each window's energy. Anything
that fails (a missing library, model or server, a corrupt sample) becomes a ``Failure`` and
the run goes on with what remains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sim.config.profile import Failure

from .backends import Backend, BackendUnavailable, SampleError, make_backend
from .meters import Meter, measure, measure_idle_power_w
from .names import entry_name
from .samples import Sample


@dataclass
class ServiceSpec:
    """One model to calibrate: registry name of the backend, model, options, profile key."""

    backend: str
    model: str
    key: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = default_key(self.backend, self.model)


def default_key(backend: str, model: str) -> str:
    """Profile entry name: the scenarios' name for a known model (``large-v3`` ->
    ``whisper-large-v3``, ``mistral:7b`` -> ``mistral-7b-q4``), else one derived from its id."""
    return entry_name(backend, model)[0]


@dataclass
class Record:
    """One measured call: work done (units), wall time (s), energy total and above idle (J).

    The total energy covers ``span_s``, which runs past the call when the window was aligned
    on a stepping counter; above idle is the total less idle power x ``span_s``.
    """

    model: str
    sample: str
    kind: str
    lang: str
    repeat: int
    units: dict[str, float]
    time_s: float
    energy_total_j: float
    energy_j: float = float("nan")
    estimated: bool = False
    span_s: float | None = None  # the time the total energy covers (see meters.Window); time_s when None
    min_step_j: float | None = None  # smallest nonzero change between the meter's readings in the window


@dataclass
class ServiceRun:
    """Everything measured for one service."""

    spec: ServiceSpec
    service: str = ""
    units: list[str] = field(default_factory=list)
    load_time_s: float | None = None
    load_energy_total_j: float | None = None
    load_energy_j: float | None = None
    load_span_s: float | None = None  # the time the load's total energy covers
    gpu_memory_gb: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class CalibrationRun:
    """All services, the idle baseline (W) and the failures."""

    services: list[ServiceRun]
    idle_power_w: float
    idle_before_w: float
    idle_after_w: float
    failures: list[Failure] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def idle_drift_w(self) -> float:
        """How far idle power moved between the two baselines (W): the noise floor of a load signal."""
        return abs(self.idle_before_w - self.idle_after_w)


def _measure_service(
    spec: ServiceSpec, samples: list[Sample], meter: Meter, device: str, repeats: int, warmup: int,
    failures: list[Failure], progress: Callable[[], None],
) -> ServiceRun | None:
    run = ServiceRun(spec)
    try:
        backend: Backend = make_backend(spec.backend, spec.model, device=device, **spec.options)
        backend.check()
    except (BackendUnavailable, ValueError) as exc:
        failures.append(Failure(model=spec.key, error=str(exc)))
        return None
    run.service, run.units, run.versions = backend.service, list(backend.units), backend.versions()
    try:
        with measure(meter) as win:
            backend.load()
    except BackendUnavailable as exc:
        failures.append(Failure(model=spec.key, error=str(exc)))
        return None
    run.load_time_s, run.load_energy_total_j, run.load_span_s = win.duration_s, win.energy_j, win.span_s
    run.gpu_memory_gb = backend.gpu_memory_gb()
    mine = [s for s in samples if backend.accepts(s)]
    if not mine:
        failures.append(Failure(model=spec.key, error=f"no {'/'.join(backend.kinds)} samples to run"))
    for s in mine:
        bad = False
        # Warm up on every sample, not only the first: a new input shape is slow the first
        # time (on an H200, the first call of a longer text took 2.5 s, its repeat 0.09 s).
        for _ in range(warmup):
            try:
                backend.run(s)
            except SampleError as exc:
                failures.append(Failure(model=spec.key, sample=s.id, error=str(exc)))
                bad = True
                break
        for r in range(repeats):
            progress()
            if bad:
                continue
            try:
                with measure(meter) as win:
                    res = backend.run(s)
            except SampleError as exc:
                failures.append(Failure(model=spec.key, sample=s.id, error=str(exc)))
                bad = True
                continue
            run.records.append(Record(spec.key, s.id, s.kind, s.lang, r, res.units, win.duration_s, win.energy_j,
                                      estimated=win.estimated, span_s=win.span_s, min_step_j=win.min_step_j))
            run.outputs.setdefault(s.id, res.output)
    backend.close()
    return run


def _span(span_s: float | None, time_s: float) -> float:
    """The time a window's energy covers: its span when known, else its duration."""
    return time_s if span_s is None else span_s


def run_calibration(
    specs: list[ServiceSpec],
    samples: list[Sample],
    meter: Meter,
    *,
    device: str = "cpu",
    repeats: int = 3,
    warmup: int = 1,
    idle_s: float = 5.0,
    progress: bool = False,
) -> CalibrationRun:
    """Measure every service on its samples; see the module docstring for the protocol."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    failures: list[Failure] = []
    idle_before = measure_idle_power_w(meter, idle_s)
    bar = tqdm(total=len(samples) * repeats * len(specs), desc="calibrate", unit="call", disable=not progress)
    runs = []
    for spec in specs:
        bar.set_postfix_str(spec.key)
        run = _measure_service(spec, samples, meter, device, repeats, warmup, failures, lambda: bar.update(1))
        if run is not None:
            runs.append(run)
    bar.close()
    idle_after = measure_idle_power_w(meter, idle_s)
    idle = (idle_before + idle_after) / 2
    for run in runs:
        for rec in run.records:
            rec.energy_j = rec.energy_total_j - idle * _span(rec.span_s, rec.time_s)
        if run.load_time_s is not None:
            run.load_energy_j = max(run.load_energy_total_j - idle * _span(run.load_span_s, run.load_time_s), 0.0)
    return CalibrationRun(runs, idle, idle_before, idle_after, failures, time.perf_counter() - t0)
