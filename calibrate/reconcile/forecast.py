"""carbonsim's forecast per month, read from a finished run folder (nothing is simulated).

Location-based totals and components come from ``bands.csv`` (the run's own quantiles);
market-based totals from ``monthly.parquet`` when the run had a market factor (its
``co2e_market_kg`` column), with the same quantile rule (``numpy.percentile``, linear).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

QUANTILES = ("p5", "p50", "p95")
COMPONENTS = ("active", "idle", "host", "embodied")


class RunFolderError(ValueError):
    """The run folder lacks what reconciliation reads; the message names the file."""


@dataclass(frozen=True)
class Forecast:
    """Per month (index ``YYYY-MM``): ``location`` and ``market`` P5/P50/P95 of the total
    (kgCO2e; ``market`` None without a market factor) and the components' P50."""

    location: pd.DataFrame
    market: pd.DataFrame | None
    components: pd.DataFrame
    run_dir: Path
    scenario: str


def read_forecast(run_dir: Path) -> Forecast:
    """The forecast of ``run_dir`` (a complete run folder)."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise RunFolderError(f"{run_dir}: no manifest.json; give a finished run folder (carbonsim simulate ... --out DIR)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not manifest.get("complete"):
        raise RunFolderError(f"{manifest_path}: the run is not complete; rerun it")
    bands_path = run_dir / "bands.csv"
    if not bands_path.exists():
        raise RunFolderError(f"{bands_path}: missing; the run folder is incomplete")
    bands = pd.read_csv(bands_path, dtype={"period": str})
    co2 = bands[bands["metric"] == "co2e_kg"]
    total = co2[co2["group_by"] == "total"].sort_values("month").set_index("period")[list(QUANTILES)]
    if total.empty:
        raise RunFolderError(f"{bands_path}: no co2e_kg total rows")
    comp = co2[co2["group_by"] == "component"].pivot_table(index="period", columns="group", values="p50")
    comp = comp.reindex(columns=[c for c in COMPONENTS if c in comp.columns]).reindex(total.index).fillna(0.0)
    return Forecast(total.rename_axis("month"), _market(run_dir, total.index), comp.rename_axis("month"), run_dir,
                    manifest.get("scenario", {}).get("name", ""))


def _market(run_dir: Path, periods: pd.Index) -> pd.DataFrame | None:
    path = run_dir / "monthly.parquet"
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    if "co2e_market_kg" not in pq.read_schema(path).names:
        return None
    df = pd.read_parquet(path, columns=["replication", "month", "co2e_market_kg"])
    cube = df.groupby(["replication", "month"], observed=True)["co2e_market_kg"].sum().unstack("month").fillna(0.0)
    q = np.percentile(cube.to_numpy(), [5, 50, 95], axis=0)
    months = cube.columns.to_numpy()
    return pd.DataFrame({name: q[i] for i, name in enumerate(QUANTILES)}, index=pd.Index(periods[months], name="month"))
