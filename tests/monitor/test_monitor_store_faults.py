"""Store faults: a full disk drops records counted once, the same in /metrics and the report;
a store file that vanishes while running is noticed and reopened, never written into the void.
"""

from __future__ import annotations

import math
import shutil
import sqlite3

import httpx
import pytest
from monitor_helpers import StepMeter, make_app, query, serve, settle_and_sample

from calibrate.monitor import BudgetSpec, CarbonMonitor, MonitorConfig, Store
from calibrate.monitor.store import RequestRecord

AUTH_TOKEN = "store-faults-admin-token"


def _record(i: int, lang: str = "fr") -> RequestRecord:
    return RequestRecord(
        started_at=float(i), month="2025-07", service="s", language=lang, route="/s", method="GET", status=200,
        duration_s=1.0, energy_j=1.0, emissions_g=0.5, units='{"request":1.0}', concurrency=1, metered=1,
    )  # fmt: skip


def _dropped_metric(monitor: CarbonMonitor) -> float:
    return monitor.metrics.registry.get_sample_value("carbon_store_dropped_records_total")


@pytest.mark.slow
def test_full_disk_drops_are_counted_once_and_alike_in_metrics_and_report(db, july):
    # store_max_mb makes SQLite fail writes past the cap with SQLITE_FULL, exactly as a full disk does.
    config = MonitorConfig(store=db, sample_interval_s=3600, store_max_mb=0.06, queue_max=40, flush_interval_s=0.01,
                           admin_token=AUTH_TOKEN)  # fmt: skip
    monitor = CarbonMonitor(config, meter=None, clock=july)
    n_requests, n_samples = 150, 2  # the sampler's first sample and the one at shutdown
    with serve(make_app(monitor)) as base, httpx.Client(base_url=base, timeout=10) as client:
        for i in range(n_requests):
            assert client.post("/generate", params={"tokens": i}).status_code == 200  # served whatever the disk
            if i % 10 == 9:
                settle_and_sample(monitor)
                n_samples += 1
        assert monitor.store.flush(10)
        (live_metric,) = [float(line.split()[1]) for line in client.get("/metrics").text.splitlines()
                          if line.startswith("carbon_store_dropped_records_total ")]  # fmt: skip
        live_report = client.get("/carbon/report", headers={"Authorization": f"Bearer {AUTH_TOKEN}"}).json()
        assert live_metric == live_report["dropped_records"] > 0
    (kept_requests,), (kept_intervals,) = query(db, "SELECT COUNT(*) FROM requests")[0], query(db, "SELECT COUNT(*) FROM intervals")[0]
    lost = n_requests + n_samples - kept_requests - kept_intervals
    assert lost > 20  # the cap really was hit
    # One counter: the records missing from the file, counted once, read alike by both.
    assert monitor.store.dropped == lost
    assert _dropped_metric(monitor) == lost
    assert monitor.report("all")["dropped_records"] == lost
    # The file itself could not take the count either (full): it holds what it could write.
    (in_file,) = query(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='dropped_records'")[0]
    assert in_file <= lost


def test_drops_reach_the_file_once_when_room_comes_back(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path, queue_max=10_000, batch_max=20, flush_interval_s=0.01, max_bytes=60_000)
    for i in range(3000):
        store.put(_record(i))
    store.start()
    assert store.flush(10)
    (kept,) = query(path, "SELECT COUNT(*) FROM requests")[0]
    assert 0 < kept < 3000 and store.dropped == 3000 - kept == store.dropped_records()
    con = sqlite3.connect(path)  # an operator makes room
    with con:
        con.execute("DELETE FROM requests")
    con.close()
    store.put(_record(0))
    assert store.flush(10)
    store.close()
    assert query(path, "SELECT value FROM meta WHERE key='dropped_records'") == [(str(3000 - kept),)]
    assert store.dropped_records() == 3000 - kept  # written once, not added again
    # The rows are lost, their emissions are not: the spending table has all 3001 records' 0.5 g.
    assert query(path, "SELECT language, emissions_g FROM spending") == [("fr", 0.5 * 3001)]


def test_a_full_disk_does_not_lift_a_budget(db, july):
    meter = StepMeter(step_j=1000.0)
    g = MonitorConfig().grams_co2e(1000.0)
    config = MonitorConfig(store=db, sample_interval_s=3600, idle_power_w=0.0, flush_interval_s=0.01, store_max_mb=0.001,
                           budgets=[BudgetSpec(service="generate", monthly_g_co2e=1.5 * g)])  # fmt: skip
    Store(db)
    con = sqlite3.connect(db)
    with con:  # a June row that fills its page: a new request row needs a page the cap refuses
        con.execute(
            "INSERT INTO requests (started_at, month, service, language, route, method, status, duration_s, energy_j, "
            "emissions_g, units, concurrency, metered) VALUES (0, '2025-06', 'g', 'en', '/g', 'POST', 200, 1, 1, 0, ?, 1, 1)",
            ('{"request":1}' + " " * 3990,),
        )
    con.close()
    monitor = CarbonMonitor(config, meter=meter, clock=july)  # a cap below the file's size: it may not grow
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        for expected in (200, 200, 429):
            assert client.post("/generate", params={"tokens": 1}).status_code == expected
            settle_and_sample(monitor)
            assert monitor.store.flush(5)
        assert monitor.store.dropped >= 2  # both records lost...
        assert math.isclose(monitor.budgets.spent("2025-07", "generate"), 2 * g)  # ...their emissions still count
    assert query(db, "SELECT month, COUNT(*) FROM requests GROUP BY month") == [("2025-06", 1)]


def test_store_whose_folder_is_deleted_is_reopened_and_keeps_the_budget(tmp_path, july, caplog):
    db = tmp_path / "state" / "carbon.db"
    meter = StepMeter(step_j=1000.0)
    g = MonitorConfig().grams_co2e(1000.0)
    config = MonitorConfig(store=db, sample_interval_s=3600, idle_power_w=0.0, flush_interval_s=0.01,
                           budgets=[BudgetSpec(service="generate", monthly_g_co2e=1.5 * g)])  # fmt: skip
    monitor = CarbonMonitor(config, meter=meter, clock=july)
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        assert client.post("/generate", params={"tokens": 1}).status_code == 200
        settle_and_sample(monitor)
        assert monitor.store.flush(5)
        shutil.rmtree(db.parent)  # an operator (or a cleanup job) deletes the folder under the running server
        for i in range(5):
            assert client.post("/transcribe", params={"seconds": i}).status_code == 200
        settle_and_sample(monitor)
        assert monitor.store.flush(5)
        assert db.exists()  # a new file at the same path, not records written into the deleted inode
        assert monitor.metrics.registry.get_sample_value("carbon_store_reopened_total") == 1.0
        assert client.post("/generate", params={"tokens": 1}).status_code == 200  # 1 request of 1.5 spent
        settle_and_sample(monitor)
        assert client.post("/generate", params={"tokens": 1}).status_code == 429  # the spending before survived
    assert "vanished or was replaced" in caplog.text
    rows = query(db, "SELECT service, COUNT(*) FROM requests GROUP BY service ORDER BY service")
    assert rows == [("generate", 1), ("transcribe", 5)]  # what came after the deletion is in the new file
    (spent,) = query(db, "SELECT emissions_g FROM spending WHERE service='generate'")[0]
    assert math.isclose(spent, 2 * g)  # the carried-over request plus the new one
    assert monitor.report("all")["store_reopened"] == 1 and monitor.store.dropped == 0
