"""The capacity view from capacity.csv (long form), on a file written here."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from sim.report import build_report
from sim.report.i18n import STRINGS, Strings
from sim.report.rundata import RunFolderError

from .test_html import Page


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_capacity_chart_and_table_from_capacity_csv(decided_run, tmp_path, lang):
    folder = tmp_path / "run"
    shutil.copytree(decided_run, folder)
    cap = pd.read_csv(folder / "capacity.csv")
    page = Page(build_report(folder, lang).read_text(encoding="utf-8"))
    assert "capacity" in page.sections
    assert (folder / "figures" / ("capacity.png" if lang == "en" else f"capacity.{lang}.png")).is_file()
    t = Strings(lang)
    for _, r in cap[cap["metric"].isin(["utilisation", "instances", "latency_p95_s"])].iterrows():
        key = f"cap.{r['pool']}.{r['metric']}.{r['month']}.p50"
        assert page.figures[key] == r["p50"]
    # latency in one unit on the page: hours, since the largest is over 2 h
    last = cap[(cap["metric"] == "latency_p95_s") & (cap["pool"] == "gpu")].iloc[-1]
    assert page.shown[f"cap.gpu.latency_p95_s.{last['month']}.p50"] == t.num(last["p50"] / 3600.0)
    md = (folder / ("report.md" if lang == "en" else f"report.{lang}.md")).read_text(encoding="utf-8")
    assert t("cap.latency_p95_s", unit="h") in md


def test_without_capacity_csv_the_section_says_so(forecast_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(forecast_run, folder)
    (folder / "capacity.csv").unlink(missing_ok=True)  # as a streamed run, or one from an earlier version
    for lang in ("en", "fr"):
        text = build_report(folder, lang).read_text(encoding="utf-8")
        assert STRINGS[lang]["cap.none"].replace("'", "&#39;") in text
    assert not list(folder.glob("figures/capacity*"))


def test_a_capacity_csv_without_its_columns_is_a_clear_error(forecast_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(forecast_run, folder)
    pd.DataFrame({"month": [0], "pool": ["gpu"], "metric": ["utilisation"], "value": [0.5]}).to_csv(folder / "capacity.csv", index=False)
    with pytest.raises(RunFolderError, match="capacity.csv lacks period, mean, p5, p50, p95"):
        build_report(folder, "en")
