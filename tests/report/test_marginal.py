"""Marginal emissions per month by service, language and content type (marginal.csv): an
exact hand case, conservation on a real run (the groups add up to the month's marginal
total), and the report's table, the CSV and the workbook agreeing."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sim.report.marginal import MARGINAL_CSV, marginal_cubes, marginal_table
from sim.report.split import GROUPINGS, horizon_split, monthly_split

from .test_figures import _row


def _case() -> tuple[pd.DataFrame, pd.DataFrame]:
    monthly = pd.DataFrame([
        # replication 0, month 0: stt 0.4 kg (fr audio), mt 0.6 kg (en text), a managed request 0.2 kg (en text);
        # idle is provisioned, not marginal
        _row(0, 0, "stt", "fr", "audio", "active", 0.4), _row(0, 0, "mt", "en", "text", "active", 0.6),
        _row(0, 0, "gen", "en", "text", "managed", 0.2), _row(0, 0, "stt", "fr", "audio", "idle", 1.0),
        _row(0, 1, "mt", "en", "text", "active", 2.0),
        # replication 1: month 0 only provisioned; month 1 a job finishing a file of month 0 (no file served)
        _row(1, 0, "stt", "fr", "audio", "idle", 5.0), _row(1, 1, "stt", "fr", "audio", "active", 1.0),
    ])
    files = pd.DataFrame([{"replication": r, "month": m, "language": lang, "content_type": c, "requested": s, "served": s}
                          for r, m, lang, c, s in ((0, 0, "fr", "audio", 4), (0, 0, "en", "text", 6), (0, 1, "en", "text", 20),
                                                   (0, 1, "fr", "audio", 0), (1, 0, "fr", "audio", 5), (1, 1, "fr", "audio", 0),
                                                   (1, 0, "en", "text", 0), (1, 1, "en", "text", 0))])
    return monthly, files


def test_marginal_by_group_exact():
    monthly, files = _case()
    tab = marginal_table(monthly, files, 2, ["2027-01", "2027-02"]).set_index(["group_by", "group", "month"])

    def at(by, g, m, col):
        return tab.loc[(by, g, m), col]

    # the month's total: rep0 1.2 kg / 10 files = 120 g, rep1 0 kg / 5 files = 0 g -> median 60 g
    assert at("total", "all", 0, "marginal_kg_p50") == pytest.approx(0.6)
    assert at("total", "all", 0, "marginal_g_per_file_p50") == pytest.approx(60.0)
    # month 1: rep1 served no file, so only rep0's 2.0 kg / 20 files counts
    assert at("total", "all", 1, "marginal_g_per_file_p50") == pytest.approx(100.0)
    assert at("total", "all", 1, "marginal_kg_mean") == pytest.approx(1.5)
    # a service per file served (all files): stt 40 g and 0 g, mt 60 and 0, the managed generation 20 and 0
    for svc, g in (("stt", 20.0), ("mt", 30.0), ("gen", 10.0)):
        assert at("service", svc, 0, "marginal_g_per_file_p50") == pytest.approx(g)
        assert at("service", svc, 0, "per_file_of") == "all" and at("service", svc, 0, "files_p50") == 7.5
    # a language per file of that language: fr 0.4 kg / 4 = 100 g and 0 / 5 = 0 -> 50; en 0.8 kg / 6 (rep1: none)
    assert at("language", "fr", 0, "marginal_g_per_file_p50") == pytest.approx(50.0)
    assert at("language", "en", 0, "marginal_g_per_file_p50") == pytest.approx(800.0 / 6)
    assert at("language", "fr", 0, "per_file_of") == "group" and at("language", "fr", 0, "files_p50") == 4.5
    assert at("content_type", "text", 0, "marginal_g_per_file_p50") == pytest.approx(800.0 / 6)
    # fr in month 1: 1.0 kg in rep1 but no French file served in either replication: no per-file figure
    assert at("language", "fr", 1, "marginal_kg_p50") == pytest.approx(0.5)
    assert math.isnan(at("language", "fr", 1, "marginal_g_per_file_p50"))
    assert set(tab.loc["service"].index.get_level_values(0)) == {"stt", "mt", "gen"}


def test_managed_requests_are_marginal():
    """A managed endpoint's requests are what the work adds: provisioned + marginal = all emissions."""
    monthly, files = _case()
    split = horizon_split(monthly, 2)
    per_rep = monthly.groupby("replication")["co2e_kg"].sum()
    assert split["provisioned_kg"]["mean"] + split["marginal_kg"]["mean"] == pytest.approx(per_rep.mean())
    tab = monthly_split(monthly, files, 2, 2).set_index(["quantity", "month"])
    assert tab.loc[("marginal_kg", 0), "mean"] == pytest.approx(0.6)


