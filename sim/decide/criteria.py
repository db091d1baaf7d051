"""Decision criteria: what each option is judged on, from its Monte Carlo outputs.

Each criterion has a direction (``cost``: less is better, ``benefit``: more is better) and
a unit, and is computed once per replication, so every criterion has a full distribution
and options can be compared draw by draw (the draws of all options share their seeds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.config.resolve import Resolved
from sim.engine.provisioning import schedule_for
from sim.forecast.statistics import FILE_ROWS

if TYPE_CHECKING:
    from sim.montecarlo.run import MonteCarloResult

FILE_ROW = "(file)"  # service_stats rows of end-to-end file latency (every file's)


@dataclass(frozen=True)
class Criterion:
    name: str
    direction: str  # "cost" | "benefit"
    unit: str
    label: str
    label_fr: str
    linked: tuple[str, ...] = ()  # criteria it is computed from, or that are computed from it




#: Every criterion, in the order of the outputs. Weights are set in the options file.
CRITERIA: dict[str, Criterion] = {c.name: c for c in (
    Criterion("energy", "cost", "kWh", "facility energy over the horizon", "énergie du centre de données sur l'horizon",
              ("carbon", "carbon_final_year")),
    # emissions = facility energy x grid intensity + embodied: they move with energy by construction
    Criterion("carbon", "cost", "kgCO2e", "emissions over the horizon", "émissions sur l'horizon",
              ("energy", "carbon_final_year")),
    Criterion("carbon_final_year", "cost", "kgCO2e", "emissions in the final year", "émissions de la dernière année",
              ("energy", "carbon")),
    Criterion("cost", "cost", "USD", "VM and managed-endpoint cost over the horizon",
              "coût des VM et des points d'accès gérés sur l'horizon"),
    Criterion("performance", "cost", "s", "P95 file latency in the final year", "latence P95 par fichier, dernière année"),
    Criterion("scalability", "benefit", "share", "capacity headroom at the horizon", "marge de capacité à l'horizon"),
    Criterion("saturation", "benefit", "month", "months before a pool saturates", "mois avant saturation d'un pool"),
    Criterion("coverage", "benefit", "share", "share of the requested work served (valued)", "part du travail demandé servie (pondérée)"),
)}


def vm_cost_usd(res: Resolved, prices_per_hour: dict[str, float] | None = None) -> float:
    """Cost of the scheduled VMs over the horizon: on-hours x instances x price x region
    factor (autoscaled pools: see ``autoscaled_cost_usd``)."""
    sc = res.scenario
    edges = sc.month_edges_s()
    weekday0 = sc.month_starts()[0].weekday()
    factor = res.regions.regions[sc.region].price_factor
    total = 0.0
    for pool in sc.pools.values():
        if pool.provisioning.policy == "autoscale":
            continue
        price = _price(res, pool.sku, prices_per_hour)
        on_h = schedule_for(pool.provisioning, weekday0).on_seconds(edges[0], edges[-1]) / 3600.0
        total += on_h * pool.instances * price * factor
    return total


def _managed_usd(monthly: pd.DataFrame, n: int) -> np.ndarray:
    """What the managed endpoints' requests cost per replication (USD; 0 without any)."""
    return _per_rep(monthly, "managed_usd", n) if "managed_usd" in monthly.columns else np.zeros(n)


def _price(res: Resolved, sku: str, prices_per_hour: dict[str, float] | None) -> float:
    return (prices_per_hour or {}).get(sku, res.skus.skus[sku].price_per_hour)


def autoscaled_cost_usd(res: Resolved, capacity: pd.DataFrame | None, n: int,
                        prices_per_hour: dict[str, float] | None = None) -> np.ndarray:
    """Cost of the autoscaled pools per replication: provisioned instance-seconds, billed
    per second, x price x region factor (zeros when no pool autoscales)."""
    sc = res.scenario
    out = np.zeros(n)
    scaled = {name: pool for name, pool in sc.pools.items() if pool.provisioning.policy == "autoscale"}
    if not scaled:
        return out
    if capacity is None:
        raise ValueError("autoscaled pools are priced from the run's capacity table, which this result lacks")
    factor = res.regions.regions[sc.region].price_factor
    cap = capacity[capacity["replication"] < n]
    for name, pool in scaled.items():
        rows = cap[cap["pool"].astype(str) == name]
        seconds = rows.groupby("replication")["instance_s"].sum().reindex(range(n), fill_value=0.0).to_numpy(dtype=float)
        out += seconds / 3600.0 * _price(res, pool.sku, prices_per_hour) * factor
    return out


def _per_rep(df: pd.DataFrame, value: str, n: int) -> np.ndarray:
    return df.groupby("replication")[value].sum().reindex(range(n), fill_value=0.0).to_numpy(dtype=float)


def pool_utilisation(res: Resolved, stats: pd.DataFrame, n: int) -> np.ndarray:
    """Highest pool utilisation per replication and month (replications x months)."""
    sc = res.scenario
    s = stats[~stats["service"].isin(FILE_ROWS) & (stats["replication"] < n)]
    pool = s["service"].map({k: v.pool for k, v in sc.services.items()})
    util = s.assign(pool=pool).groupby(["replication", "month", "pool"])["utilisation"].sum()
    peak = util.groupby(["replication", "month"]).max()
    full = pd.MultiIndex.from_product([range(n), range(sc.horizon_months)], names=["replication", "month"])
    return peak.reindex(full, fill_value=0.0).to_numpy(dtype=float).reshape(n, sc.horizon_months)


