"""Reconciliation of a run's forecast with Azure's report: ratios, flags, causes, outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from calibrate.reconcile import reconcile_run
from calibrate.reconcile.compare import ReconcileError
from calibrate.reconcile.forecast import RunFolderError
from sim.cli import main

from .reconcile_helpers import PERIODS, make_run, p50, report_csv


def test_report_equal_to_the_forecast_gives_ratio_one(tmp_path):
    run = make_run(tmp_path / "run")
    table, csv_path, md_path = reconcile_run(run, str(report_csv(tmp_path / "azure.csv", p50(run))))
    assert list(table["month"]) == list(PERIODS)
    assert table["ratio"].tolist() == pytest.approx([1.0] * len(PERIODS), abs=1e-12)
    assert (table["flag"] == "").all()
    written = pd.read_csv(csv_path, dtype={"month": str})
    for col in ("azure_scope2_kg", "azure_total_kg", "sim_location_p5_kg", "sim_location_p50_kg", "sim_location_p95_kg",
                "sim_market_p50_kg", "sim_embodied_p50_kg", "ratio", "flag"):
        assert col in written.columns
    assert written["ratio"].tolist() == pytest.approx([1.0] * len(PERIODS), rel=1e-5)
    assert "None: every month lies inside" in md_path.read_text()


def test_one_month_tripled_is_flagged_as_an_event(tmp_path):
    run = make_run(tmp_path / "run")
    kg = p50(run).copy()
    kg["2027-03"] *= 3
    table, _, md_path = reconcile_run(run, str(report_csv(tmp_path / "azure.csv", kg)))
    flags = dict(zip(table["month"], table["flag"]))
    assert flags.pop("2027-03") == "above P95"
    assert set(flags.values()) == {""}
    assert table.set_index("month").loc["2027-03", "ratio"] == pytest.approx(3.0)
    md = md_path.read_text()
    assert "**above the band** in 2027-03 (isolated month(s), so an event is likelier)" in md
    assert "resources outside the modelled pools ran that month" in md


def test_every_month_low_reads_as_a_method_difference(tmp_path):
    run = make_run(tmp_path / "run")
    table, _, md_path = reconcile_run(run, str(report_csv(tmp_path / "azure.csv", p50(run) * 0.2)))
    assert (table["flag"] == "below P5").all()
    assert "so a difference of method or scope is likelier" in md_path.read_text()
    assert "rerun with a market factor and use --basis market" in md_path.read_text()


def test_market_basis_reads_the_market_column(tmp_path):
    run = make_run(tmp_path / "run")
    table, _, _ = reconcile_run(run, str(report_csv(tmp_path / "azure.csv", p50(run, "market"))), basis="market")
    assert table["ratio"].tolist() == pytest.approx([1.0] * len(PERIODS), abs=1e-12)
    assert (table["flag"] == "").all()
    bare = make_run(tmp_path / "bare", market=False)
    with pytest.raises(ReconcileError, match="no market-based figures"):
        reconcile_run(bare, str(report_csv(tmp_path / "azure.csv", p50(bare))), basis="market")


def test_months_outside_the_horizon_are_listed_and_no_overlap_refused(tmp_path):
    run = make_run(tmp_path / "run")
    kg = pd.concat([p50(run), pd.Series({"2027-07": 80.0})])
    table, _, md_path = reconcile_run(run, str(report_csv(tmp_path / "azure.csv", kg)))
    assert len(table) == len(PERIODS)
    assert "outside the forecast's horizon, not compared: 2027-07" in md_path.read_text()
    with pytest.raises(ReconcileError, match="no month in common"):
        reconcile_run(run, str(report_csv(tmp_path / "late.csv", pd.Series({"2030-01": 5.0}))))


def test_an_incomplete_run_folder_is_refused(tmp_path):
    with pytest.raises(RunFolderError, match="no manifest.json"):
        reconcile_run(tmp_path, "x.csv")
    run = make_run(tmp_path / "run")
    (run / "manifest.json").write_text('{"complete": false}')
    with pytest.raises(RunFolderError, match="not complete"):
        reconcile_run(run, "x.csv")


def test_cli_writes_both_files_and_lists_flagged_months(tmp_path):
    run = make_run(tmp_path / "run")
    kg = p50(run).copy()
    kg["2027-05"] *= 3
    res = CliRunner().invoke(main, ["reconcile", str(run), "--azure", str(report_csv(tmp_path / "a.csv", kg))],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "6 month(s) compared, 1 outside the P5-P95 band" in res.output and "2027-05" in res.output
    assert (run / "reconcile.csv").exists() and (run / "reconcile.md").exists()
    bad = CliRunner().invoke(main, ["reconcile", str(run), "--azure", str(tmp_path / "report.xlsx")])
    assert bad.exit_code == 2 and "unknown report" in bad.output
