"""Fixtures: one small forecast run (simulated once), a copy with small decision files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
REPLICATIONS, MONTHS = 32, 4  # more replications than drawn inputs (24), for the tornado


def simulate(out: Path, replications: int = REPLICATIONS, months: int = MONTHS) -> Path:
    res = CliRunner().invoke(main, ["simulate", str(CONFIG), "-n", str(replications), "--months", str(months),
                                    "-w", "1", "--no-progress", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


OPTIONS = ["baseline", "opt-a", "opt-b"]
CRITERIA = [("carbon", "cost", "kgCO2e", 0.6), ("cost", "cost", "USD", 0.4), ("coverage", "benefit", "share", 0.0)]


def write_decision_files(folder: Path) -> None:
    """Small decision files following the decision step's contract (three options, three criteria)."""
    rows = []
    for i, opt in enumerate(OPTIONS):
        for crit, direction, unit, w in CRITERIA:
            p50 = 100.0 - 10 * i + (0.5 if crit == "cost" else 0.0) if crit != "coverage" else 1.0 - 0.1 * i
            rows.append({"option": opt, "criterion": crit, "direction": direction, "unit": unit, "mean": p50 + 0.1,
                         "p50": p50, "p95": p50 * 1.1, "norm_low": 0.0, "norm_high": 200.0, "score_p50": i / 2,
                         "weight": w, "diff_mean": -10.0 * i, "diff_se_crn": 0.5, "feasible": opt != "opt-b",
                         "p_exceed_budget": 0.05 * i})
    pd.DataFrame(rows).to_csv(folder / "decision.csv", index=False)
    rk = [{"method": m, "option": o, "score": 0.5 + 0.1 * i, "rank": 3 - i if o != "opt-b" else 1, "feasible": o != "opt-b"}
          for m in ("weighted_sum", "topsis", "smaa") for i, o in enumerate(OPTIONS)]
    pd.DataFrame(rk).to_csv(folder / "ranking.csv", index=False)
    acc = [{"option": o, "rank": r, "acceptability": 1.0 if r == 3 - i else 0.0, "acceptability_se": 0.0}
           for i, o in enumerate(OPTIONS) for r in (1, 2, 3)]
    acc[0].update(acceptability=0.25)  # baseline: rank 1 in 25% of draws, rank 3 in 75%
    acc[2].update(acceptability=0.75)
    pd.DataFrame(acc).to_csv(folder / "smaa.csv", index=False)
    pd.DataFrame({"option": OPTIONS, "confidence_factor": [0.2, 0.5, 0.9], "w_carbon": 0.6, "w_cost": 0.4}).to_csv(
        folder / "smaa_central.csv", index=False)
    comps = [{"option": o, "component": c, "p50": 10.0, "mean": 10.0, "diff_p50": -1.0 * i * (k + 1),
              "diff_mean": -1.0 * i * (k + 1)} for i, o in enumerate(OPTIONS) for k, c in enumerate(("active", "idle", "host", "embodied"))]
    pd.DataFrame(comps).to_csv(folder / "decision_components.csv", index=False)
    (folder / "decision.json").write_text(json.dumps({
        "baseline": "baseline", "options": OPTIONS, "labels": {"baseline": "as it is", "opt-a": "option A", "opt-b": "option B"},
        "criteria": [{"name": c, "direction": d, "unit": u, "weight": w} for c, d, u, w in CRITERIA],
        "best": {"weighted_sum": "opt-b", "topsis": "opt-b", "smaa": "opt-b"}, "agree": True, "infeasible": ["opt-b"],
    }))
    (folder / "recommendation.md").write_text(
        "# Decision\n\nKeep **opt-a**. See [the source](https://example.org/a) and ![a chart](https://example.org/x.png).\n")
    (folder / "recommendation.fr.md").write_text("# Décision\n\nGarder **opt-a**.\n")


METRICS = ("utilisation", "instances", "instance_hours", "wait_p95_s", "latency_p95_s")


def capacity_csv(folder: Path, months: int, pools=("gpu", "cpu")) -> pd.DataFrame:
    """A capacity.csv in the capacity step's long form (two pools, every metric), written into ``folder``."""
    periods = pd.read_csv(folder / "bands.csv", dtype={"period": str}).drop_duplicates("month").sort_values("month")["period"]
    rows = []
    for m, period in zip(range(months), periods):
        for k, pool in enumerate(pools):
            for metric in METRICS:
                v = {"utilisation": 0.1 * (m + 1) + 0.05 * k, "instances": 1.0 + k, "instance_hours": 720.0 * (1 + k),
                     "wait_p95_s": 30.0 * m, "latency_p95_s": 3600.0 * (m + 1) + 60.0 * k}[metric]
                rows.append({"month": m, "period": period, "pool": pool, "metric": metric, "mean": v, "p5": 0.8 * v,
                             "p50": v, "p95": 1.2 * v})
    df = pd.DataFrame(rows)
    df.to_csv(folder / "capacity.csv", index=False)
    return df


@pytest.fixture(scope="session")
def forecast_run(tmp_path_factory) -> Path:
    """A finished forecast-only run folder; tests must not write into it (copy it first)."""
    return simulate(tmp_path_factory.mktemp("runs") / "forecast")


@pytest.fixture(scope="session")
def decided_run(forecast_run, tmp_path_factory) -> Path:
    """The forecast run with decision files and a capacity.csv beside it; tests must not write into it."""
    out = tmp_path_factory.mktemp("runs") / "decided"
    shutil.copytree(forecast_run, out)
    write_decision_files(out)
    capacity_csv(out, MONTHS)
    return out


@pytest.fixture(scope="session")
def built_reports(decided_run, tmp_path_factory) -> dict[str, Path]:
    """report.html of the decided run in each language, each built in its own copy."""
    from sim.report import build_report

    out = {}
    for lang in ("en", "fr"):
        folder = tmp_path_factory.mktemp("reports") / lang
        shutil.copytree(decided_run, folder)
        out[lang] = build_report(folder, lang)
    return out
