"""A monitor that cannot be opened or bypassed: admin tokens, language labels, non-finite units."""

from __future__ import annotations

import math

import httpx
import pytest
from monitor_helpers import StepMeter, make_app, query, serve, settle_and_sample

from calibrate.monitor import BudgetSpec, CarbonMonitor, MonitorConfig, report_usage
from calibrate.monitor.admin import authorised
from calibrate.monitor.languages import LanguageLabels, primary_subtag
from calibrate.monitor.routes import UsageError

TOKEN_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


# --- admin token ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", " ", "fifteen-chars!!"])
def test_short_admin_token_is_refused_with_how_to_make_one(token, db):
    with pytest.raises(ValueError, match="admin_token") as info:
        MonitorConfig(store=db, admin_token=token)
    assert TOKEN_HOWTO in str(info.value)
    assert MonitorConfig(store=db, admin_token="x" * 16).admin_token is not None


def test_an_empty_bearer_never_authorises():
    scope = {"headers": [(b"authorization", b"Bearer ")]}
    assert not authorised(scope, b"")  # compare_digest(b"", b"") alone would say yes
    assert not authorised({"headers": [(b"authorization", b"Bearer")]}, b"")
    assert authorised({"headers": [(b"authorization", b"Bearer " + b"t" * 16)]}, b"t" * 16)


def test_empty_token_from_the_environment_no_longer_opens_admin_routes(db, monkeypatch):
    # `CARBONSIM_ADMIN_TOKEN= uvicorn examples.app:app` used to serve the admin routes to `Bearer `.
    from test_monitor_example_app import app_module

    monkeypatch.setenv("CARBONSIM_ADMIN_TOKEN", "")
    monkeypatch.setenv("CARBONSIM_STORE", str(db))
    monkeypatch.delenv("CARBONSIM_MONITOR_CONFIG", raising=False)
    with pytest.raises(ValueError, match="admin token has 0 characters") as info:
        app_module.create_app()
    assert TOKEN_HOWTO in str(info.value)
    assert not db.exists() or query(db, "SELECT COUNT(*) FROM services") == [(0,)]


# --- language labels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, code",
    [("ar", "ar"), ("AR", "ar"), ("ar-SA", "ar"), ("ar_", "ar"), (" fr ", "fr"), ("zh-Hant-TW", "zh"), ("ast", "ast"),
     ("arabic", None), ("a", None), ("x-klingon", None), ("", None), ("1a", None), ("ar SA", None)],
)  # fmt: skip
def test_primary_subtag(raw, code):
    assert primary_subtag(raw) == code


def test_junk_labels_fill_the_learned_slots_but_never_displace_a_configured_language():
    labels = LanguageLabels({"ar"}, learn=True, max_learned=3)
    assert [labels.label(x) for x in ("qa", "qb", "qc", "qd", "QB-x")] == ["qa", "qb", "qc", "other", "qb"]
    assert [labels.label(x) for x in ("ar", "ar-SA", "AR", "ar_")] == ["ar"] * 4
    assert [labels.label(x) for x in ("arabic", "de", None, "  ")] == ["other", "other", "unknown", "unknown"]
    assert labels.learned == {"qa", "qb", "qc"}
    fixed = LanguageLabels({"en", "fr"}, learn=False, max_learned=32)
    assert [fixed.label(x) for x in ("en-GB", "fr", "es")] == ["en", "fr", "other"]


