"""Derived figures: exact hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.report.figures import exceedance_by_month, market_totals, sci_per_unit, tornado

CONFIG = {
    "services": {
        "stt": {"task": "transcribe", "enabled": True},
        "mt": {"task": "translate", "enabled": True, "disabled_languages": ["es"]},
        "llm": {"task": "generate", "enabled": True},
        "off": {"task": "generate", "enabled": False},
    },
    "pipelines": {"text": [{"service": "mt"}, {"service": "llm"}], "audio": [{"service": "stt"}]},
}


def _row(rep, month, service, lang, content, component, co2e_kg, jobs=0.0, audio_s=0.0):
    return {"replication": rep, "month": month, "pool": "gpu", "service": service, "language": lang, "content_type": content,
            "component": component, "jobs": jobs, "busy_s": 0.0, "audio_s": audio_s, "energy_kwh": 0.0, "facility_kwh": 0.0,
            "co2e_kg": co2e_kg}


def test_sci_per_unit_exact():
    monthly = pd.DataFrame([
        # replication 0: transcription 0.3 kg (active + idle) for 600 s of audio = 10 min -> 30 g/min
        _row(0, 0, "stt", "fr", "audio", "active", 0.2, jobs=2, audio_s=600.0),
        _row(0, 0, "stt", "fr", "audio", "idle", 0.1),
        # translation: text rows count (0.4 kg), audio transcripts' translation does not
        _row(0, 0, "mt", "fr", "text", "active", 0.3, jobs=2),
        _row(0, 1, "mt", "en", "text", "embodied", 0.1),
        _row(0, 0, "mt", "fr", "audio", "active", 5.0, jobs=2),
        # generation: 0.5 kg over 5 responses -> 100 g/response
        _row(0, 0, "llm", "fr", "text", "active", 0.4, jobs=5),
        _row(0, 0, "llm", "fr", "text", "host", 0.1),
        _row(0, 0, "(unused)", "-", "-", "idle", 9.0),
        # replication 1: everything doubled in emissions, same work
        _row(1, 0, "stt", "fr", "audio", "active", 0.6, jobs=2, audio_s=600.0),
        _row(1, 0, "mt", "fr", "text", "active", 0.8, jobs=2),
        _row(1, 0, "llm", "fr", "text", "active", 1.0, jobs=5),
    ])
    files = pd.DataFrame([
        {"replication": r, "month": 0, "language": lang, "content_type": c, "requested": n, "served": n}
        for r in (0, 1) for lang, c, n in (("fr", "text", 3.0), ("en", "text", 1.0), ("es", "text", 7.0), ("fr", "audio", 2.0))
    ])
    units = {u.key: u for u in sci_per_unit(monthly, files, CONFIG, replications=2)}
    assert set(units) == {"audio_minute", "article", "response"}
    # per replication: 30 and 60 g/min; 0.4 kg / 4 articles (es is not translated) = 100 and 200 g; 100 and 200 g
    assert units["audio_minute"].g_per_unit["p50"] == pytest.approx(45.0)
    assert units["audio_minute"].g_per_unit["p5"] == pytest.approx(30.0 + 0.05 * 30.0)
    assert units["article"].g_per_unit["p50"] == pytest.approx(150.0)
    assert units["article"].units["p50"] == pytest.approx(4.0)
    assert units["response"].g_per_unit["p50"] == pytest.approx(150.0)
    assert units["response"].units["mean"] == pytest.approx(5.0)


def test_exceedance_by_month_counts_replications_over_budget():
    # three replications, two months; cumulative: [1, 3], [2, 2], [5, 6]; budget 2.5
    monthly = pd.DataFrame([_row(r, m, "stt", "fr", "audio", "active", v)
                            for r, vals in enumerate(([1, 2], [2, 0], [5, 1])) for m, v in enumerate(vals)])
    p = exceedance_by_month(monthly, replications=3, horizon=2, budget_kg=2.5)
    np.testing.assert_allclose(p, [1 / 3, 2 / 3])
    assert exceedance_by_month(monthly, 3, 2, None) is None


def test_market_totals_only_when_present():
    monthly = pd.DataFrame([_row(0, 0, "stt", "fr", "audio", "active", 1.0)])
    assert market_totals(monthly, 1) is None
    monthly["co2e_market_kg"] = [0.25]
    assert market_totals(monthly, 1)["p50"] == 0.25


def test_tornado_recovers_an_exact_linear_response():
    rng = np.random.default_rng(7)
    n = 40
    reps = pd.DataFrame({"replication": range(n), "grid": rng.uniform(40, 60, n), "pue": rng.uniform(1.1, 1.2, n),
                         "constant": 3.0, "files": rng.integers(100, 200, n)})
    reps["co2e_kg"] = 100.0 + 3.0 * reps["grid"] + 0.0 * reps["pue"]
    centre, drivers = tornado(reps)
    assert centre == pytest.approx(np.median(reps["co2e_kg"]))
    names = [d.name for d in drivers]
    assert names[0] == "grid" and "constant" not in names and "files" not in names  # constant input, output column
    top = drivers[0]
    p10, p50, p90 = np.percentile(reps["grid"], [10, 50, 90])
    assert top.low_kg == pytest.approx(3.0 * (p10 - p50))
    assert top.high_kg == pytest.approx(3.0 * (p90 - p50))
    assert top.variance_share == pytest.approx(1.0)
    assert drivers[1].variance_share == pytest.approx(0.0, abs=1e-12)


def test_tornado_needs_more_replications_than_inputs():
    reps = pd.DataFrame({"replication": range(4), "a": [1.0, 2, 3, 4], "b": [2.0, 1, 4, 3], "c": [1.0, 1, 2, 2],
                         "co2e_kg": [1.0, 2, 3, 5]})
    assert tornado(reps)[1] == []
