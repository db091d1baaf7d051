"""Fixed versus marginal: exact hand cases, and conservation against the run's totals."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.decide.decision import COMPONENTS, component_totals
from sim.report.split import allocated_and_marginal, horizon_split, monthly_split

from .test_figures import _row


def _case() -> tuple[pd.DataFrame, pd.DataFrame]:
    monthly = pd.DataFrame([
        # replication 0, month 0: 1.0 kg active (stt 0.4, mt 0.6), 3.0 kg provisioned; month 1: 2.0 active, 2.0 embodied
        _row(0, 0, "stt", "fr", "audio", "active", 0.4), _row(0, 0, "mt", "en", "text", "active", 0.6),
        _row(0, 0, "stt", "fr", "audio", "idle", 1.0), _row(0, 0, "mt", "en", "text", "host", 1.0),
        _row(0, 0, "mt", "en", "text", "embodied", 1.0),
        _row(0, 1, "mt", "en", "text", "active", 2.0), _row(0, 1, "mt", "en", "text", "embodied", 2.0),
        # replication 1: month 0 only provisioned 5.0 kg; month 1: 1.0 active, 1.0 idle
        _row(1, 0, "stt", "fr", "audio", "idle", 5.0),
        _row(1, 1, "stt", "fr", "audio", "active", 1.0), _row(1, 1, "stt", "fr", "audio", "idle", 1.0),
    ])
    files = pd.DataFrame([{"replication": r, "month": m, "language": "fr", "content_type": "text", "requested": s, "served": s}
                          for r, m, s in ((0, 0, 10), (0, 1, 20), (1, 0, 5), (1, 1, 0))])
    return monthly, files


def test_monthly_split_exact():
    monthly, files = _case()
    tab = monthly_split(monthly, files, 2, 2).set_index(["quantity", "month"])
    # provisioned month 0: rep0 3.0, rep1 5.0 -> median 4.0; marginal month 0: 1.0, 0.0 -> 0.5
    assert tab.loc[("provisioned_kg", 0), "p50"] == 4.0 and tab.loc[("marginal_kg", 0), "p50"] == 0.5
    # average per file month 0: rep0 4.0 kg / 10 = 400 g, rep1 5.0 / 5 = 1000 g -> median 700
    assert tab.loc[("average_g_per_file", 0), "p50"] == pytest.approx(700.0)
    assert tab.loc[("marginal_g_per_file", 0), "p50"] == pytest.approx(50.0)  # 100 g and 0 g
    # month 1: rep1 served nothing, so its per-file figure is left out (rep0: 4.0 kg / 20 = 200 g)
    assert tab.loc[("average_g_per_file", 1), "p50"] == pytest.approx(200.0)
    assert tab.loc[("marginal_g_per_file", 1), "p50"] == pytest.approx(100.0)


def test_allocation_beside_marginal_exact():
    monthly, _ = _case()
    tab = allocated_and_marginal(monthly, "service", 2).set_index("group")
    # stt: rep0 0.4 + 1.0 = 1.4, rep1 5 + 1 + 1 = 7 -> 4.2; marginal 0.4 and 1.0 -> 0.7
    assert tab.loc["stt", "allocated_p50"] == pytest.approx(4.2) and tab.loc["stt", "marginal_p50"] == pytest.approx(0.7)
    # mt: rep0 0.6 + 1 + 1 + 2 + 2 = 6.6, rep1 0 -> 3.3; marginal 2.6 and 0 -> 1.3
    assert tab.loc["mt", "allocated_p50"] == pytest.approx(3.3) and tab.loc["mt", "marginal_p50"] == pytest.approx(1.3)
    assert list(tab.index) == ["stt", "mt"]  # largest allocation first


def test_split_adds_up_to_the_run_total(forecast_run):
    import json

    monthly = pd.read_parquet(forecast_run / "monthly.parquet")
    head = json.loads((forecast_run / "headline.json").read_text())
    n = head["replications"]
    per_rep = monthly.groupby("replication")["co2e_kg"].sum().reindex(range(n)).to_numpy()
    prov = monthly[monthly["component"] != "active"].groupby("replication")["co2e_kg"].sum().reindex(range(n), fill_value=0.0)
    marg = monthly[monthly["component"] == "active"].groupby("replication")["co2e_kg"].sum().reindex(range(n), fill_value=0.0)
    np.testing.assert_allclose(prov.to_numpy() + marg.to_numpy(), per_rep, rtol=1e-12)
    split = horizon_split(monthly, n)
    assert split["provisioned_kg"]["p50"] == pytest.approx(np.median(prov), rel=1e-12)
    share = head["component_share"]
    assert split["marginal_kg"]["mean"] / head["horizon_co2e_kg"]["mean"] == pytest.approx(share["active"], rel=1e-9)


def test_component_totals_per_replication():
    monthly, _ = _case()
    got = component_totals(SimpleNamespace(monthly=monthly), 2)
    assert COMPONENTS == ("active", "idle", "host", "embodied")
    np.testing.assert_allclose(got, [[3.0, 1.0], [1.0, 6.0], [1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(component_totals(SimpleNamespace(monthly=monthly), 1), [[3.0], [1.0], [1.0], [3.0]])


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_saving_by_component_in_the_report_equals_the_decision_file(built_reports, decided_run, lang):
    from .test_html import Page

    page = Page(built_reports[lang].read_text(encoding="utf-8"))
    comp = pd.read_csv(decided_run / "decision_components.csv")
    for _, r in comp[comp["option"] != "baseline"].iterrows():
        assert page.figures[f"saving.{r['option']}.{r['component']}"] == r["diff_mean"]
    for opt in ("opt-a", "opt-b"):
        assert page.figures[f"saving.{opt}.total"] == pytest.approx(comp[comp["option"] == opt]["diff_mean"].sum())
    assert "saving.baseline.total" not in page.figures
