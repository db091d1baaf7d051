"""Bands: quantiles over replications, per month and group, and headline figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

QUANTILES = (5, 10, 25, 50, 75, 90, 95)
GROUPINGS = ("total", "service", "language", "content_type", "component", "pool")


def _group_codes(df: pd.DataFrame, by: str) -> tuple[np.ndarray, list[str]]:
    """Each row's group as a code (-1 for a missing label) and every code's name; ``total``
    has one group, ``all``.

    Categorical columns give their codes as they are (no per-row strings: millions of
    rows); others are factorised. Which codes have rows, and the groups' order (sorted by
    name), are settled once the rows are counted (``_groups_present``).
    """
    if by == "total":
        return np.zeros(len(df), dtype=np.int8), ["all"]
    col = df[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), [str(c) for c in col.cat.categories]
    codes, uniques = pd.factorize(col if pd.api.types.is_string_dtype(col) else col.astype(str), sort=True)
    return codes, [str(u) for u in uniques]


def _groups_present(counts: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """The codes with rows (``counts`` per code), in the order of their names, and those names."""
    order = sorted(np.flatnonzero(counts).tolist(), key=lambda c: names[c])
    return np.asarray(order, dtype=np.int64), [names[c] for c in order]


def _grouped_cubes(df: pd.DataFrame, values: tuple[str, ...], groupings: tuple[str, ...], replications: int,
                   horizon: int) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    """Per grouping: the sum of each of ``values`` per (replication, month, group), as dense
    replication x month x group arrays over the groups with rows, sorted by name (absent
    cells are zero; rows outside the replications or the horizon, or without a label, are
    left out), and the groups' names.

    All groupings and values are summed in one pass over the rows (``_grouped_sums``).
    """
    found = [_group_codes(df, by) for by in groupings]
    codes = [c for c, _ in found]
    if len({c.dtype for c in codes}) > 1:  # one tuple type for the kernel: one dtype, all read-only
        codes = [c.astype(np.int64) for c in codes]
    codes = [_read_only(c) for c in codes]
    widths = np.array([len(names) for _, names in found], dtype=np.int64)
    sums, counts, first = _grouped_sums(
        df["replication"].to_numpy(), df["month"].to_numpy(), tuple(codes), widths,
        tuple(df[v].to_numpy(float) for v in values), replications, horizon)
    cells = replications * horizon
    out = {}
    for g, by in enumerate(groupings):
        if by == "total":  # present even without rows: the total is then zero
            order, names = np.zeros(1, dtype=np.int64), found[g][1]
        else:
            order, names = _groups_present(counts[first[g] : first[g + 1]], found[g][1])
        cubes = [sums[k, cells * first[g] : cells * first[g + 1]].reshape(replications, horizon, widths[g])[:, :, order]
                 for k in range(len(values))]
        out[by] = (cubes, names)
    return out


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (columns read from Parquet are read-only; numba types them apart)."""
    view = a.view()
    view.flags.writeable = False
    return view


def monthly_sums(df: pd.DataFrame, value: str, replications: int, horizon: int) -> np.ndarray:
    """Sum of ``value`` per replication and month (replications x horizon), in one pass;
    absent cells are zero, rows outside the replications or the horizon are left out."""
    return _grouped_cubes(df, (value,), ("total",), replications, horizon)["total"][0][0][:, :, 0]


def grouped_monthly_sums(df: pd.DataFrame, value: str, by: str, replications: int,
                         horizon: int) -> tuple[np.ndarray, list[str]]:
    """Sum of ``value`` per replication, month and group of ``by`` (replications x horizon x
    groups, over the groups with rows, sorted by name), in one pass, and the groups' names;
    absent cells are zero, rows outside the replications or the horizon are left out."""
    cubes, names = _grouped_cubes(df, (value,), (by,), replications, horizon)[by]
    return cubes[0], names


@njit(cache=True)
def _grouped_sums(rep, month, codes, widths, values, replications, horizon):
    """Sums of each array of ``values`` (a tuple) per (grouping, replication, month, code),
    and rows per (grouping, code), in one pass over the rows.

    Grouping ``g`` has codes 0 to ``widths[g]`` (``codes[g]``, a tuple item per grouping);
    its codes are ``first[g]`` on in the counts, and its sums, laid out replication x month
    x code, fill ``[cells * first[g], cells * first[g + 1])`` of each row of the sums
    (``cells``: replications x months). Rows outside the replications or the horizon, or
    with code -1 (no label), are left out. Rows add up in table order, as ``np.bincount``
    adds its weights: the same numbers, bit for bit.
    """
    k = len(codes)
    first = np.zeros(k + 1, dtype=np.int64)
    for g in range(k):
        first[g + 1] = first[g] + widths[g]
    cells = np.int64(replications) * horizon
    sums = np.zeros((len(values), cells * first[k]))
    counts = np.zeros(first[k], dtype=np.int64)
    for i in range(len(rep)):
        r, m = rep[i], month[i]
        if r < 0 or r >= replications or m < 0 or m >= horizon:
            continue
        rm = np.int64(r) * horizon + m
        for g in range(k):
            c = np.int64(codes[g][i])
            if c < 0:
                continue
            counts[first[g] + c] += 1
            cell = cells * first[g] + rm * widths[g] + c
            for v in range(len(values)):
                sums[v, cell] += values[v][i]
    return sums, counts, first


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

    Sums per (replication, month, group) are dense NumPy cubes, every grouping's filled
    in one pass over the rows, and quantiles are taken along the replication axis: linear
    in the table's size, so thousands of replications cost a fraction of a second.
    """
    frames = []

    def add(metric: str, by: str, cube: np.ndarray, groups: list[str]) -> None:
        q = _quantiles(cube, groups)
        q.insert(0, "group_by", by)
        q.insert(0, "metric", metric)
        frames.append(q)

    metrics = ("co2e_kg", "energy_kwh", "facility_kwh")
    cubes = _grouped_cubes(monthly, metrics, GROUPINGS, replications, horizon)
    for k, metric in enumerate(metrics):
        for by in GROUPINGS:
            add(metric, by, cubes[by][0][k], cubes[by][1])
    cube, groups = cubes["total"][0][0], cubes["total"][1]
    add("co2e_kg_cumulative", "total", np.cumsum(cube, axis=1), groups)
    del cubes
    file_groupings = ("total", "language", "content_type")
    counted = _grouped_cubes(files, ("requested", "served"), file_groupings, replications, horizon)
    for k, metric in enumerate(("requested", "served")):
        for by in file_groupings:
            add(f"files_{metric}", by, counted[by][0][k], counted[by][1])
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
    labelled = codes >= 0
    order, present = _groups_present(np.bincount(codes[labelled], minlength=len(names)), names)
    comp = pd.Series(np.bincount(codes[labelled], weights=co2e[labelled], minlength=len(names))[order], index=present)
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