def test_budgeted_language_cannot_be_bypassed_by_spelling_or_by_junk(db, july):
    # 32 junk codes used to fill max_languages, after which `ar` was booked under `other` and served.
    meter = StepMeter(step_j=1000.0)
    budgets = [BudgetSpec(service="translate", language="ar", monthly_g_co2e=1e-6),
               BudgetSpec(service="translate", language="other", monthly_g_co2e=1e-6)]  # fmt: skip
    config = MonitorConfig(store=db, sample_interval_s=3600, idle_power_w=0.0, budgets=budgets, max_languages=32)
    monitor = CarbonMonitor(config, meter=meter, clock=july)
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        for i in range(40):
            junk = chr(ord("a") + i // 26) + chr(ord("a") + i % 26) + "q"  # aaq, abq...: valid-looking codes
            assert client.get(f"/translate/{junk}", params={"chars": 1}).status_code == 200
        assert client.get("/translate/ar-SA", params={"chars": 3}).status_code == 200
        settle_and_sample(monitor)  # one sample: 1 kJ shared by the 41 requests, ar's budget is spent
        assert monitor.budgets.spent("2025-07", "translate", "ar") > 1e-6
        for spelling in ("ar", "AR", "ar-SA", "ar_", "ar-Arab-EG"):
            r = client.get(f"/translate/{spelling}", params={"chars": 3})
            assert r.status_code == 429 and r.json()["language"] == "ar", spelling
        # `arabic` is not a subtag: booked under `other`, whose own budget the 8 unlearned junk codes spent.
        r = client.get("/translate/arabic", params={"chars": 3})
        assert r.status_code == 429 and r.json()["language"] == "other"
        assert client.get("/translate/fr", params={"chars": 3}).status_code == 429  # fr came after 32 learned: other
        assert client.get("/translate/aaq", params={"chars": 3}).status_code == 200  # learned, no budget of its own
    rows = dict(query(db, "SELECT language, COUNT(*) FROM requests WHERE service='translate' GROUP BY language"))
    assert rows["ar"] == 1 and rows["other"] == 8 and len(rows) == 32 + 2


def test_config_refuses_languages_that_are_not_subtags():
    with pytest.raises(ValueError, match="'ar-SA' is not a BCP 47 primary language subtag; use the primary subtag 'ar'"):
        MonitorConfig(languages=["ar-SA"])
    with pytest.raises(ValueError, match="'arabic' is not a BCP 47"):
        MonitorConfig(budgets=[{"service": "t", "language": "arabic", "monthly_g_co2e": 1}])
    with pytest.raises(ValueError, match=r"budgets name language\(s\) \['ar'\] that `languages` lacks"):
        MonitorConfig(languages=["fr"], budgets=[{"service": "t", "language": "ar", "monthly_g_co2e": 1}])
    assert MonitorConfig(languages=["FR"]).languages == ["fr"]


# --- units ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["inf", "nan", "-1", "1e13"])
def test_non_finite_negative_or_absurd_units_are_answered_422_and_never_stored(db, july, seconds):
    meter = StepMeter(step_j=10.0)
    monitor = CarbonMonitor(MonitorConfig(store=db, sample_interval_s=3600, idle_power_w=0.0), meter=meter, clock=july)
    with serve(make_app(monitor, meter)) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        r = client.post("/transcribe", params={"seconds": seconds, "lang": "fr"})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_usage" and "audio_second" in r.json()["detail"]
        assert client.post("/transcribe", params={"seconds": 2, "lang": "fr"}).status_code == 200
        settle_and_sample(monitor)
        metrics = client.get("/metrics").text
        assert monitor.store.flush(5)
        report = monitor.report("2025-07")
    assert "Inf" not in metrics.replace('le="+Inf"', "") and "NaN" not in metrics  # +Inf only as a histogram bucket
    assert 'carbon_requests_total{language="fr",service="transcribe",status="422"} 1.0' in metrics
    assert 'carbon_units_total{language="fr",service="transcribe",unit="audio_second"} 2.0' in metrics
    rows = query(db, "SELECT status, units FROM requests ORDER BY id")
    assert rows == [(422, "{}"), (200, '{"audio_second":2.0}')]  # the request is recorded, its bad units never
    (fr,) = report["services"]
    assert fr["units"] == {"audio_second": 2.0} and math.isfinite(fr["emissions_g"])


def test_report_usage_refuses_a_request_total_past_the_bound():
    from calibrate.monitor.routes import (
        MAX_UNITS_PER_REQUEST,
        Usage,
        enter_usage,
        exit_usage,
    )

    usage = Usage()
    token = enter_usage(usage)
    try:
        assert report_usage(audio_second=MAX_UNITS_PER_REQUEST) is True
        with pytest.raises(UsageError, match="exceed 1e\\+12 per request"):
            report_usage(audio_second=1.0)
        with pytest.raises(UsageError, match="finite"):
            report_usage(output_token=float("inf"))
    finally:
        exit_usage(token)
    assert usage.units == {"audio_second": MAX_UNITS_PER_REQUEST}


def test_uvicorn_refuses_to_start_the_reference_app_with_an_empty_token(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "CARBONSIM_ADMIN_TOKEN": "", "CARBONSIM_STORE": str(tmp_path / "c.db")}
    env.pop("CARBONSIM_MONITOR_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", "import examples.app as m; m.app"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("examples.app: not starting:") and TOKEN_HOWTO in done.stderr
