"""Budgets (429 + Retry-After, month roll-over), service switches and the admin routes."""

from __future__ import annotations

import datetime as dt
import math

import httpx
import pytest
from monitor_helpers import StepMeter, make_app, query, serve, settle_and_sample

from calibrate.monitor import BudgetSpec, CarbonMonitor, MonitorConfig

TOKEN = "s3cret-token-of-24-chars"


def _monitor(db, clock, meter, **extra) -> CarbonMonitor:
    # A long interval: the test takes every sample itself, so energies are exact.
    config = MonitorConfig(store=db, sample_interval_s=3600, idle_power_w=0.0, **extra)
    monitor = CarbonMonitor(config, meter=meter, clock=clock)
    return monitor


def test_budget_refuses_spent_route_only_and_renews_next_month(db, july):
    meter = StepMeter(step_j=1000.0)  # each sample: 1 kJ, all on the requests in flight
    grams_per_sample = MonitorConfig().grams_co2e(1000.0)
    monitor = _monitor(db, july, meter, budgets=[BudgetSpec(service="generate", monthly_g_co2e=grams_per_sample / 2)])
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        assert client.post("/generate", params={"tokens": 5}).status_code == 200
        settle_and_sample(monitor)  # the request completes with 1 kJ: over budget
        assert math.isclose(monitor.budgets.spent("2025-07", "generate"), grams_per_sample)

        refused = client.post("/generate", params={"tokens": 5})
        assert refused.status_code == 429
        retry = int(refused.headers["retry-after"])
        assert retry == int((dt.datetime(2025, 8, 1, tzinfo=dt.timezone.utc) - july.now).total_seconds())
        body = refused.json()
        assert body["error"] == "carbon_budget_exhausted" and body["service"] == "generate" and body["month"] == "2025-07"
        assert body["spent_g_co2e"] >= body["budget_g_co2e"]
        # Other routes are unaffected.
        assert client.post("/transcribe", params={"seconds": 1}).status_code == 200
        assert client.get("/translate/fr", params={"chars": 3}).status_code == 200

        metrics = client.get("/metrics").text
        assert 'carbon_refused_total{language="en",reason="budget",service="generate"} 1.0' in metrics
        assert 'carbon_budget_remaining_grams{language="*",service="generate"} -' in metrics

        july.now = dt.datetime(2025, 8, 1, 0, 0, 1, tzinfo=dt.timezone.utc)
        assert client.post("/generate", params={"tokens": 5}).status_code == 200
    months = query(db, "SELECT month, COUNT(*) FROM requests WHERE service='generate' GROUP BY month ORDER BY month")
    assert months == [("2025-07", 1), ("2025-08", 1)]


def test_budget_per_language_and_spending_survives_restart(db, july):
    meter = StepMeter(step_j=1000.0)
    budget = [BudgetSpec(service="translate", language="ar", monthly_g_co2e=1e-6)]
    monitor = _monitor(db, july, meter, budgets=budget)
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        assert client.get("/translate/ar", params={"chars": 3}).status_code == 200
        settle_and_sample(monitor)
        assert client.get("/translate/ar", params={"chars": 3}).status_code == 429
        assert client.get("/translate/fr", params={"chars": 3}).status_code == 200
    # A new process on the same store starts from this month's committed spending.
    again = _monitor(db, july, StepMeter(), budgets=budget)
    with serve(make_app(again)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/translate/ar", params={"chars": 3}).status_code == 429


def test_admin_routes_need_the_token_and_report_matches_store(db, july):
    meter = StepMeter(step_j=500.0)
    monitor = _monitor(db, july, meter, admin_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        for path, method in [("/carbon/report", "GET"), ("/carbon/services", "GET"), ("/carbon/services/generate/disable", "POST")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
                r = client.request(method, path, headers=headers)
                assert r.status_code == 401, (path, headers)
                assert r.headers["www-authenticate"].startswith("Bearer")
        for i in range(6):
            client.post("/transcribe", params={"seconds": 10 + i, "lang": "fr" if i % 2 else "en", "work_j": 2})
            client.post("/generate", params={"tokens": i})
            settle_and_sample(monitor)
        assert monitor.store.flush(5)

        report = client.get("/carbon/report", headers=auth).json()
        assert report["month"] == "2025-07"
        rows = query(
            db,
            "SELECT service, language, COUNT(*), SUM(energy_j), SUM(emissions_g), SUM(duration_s) FROM requests "
            "GROUP BY service, language ORDER BY service, language",
        )
        got = [(s["service"], s["language"], s["requests"], s["energy_j"], s["emissions_g"], s["duration_s"]) for s in report["services"]]
        assert got == rows
        fr = next(s for s in report["services"] if s["service"] == "transcribe" and s["language"] == "fr")
        assert fr["units"] == {"audio_second": 11 + 13 + 15}
        (idle,) = query(db, "SELECT SUM(idle_j) FROM intervals")[0]
        assert report["meter"]["idle_j"] == idle
        assert client.get("/carbon/report", headers=auth, params={"month": "2025-06"}).json()["services"] == []
        assert client.get("/carbon/report", headers=auth, params={"month": "June"}).status_code == 400

        # The switch: generate off answers 503, other services carry on; back on, it serves again.
        assert client.post("/carbon/services/generate/disable", headers=auth).json() == {"service": "generate", "enabled": False}
        off = client.post("/generate", params={"tokens": 1})
        assert off.status_code == 503 and off.json()["error"] == "service_disabled"
        assert client.post("/transcribe", params={"seconds": 1}).status_code == 200
        status = {s["service"]: s["enabled"] for s in client.get("/carbon/services", headers=auth).json()["services"]}
        assert status == {"generate": False, "transcribe": True, "translate": True}
        assert client.post("/carbon/services/nosuch/disable", headers=auth).status_code == 404
    # The switch is persisted: a restarted monitor still refuses, until switched back on.
    again = _monitor(db, july, StepMeter(), admin_token=TOKEN)
    with serve(make_app(again)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.post("/generate", params={"tokens": 1}).status_code == 503
        assert client.post("/carbon/services/generate/enable", headers=auth).status_code == 200
        assert client.post("/generate", params={"tokens": 1}).status_code == 200


def test_admin_routes_are_off_without_a_token(db, july):
    monitor = _monitor(db, july, StepMeter())
    with serve(make_app(monitor)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/carbon/report").status_code == 404  # not served at all: the app's own 404
        assert client.post("/carbon/services/generate/disable").status_code == 404
        assert client.post("/generate", params={"tokens": 1}).status_code == 200


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="monthly_g_co2e"):
        MonitorConfig(budgets=[{"service": "generate", "monthly_g_co2e": -1}])
    with pytest.raises(ValueError, match="duplicated"):
        MonitorConfig(budgets=[{"service": "g", "monthly_g_co2e": 1}, {"service": "g", "monthly_g_co2e": 2}])
