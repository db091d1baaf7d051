"""The live monitor: a meter sampled in the background, attribution, store, budgets, metrics.

``CarbonMonitor`` owns the moving parts; ``CarbonMiddleware`` (middleware.py) calls it on
the request path through three cheap methods: ``admit`` (budget and switch checks, then
registers the request in flight), ``finish`` (marks its end) and nothing else. All the
work (reading the meter, splitting energy, writing records, updating metrics) happens on
the sampler and store threads.

Metering fails open: if the meter cannot be found or a reading fails, requests are still
served and recorded (``metered = 0``), and the failure shows in ``carbon_meter_up``,
``carbon_meter_errors_total`` and the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import Any, Callable, Protocol

from .attribution import Attributor, Flight, Interval
from .budget import ALL, Budgets, Refusal, disabled_refusal, month_of
from .config import MonitorConfig
from .languages import OTHER_LANGUAGE, UNKNOWN_LANGUAGE, LanguageLabels  # noqa: F401  (re-exported)
from .metrics import Metrics
from .routes import RouteResolver, RouteSpec
from .store import IntervalRecord, RequestRecord, Store, json_units, report

log = logging.getLogger("carbonsim.monitor")


class EnergyMeter(Protocol):
    """What the monitor needs of ``calibrate.meters.Meter``: a cumulative reading in joules."""

    method: str

    def read_energy_j(self) -> float: ...

    def close(self) -> None: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CarbonMonitor:
    """Measures a running service. Pass ``meter=`` a meter object (tests, or a chosen method),
    ``None`` for no meter, or ``"auto"`` to use ``calibrate.meters.detect_meter``.
    ``clock`` gives the wall-clock time (aware datetime) used for months and records.
    """

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        meter: EnergyMeter | str | None = "auto",
        clock: Callable[[], dt.datetime] = utc_now,
        registry: Any = None,
        **settings: Any,
    ):
        self.config = config if config is not None else MonitorConfig(**settings)
        if config is not None and settings:
            raise TypeError(f"give either a MonitorConfig or settings, not both (got {sorted(settings)})")
        c = self.config
        self.clock = clock
        self.metrics = Metrics(registry)
        self.attributor = Attributor(c.idle_power_w)
        self.budgets = Budgets(c.budgets, clock)
        self.resolver = RouteResolver()
        self.store = Store(
            c.store, c.queue_max, c.batch_max, c.flush_interval_s, on_error=self.metrics.store_errors.inc,
            spending=self.budgets, max_bytes=None if c.store_max_mb is None else int(c.store_max_mb * 1e6),
        )  # fmt: skip
        self.metrics.watch_store(self.store)
        self.enabled: dict[str, bool] = {}
        self._meter_arg = meter
        self.meter: EnergyMeter | None = None
        self.meter_method = "none"
        self.languages = LanguageLabels(c.configured_languages(), learn=c.languages is None, max_learned=c.max_languages)
        self._mono0, self._wall0 = time.monotonic(), clock().timestamp()
        self._t_prev = self._mono0
        self._e_prev: float | None = None
        self._prev_ok = False
        self._meter_failing_since: float | None = None
        self._started = False
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the meter is open and read (or known absent)
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()
        self.metrics.meter_up.set(0)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Load switches and this month's spending, start the store and the sampler (idempotent)."""
        if self._started:
            return
        self._started = True
        self.enabled.update(self.store.service_states())
        for service, on in self.enabled.items():
            self.metrics.service_enabled.labels(service).set(int(on))
        month = self.budgets.month()
        self.budgets.refresh(self.store.spending(month), month)
        self._update_budget_gauges(month)
        self.store.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="carbonsim-sampler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Take a last sample, complete every request, write everything, release the meter."""
        if not self._started:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
            self._thread = None
        self.sample()
        self._finish_flights(self.attributor.drain(time.monotonic()))
        self.store.close()
        if self.meter is not None:
            try:
                self.meter.close()
            except Exception:  # closing must not break shutdown
                log.exception("carbon monitor: closing the meter failed")
        self._started = False

    def _open_meter(self) -> None:
        arg = self._meter_arg
        if arg is None:
            log.warning("carbon monitor: no meter configured; requests are recorded without energy")
            return
        if isinstance(arg, str):
            if arg != "auto":
                raise ValueError(f"meter={arg!r}: give a meter object, None, or 'auto'")
            try:
                from calibrate.meters import detect_meter

                self.meter = detect_meter(self.config.meter_device)
            except Exception as exc:  # fail open: serve without energy, say so
                self.metrics.meter_errors.inc()
                log.error("carbon monitor: no energy meter available (%s); requests are recorded without energy", exc)
                return
        else:
            self.meter = arg
        self.meter_method = getattr(self.meter, "method", type(self.meter).__name__)

    def _run(self) -> None:
        self._open_meter()
        self.sample()  # first reading: the baseline
        self.ready.set()
        while not self._stop.wait(self.config.sample_interval_s):
            self.sample()

    # --- request path ---------------------------------------------------------------------

    def language_label(self, language: str | None) -> str:
        """A bounded set of language labels: unknown, primary subtags configured or seen, or 'other'."""
        return self.languages.label(language)

    def admit(self, spec: RouteSpec, scope: dict, route: str, path_params: dict) -> Flight | Refusal:
        """Refuse (switched off, budget spent) or register the request as in flight."""
        service = spec.service
        language = self.language_label(spec.language_of(scope, path_params))
        if not self.enabled.get(service, True):
            self.metrics.refused.labels(service, language, "disabled").inc()
            return disabled_refusal(service)
        now = self.clock()
        refusal = self.budgets.check(now, service, language)
        if refusal is not None:
            self.metrics.refused.labels(service, language, "budget").inc()
            return refusal
        flight = Flight(
            service=service, language=language, route=route, method=scope["method"],
            t_start=time.monotonic(), wall_start=now.timestamp(), month=month_of(now),
            weight=self.config.service_weights.get(service, 1.0),
        )  # fmt: skip
        self.attributor.begin(flight)
        return flight

    def finish(self, flight: Flight) -> None:
        self.attributor.end(flight, time.monotonic())

    # --- sampler thread --------------------------------------------------------------------

    def sample(self) -> Interval:
        """Read the meter once, share the interval's energy and complete finished requests."""
        with self._tick_lock:
            t1 = time.monotonic()
            first = self._e_prev is None
            energy, unattributed, measured = self._read_meter()
            t0, self._t_prev = self._t_prev, t1
            interval, done = self.attributor.split(t0, t1, energy, unattributed)
            try:
                # The span before the first good reading is unmeasured, not failed: a row only if it served requests.
                if not (first and self._e_prev is not None and interval.in_flight == 0):
                    self._record_interval(interval, measured)
                self._finish_flights(done)
                self._update_budget_gauges(month_of(self.clock()))
            except Exception:  # keep sampling whatever happens to one batch
                self.metrics.internal_errors.labels("sampler").inc()
                log.exception("carbon monitor: recording a sample failed")
            return interval

    def _read_meter(self) -> tuple[float | None, float, float | None]:
        """(energy to share, energy across a gap, measured energy of the interval) in J."""
        if self.meter is None:
            return None, 0.0, None
        try:
            e = float(self.meter.read_energy_j())
            if not math.isfinite(e):
                raise ValueError(f"meter returned {e}")
        except Exception as exc:
            self.metrics.meter_errors.inc()
            self.metrics.meter_up.set(0)
            now = time.monotonic()
            if self._meter_failing_since is None:
                self._meter_failing_since = now
                log.warning("carbon monitor: meter %s failed (%s); serving on, energy not attributed", self.meter_method, exc)
            self._prev_ok = False
            return None, 0.0, None
        if self._meter_failing_since is not None:
            log.warning("carbon monitor: meter %s recovered after %.1f s", self.meter_method, time.monotonic() - self._meter_failing_since)
            self._meter_failing_since = None
        self.metrics.meter_up.set(1)
        prev, prev_ok = self._e_prev, self._prev_ok
        self._e_prev, self._prev_ok = e, True
        if prev is None:
            return None, 0.0, None  # baseline only
        delta = e - prev
        if delta < 0:
            self.metrics.meter_errors.inc()
            log.warning("carbon monitor: meter %s went backwards by %.3f J; interval not attributed", self.meter_method, -delta)
            return None, 0.0, None
        if not prev_ok:
            return None, delta, delta  # energy over the failed span: real, but not placeable
        return delta, 0.0, delta

    def _wall(self, t_mono: float) -> float:
        return self._wall0 + (t_mono - self._mono0)

    def _record_interval(self, iv: Interval, measured: float | None) -> None:
        m = self.metrics
        m.idle_energy.inc(iv.idle_j)
        m.unattributed_energy.inc(iv.unattributed_j)
        m.idle_power.set(self.attributor.idle_power_w)
        m.in_flight.set(iv.in_flight)
        m.store_backlog.set(self.store.backlog)
        now = self.clock()
        self.store.put(
            IntervalRecord(
                started_at=self._wall(iv.t0), ended_at=self._wall(iv.t1), month=month_of(now), energy_j=measured,
                idle_j=iv.idle_j, attributed_j=iv.attributed_j, unattributed_j=iv.unattributed_j,
                in_flight=iv.in_flight, meter=self.meter_method,
            )
        )  # fmt: skip

    def _finish_flights(self, flights: list[Flight]) -> None:
        m, c = self.metrics, self.config
        for f in flights:
            language = self.language_label(f.usage.language) if f.usage.language is not None else f.language
            grams = c.grams_co2e(f.energy_j)
            duration = max((f.t_end or f.t_start) - f.t_start, 0.0)
            record = RequestRecord(
                started_at=f.wall_start, month=f.month, service=f.service, language=language, route=f.route,
                method=f.method, status=f.status, duration_s=duration, energy_j=f.energy_j, emissions_g=grams,
                units=json_units(f.usage.units), concurrency=f.concurrency, metered=int(f.metered),
            )  # fmt: skip
            # Pending before queued: the writer may commit it at once, and settles what was pending.
            # A dropped record stays pending: the store writes its emissions with a later batch.
            self.budgets.add_pending(f.month, f.service, language, grams)
            self.store.put(record)
            m.requests.labels(f.service, language, str(f.status)).inc()
            for unit, amount in f.usage.units.items():
                m.units.labels(f.service, language, unit).inc(amount)
            m.energy.labels(f.service, language).inc(f.energy_j)
            m.emissions.labels(f.service, language).inc(grams)
            m.duration.labels(f.service).observe(duration)
            if not f.metered:
                m.unmetered_requests.labels(f.service).inc()

    def _update_budget_gauges(self, month: str) -> None:
        for (service, language), left in self.budgets.remaining(month).items():
            self.metrics.budget_remaining.labels(service, language).set(left)

    # --- operator actions -------------------------------------------------------------------

    def set_enabled(self, service: str, enabled: bool) -> None:
        """Switch a service on or off, persistently (blocking: call it off the event loop)."""
        self.store.set_service_enabled(service, enabled)
        self.enabled[service] = enabled
        self.metrics.service_enabled.labels(service).set(int(enabled))

    def report(self, month: str | None) -> dict:
        """Emissions report from the store (blocking), with idle emissions and current settings."""
        rep = report(self.config.store, month)
        meter = rep["meter"]
        meter["idle_g"] = self.config.grams_co2e(meter["idle_j"])
        meter["unattributed_g"] = self.config.grams_co2e(meter["unattributed_j"])
        meter["method"] = self.meter_method
        rep["dropped_records"] = self.store.dropped_records()  # the counter /metrics reads too
        rep["store_reopened"] = self.store.reopened
        rep["grid_intensity_g_per_kwh"] = self.config.grid_intensity_g_per_kwh
        rep["pue"] = self.config.pue
        return rep

    def service_status(self, services: set[str]) -> list[dict]:
        """Switch state and budgets of each service, for the admin route."""
        month = month_of(self.clock())
        remaining = self.budgets.remaining(month)
        out = []
        for s in sorted(services | set(self.enabled) | {k[0] for k in self.budgets.limits}):
            budgets = [
                {"language": None if lang == ALL else lang, "monthly_g_co2e": self.budgets.limits[(s, lang)],
                 "spent_g_co2e": self.budgets.spent(month, s, lang), "remaining_g_co2e": left}
                for (svc, lang), left in sorted(remaining.items()) if svc == s
            ]  # fmt: skip
            out.append({"service": s, "enabled": self.enabled.get(s, True), "month": month, "budgets": budgets})
        return out
