"""Budgets shared by every worker process of one store: the store is the source of truth."""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import sqlite3

import pytest
from monitor_helpers import query, spend_worker

from calibrate.monitor import BudgetSpec, CarbonMonitor, MonitorConfig, Store
from calibrate.monitor.store import RequestRecord

PROCESSES = 4
K = 10  # requests of 1 kJ that one budget allows
JULY = dt.datetime(2025, 7, 30, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.slow
def test_four_processes_spend_one_budget_once(db):
    g = MonitorConfig().grams_co2e(1000.0)  # one request
    budget = (K - 0.5) * g  # the K-th request overspends it; the (K+1)-th must be refused
    Store(db)  # created once, before the workers race to open it
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=spend_worker, args=(out, str(db), budget, JULY, barrier)) for _ in range(PROCESSES)]
    for w in workers:
        w.start()
    try:
        results = [out.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.kill()
    assert all(isinstance(r, tuple) for r in results), results
    served = sum(n for n, _ in results)
    # Per-process budgets would have served PROCESSES x K. Shared: K, plus at most one request per
    # other worker admitted on a snapshot taken just before the K-th commit.
    assert K <= served <= K + PROCESSES - 1, results
    (n_rows, total), = query(db, "SELECT COUNT(*), SUM(emissions_g) FROM requests")
    assert n_rows == served and math.isclose(total, served * g, rel_tol=1e-12)
    assert query(db, "SELECT month, service, language FROM spending") == [("2025-07", "generate", "en")]
    (spent,) = query(db, "SELECT emissions_g FROM spending")[0]
    assert math.isclose(spent, total, rel_tol=1e-12)  # the table equals the records it summarises
    for _, seen in results:  # every worker ends with the store's figure, not its own share
        assert math.isclose(seen, total, rel_tol=1e-12)


def test_a_new_process_starts_from_the_store_and_sees_others_spend(db):
    g = MonitorConfig().grams_co2e(1000.0)
    config = MonitorConfig(store=db, sample_interval_s=3600, flush_interval_s=0.005,
                           budgets=[BudgetSpec(service="generate", monthly_g_co2e=2.5 * g)])  # fmt: skip
    watcher = CarbonMonitor(config, meter=None, clock=lambda: JULY)
    watcher.start()
    try:
        assert watcher.budgets.spent("2025-07", "generate") == 0.0
        other = Store(db)  # another worker's writer, committing two requests of 1 kJ
        for _ in range(2):
            other.put(RequestRecord(JULY.timestamp(), "2025-07", "generate", "en", "/generate", "POST", 200, 1.0, 1000.0, g, "{}", 1, 1))
        other.start()
        other.close()
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while watcher.budgets.spent("2025-07", "generate") < 2 * g and dt.datetime.now() < deadline:
            pass  # the watcher's idle refresh (every flush interval) picks the commits up
        assert math.isclose(watcher.budgets.spent("2025-07", "generate"), 2 * g)
        assert watcher.budgets.check(JULY, "generate", "en") is None
        other = Store(db)
        other.put(RequestRecord(JULY.timestamp(), "2025-07", "generate", "fr", "/generate", "POST", 200, 1.0, 1000.0, g, "{}", 1, 1))
        other.start()
        other.close()
        while watcher.budgets.spent("2025-07", "generate") < 3 * g and dt.datetime.now() < deadline:
            pass
        refusal = watcher.budgets.check(JULY, "generate", "en")
        assert refusal is not None and refusal.status == 429
    finally:
        watcher.close()


def test_version_1_store_is_migrated_with_its_spending(tmp_path):
    path = tmp_path / "v1.db"
    Store(path)
    con = sqlite3.connect(path)
    with con:  # back to what version 1 wrote: no spending table
        con.execute("DROP TABLE spending")
        con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        for month, lang, g in [("2025-06", "fr", 1.0), ("2025-07", "fr", 2.0), ("2025-07", "fr", 0.5), ("2025-07", "ar", 4.0)]:
            con.execute(
                "INSERT INTO requests (started_at, month, service, language, route, method, status, duration_s, energy_j, "
                "emissions_g, units, concurrency, metered) VALUES (0, ?, 'translate', ?, '/t', 'POST', 200, 1, 1, ?, '{}', 1, 1)",
                (month, lang, g),
            )
    con.close()
    store = Store(path)
    assert store.spending("2025-07") == {("translate", "fr"): 2.5, ("translate", "ar"): 4.0}
    assert store.spending("2025-06") == {("translate", "fr"): 1.0}
    assert query(path, "SELECT value FROM meta WHERE key='schema_version'") == [("2",)]
