"""``carbonsim decide`` and ``carbonsim run`` write the decision files with their contracted columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from sim.cli import main
from sim.decide.recommendation import likelihood

from .conftest import small_scenario

OPTIONS = {
    "schema_version": 1,
    "replications": 4,
    "smaa": {"draws_per_replication": 100},
    "options": [
        {"name": "no-generation", "label": "switch off generation", "deactivate": [{"service": "generation"}]},
        {"name": "west-europe", "label": "host in West Europe", "region": "westeurope"},
        {"name": "night-batch", "label": "nightly batch", "label_fr": "lot de nuit", "batch_window": {"hours": [22, 6]}},
    ],
}
DECISION_COLUMNS = ["option", "criterion", "direction", "unit", "mean", "p50", "p95", "norm_low", "norm_high", "score_p50",
                    "weight", "diff_mean", "diff_se_crn", "feasible", "p_exceed_budget"]


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("decide")
    scenario = tmp / "small.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario()))
    options = tmp / "options.yaml"
    options.write_text(yaml.safe_dump(OPTIONS))
    out = tmp / "run"
    result = CliRunner().invoke(main, ["decide", str(scenario), "--options", str(options), "-n", "6", "-w", "1",
                                       "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out, result.output, scenario, options


def test_decision_csv_has_the_contracted_columns_and_shared_bounds(decided):
    out, *_ = decided
    d = pd.read_csv(out / "decision.csv")
    assert list(d.columns) == DECISION_COLUMNS
    assert set(d["option"]) == {"baseline", "no-generation", "west-europe", "night-batch"}
    assert set(d["direction"]) <= {"cost", "benefit"}
    assert d["score_p50"].between(0, 1).all()
    # one pair of bounds per criterion, whatever the option, spanning every draw of every option
    assert (d.groupby("criterion")[["norm_low", "norm_high"]].nunique() == 1).all().all()
    reps = pd.read_parquet(out / "decision_replications.parquet")
    span = reps.groupby("criterion")["value"].agg(["min", "max"])
    bounds = d.groupby("criterion")[["norm_low", "norm_high"]].first()
    np.testing.assert_allclose(bounds["norm_low"], span.loc[bounds.index, "min"])
    np.testing.assert_allclose(bounds["norm_high"], span.loc[bounds.index, "max"])
    assert reps["replication"].nunique() == 4  # the options file asks for 4 of the 6
    base = d[d["option"] == "baseline"]
    assert (base["diff_mean"] == 0).all() and (base["diff_se_crn"] == 0).all()
    # weights of the reference case
    w = d[d["option"] == "baseline"].set_index("criterion")["weight"]
    assert w[["energy", "carbon", "cost", "performance", "scalability"]].tolist() == [0.3, 0.3, 0.2, 0.1, 0.1]
    assert w["coverage"] == 0


def test_infeasible_options_follow_the_budget_threshold(decided):
    out, *_ = decided
    d = pd.read_csv(out / "decision.csv").drop_duplicates("option").set_index("option")
    assert (d["feasible"] == (d["p_exceed_budget"] <= 0.1)).all()
    assert not d.loc["west-europe", "feasible"]  # five times the grid intensity of France Central
    info = json.loads((out / "decision.json").read_text())
    assert "west-europe" in info["infeasible"]
    assert all(info["feasible"][info["best"][m]] for m in ("weighted_sum", "topsis", "smaa"))


def test_ranking_and_smaa_tables(decided):
    out, *_ = decided
    r = pd.read_csv(out / "ranking.csv")
    assert list(r.columns) == ["method", "option", "score", "rank", "feasible"]
    assert set(r["method"]) == {"weighted_sum", "topsis", "smaa"}
    for _, g in r.groupby("method"):
        assert len(g) == 4 and g["rank"].min() == 1
        top = g.sort_values("score", ascending=False)
        assert top["rank"].is_monotonic_increasing
    s = pd.read_csv(out / "smaa.csv")
    assert list(s.columns) == ["option", "rank", "acceptability", "acceptability_se"]
    # SMAA-2 ranks the feasible options among themselves: their acceptabilities sum to 1 per
    # rank they can take and per option; an infeasible option is not ranked (NaN)
    feasible = set(r[(r["method"] == "smaa") & r["feasible"]]["option"])
    ranked = s[s["option"].isin(feasible)]
    k = len(feasible) if feasible else s["option"].nunique()
    np.testing.assert_allclose(ranked[ranked["rank"] <= k].groupby("rank")["acceptability"].sum(), 1.0)
    np.testing.assert_allclose(ranked.groupby("option")["acceptability"].sum(), 1.0)
    assert s[~s["option"].isin(feasible)]["acceptability"].isna().all() if feasible else True
    c = pd.read_csv(out / "smaa_central.csv")
    assert list(c.columns) == ["option", "confidence_factor", "w_energy", "w_carbon", "w_cost", "w_performance", "w_scalability"]
    first = c.dropna()
    np.testing.assert_allclose(first.filter(like="w_").sum(axis=1), 1.0)


def test_decision_json_manifest_and_recommendations(decided):
    out, output, _, options = decided
    info = json.loads((out / "decision.json").read_text())
    assert info["baseline"] == "baseline" and info["options"][0] == "baseline"
    assert {c["name"] for c in info["criteria"]} >= {"energy", "carbon", "cost", "performance", "scalability", "coverage"}
    assert all({"name", "direction", "unit", "weight", "double_counts_with"} <= set(c) for c in info["criteria"])
    assert set(info["best"]) == {"weighted_sum", "topsis", "smaa"}
    assert info["agree"] == (len(set(info["best"].values())) == 1)
    assert set(info["crn_variance_ratio"]) == {"no-generation", "west-europe", "night-batch"}
    crit = {c["name"]: c for c in info["criteria"]}
    assert "carbon" in crit["energy"]["double_counts_with"] and "energy" in crit["carbon"]["double_counts_with"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["command"] == "decide"
    assert manifest["decision"]["best"] == info["best"] and manifest["decision"]["replications"] == 4
    assert manifest["decision"]["options_file"]["path"] == str(options)
    assert {"decision.csv", "ranking.csv", "smaa.csv", "smaa_central.csv", "recommendation.md",
            "recommendation.fr.md", "decision.json"} <= set(manifest["files"])
    en = (out / "recommendation.md").read_text()
    fr = (out / "recommendation.fr.md").read_text()
    assert info["best"]["weighted_sum"] in en and "## Recommendation" in en and "## Recommandation" in fr
    assert "west-europe" in en.split("## Infeasible options")[1]
    assert "## Options écartées" in fr
    assert "facility energy over the horizon and emissions over the horizon double count" in en
    assert en in output  # decide prints the recommendation


def test_run_includes_the_decision_step(decided, tmp_path):
    _, _, scenario, options = decided
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(scenario), "--options", str(options), "-n", "3", "-w", "1",
                                       "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "decision.csv").exists() and (out / "recommendation.md").exists()
    assert json.loads((out / "manifest.json").read_text())["decision"]["replications"] == 3


@pytest.mark.parametrize("p,word", [(0.995, "virtually certain"), (0.9, "very likely"), (0.89, "likely"), (0.66, "likely"),
                                    (0.65, "about as likely as not"), (0.2, "unlikely"), (0.05, "very unlikely"),
                                    (0.0, "exceptionally unlikely")])
def test_calibrated_wording(p, word):
    assert likelihood(p) == word
    assert likelihood(p, "fr")
