"""The framework table's numbers are the run's totals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.report import build_report
from sim.report.frameworks import frameworks_table
from sim.report.i18n import Strings
from sim.report.rundata import load_run

from .test_html import Page


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_framework_figures_equal_the_run_totals(built_reports, decided_run, lang):
    fig = Page(built_reports[lang].read_text(encoding="utf-8")).figures
    head = json.loads((decided_run / "headline.json").read_text())
    for q in ("p50", "p90"):
        assert fig[f"fw.ghg_location.{q}"] == head["horizon_co2e_kg"][q]
        assert fig[f"fw.esrs_location.{q}"] == pytest.approx(head["final_year_co2e_kg"][q] / 1000.0, rel=1e-12)
        assert fig[f"fw.sci_E.{q}"] == pytest.approx(head["facility_kwh"][q], rel=1e-12)
        assert fig[f"fw.sci_R.{q}"] == head["files_served"][q]
        # SCI = (E x I + M) / R per replication: the headline's gCO2e per file served
        assert fig[f"fw.sci_SCI.{q}"] == pytest.approx(head["co2e_g_per_file"][q], rel=1e-9)
    monthly = pd.read_parquet(decided_run / "monthly.parquet")
    n = head["replications"]
    m = monthly[monthly["component"] == "embodied"].groupby("replication")["co2e_kg"].sum().reindex(range(n), fill_value=0.0)
    ei = monthly[monthly["component"] != "embodied"].groupby("replication")["co2e_kg"].sum().reindex(range(n), fill_value=0.0)
    assert fig["fw.sci_M.p50"] == pytest.approx(np.median(m), rel=1e-12)
    assert fig["fw.sci_EI.p50"] == pytest.approx(np.median(ei), rel=1e-12)
    assert "fw.ghg_market.p50" not in fig  # no market factor in the reference case: said, not invented


def test_market_based_side_by_side_when_configured(forecast_run, tmp_path):
    """With a market factor, market-based figures equal the monthly table's market column."""
    folder = tmp_path / "run"
    shutil.copytree(forecast_run, folder)
    monthly = pd.read_parquet(folder / "monthly.parquet")
    monthly["co2e_market_kg"] = monthly["co2e_kg"] * 2.0  # a stand-in market column
    monthly.to_parquet(folder / "monthly.parquet")
    run = load_run(folder)
    tab = frameworks_table(run, Strings("en"))
    cells = {c.key: c.value for row in tab.rows for c in row if hasattr(c, "key")}
    n = run.headline["replications"]
    per_rep = monthly.groupby("replication")["co2e_market_kg"].sum().reindex(range(n)).to_numpy()
    assert cells["fw.ghg_market.p50"] == pytest.approx(np.median(per_rep), rel=1e-12)
    assert cells["fw.ghg_market.p50"] == pytest.approx(2 * cells["fw.ghg_location.p50"], rel=1e-9)
    cfg = yaml.safe_load((folder / "config.resolved.yaml").read_text())
    if cfg["horizon_months"] <= 12:
        assert cells["fw.esrs_market.p50"] == pytest.approx(cells["fw.ghg_market.p50"] / 1000.0, rel=1e-12)
    assert build_report(folder, "en").is_file()
