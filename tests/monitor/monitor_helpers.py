"""Test helpers for the live monitor: fake meters, a settable clock, a monitored app, a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import fastapi
import uvicorn

from calibrate.monitor import (
    CarbonMiddleware,
    CarbonMonitor,
    carbon_route,
    report_usage,
)
from calibrate.monitor.budget import month_of


class StepMeter:
    """Deterministic cumulative meter: each reading adds ``step_j`` plus what ``add`` queued."""

    method = "fake-step"

    def __init__(self, step_j: float = 1.0):
        self.step_j = step_j
        self.total = 0.0
        self.readings: list[float] = []
        self._pending = 0.0
        self._lock = threading.Lock()
        self.closed = False

    def add(self, joules: float) -> None:
        with self._lock:
            self._pending += joules

    def read_energy_j(self) -> float:
        with self._lock:
            self.total += self.step_j + self._pending
            self._pending = 0.0
            self.readings.append(self.total)
            return self.total

    def close(self) -> None:
        self.closed = True


class FlakyMeter(StepMeter):
    """A StepMeter that raises while ``failing`` is set; its counter keeps running meanwhile."""

    method = "fake-flaky"

    def __init__(self, step_j: float = 1.0):
        super().__init__(step_j)
        self.failing = False

    def read_energy_j(self) -> float:
        value = super().read_energy_j()
        if self.failing:
            self.readings.pop()  # the reading never reached the monitor
            raise RuntimeError("simulated meter failure")
        return value


class Clock:
    """A settable wall clock (aware UTC datetimes)."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_app(monitor: CarbonMonitor, meter: StepMeter | None = None) -> "fastapi.FastAPI":
    """Three monitored routes (async, sync, fixed language) and one that is not monitored.

    Handlers sleep ``delay_ms`` and report units from the query; with a meter they also
    add ``work_j`` joules to it, as a busy device would.
    """
    app = fastapi.FastAPI()
    app.add_middleware(CarbonMiddleware, monitor=monitor)

    @app.post("/transcribe")
    @carbon_route("transcribe", language_param="lang")
    async def transcribe(seconds: float, lang: str = "fr", delay_ms: float = 0.0, work_j: float = 0.0) -> dict:
        await asyncio.sleep(delay_ms / 1000)
        if meter is not None:
            meter.add(work_j)
        report_usage(audio_second=seconds)
        return {"ok": True}

    @app.get("/translate/{lang}")
    @carbon_route("translate", language_param="lang")
    def translate(lang: str, chars: int, delay_ms: float = 0.0) -> dict:
        time.sleep(delay_ms / 1000)  # sync handler: runs in the thread pool
        report_usage(input_char=chars)
        return {"ok": True}

    @app.post("/generate")
    @carbon_route("generate", language="en")
    async def generate(tokens: int, delay_ms: float = 0.0) -> dict:
        await asyncio.sleep(delay_ms / 1000)
        report_usage(input_token=10, output_token=tokens)
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True}

    return app


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app, timeout_s: float = 10.0) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on a free loopback port, in a thread."""
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
        sock.close()


def query(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()




def settle_and_sample(monitor: CarbonMonitor, timeout_s: float = 5.0) -> None:
    """Take a sample once every request has left the middleware.

    A client can see its response a moment before the server-side middleware marks the
    request finished; sampling then would leave it in flight for the next sample.
    """
    deadline = time.monotonic() + timeout_s
    while monitor.attributor.in_flight():
        if time.monotonic() > deadline:
            raise TimeoutError("requests still in flight")
        time.sleep(0.001)
    monitor.sample()


def spend_until_refused(db: str, budget_g: float, now: dt.datetime, barrier, refusals_to_stop: int = 5) -> tuple[int, float]:
    """One worker process of a store: serve 'generate' requests until its budget refuses them.

    Each request draws exactly 1 kJ (one meter sample while it alone is in flight) and is
    committed before the next one starts. Returns (requests served, the budget's spending
    as this process sees it at the end).
    """
    from calibrate.monitor import BudgetSpec, MonitorConfig, RouteSpec
    from calibrate.monitor.attribution import Flight

    config = MonitorConfig(
        store=db, sample_interval_s=3600, idle_power_w=0.0, flush_interval_s=0.005,
        budgets=[BudgetSpec(service="generate", monthly_g_co2e=budget_g)],
    )  # fmt: skip
    monitor = CarbonMonitor(config, meter=StepMeter(step_j=1000.0), clock=Clock(now))
    monitor.start()
    assert monitor.ready.wait(10)
    spec = RouteSpec("generate", language="en")
    served = refused = 0
    barrier.wait(30)  # every worker starts hammering at once
    while refused < refusals_to_stop:
        admitted = monitor.admit(spec, {"method": "POST"}, "/generate", {})
        if isinstance(admitted, Flight):
            monitor.finish(admitted)
            monitor.sample()  # completes the request with the sample's 1 kJ
            assert monitor.store.flush(10)
            served += 1
        else:
            refused += 1
            time.sleep(0.01)
    assert monitor.store.flush(10)
    barrier.wait(30)  # every worker has committed its last request
    time.sleep(0.1)  # a few idle refreshes (every flush interval): the others' last commits
    spent = monitor.budgets.spent(month_of(now), "generate")
    monitor.close()
    return served, spent


def spend_worker(results, *args) -> None:
    """Process target: ``spend_until_refused(*args)`` with its result (or error) put on ``results``."""
    try:
        results.put(spend_until_refused(*args))
    except BaseException as exc:  # the parent asserts on what it gets
        results.put(repr(exc))
        raise