@pytest.mark.parametrize("by", GROUPINGS)
def test_groups_add_up_to_the_months_marginal_total(forecast_run, by):
    """On a real run, replication by replication and month by month."""
    monthly = pd.read_parquet(forecast_run / "monthly.parquet")
    files = pd.read_parquet(forecast_run / "files.parquet")
    n = json.loads((forecast_run / "headline.json").read_text())["replications"]
    horizon = int(monthly["month"].max()) + 1
    total = marginal_cubes(monthly, files, "total", n, horizon)
    groups = marginal_cubes(monthly, files, by, n, horizon)
    assert len(groups.groups) > 1 and groups.kg.shape == (n, horizon, len(groups.groups))
    assert total.kg.min() > 0
    np.testing.assert_allclose(groups.kg.sum(axis=2), total.kg[:, :, 0], rtol=1e-12, atol=0)
    # the month's marginal total is the active (and managed) rows of the monthly table
    active = monthly[monthly["component"].isin(["active", "managed"])].groupby(["replication", "month"])["co2e_kg"].sum()
    np.testing.assert_allclose(total.kg[:, :, 0], active.unstack().reindex(index=range(n), columns=range(horizon)), rtol=1e-12)
    if by == "service":  # per file served: the services' figures add up to the month's
        np.testing.assert_allclose(groups.g_per_file().sum(axis=2), total.g_per_file()[:, :, 0], rtol=1e-12)
    else:  # per file of the group: the groups' files add up to the files served
        np.testing.assert_array_equal(groups.files.sum(axis=2), total.files[:, :, 0])


@pytest.fixture(scope="module")
def folder(built_reports):
    return built_reports["en"].parent


def test_marginal_csv_conserves_and_matches_the_monthly_split(folder, decided_run):
    tab = pd.read_csv(folder / MARGINAL_CSV, dtype={"period": str, "group": str})
    monthly = pd.read_parquet(decided_run / "monthly.parquet")
    files = pd.read_parquet(decided_run / "files.parquet")
    n = json.loads((decided_run / "headline.json").read_text())["replications"]
    horizon = int(monthly["month"].max()) + 1
    assert set(tab["group_by"]) == {"total", *GROUPINGS}
    total = tab[tab["group_by"] == "total"].set_index("month")
    assert list(total.index) == list(range(horizon)) and list(total["period"]) == sorted(set(tab["period"]))
    for by in GROUPINGS:
        sums = tab[tab["group_by"] == by].groupby("month")["marginal_kg_mean"].sum()
        np.testing.assert_allclose(sums.to_numpy(), total["marginal_kg_mean"].to_numpy(), rtol=1e-12)
    split = monthly_split(monthly, files, n, horizon).set_index(["quantity", "month"])
    for m in range(horizon):
        assert total.loc[m, "marginal_kg_p50"] == pytest.approx(split.loc[("marginal_kg", m), "p50"], rel=1e-12)
        assert total.loc[m, "marginal_g_per_file_p50"] == pytest.approx(split.loc[("marginal_g_per_file", m), "p50"], rel=1e-12)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_reports_table_is_the_csv(built_reports, lang):
    from .test_html import Page

    page = Page(built_reports[lang].read_text(encoding="utf-8"))
    tab = pd.read_csv(built_reports[lang].parent / MARGINAL_CSV, dtype={"group": str})
    shown = {k: v for k, v in page.figures.items() if k.startswith("marginal.") and k.endswith(".g_per_file.p50")}
    groups = tab[tab["group_by"] != "total"]
    assert len(shown) == len(groups.dropna(subset=["marginal_g_per_file_p50"]))
    for _, r in groups.iterrows():
        key = f"marginal.{r['group_by']}.{r['group']}.{r['month']}.g_per_file.p50"
        if math.isnan(r["marginal_g_per_file_p50"]):
            assert key not in shown
        else:
            assert shown[key] == pytest.approx(r["marginal_g_per_file_p50"], rel=1e-12)
    md = built_reports[lang].with_suffix(".md").read_text(encoding="utf-8")
    from sim.report.i18n import Strings

    assert Strings(lang)("split.by_group_caption").split(":")[0] in md


def test_the_workbook_has_the_marginal_sheet(folder):
    sheet = pd.read_excel(folder / "forecast.xlsx", sheet_name="marginal", dtype={"period": str, "group": str})
    csv = pd.read_csv(folder / MARGINAL_CSV, dtype={"period": str, "group": str})
    pd.testing.assert_frame_equal(sheet, csv, check_dtype=False)
