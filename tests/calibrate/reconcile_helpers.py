"""A small run folder written the way a run writes one (manifest, bands.csv, monthly.parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

COMPONENTS = ("active", "idle", "host", "embodied")
PERIODS = ("2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-06")


def make_run(run_dir: Path, market: bool = True, replications: int = 20, seed: int = 0) -> Path:
    """A complete run folder with ``replications`` random monthly emissions per component."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in range(replications):
        for m in range(len(PERIODS)):
            for c, scale in zip(COMPONENTS, (0.05, 2.5, 5.0, 45.0)):
                kg = scale * (1 + 0.02 * m) * rng.uniform(0.85, 1.15)
                rows.append({"replication": r, "month": m, "pool": "gpu", "service": "translation", "language": "fr",
                             "content_type": "text", "component": c, "co2e_kg": kg, "co2e_market_kg": 0.1 * kg})
    df = pd.DataFrame(rows)
    if not market:
        df = df.drop(columns="co2e_market_kg")
    df.to_parquet(run_dir / "monthly.parquet")
    bands = []
    cube = df.groupby(["replication", "month"])["co2e_kg"].sum().unstack("month").to_numpy()
    bands += _bands(cube, "total", ["all"] * len(PERIODS))
    for c in COMPONENTS:
        sub = df[df.component == c].groupby(["replication", "month"])["co2e_kg"].sum().unstack("month").to_numpy()
        bands += _bands(sub, "component", [c] * len(PERIODS))
    pd.DataFrame(bands).to_csv(run_dir / "bands.csv", index=False)
    (run_dir / "manifest.json").write_text(json.dumps({"scenario": {"name": "test"}, "complete": True}))
    return run_dir


def _bands(cube: np.ndarray, group_by: str, groups: list[str]) -> list[dict]:
    qs = {f"p{p}": np.percentile(cube, p, axis=0) for p in (5, 10, 25, 50, 75, 90, 95)}
    return [{"metric": "co2e_kg", "group_by": group_by, "month": m, "period": PERIODS[m], "group": groups[m],
             "mean": float(cube[:, m].mean()), **{k: float(v[m]) for k, v in qs.items()}} for m in range(len(PERIODS))]


def p50(run_dir: Path, basis: str = "location") -> pd.Series:
    """The run's P50 of the monthly total, per period, on ``basis``."""
    if basis == "location":
        b = pd.read_csv(run_dir / "bands.csv", dtype={"period": str})
        return b[(b.metric == "co2e_kg") & (b.group_by == "total")].set_index("period")["p50"]
    df = pd.read_parquet(run_dir / "monthly.parquet")
    cube = df.groupby(["replication", "month"])["co2e_market_kg"].sum().unstack("month").to_numpy()
    return pd.Series(np.percentile(cube, 50, axis=0), index=list(PERIODS))


def report_csv(path: Path, kg: pd.Series, scope: str = "Scope 2") -> Path:
    """A long-layout portal export: one row per month, all of it in ``scope``."""
    lines = ["Date,Scope,Emissions (kgCO2e)"] + [f"{m}-01,{scope},{v!r}" for m, v in kg.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
