"""The decision's files in the run folder: the matrix, rankings, SMAA-2 tables, per
replication values, saving by component, ``decision.json`` and the recommendation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from sim.config.resolve import Resolved
from sim.montecarlo.run import MonteCarloResult

from .criteria import CRITERIA
from .decision import COMPONENTS, METHOD_NAMES, DecisionResult, evaluate
from .loading import load_options
from .managed import provenance_by_option, vm_per_job_by_service
from .mcda import normalise, ranks_of
from .options import BASELINE, OptionsFile
from .recommendation import recommendation_markdown

if TYPE_CHECKING:
    from sim.montecarlo.output import RunWriter


def decision_table(d: DecisionResult) -> pd.DataFrame:
    """``decision.csv``: option x criterion, long."""
    p50 = np.percentile(d.values, 50, axis=2)
    p95 = np.percentile(d.values, 95, axis=2)
    score = normalise(p50, d.bounds, d.benefit)
    diff_mean = d.diffs().mean(axis=2)
    se = d.diff_se()
    rows = []
    for i, opt in enumerate(d.options):
        for j, c in enumerate(d.criteria):
            crit = CRITERIA[c]
            rows.append({
                "option": opt, "criterion": c, "direction": crit.direction, "unit": crit.unit,
                "mean": float(d.values[i, j].mean()), "p50": float(p50[i, j]), "p95": float(p95[i, j]),
                "norm_low": float(d.bounds[j, 0]), "norm_high": float(d.bounds[j, 1]), "score_p50": float(score[i, j]),
                "weight": float(d.weights[j]), "diff_mean": float(diff_mean[i, j]), "diff_se_crn": float(se[i, j]),
                "feasible": bool(d.feasible[i]), "p_exceed_budget": float(d.p_exceed[i]),
            })
    return pd.DataFrame(rows)


def ranking_table(d: DecisionResult) -> pd.DataFrame:
    """``ranking.csv``: per method, every option's score and rank (1 = best)."""
    rows = []
    for m in METHOD_NAMES:
        s = d.scores[m]
        for opt, score, rank, ok in zip(d.options, s, ranks_of(s), d.feasible):
            rows.append({"method": m, "option": opt, "score": float(score), "rank": int(rank), "feasible": bool(ok)})
    return pd.DataFrame(rows).sort_values(["method", "rank", "option"], kind="stable").reset_index(drop=True)


