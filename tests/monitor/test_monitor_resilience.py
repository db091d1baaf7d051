"""Fail open: a failing meter, a killed server, a store that cannot keep up."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from monitor_helpers import FlakyMeter, free_socket, make_app, query, serve

from calibrate.monitor import CarbonMonitor, Store, StoreError
from calibrate.monitor.store import RequestRecord, connect

HERE = Path(__file__).parent


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")


def _wait(pred, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_meter_failure_mid_run_keeps_serving_and_shows_in_metrics(db, caplog):
    meter = FlakyMeter(step_j=5.0)
    monitor = CarbonMonitor(meter=meter, store=db, sample_interval_s=0.01)
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        for i in range(10):
            assert client.post("/generate", params={"tokens": i, "delay_ms": 5}).status_code == 200
        assert _metric(client.get("/metrics").text, "carbon_meter_up") == 1.0

        meter.failing = True
        n_reads = len(meter.readings)
        for i in range(10):
            assert client.post("/generate", params={"tokens": 100 + i, "delay_ms": 5}).status_code == 200
        assert _wait(lambda: (monitor.metrics.registry.get_sample_value("carbon_meter_errors_total") or 0) >= 3)
        metrics = client.get("/metrics").text
        assert _metric(metrics, "carbon_meter_up") == 0.0
        assert _metric(metrics, "carbon_meter_errors_total") >= 3
        assert len(meter.readings) == n_reads  # nothing read while failing

        meter.failing = False
        assert _wait(lambda: monitor.metrics.registry.get_sample_value("carbon_meter_up") == 1.0)
        for i in range(10):
            assert client.post("/generate", params={"tokens": 200 + i, "delay_ms": 5}).status_code == 200
        assert _wait(lambda: _metric(client.get("/metrics").text, 'carbon_unmetered_requests_total{service="generate"}') >= 10)
    assert "meter fake-flaky failed" in caplog.text and "recovered" in caplog.text

    rows = query(db, "SELECT json_extract(units, '$.output_token'), metered FROM requests ORDER BY id")
    assert len(rows) == 30
    assert all(m == 0 for t, m in rows if 100 <= t < 110)  # served blind, and flagged so
    assert all(m == 1 for t, m in rows if t < 100 or t >= 200)
    (total, idle, attributed, unattributed), = query(
        db, "SELECT SUM(energy_j), SUM(idle_j), SUM(attributed_j), SUM(unattributed_j) FROM intervals"
    )
    (per_request,) = query(db, "SELECT SUM(energy_j) FROM requests")[0]
    assert unattributed > 0  # the energy of the blind span: measured, on no request
    assert math.isclose(total, meter.readings[-1] - meter.readings[0], rel_tol=1e-9)
    assert math.isclose(per_request + idle + unattributed, total, rel_tol=1e-9)


def test_no_meter_available_still_serves(db, monkeypatch):
    import calibrate.meters

    def broken(device: str):
        raise calibrate.meters.MeterUnavailable("no meter here")

    monkeypatch.setattr(calibrate.meters, "detect_meter", broken)
    monitor = CarbonMonitor(store=db, sample_interval_s=0.01)  # meter="auto"
    with serve(make_app(monitor)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        assert client.post("/generate", params={"tokens": 3}).status_code == 200
        metrics = client.get("/metrics").text
        assert _metric(metrics, "carbon_meter_up") == 0.0 and _metric(metrics, "carbon_meter_errors_total") >= 1
    assert query(db, "SELECT metered, energy_j FROM requests") == [(0, 0.0)]


def _start_server(db: Path) -> tuple[subprocess.Popen, str]:
    sock = free_socket()
    sock.listen(128)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve_monitored.py"), "--db", str(db), "--fd", str(sock.fileno())],
        pass_fds=[sock.fileno()], env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # the child holds its own copy
    with httpx.Client(base_url=base, timeout=1) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("monitored server did not start")
            time.sleep(0.05)


@pytest.mark.slow
def test_kill_mid_load_keeps_committed_records_and_restarts(db):
    proc, base = _start_server(db)
    ok = [0]
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=2) as client:
            i = 0
            while not stop.is_set() and i < 2000:
                i += 1
                try:
                    if client.post("/transcribe", params={"seconds": i, "delay_ms": 2}).status_code == 200:
                        ok[0] += 1
                except httpx.TransportError:
                    return

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for w in workers:
            w.start()
        assert _wait(lambda: ok[0] >= 200 and bool(query(db, "SELECT COUNT(*) FROM requests")[0][0]), 30)
        proc.send_signal(signal.SIGKILL)  # no shutdown: whatever was in memory is lost
        proc.wait(10)
    finally:
        stop.set()
        for w in workers:
            w.join(10)
        if proc.poll() is None:
            proc.kill()

    con = connect(db)  # opens, schema version checked
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    kept = con.execute("SELECT * FROM requests ORDER BY id").fetchall()
    con.close()
    assert 0 < len(kept) <= ok[0]
    assert all(None not in row for row in kept)

    proc, base = _start_server(db)
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for i in range(20):
                assert client.post("/generate", params={"tokens": i}).status_code == 200
        proc.send_signal(signal.SIGTERM)  # graceful: the monitor flushes on shutdown
        assert proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down
    finally:
        if proc.poll() is None:
            proc.kill()
    after = query(db, "SELECT * FROM requests ORDER BY id")
    assert after[: len(kept)] == kept
    assert [r[3] for r in after[len(kept) :]] == ["generate"] * 20


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        started_at=float(i), month="2025-07", service="s", language="fr", route="/s", method="GET", status=200,
        duration_s=1.0, energy_j=1.0, emissions_g=0.0, units="{}", concurrency=1, metered=1,
    )  # fmt: skip


def test_full_queue_drops_are_counted_never_silent(tmp_path, caplog):
    drops: list[int] = []
    store = Store(tmp_path / "s.db", queue_max=5, on_drop=drops.append)
    accepted = [store.put(_record(i)) for i in range(8)]  # writer not started: the disk "is slow"
    assert accepted == [True] * 5 + [False] * 3
    assert store.dropped == 3 and sum(drops) == 3
    assert "record(s) dropped so far" in caplog.text  # logged (rate-limited), not silent
    store.start()
    assert store.flush(5)
    store.put(_record(9))
    store.close()
    assert query(tmp_path / "s.db", "SELECT COUNT(*) FROM requests") == [(6,)]
    assert query(tmp_path / "s.db", "SELECT value FROM meta WHERE key='dropped_records'") == [("3",)]


def test_store_refuses_newer_schema_and_foreign_files(tmp_path):
    path = tmp_path / "s.db"
    Store(path)
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.close()
    with pytest.raises(StoreError, match="schema_version 99 is newer"):
        Store(path)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not a carbonsim monitor store"):
        connect(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(junk)
    with pytest.raises(StoreError, match="no such store"):
        connect(tmp_path / "missing.db")
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
