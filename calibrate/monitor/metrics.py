"""Prometheus metrics of the monitor, in their own registry (served at ``/metrics``).

Per service and language: requests, units of work, energy above idle (J), emissions
(gCO2e), duration, budget remaining and refusals. For the monitor itself: idle and
unattributed energy, meter health, store backlog and drops. Everything is updated off the
request path (by the sampler thread) except the refusal counters.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class StoreCounts(Protocol):
    reopened: int

    def dropped_records(self) -> int: ...


class Metrics:
    """All metrics of one monitor. Pass ``registry`` to add them to an existing one."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "carbon"):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r, ns = self.registry, namespace
        self._namespace = ns
        sl = ["service", "language"]
        self.requests = Counter("requests", "Monitored requests completed", sl + ["status"], namespace=ns, registry=r)
        self.units = Counter("units", "Units of work reported by handlers", sl + ["unit"], namespace=ns, registry=r)
        self.energy = Counter("energy_joules", "Energy above idle attributed to requests (J)", sl, namespace=ns, registry=r)
        self.emissions = Counter("emissions_grams", "Emissions of that energy (gCO2e, PUE included)", sl, namespace=ns, registry=r)
        self.duration = Histogram(
            "request_duration_seconds", "Duration of monitored requests (s)", ["service"], namespace=ns, registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )  # fmt: skip
        self.budget_remaining = Gauge(
            "budget_remaining_grams", "Carbon budget left this month (gCO2e); language '*' is the whole service",
            sl, namespace=ns, registry=r,
        )  # fmt: skip
        self.refused = Counter("refused", "Requests refused, by reason (budget, disabled)", sl + ["reason"], namespace=ns, registry=r)
        self.service_enabled = Gauge("service_enabled", "1 when the service is switched on", ["service"], namespace=ns, registry=r)
        self.idle_energy = Counter("idle_energy_joules", "Energy of the idle baseline (J)", namespace=ns, registry=r)
        self.unattributed_energy = Counter(
            "unattributed_energy_joules", "Energy measured across meter failures, on no request (J)", namespace=ns, registry=r
        )
        self.idle_power = Gauge("idle_power_watts", "Idle baseline in use (W)", namespace=ns, registry=r)
        self.meter_up = Gauge("meter_up", "1 when the last meter reading succeeded", namespace=ns, registry=r)
        self.meter_errors = Counter("meter_errors", "Failed meter readings", namespace=ns, registry=r)
        self.unmetered_requests = Counter(
            "unmetered_requests", "Requests served while the meter was failing (energy incomplete)", ["service"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("requests_in_flight", "Monitored requests in flight at the last sample", namespace=ns, registry=r)
        self.store_backlog = Gauge("store_backlog", "Records waiting to be written", namespace=ns, registry=r)
        self.store_errors = Counter("store_write_errors", "Failed SQLite writes (retried)", namespace=ns, registry=r)
        self.internal_errors = Counter("internal_errors", "Monitor failures that let requests through unmetered", ["where"], namespace=ns, registry=r)

    def watch_store(self, store: StoreCounts) -> None:
        """Serve the store's own counts (dropped records, reopened files): one counter, read here and by the report."""
        self.registry.register(_StoreCollector(store, self._namespace))

    def render(self) -> bytes:
        """The text exposition format of every metric in the registry."""
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """Reads the store's counters at each scrape, so /metrics and /carbon/report cannot differ."""

    def __init__(self, store: StoreCounts, namespace: str):
        self.store, self.ns = store, namespace

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            f"{self.ns}_store_dropped_records",
            "Records dropped (queue full or write failed) by every process of the store; the report's dropped_records",
            value=self.store.dropped_records(),
        )
        yield CounterMetricFamily(
            f"{self.ns}_store_reopened", "Times the store file vanished or was replaced and a new one was opened",
            value=self.store.reopened,
        )  # fmt: skip
