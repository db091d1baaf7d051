"""Readability of the decision: a colour-blind-safe scale with readable text, SMAA-2 ranks
that tell options apart, one unit per quantity, the baseline's two figures explained."""

from __future__ import annotations

import json
import shutil

import matplotlib
import numpy as np
import pandas as pd
import pytest

from sim.decide.recommendation import _duration, duration_unit
from sim.report.chartkit import Labels
from sim.report.content import assumptions_table, decision_tables, smaa_mean_rank
from sim.report.contrast import AA, BLACK, WHITE, contrast, ink
from sim.report.decision_charts import decision_data, decision_plot, shown_values
from sim.report.i18n import Strings
from sim.report.rundata import load_run

RED_GREEN = {"RdYlGn", "RdYlGn_r", "RdGn", "PiYG", "PiYG_r"}


def test_contrast_ratio_is_wcag():
    assert contrast(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast(WHITE, WHITE) == pytest.approx(1.0)
    assert contrast((0.5, 0.5, 0.5), WHITE) == pytest.approx(3.98, abs=0.01)  # #808080 on white, WebAIM's figure
    assert ink((0.1, 0.0, 0.3)) == WHITE and ink((1.0, 0.9, 0.6)) == BLACK


def test_decision_heat_table_is_not_red_green_and_its_text_reads(decided_run):
    run = load_run(decided_run)
    data = decision_data(run)
    assert data.extra["cmap"] == "PuOr" and data.extra["cmap"] not in RED_GREEN
    fig = decision_plot(data, Labels(Strings("en"), ""))
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_cmap().name == "PuOr"
    scores = np.ma.getdata(image.get_array())
    cmap = matplotlib.colormaps["PuOr"]
    assert len(ax.texts) == scores.size
    for txt in ax.texts:
        j, i = (int(round(v)) for v in txt.get_position())
        background = cmap(float(scores[i, j]))
        assert contrast(matplotlib.colors.to_rgb(txt.get_color()), background) >= AA


def test_any_score_of_the_scale_has_text_at_level_aa():
    cmap = matplotlib.colormaps["PuOr"]
    assert min(contrast(ink(cmap(x)), cmap(x)) for x in np.linspace(0, 1, 257)) >= AA


def test_smaa_ranks_by_mean_rank_hand_case(decided_run):
    # conftest: baseline rank 1 in 25% and rank 3 in 75% of draws (mean 2.5); opt-a always 2; opt-b always 1
    tab = smaa_mean_rank(pd.read_csv(decided_run / "smaa.csv")).set_index("option")
    assert tab.loc["baseline", "mean_rank"] == pytest.approx(2.5)
    assert tab.loc["opt-a", "mean_rank"] == 2.0 and tab.loc["opt-b", "mean_rank"] == 1.0
    assert list(tab.sort_values("rank").index) == ["opt-b", "opt-a", "baseline"]
    assert tab.loc["baseline", "first"] == 0.25
    _, ranking, _ = decision_tables(load_run(decided_run), Strings("en"))
    cells = {c.key: c for row in ranking.rows for c in row if hasattr(c, "key")}
    assert [cells[f"rank.smaa_mean.{o}"].value for o in ("opt-b", "opt-a", "baseline")] == [1.0, 2.0, 3.0]
    assert len({c.value for k, c in cells.items() if k.startswith("rank.smaa_mean.")}) == 3  # no ties


def test_latency_in_one_unit():
    m = pd.DataFrame({"unit": ["s", "s", "kgCO2e"], "p50": [117.0, 103147.0, 5.0]})
    shown, unit = shown_values(m, duration_unit(103147.0))
    assert list(unit) == ["h", "h", "kgCO2e"]
    assert shown.tolist() == [117.0 / 3600, 103147.0 / 3600, 5.0]
    assert duration_unit(90.0) == ("s", 1.0) and duration_unit(600.0) == ("min", 60.0)
    h = duration_unit(103147.0)
    assert _duration(117.0, "en", h) == "0.0 h" and _duration(103147.0, "en", h) == "28.7 h"


def test_p_exceed_is_the_second_column(decided_run):
    t = Strings("en")
    matrix, _, _ = decision_tables(load_run(decided_run), t)
    assert matrix.header[1] == t("dec.p_exceed")
    assert all(row[1].key.endswith(".p_exceed_budget") for row in matrix.rows)


def test_the_baseline_of_fewer_replications_is_explained(decided_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(decided_run, folder)
    info = json.loads((folder / "decision.json").read_text())
    info["replications"] = 3
    (folder / "decision.json").write_text(json.dumps(info))
    run = load_run(folder)
    t = Strings("en")
    _, _, note = decision_tables(run, t)
    head = json.loads((folder / "headline.json").read_text())
    base = pd.read_csv(folder / "decision.csv").set_index(["option", "criterion"]).loc[("baseline", "carbon"), "p50"]
    assert f"first 3 of the forecast's {head['replications']} replications" in note
    assert t.num(base) in note and t.num(head["horizon_co2e_kg"]["p50"]) in note
    _, _, plain = decision_tables(load_run(decided_run), t)
    assert "replications" not in plain  # same replications: nothing to explain


def test_pue_has_its_own_source(decided_run):
    run = load_run(decided_run)
    rows = {r[0]: r for r in assumptions_table(run, Strings("en")).rows}
    t = Strings("en")
    assert "PUE 1.185" in rows[t("as.pue")][2]
    assert rows[t("as.pue")][2] != rows[t("as.grid")][2]


def test_an_hourly_profile_is_named_in_the_assumptions(decided_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(decided_run, folder)
    man = json.loads((folder / "manifest.json").read_text())
    man["carbon_sources"]["grid_profile"] = "/data/FR_2024_hourly.csv (column g): hourly, mean 40.0, min 20.0, max 80.0 gCO2e/kWh"
    (folder / "manifest.json").write_text(json.dumps(man))
    t = Strings("en")
    rows = {r[0]: r for r in assumptions_table(load_run(folder), t).rows}
    assert "FR_2024_hourly.csv" in rows[t("as.grid_profile")][2]
    assert t("as.grid") not in rows  # the yearly figure drawn is not used