def smaa_tables(d: DecisionResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``smaa.csv`` (rank acceptability indices) and ``smaa_central.csv`` (central weights, confidence)."""
    m = len(d.options)
    acc = pd.DataFrame({
        "option": np.repeat(d.options, m), "rank": np.tile(np.arange(1, m + 1), m),
        "acceptability": d.smaa.acceptability.ravel(), "acceptability_se": d.smaa.acceptability_se.ravel(),
    })
    central = pd.DataFrame({"option": d.options, "confidence_factor": d.smaa.confidence})
    for j, c in enumerate(d.ranked):
        central[f"w_{c}"] = d.smaa.central_weights[:, j]
    return acc, central


def replication_table(d: DecisionResult) -> pd.DataFrame:
    """Per option, criterion and replication: the value and its difference to the baseline."""
    o, c, r = np.meshgrid(np.arange(len(d.options)), np.arange(len(d.criteria)), np.arange(d.replications), indexing="ij")
    return pd.DataFrame({
        "option": np.asarray(d.options)[o.ravel()], "criterion": np.asarray(d.criteria)[c.ravel()],
        "replication": r.ravel(), "value": d.values.ravel(), "diff": d.diffs().ravel(),
    })


def decision_json(d: DecisionResult, spec: OptionsFile) -> dict:
    best = {m: d.best(m) for m in METHOD_NAMES}
    ratio = d.crn_variance_ratio()
    jc = d.index("carbon")

    def num(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    return {
        "baseline": BASELINE,
        "options": d.options,
        "labels": d.labels["en"],
        "labels_fr": d.labels["fr"],
        "replications": d.replications,
        "criteria": [
            {"name": c, "direction": CRITERIA[c].direction, "unit": CRITERIA[c].unit, "label": CRITERIA[c].label,
             "weight": float(d.weights[j]), "ranked": c in d.ranked, "bounds": [float(x) for x in d.bounds[j]],
             "double_counts_with": d.double_counts[c]}
            for j, c in enumerate(d.criteria)
        ],
        "best": best,
        "agree": len(set(best.values())) == 1,
        "feasible": {o: bool(f) for o, f in zip(d.options, d.feasible)},
        "infeasible": [o for o, f in zip(d.options, d.feasible) if not f],
        "none_feasible": not bool(d.feasible.any()),
        "budget_kg": d.budget_kg,
        "exceed_threshold": d.threshold,
        "p_exceed_budget": {o: num(p) for o, p in zip(d.options, d.p_exceed)},
        "service_levels": None if d.levels is None else {
            "break_threshold": d.levels.threshold,
            "levels": {k: float(lim) for k, lim in zip(d.levels.names, d.levels.limits)},
            "p_break_final_year": {o: {k: num(d.levels.p_break[i, j]) for j, k in enumerate(d.levels.names)} for i, o in enumerate(d.options)},
            "p_break_any_month": {o: {k: num(d.levels.p_break_any[i, j]) for j, k in enumerate(d.levels.names)} for i, o in enumerate(d.options)},
            "p50_final_year": {o: {k: num(d.levels.p50[i, j]) for j, k in enumerate(d.levels.names)} for i, o in enumerate(d.options)},
            "broken": {o: [d.levels.names[j] for j in d.levels.broken(i)] for i, o in enumerate(d.options)},
        },
        "crn_variance_ratio": {o: num(ratio[i, jc]) for i, o in enumerate(d.options) if o != BASELINE},
        "crn_variance_ratio_by_criterion": {
            o: {c: num(ratio[i, j]) for j, c in enumerate(d.criteria)} for i, o in enumerate(d.options) if o != BASELINE
        },
        "criteria_correlation": d.correlation,
        "smaa": {"weights": spec.smaa.weights, "half_width": spec.smaa.half_width if spec.smaa.weights == "intervals" else None,
                 "draws": d.smaa.draws, "draws_per_replication": spec.smaa.draws_per_replication},
        "engines": d.engines,
        "wall_s": round(d.wall_s, 3),
    }


DECISION_FILES = ("decision.csv", "ranking.csv", "smaa.csv", "smaa_central.csv", "decision_replications.parquet",
                  "decision_components.csv", "decision.json", "recommendation.md", "recommendation.fr.md")


def component_table(d: DecisionResult) -> pd.DataFrame:
    """Per option and emission component: kgCO2e over the horizon (P50, mean) and the
    difference to the baseline replication by replication (P50, mean; common random numbers),
    so that a saving's source shows (less active energy, or fewer provisioned hours)."""
    rows = []
    base = d.components[0]
    for i, opt in enumerate(d.options):
        for k, comp in enumerate(COMPONENTS):
            v, diff = d.components[i, k], d.components[i, k] - base[k]
            rows.append({"option": opt, "component": comp, "p50": float(np.percentile(v, 50)), "mean": float(v.mean()),
                         "diff_p50": float(np.percentile(diff, 50)), "diff_mean": float(diff.mean())})
    return pd.DataFrame(rows)


def write_decision(writer: "RunWriter", d: DecisionResult, spec: OptionsFile, options_path: Path | None = None) -> dict:
    """Write the decision's files into the run folder; return the essentials for the manifest."""
    acc, central = smaa_tables(d)
    writer.write_table("decision.csv", decision_table(d))
    writer.write_table("ranking.csv", ranking_table(d))
    writer.write_table("smaa.csv", acc)
    writer.write_table("smaa_central.csv", central)
    writer.write_table("decision_replications.parquet", replication_table(d))
    if d.components is not None:
        writer.write_table("decision_components.csv", component_table(d))
    info = decision_json(d, spec)
    writer.write_text("decision.json", json.dumps(info, indent=2))
    writer.write_text("recommendation.md", recommendation_markdown(d, "en"))
    writer.write_text("recommendation.fr.md", recommendation_markdown(d, "fr"))
    essentials = {k: info[k] for k in ("baseline", "options", "replications", "best", "agree", "infeasible", "crn_variance_ratio",
                                        "engines", "wall_s")}
    essentials["weights"] = {c: float(w) for c, w in zip(d.criteria, d.weights) if w > 0}
    essentials["files"] = [f for f in DECISION_FILES if f != "decision_components.csv" or d.components is not None]
    if options_path is not None:
        p = Path(options_path)
        essentials["options_file"] = {"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    return essentials


def decide_into(writer: "RunWriter", res: Resolved, baseline_mc: MonteCarloResult, options_path: Path, *, workers: int,
                engine: str, progress: bool | None, log: Callable[[str], None]) -> dict:
    """Evaluate the options file against the forecast ``baseline_mc`` and write the decision's
    files into the run; return the manifest's ``decision`` entry."""
    spec = load_options(options_path, res)
    d = evaluate(res, spec, baseline_mc=baseline_mc, workers=workers, engine=engine, progress=progress, log=log)
    entry = write_decision(writer, d, spec, options_path)
    managed = provenance_by_option(res, spec)
    if managed:
        entry["managed"] = managed
        services = sorted({svc for svcs in managed.values() for svc in svcs})
        entry["managed_vm_per_job_g"] = vm_per_job_by_service(baseline_mc.monthly, services)
    return entry

