"""Bands: quantiles over replications, per month and group, and headline figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

QUANTILES = (5, 10, 25, 50, 75, 90, 95)
GROUPINGS = ("total", "service", "language", "content_type", "component", "pool")


def per_replication(monthly: pd.DataFrame, value: str, by: str, replications: int, horizon: int) -> pd.DataFrame:
    """Sum ``value`` per (replication, month, group), with absent cells filled by zero."""
    key = ["replication", "month"] + ([] if by == "total" else [by])
    s = monthly.groupby(key, observed=True)[value].sum()
    groups = ["all"] if by == "total" else sorted(monthly[by].astype(str).unique())
    full = pd.MultiIndex.from_product(
        [range(replications), range(horizon)] + ([] if by == "total" else [groups]), names=key
    )
    s = s.reindex(full, fill_value=0.0)
    out = s.reset_index()
    out["group"] = "all" if by == "total" else out[by].astype(str)
    return out[["replication", "month", "group", value]]


def quantile_table(df: pd.DataFrame, value: str) -> pd.DataFrame:
    """mean and P5..P95 of ``value`` over replications, per (month, group)."""
    g = df.groupby(["month", "group"])[value]
    out = g.mean().rename("mean").to_frame()
    qs = g.quantile([q / 100 for q in QUANTILES]).unstack()
    qs.columns = [f"p{q}" for q in QUANTILES]
    return out.join(qs).reset_index()


def month_labels(start_month: str, horizon: int) -> list[str]:
    return [str(p) for p in pd.period_range(start_month, periods=horizon, freq="M")]


def compute_bands(monthly: pd.DataFrame, files: pd.DataFrame, replications: int, horizon: int, start_month: str) -> pd.DataFrame:
    """The bands table written as ``bands.csv``."""
    frames = []
    for metric in ("co2e_kg", "energy_kwh", "facility_kwh"):
        for by in GROUPINGS:
            q = quantile_table(per_replication(monthly, metric, by, replications, horizon), metric)
            q.insert(0, "group_by", by)
            q.insert(0, "metric", metric)
            frames.append(q)
    tot = per_replication(monthly, "co2e_kg", "total", replications, horizon).sort_values(["replication", "month"])
    tot["co2e_kg"] = tot.groupby("replication")["co2e_kg"].cumsum()
    q = quantile_table(tot, "co2e_kg")
    q.insert(0, "group_by", "total")
    q.insert(0, "metric", "co2e_kg_cumulative")
    frames.append(q)
    for metric in ("requested", "served"):
        for by in ("total", "language", "content_type"):
            q = quantile_table(per_replication(files, metric, by, replications, horizon), metric)
            q.insert(0, "group_by", by)
            q.insert(0, "metric", f"files_{metric}")
            frames.append(q)
    out = pd.concat(frames, ignore_index=True)
    labels = month_labels(start_month, horizon)
    out.insert(3, "period", [labels[m] for m in out["month"]])
    return out


def horizon_totals(monthly: pd.DataFrame, replications: int, value: str = "co2e_kg") -> np.ndarray:
    """Total of ``value`` over the horizon, one number per replication."""
    s = monthly.groupby("replication")[value].sum().reindex(range(replications), fill_value=0.0)
    return s.to_numpy()


def exceedance_probability(totals: np.ndarray, budget_kg: float | None) -> float | None:
    """Share of replications whose horizon emissions exceed the budget."""
    if budget_kg is None:
        return None
    return float(np.mean(totals > budget_kg))


def headline(monthly: pd.DataFrame, files: pd.DataFrame, replications: int, horizon: int, budget_kg: float | None) -> dict:
    """Headline figures for the summary: horizon totals, final year, shares, SCI per file."""
    totals = horizon_totals(monthly, replications)
    last_year = monthly[monthly["month"] >= max(0, horizon - 12)]
    final_year = horizon_totals(last_year, replications)
    final_month = horizon_totals(monthly[monthly["month"] == horizon - 1], replications)
    served = files.groupby("replication")["served"].sum().reindex(range(replications), fill_value=0).to_numpy()
    comp = monthly.groupby("component")["co2e_kg"].sum()
    per_file = np.divide(totals, served, out=np.full_like(totals, np.nan), where=served > 0)

    def q(a):
        return {f"p{p}": float(np.percentile(a, p)) for p in QUANTILES} | {"mean": float(np.mean(a))}

    return {
        "horizon_co2e_kg": q(totals),
        "final_year_co2e_kg": q(final_year),
        "final_month_co2e_kg": q(final_month),
        "energy_kwh": q(horizon_totals(monthly, replications, "energy_kwh")),
        "facility_kwh": q(horizon_totals(monthly, replications, "facility_kwh")),
        "files_served": q(served.astype(float)),
        "co2e_g_per_file": q(per_file * 1000.0),
        "component_share": {k: float(v / comp.sum()) for k, v in comp.items()} if comp.sum() > 0 else {},
        "budget_kg": budget_kg,
        "p_exceed_budget": exceedance_probability(totals, budget_kg),
    }
