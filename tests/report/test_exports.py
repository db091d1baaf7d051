"""emissions.csv (wide) and forecast.xlsx carry the run's bands and decision unchanged."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def folder(built_reports):
    return built_reports["en"].parent


def test_emissions_csv_is_one_row_per_month_with_the_bands(folder, decided_run):
    wide = pd.read_csv(folder / "emissions.csv")
    bands = pd.read_csv(decided_run / "bands.csv", dtype={"period": str, "group": str})
    co2 = bands[bands["metric"] == "co2e_kg"]
    months = sorted(co2["month"].unique())
    assert list(wide["month"]) == months
    for by in ("total", "component", "service"):
        for _, r in co2[co2["group_by"] == by].iterrows():
            row = wide.loc[wide["month"] == r["month"]].iloc[0]
            for q in ("p50", "p90"):
                col = f"total_{q}" if by == "total" else f"{by}.{r['group']}_{q}"
                assert row[col] == pytest.approx(r[q], rel=1e-15, abs=0), col
    assert {"component.embodied_p50", "component.active_p90", "service.translation_p50"} <= set(wide.columns)


def test_workbook_sheets_equal_the_files(folder, decided_run):
    sheets = pd.read_excel(folder / "forecast.xlsx", sheet_name=None)
    assert {"emissions", "bands", "headline", "decision", "ranking", "saving_by_component"} <= set(sheets)
    wide = pd.read_csv(folder / "emissions.csv")
    pd.testing.assert_frame_equal(sheets["emissions"], wide, check_dtype=False)
    dec = pd.read_csv(decided_run / "decision.csv")
    assert sheets["decision"]["p50"].tolist() == dec["p50"].tolist()
    assert len(sheets["bands"]) == len(pd.read_csv(decided_run / "bands.csv"))
