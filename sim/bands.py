"""Bands: quantiles over replications, per month and group, and headline figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

QUANTILES = (5, 10, 25, 50, 75, 90, 95)
GROUPINGS = ("total", "service", "language", "content_type", "component", "pool")


def _group_codes(df: pd.DataFrame, by: str) -> tuple[np.ndarray, list[str]]:
    """Integer code of each row's group and the sorted group names (``all`` for the total)."""
    if by == "total":
        return np.zeros(len(df), dtype=np.int64), ["all"]
    col = df[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        # recode the categories present in sorted order: no per-row strings (millions of rows)
        codes = col.cat.codes.to_numpy()
        categories = col.cat.categories
        present = np.flatnonzero(np.bincount(codes + 1, minlength=len(categories) + 1)[1:])  # code -1: missing
        names = np.asarray([str(categories[i]) for i in present], dtype=object)
        order = np.argsort(names, kind="stable")
        rank = np.full(len(categories), -1, dtype=np.int32)
        rank[present[order]] = np.arange(len(order))
        return rank[codes], [str(n) for n in names[order]]
    codes, uniques = pd.factorize(col if pd.api.types.is_string_dtype(col) else col.astype(str), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _cubes(df: pd.DataFrame, values: tuple[str, ...], codes: np.ndarray, n_groups: int, replications: int,
           horizon: int) -> list[np.ndarray]:
    """Sum of each of ``values`` per (replication, month, group), as dense arrays; absent
    cells are zero, rows outside the replications or the horizon are left out."""
    sums = _cell_sums(df["replication"].to_numpy(), df["month"].to_numpy(), codes,
                      tuple(df[v].to_numpy(float) for v in values), replications, horizon, n_groups)
    return [sums[k].reshape(replications, horizon, n_groups) for k in range(len(values))]


def monthly_sums(df: pd.DataFrame, value: str, replications: int, horizon: int) -> np.ndarray:
    """Sum of ``value`` per replication and month (replications x horizon), in one pass;
    absent cells are zero, rows outside the replications or the horizon are left out."""
    return _cubes(df, (value,), np.zeros(len(df), dtype=np.int64), 1, replications, horizon)[0][:, :, 0]


@njit(cache=True)
def _cell_sums(rep, month, codes, values, replications, horizon, n_groups):
    """Sums of each array of ``values`` (a tuple) per (replication, month, group) cell, flat,
    in one pass; rows outside the replications or the horizon are left out. Rows add up in
    table order, as ``np.bincount`` adds its weights: the same numbers, bit for bit."""
    out = np.zeros((len(values), replications * horizon * n_groups))
    for i in range(len(rep)):
        r, m = rep[i], month[i]
        if r < 0 or r >= replications or m < 0 or m >= horizon:
            continue
        cell = (np.int64(r) * horizon + m) * n_groups + codes[i]
        for k in range(len(values)):
            out[k, cell] += values[k][i]
    return out


def _quantiles(cube: np.ndarray, groups: list[str]) -> pd.DataFrame:
    """mean and P5..P95 over replications (axis 0) of a replication x month x group cube."""
    _, horizon, g = cube.shape
    out = {
        "month": np.repeat(np.arange(horizon), g),
        "group": np.tile(np.asarray(groups, dtype=object), horizon),
        "mean": cube.mean(axis=0).ravel(),
    }
    qs = np.percentile(cube, QUANTILES, axis=0)
    for q, arr in zip(QUANTILES, qs):
        out[f"p{q}"] = arr.ravel()
    return pd.DataFrame(out)


def month_labels(start_month: str, horizon: int) -> list[str]:
    return [str(p) for p in pd.period_range(start_month, periods=horizon, freq="M")]


def compute_bands(monthly: pd.DataFrame, files: pd.DataFrame, replications: int, horizon: int, start_month: str) -> pd.DataFrame:
    """The bands table written as ``bands.csv``.

    Sums per (replication, month, group) are dense NumPy cubes filled by ``bincount``, and
    quantiles are taken along the replication axis: linear in the table's size, so
    thousands of replications cost seconds, not minutes.
    """
    frames = []

    def add(metric: str, by: str, cube: np.ndarray, groups: list[str]) -> None:
        q = _quantiles(cube, groups)
        q.insert(0, "group_by", by)
        q.insert(0, "metric", metric)
        frames.append(q)

    metrics = ("co2e_kg", "energy_kwh", "facility_kwh")
    cubes: dict[tuple[str, str], tuple[np.ndarray, list[str]]] = {}
    # One grouping at a time, all metrics in one pass over its codes: a single code array of
    # the table's length is alive at once, which keeps memory flat on millions of rows.
    for by in GROUPINGS:
        c, groups = _group_codes(monthly, by)
        for metric, cube in zip(metrics, _cubes(monthly, metrics, c, len(groups), replications, horizon)):
            cubes[(metric, by)] = (cube, groups)
        del c
    for metric in metrics:
        for by in GROUPINGS:
            add(metric, by, *cubes[(metric, by)])
    cube, groups = cubes[("co2e_kg", "total")]
    add("co2e_kg_cumulative", "total", np.cumsum(cube, axis=1), groups)
    for metric in ("requested", "served"):
        for by in ("total", "language", "content_type"):
            c, groups = _group_codes(files, by)
            add(f"files_{metric}", by, _cubes(files, (metric,), c, len(groups), replications, horizon)[0], groups)
    out = pd.concat(frames, ignore_index=True)
    labels = month_labels(start_month, horizon)
    out.insert(3, "period", [labels[m] for m in out["month"]])
    return out


def horizon_totals(monthly: pd.DataFrame, replications: int, value: str = "co2e_kg") -> np.ndarray:
    """Total of ``value`` over the horizon, one number per replication."""
    rep = monthly["replication"].to_numpy(np.int64)
    keep = (rep >= 0) & (rep < replications)
    return np.bincount(rep[keep], weights=monthly[value].to_numpy(float)[keep], minlength=replications)


@njit(cache=True)
def _replication_totals(rep, month, co2e, energy, facility, replications, horizon):
    """Per replication: CO2e over the horizon, its last 12 months and its last month, and
    energy and facility energy over the horizon; rows outside the replications are left
    out. Rows add up in table order, as ``np.bincount`` adds them: the same numbers."""
    total, year, last = np.zeros(replications), np.zeros(replications), np.zeros(replications)
    e, f = np.zeros(replications), np.zeros(replications)
    first_of_year = max(0, horizon - 12)
    for i in range(len(rep)):
        r = rep[i]
        if r < 0 or r >= replications:
            continue
        total[r] += co2e[i]
        e[r] += energy[i]
        f[r] += facility[i]
        if month[i] >= first_of_year:
            year[r] += co2e[i]
        if month[i] == horizon - 1:
            last[r] += co2e[i]
    return total, year, last, e, f


def exceedance_probability(totals: np.ndarray, budget_kg: float | None) -> float | None:
    """Share of replications whose horizon emissions exceed the budget."""
    if budget_kg is None:
        return None
    return float(np.mean(totals > budget_kg))


def headline(monthly: pd.DataFrame, files: pd.DataFrame, replications: int, horizon: int, budget_kg: float | None) -> dict:
    """Headline figures for the summary: horizon totals, final year, shares, SCI per file."""
    co2e = monthly["co2e_kg"].to_numpy(float)
    totals, final_year, final_month, energy, facility = _replication_totals(
        monthly["replication"].to_numpy(), monthly["month"].to_numpy(), co2e, monthly["energy_kwh"].to_numpy(float),
        monthly["facility_kwh"].to_numpy(float), replications, horizon)
    served = horizon_totals(files, replications, "served")
    codes, names = _group_codes(monthly, "component")
    comp = pd.Series(np.bincount(codes, weights=co2e, minlength=len(names)), index=names)
    per_file = np.divide(totals, served, out=np.full_like(totals, np.nan), where=served > 0)

    def q(a):
        return {f"p{p}": float(np.percentile(a, p)) for p in QUANTILES} | {"mean": float(np.mean(a))}

    return {
        "horizon_co2e_kg": q(totals),
        "final_year_co2e_kg": q(final_year),
        "final_month_co2e_kg": q(final_month),
        "energy_kwh": q(energy),
        "facility_kwh": q(facility),
        "files_served": q(served.astype(float)),
        "co2e_g_per_file": q(per_file * 1000.0),
        "component_share": {k: float(v / comp.sum()) for k, v in comp.items()} if comp.sum() > 0 else {},
        "budget_kg": budget_kg,
        "p_exceed_budget": exceedance_probability(totals, budget_kg),
    }
