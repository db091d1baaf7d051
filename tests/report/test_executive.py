"""The executive summary: its numbers are the run's, in both languages and all three outputs."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sim.report.executive import executive_summary, share_text, with_executive
from sim.report.i18n import Strings
from sim.report.rundata import load_run


class _Section(HTMLParser):
    """The executive-summary section of a page: its data-values and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.values: dict | None = None
        self.text, self._depth = "", 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("id") == "executive-summary":
            self.values, self._depth = json.loads(a["data-values"]), 1
        elif self._depth and tag == "section":
            self._depth += 1

    def handle_endtag(self, tag):
        if self._depth and tag == "section":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.text += data


def _per_month(monthly: pd.DataFrame, files: pd.DataFrame, n: int, months: int, components: set[str]) -> np.ndarray:
    kg = (monthly[monthly["component"].isin(components)].groupby(["replication", "month"])["co2e_kg"].sum()
          .unstack(fill_value=0.0).reindex(index=range(n), columns=range(months), fill_value=0.0))
    served = files.groupby(["replication", "month"])["served"].sum().unstack(fill_value=0).reindex(
        index=range(n), columns=range(months), fill_value=0)
    return np.median(kg.to_numpy() * 1000.0 / served.to_numpy(), axis=0)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_executive_numbers_equal_the_run_files(built_reports, decided_run, lang):
    page = _Section(built_reports[lang].read_text(encoding="utf-8"))
    v, t = page.values, Strings(lang)
    head = json.loads((decided_run / "headline.json").read_text())
    for q in ("p50", "p5", "p95"):
        assert v[f"horizon.{q}"] == head["horizon_co2e_kg"][q]
        assert t.num(head["horizon_co2e_kg"][q]) in page.text
    share = head["component_share"]
    assert v["share.provisioned"] == pytest.approx(share["idle"] + share["host"] + share["embodied"], rel=1e-12)
    assert v["share.active"] == share["active"]
    assert v["share.provisioned"] + v["share.active"] == pytest.approx(1.0, rel=1e-9)
    assert share_text(t, v["share.active"]) in page.text and share_text(t, v["share.provisioned"]) in page.text
    # per-file intensity: all emissions / files served, median over replications, first and last month
    monthly = pd.read_parquet(decided_run / "monthly.parquet")
    files = pd.read_parquet(decided_run / "files.parquet")
    n, months = head["replications"], int(monthly["month"].max()) + 1
    avg = _per_month(monthly, files, n, months, {"active", "idle", "host", "embodied"})
    marg = _per_month(monthly, files, n, months, {"active"})
    assert v["per_file.first"] == pytest.approx(avg[0], rel=1e-9)
    assert v["per_file.last"] == pytest.approx(avg[-1], rel=1e-9)
    assert v["marginal_per_file.last"] == pytest.approx(marg[-1], rel=1e-9)
    assert t.num(avg[-1]) in page.text
    assert v["p_exceed_budget"] == head["p_exceed_budget"] and v["budget_kg"] == head["budget_kg"]
    # the recommended option (the methods agree on opt-b) and its saving on the decision's carbon P50
    dec = pd.read_csv(decided_run / "decision.csv").set_index(["option", "criterion"])
    saving = dec.loc[("baseline", "carbon"), "p50"] - dec.loc[("opt-b", "carbon"), "p50"]
    assert v["reco.saving_kg"] == saving and "opt-b" in page.text and t.num(saving) in page.text
    smaa = pd.read_csv(decided_run / "smaa.csv")
    assert v["reco.smaa_first"] == smaa[(smaa["option"] == "opt-b") & (smaa["rank"] == 1)]["acceptability"].iloc[0]


def test_executive_summary_opens_report_md_and_summary_md(built_reports, decided_run, tmp_path):
    for lang, path in built_reports.items():
        md = path.with_suffix(".md").read_text(encoding="utf-8")
        sec = f"## {Strings(lang)('sec.executive')}"
        assert md.index(sec) < md.index(f"## {Strings(lang)('sec.headline')}")
    run = load_run(decided_run)
    ex = executive_summary(run, Strings("fr"))
    forecast = (decided_run / "summary.md").read_text(encoding="utf-8")
    once = with_executive(forecast, ex, Strings("fr"))
    assert once.endswith(forecast) and "## Synthèse" in once
    assert with_executive(once, ex, Strings("fr")) == once  # a second report replaces, never stacks


def test_small_shares_never_read_zero():
    assert share_text(Strings("en"), 0.0047) == "0.5%"
    assert share_text(Strings("fr"), 0.0047) == "0,5\u202f%"
    assert share_text(Strings("en"), 0.85) == "85%"
    assert share_text(Strings("en"), 0.9953) == "99.5%"


def test_the_share_of_a_saving_from_embodied_emissions_is_said(built_reports, decided_run):
    # conftest: opt-b differs by -2, -4, -6, -8 kg (active, idle, host, embodied): embodied 8 of 20
    page = _Section(built_reports["en"].read_text(encoding="utf-8"))
    comp = pd.read_csv(decided_run / "decision_components.csv")
    rows = comp[comp["option"] == "opt-b"].set_index("component")["diff_mean"]
    assert page.values["reco.embodied_share"] == pytest.approx(rows["embodied"] / rows.sum()) == pytest.approx(0.4)
    assert "embodied emissions, which are booked only" not in page.text  # under half: not worth a sentence