def final_year_latency_p95(res: Resolved, stats: pd.DataFrame, n: int, row: str = FILE_ROW) -> np.ndarray:
    """P95 end-to-end file latency (s) over the final 12 months: monthly P95s weighted by files done
    (``row``: ``(file)`` for every file, ``(file) audio`` ... for one content type's).

    NaN for a replication in which no file was served in the final year.
    """
    h = res.scenario.horizon_months
    f = stats[(stats["service"] == row) & (stats["month"] >= max(0, h - 12)) & (stats["replication"] < n)]
    f = f[(f["jobs"] > 0) & f["latency_p95_s"].notna()]
    num = (f["latency_p95_s"] * f["jobs"]).groupby(f["replication"]).sum()
    den = f["jobs"].groupby(f["replication"]).sum()
    return (num / den).reindex(range(n)).to_numpy(dtype=float)


def worst_month_latency_p95(res: Resolved, stats: pd.DataFrame, n: int, row: str = FILE_ROW) -> np.ndarray:
    """Highest monthly P95 end-to-end file latency (s) per replication (NaN when no file was served)."""
    f = stats[(stats["service"] == row) & (stats["replication"] < n)]
    return f.groupby("replication")["latency_p95_s"].max().reindex(range(n)).to_numpy(dtype=float)


def service_level_values(res: Resolved, stats: pd.DataFrame, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each level the scenario sets: its measure per replication in the final year and
    in the horizon's worst month (two arrays of n)."""
    levels = res.scenario.service_levels
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if levels is None:
        return out
    h = res.scenario.horizon_months
    if levels.p95_file_latency_s is not None:
        out["p95_file_latency_s"] = (final_year_latency_p95(res, stats, n), worst_month_latency_p95(res, stats, n))
    if levels.max_utilisation is not None:
        util = pool_utilisation(res, stats, n)
        out["max_utilisation"] = (util[:, max(0, h - 12):].max(axis=1), util.max(axis=1))
    for name in levels.limits():
        if name.startswith("p95_file_latency_s."):  # one content type's files
            row = f"{FILE_ROW} {name.split('.', 1)[1]}"
            out[name] = (final_year_latency_p95(res, stats, n, row), worst_month_latency_p95(res, stats, n, row))
    return out


def replication_values(res: Resolved, mc: MonteCarloResult, n: int, *, prices_per_hour: dict[str, float] | None = None,
                       saturation_utilisation: float = 0.8) -> dict[str, np.ndarray]:
    """Every criterion but coverage, one value per replication 0..n-1; and each service
    level's measure, as ``level.NAME.final_year`` and ``level.NAME.any_month``."""
    sc = res.scenario
    h = sc.horizon_months
    m = mc.monthly[mc.monthly["replication"] < n]
    util = pool_utilisation(res, mc.service_stats, n)
    saturated = util >= saturation_utilisation
    first = np.where(saturated.any(axis=1), saturated.argmax(axis=1), h)
    levels = {f"level.{k}.{when}": v for k, pair in service_level_values(res, mc.service_stats, n).items()
              for when, v in zip(("final_year", "any_month"), pair)}
    return levels | {
        "energy": _per_rep(m, "facility_kwh", n),
        "carbon": _per_rep(m, "co2e_kg", n),
        "carbon_final_year": _per_rep(m[m["month"] >= max(0, h - 12)], "co2e_kg", n),
        "cost": (np.full(n, vm_cost_usd(res, prices_per_hour)) + _managed_usd(m, n)
                 + autoscaled_cost_usd(res, mc.capacity, n, prices_per_hour)),
        "performance": final_year_latency_p95(res, mc.service_stats, n),
        "scalability": 1.0 - util[:, -1],
        "saturation": first.astype(float),
    }


def jobs_cube(mc: MonteCarloResult, services: list[str], languages: list[str], n: int) -> np.ndarray:
    """Jobs run per replication, service and (source) language: n x services x languages."""
    # a job is served by a pool (its "active" row) or by a managed endpoint (its "managed" row)
    a = mc.monthly[mc.monthly["component"].isin(["active", "managed"]) & (mc.monthly["replication"] < n)]
    s = a.groupby(["replication", "service", "language"])["jobs"].sum()
    full = pd.MultiIndex.from_product([range(n), services, languages], names=["replication", "service", "language"])
    return s.reindex(full, fill_value=0.0).to_numpy(dtype=float).reshape(n, len(services), len(languages))


def value_matrix(services: list[str], languages: list[str], service_values: dict[str, float],
                 language_values: dict[str, float]) -> np.ndarray:
    """Value of one job of each (service, language): service value x language value (default 1 each)."""
    sv = np.array([service_values.get(s, 1.0) for s in services])
    lv = np.array([language_values.get(c, 1.0) for c in languages])
    return np.outer(sv, lv)


def coverage(jobs: np.ndarray, requested: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Valued share of the requested work that is served, per replication (1 when nothing was requested).

    ``jobs`` and ``requested`` are replications x services x languages; a service's served
    jobs are capped at the requested ones, so serving more of one thing never hides less of another.
    """
    served = (np.minimum(jobs, requested) * values).sum(axis=(1, 2))
    wanted = (requested * values).sum(axis=(1, 2))
    return np.divide(served, wanted, out=np.ones_like(wanted), where=wanted > 0)
