"""Azure's reported emissions beside carbonsim's forecast, month by month.

A month is flagged when Azure's total (all scopes it reports) lies outside the forecast's
P5-P95 band on the chosen basis. The likeliest causes depend on the direction and on
whether the month stands alone or most months lie on the same side (then a difference of
method or scope is likelier than an event).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .azure_report import SCOPES, AzureReport
from .forecast import Forecast


class ReconcileError(ValueError):
    """The report and the forecast cannot be compared; the message says why and the fix."""


SYSTEMATIC_SHARE = 2 / 3  # this share of months on one side (and at least 2) reads as a method difference

CAUSES = {
    ("above", "event"): [
        ("resources outside the modelled pools ran that month (a scale-out, a second VM, a test deployment) "
        "inside the report's scope"),
        "the VM was not deallocated in hours the scenario's provisioning switches it off",
        "demand above the forecast: compare that month's requests (monitor store) with files_requested in bands.csv",
        "a restatement by Microsoft (reports are recalculated when its method changes)",
    ],
    ("below", "event"): [
        "the VM was stopped or deallocated part of the month (an outage, a maintenance window)",
        "the month's data is incomplete (Azure publishes a month by day 19 of the next one)",
        "resources of the modelled pools are missing from the export's filter",
    ],
    ("above", "systematic"): [
        ("Microsoft allocates to the subscription shares carbonsim does not model: datacenter buildings, "
        "networking, storage and other services in the report's scope"),
        "the export covers more resources than the modelled pools (filter it to their resource group)",
        "Microsoft's grid or embodied factors are higher than the scenario's (compare Scope 2 and Scope 3 apart)",
    ],
    ("below", "systematic"): [
        ("Azure's Scope 2 may reflect Microsoft's energy contracts (market-based) while the band is location-based: "
        "rerun with a market factor and use --basis market"),
        "an allocation by measured usage rather than by provisioned hours (carbonsim's) weighs idle capacity less",
        "longer hardware lifetimes or a smaller embodied share in Microsoft's Scope 3",
    ],
}


def reconcile(forecast: Forecast, report: AzureReport, basis: str = "location") -> tuple[pd.DataFrame, list[str]]:
    """The reconciliation table (one row per month in both) and the report's months the
    forecast does not cover."""
    band = forecast.location if basis == "location" else forecast.market
    if band is None:
        raise ReconcileError(f"{forecast.run_dir}: the run has no market-based figures (no market factor in the scenario); "
                         "use --basis location or rerun with carbon.market_intensity_g_per_kwh")
    months = [m for m in report.kg.index if m in band.index]
    outside = [m for m in report.kg.index if m not in band.index]
    if not months:
        raise ReconcileError(f"{report.source}: no month in common with the forecast ({band.index[0]} to {band.index[-1]}); "
                         f"the report covers {list(report.kg.index)}")
    kg = report.kg.reindex(index=months)
    rows = pd.DataFrame(index=pd.Index(months, name="month"))
    for scope in SCOPES:
        rows[f"azure_{scope.lower()}_kg"] = kg[scope] if scope in kg.columns else np.nan
    rows["azure_total_kg"] = kg.sum(axis=1, min_count=1)
    for name, frame in (("location", forecast.location), ("market", forecast.market)):
        for q in ("p5", "p50", "p95"):
            rows[f"sim_{name}_{q}_kg"] = frame[q].reindex(months) if frame is not None else np.nan
    comp = forecast.components.reindex(months)
    for c in comp.columns:
        rows[f"sim_{c}_p50_kg"] = comp[c]
    rows["basis"] = basis
    rows["ratio"] = rows["azure_total_kg"] / rows[f"sim_{basis}_p50_kg"]
    operational = comp.drop(columns=["embodied"], errors="ignore").sum(axis=1)
    rows["ratio_scope2_operational"] = _ratio(rows["azure_scope2_kg"], operational)
    rows["ratio_scope3_embodied"] = _ratio(rows["azure_scope3_kg"], comp.get("embodied"))
    lo, hi = rows[f"sim_{basis}_p5_kg"], rows[f"sim_{basis}_p95_kg"]
    rows["flag"] = np.where(rows["azure_total_kg"] > hi, "above P95", np.where(rows["azure_total_kg"] < lo, "below P5", ""))
    return rows.reset_index(), outside


def _ratio(num: pd.Series, den: pd.Series | None) -> pd.Series:
    if den is None:
        return pd.Series(np.nan, index=num.index)
    return num / den.where(den > 0)


def pattern(table: pd.DataFrame) -> dict[str, str]:
    """``above``/``below`` -> ``systematic`` or ``event``, for the directions flagged."""
    out = {}
    n = len(table)
    for side, label in (("above", "above P95"), ("below", "below P5")):
        k = int((table["flag"] == label).sum())
        if k:
            out[side] = "systematic" if k >= 2 and k / n >= SYSTEMATIC_SHARE else "event"
    return out


def write_outputs(run_dir: Path, table: pd.DataFrame, outside: list[str], report: AzureReport, forecast: Forecast) -> tuple[Path, Path]:
    """``reconcile.csv`` and ``reconcile.md`` into ``run_dir`` (each written whole, then moved in)."""
    from sim.config.errors import atomic_write_text

    csv_path, md_path = Path(run_dir) / "reconcile.csv", Path(run_dir) / "reconcile.md"
    atomic_write_text(csv_path, table.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(md_path, markdown(table, outside, report, forecast))
    return csv_path, md_path


def _kg(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.1f}"


def markdown(table: pd.DataFrame, outside: list[str], report: AzureReport, forecast: Forecast) -> str:
    """The report section: method, month table, flagged months with their likeliest causes."""
    basis = table["basis"].iloc[0]
    lines = [
        "## Reconciliation with Azure's carbon report", "",
        (f"Azure's figures: {report.source}. carbonsim's: run `{forecast.run_dir.name}` ({forecast.scenario}), "
         f"{basis}-based band. A month outside the forecast's P5-P95 band is flagged."), "",
        "| month | Azure total (kg) | Scope 1 | Scope 2 | Scope 3 | carbonsim P5 | P50 | P95 | ratio | flag |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(f"| {r['month']} | {_kg(r['azure_total_kg'])} | {_kg(r['azure_scope1_kg'])} | {_kg(r['azure_scope2_kg'])} | "
                     f"{_kg(r['azure_scope3_kg'])} | {_kg(r[f'sim_{basis}_p5_kg'])} | {_kg(r[f'sim_{basis}_p50_kg'])} | "
                     f"{_kg(r[f'sim_{basis}_p95_kg'])} | {r['ratio']:.2f} | {r['flag'] or '-'} |")
    if outside:
        lines += ["", f"Months of the report outside the forecast's horizon, not compared: {', '.join(outside)}."]
    lines += ["", "### Where the methods differ", "", *METHOD_NOTES]
    kinds = pattern(table)
    flagged = table[table["flag"] != ""]
    lines += ["", "### Flagged months", ""]
    if flagged.empty:
        lines.append("None: every month lies inside the forecast's P5-P95 band.")
    for side, kind in kinds.items():
        months = flagged[flagged["flag"].str.startswith(side)]
        what = "most months, so a difference of method or scope" if kind == "systematic" else "isolated month(s), so an event"
        lines.append(f"**{side} the band** in {', '.join(months['month'])} ({what} is likelier). Likeliest causes:")
        lines += [f"- {c}" for c in CAUSES[(side, kind)]]
        for _, r in months.iterrows():
            lines.append(f"- {r['month']}: ratio {r['ratio']:.2f}; Scope 2 / carbonsim operational "
                         f"{_ratio_text(r['ratio_scope2_operational'])}, Scope 3 / carbonsim embodied "
                         f"{_ratio_text(r['ratio_scope3_embodied'])} (the part far from 1 points at the cause)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _ratio_text(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


METHOD_NOTES = [
    ("- **What Microsoft allocates and carbonsim does not model**: Scope 1 (datacenter fuel, backup generators, "
    "refrigerants); shares of buildings, networking and storage; every resource in the report's filter, not only "
    "the modelled GPU pools."),
    ("- **What carbonsim models and Microsoft allocates differently**: energy per job from the calibration profile, idle "
    "and host power of provisioned hours, PUE and the region's grid factor (operational, compare with Scope 2); the "
    "manufacturing share of the GPU servers over their lifetime (embodied, compare with Scope 3)."),
    ("- **Basis**: carbonsim's location-based figures use the grid's average intensity; a market-based figure uses the "
    "scenario's contract factor. Compare Azure's Scope 2 with the basis its methodology states."),
    ("- **Uncertainty**: Azure reports one number a month; carbonsim's band carries the forecast's epistemic and "
    "aleatory uncertainty (growth, model costs, grid factor, demand)."),
]
