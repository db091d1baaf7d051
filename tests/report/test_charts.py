"""Charts: each is drawn from a small run, is a valid PNG and SVG, and plots the run's numbers.

The checks are on the data handed to each plot function (captured by a spy), not on pixels.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sim.report.charts import CHARTS, Labels, render
from sim.report.i18n import Strings
from sim.report.rundata import load_run

BAND_COLS = ["p5", "p25", "p50", "p75", "p95"]


def _draw(run, name: str, lang: str = "en"):
    """Render chart ``name`` and return (what its plot function received, the rendering)."""
    chart = next(c for c in CHARTS if c.name == name)
    seen = []

    def spy(data, lab):
        seen.append(data)
        return chart.plot(data, lab)

    out = render(replace(chart, plot=spy), run, Labels(Strings(lang), "2027-01 to 2027-04"))
    assert out is not None and len(seen) == 1
    return seen[0], out


@pytest.fixture(scope="module")
def run(decided_run):
    return load_run(decided_run)


@pytest.fixture(scope="module")
def drawn(run):
    """Each chart drawn once per language, on first use: (plotted data, rendering)."""
    cache: dict = {}

    def get(name: str, lang: str = "en"):
        if (name, lang) not in cache:
            cache[name, lang] = _draw(run, name, lang)
        return cache[name, lang]

    return get


@pytest.fixture(scope="module")
def bands(decided_run):
    return pd.read_csv(decided_run / "bands.csv")


def _rows(bands, metric, group_by):
    return bands[(bands["metric"] == metric) & (bands["group_by"] == group_by)].set_index(["group", "month"])


@pytest.mark.parametrize("name", [c.name for c in CHARTS])
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_chart_is_a_valid_png_and_svg(drawn, name, lang):
    _, out = drawn(name, lang)
    assert out.png.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(out.png))
    img.verify()
    assert img.size[0] > 600 and img.size[1] > 200
    root = ET.fromstring(out.svg)
    assert root.tag.endswith("svg")


@pytest.mark.parametrize("name", ["fan", "smaa"])
def test_charts_are_deterministic(run, drawn, name):
    a, b = drawn(name)[1], _draw(run, name)[1]
    assert a.svg == b.svg and a.png == b.png


def test_fan_plots_the_monthly_bands_and_the_budget(run, drawn, bands):
    data, _ = drawn("fan")
    ref = _rows(bands, "co2e_kg", "total").loc["all"]
    assert list(data.table["month"]) == list(ref.index)
    np.testing.assert_array_equal(data.table[BAND_COLS].to_numpy(), ref[BAND_COLS].to_numpy())
    months = len(ref)
    assert data.extra["budget_month_kg"] == pytest.approx(run.headline["budget_kg"] / months)


def test_cumulative_plots_the_cumulative_bands_and_ends_at_the_headline_probability(run, drawn, bands, decided_run):
    data, _ = drawn("cumulative")
    ref = _rows(bands, "co2e_kg_cumulative", "total").loc["all"]
    np.testing.assert_array_equal(data.table[BAND_COLS].to_numpy(), ref[BAND_COLS].to_numpy())
    head = json.loads((decided_run / "headline.json").read_text())
    assert data.table["p_exceed"].iloc[-1] == pytest.approx(head["p_exceed_budget"])
    assert (np.diff(data.table["p_exceed"]) >= 0).all()  # cumulative emissions never fall
    assert data.extra["budget_kg"] == head["budget_kg"]


def test_stacked_plots_the_median_of_each_service_and_language(run, drawn, bands):
    data, _ = drawn("stacked")
    for by in ("service", "language"):
        sub = data.table[data.table["group_by"] == by]
        ref = _rows(bands, "co2e_kg", by)
        assert len(sub) > 0
        for _, r in sub.iterrows():
            assert r["p50"] == ref.loc[(r["group"], r["month"]), "p50"]
        # groups left out are those that never emit
        left_out = set(ref.index.get_level_values(0)) - set(sub["group"])
        assert all((ref.loc[g, "p50"] == 0).all() for g in left_out)


def test_components_plot_energy_by_component_and_headline_shares(run, drawn, bands):
    data, _ = drawn("components")
    ref = _rows(bands, "facility_kwh", "component")
    assert set(data.table["group"]) == {"active", "idle", "host"}  # embodied has no energy
    for _, r in data.table.iterrows():
        assert r["p50"] == ref.loc[(r["group"], r["month"]), "p50"]
    assert data.extra["share"] == run.headline["component_share"]
    assert sum(data.extra["share"].values()) == pytest.approx(1.0)


def test_files_plot_files_served_by_language_with_bands(run, drawn, bands):
    data, _ = drawn("files")
    ref = _rows(bands, "files_served", "language")
    for _, r in data.table.iterrows():
        np.testing.assert_array_equal(r[["p5", "p50", "p95"]].to_numpy(float), ref.loc[(r["group"], r["month"]), ["p5", "p50", "p95"]].to_numpy(float))
    assert "ar" not in set(data.table["group"])  # Arabic starts in month 12, after this horizon


def test_tornado_plots_drawn_inputs_of_replications_csv(run, drawn, decided_run):
    data, _ = drawn("tornado")
    reps = pd.read_csv(decided_run / "replications.csv")
    assert 0 < len(data.table) <= 10
    assert set(data.table["name"]) <= set(reps.columns) - {"co2e_kg", "files", "jobs", "replication"}
    assert data.extra["centre_kg"] == pytest.approx(np.median(reps["co2e_kg"]))
    assert ((data.table["variance_share"] >= 0) & (data.table["variance_share"] <= 1 + 1e-9)).all()
    swing = (data.table["high_kg"] - data.table["low_kg"]).abs().to_numpy()
    assert (np.diff(swing) <= 1e-9).all()  # largest first


def test_decision_matrix_plots_decision_csv(run, drawn, decided_run):
    data, _ = drawn("decision")
    ref = pd.read_csv(decided_run / "decision.csv").set_index(["option", "criterion"])
    assert len(data.table) == len(ref)
    for _, r in data.table.iterrows():
        assert r["p50"] == ref.loc[(r["option"], r["criterion"]), "p50"]
        assert r["score_p50"] == ref.loc[(r["option"], r["criterion"]), "score_p50"]
    assert data.extra["options"] == ["baseline", "opt-a", "opt-b"]
    assert not data.table.loc[data.table["option"] == "opt-b", "feasible"].any()


def test_smaa_plots_smaa_csv(run, drawn, decided_run):
    data, _ = drawn("smaa")
    ref = pd.read_csv(decided_run / "smaa.csv").set_index(["option", "rank"])
    for _, r in data.table.iterrows():
        assert r["acceptability"] == ref.loc[(r["option"], r["rank"]), "acceptability"]
    assert data.table.groupby("option")["acceptability"].sum().to_numpy() == pytest.approx(1.0)


def test_decision_charts_are_skipped_without_decision_files(forecast_run):
    run = load_run(forecast_run)
    lab = Labels(Strings("en"), "")
    for c in CHARTS:
        assert (c.data(run) is None) == (c.name in {"decision", "smaa"})
    assert render(next(c for c in CHARTS if c.name == "smaa"), run, lab) is None


def test_the_monthly_table_is_read_with_the_columns_the_report_uses(forecast_run):
    """Millions of rows at 1,000 replications: the report reads the columns it uses, and
    their values are the file's."""
    from sim.report.rundata import OPTIONAL_COLUMNS, REQUIRED

    run = load_run(forecast_run)
    full = pd.read_parquet(forecast_run / "monthly.parquet")
    used = set(REQUIRED["monthly.parquet"]) | set(OPTIONAL_COLUMNS["monthly.parquet"])
    want = [c for c in full.columns if c in used]
    assert list(run.monthly.columns) == want and {"pool", "busy_s", "energy_kwh"} <= set(full.columns) - set(want)  # component: the fixed/marginal split reads it
    pd.testing.assert_frame_equal(run.monthly, full[want])


def test_french_charts_name_services_in_french(run):
    from sim.report.charts import stacked_data, stacked_plot

    fig = stacked_plot(stacked_data(run), Labels(Strings("fr"), ""))
    legend = {txt.get_text() for ax in fig.axes if ax.get_legend() for txt in ax.get_legend().get_texts()}
    assert {"traduction", "génération", "français", "anglais"} <= legend
    assert not legend & {"translation", "generation", "French", "English"}
