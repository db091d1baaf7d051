"""Accounting: from job timings to monthly energy and emissions by component (DESIGN.md).

Per pool instance: idle GPU power and host power over all provisioned time, plus each
job's energy above idle, times PUE, times the month's grid intensity; plus embodied
emissions amortised over provisioned time (SCI's M). Jobs count in the month they start.

The pool-level components (idle, host, embodied) are allocated to the services, languages
and content types that used the pool that month in proportion to their busy time; a month
with no work books them under service ``(unused)``. Allocation moves emissions between
rows, never creates or loses any: the parts sum to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .epistemic import Draws
from .jobs import JobTable
from .model import Timings
from .provisioning import Schedule
from .scenario import CONTENT_TYPES, Scenario

J_PER_KWH = 3.6e6
COMPONENTS = ("active", "idle", "host", "embodied")
UNUSED = "(unused)"


@dataclass(frozen=True)
class PoolAccountingSpec:
    name: str
    instances: int
    gpus_per_instance: float
    slots: int
    schedule: Schedule


def month_of(t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Month index of each time; times past the horizon count in the last month."""
    return np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)


def grid_by_month(draws: Draws, horizon: int) -> np.ndarray:
    """Location-based intensity per month (g/kWh) with the yearly trend applied."""
    return draws.grid_g_per_kwh * (1.0 + draws.grid_trend_per_year) ** (np.arange(horizon) / 12.0)


def monthly_records(
    sc: Scenario, jobs: JobTable, timings: Timings, draws: Draws, pools: list[PoolAccountingSpec], replication: int,
    categorical: bool = False,
) -> pd.DataFrame:
    """Tidy monthly table: one row per month x pool x service x language x content x component.

    ``categorical`` gives the label columns as ``pandas.Categorical`` over every label the
    scenario can produce (compact, and identical across replications so they concatenate
    without widening); otherwise they are strings.
    """
    edges = np.asarray(sc.month_edges_s())
    horizon = sc.horizon_months
    langs = tuple(sc.workload.languages)
    grid = grid_by_month(draws, horizon)
    market = None if draws.market_g_per_kwh is None else np.full(horizon, draws.market_g_per_kwh)
    month = month_of(timings.start_s, edges)
    n_l, n_c, n_s = len(langs), len(CONTENT_TYPES), len(jobs.services)
    # Dense cube month x service x language x content, filled with bincount: fast, exact.
    key = ((month * n_s + jobs.service) * n_l + jobs.language) * n_c + jobs.content
    size = horizon * n_s * n_l * n_c
    shape = (horizon, n_s, n_l, n_c)
    count = np.bincount(key, minlength=size).reshape(shape).astype(float)
    busy = np.bincount(key, weights=timings.service_s, minlength=size).reshape(shape)
    active_j = np.bincount(key, weights=timings.energy_j, minlength=size).reshape(shape)
    audio = np.bincount(key, weights=jobs.audio_s, minlength=size).reshape(shape)
    pool_of_service = np.array([jobs.pools.index(sc.services[s].pool) for s in jobs.services], dtype=np.int64)

    # Label columns are collected as codes into these category lists ("-" and UNUSED last).
    cats = {
        "pool": list(jobs.pools), "service": [*jobs.services, UNUSED], "language": [*langs, "-"],
        "content_type": [*CONTENT_TYPES, "-"], "component": list(COMPONENTS),
    }
    unused_s, none_l, none_c = n_s, n_l, n_c
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "month", "pool", "service", "language", "content_type", "component", "jobs", "busy_s", "audio_s",
        "energy_kwh", "facility_kwh", "co2e_kg", "co2e_market_kg")}

    def emit(component, pool_code, m_idx, s_code, l_code, c_code, n_jobs, busy_s, energy_j, co2e_direct_kg, audio_s):
        n = len(m_idx)
        e_kwh = energy_j / J_PER_KWH
        facility = e_kwh * draws.pue
        co2e = facility * grid[m_idx] / 1000.0 + co2e_direct_kg
        cols = {
            "month": m_idx, "pool": np.broadcast_to(pool_code, n), "service": s_code, "language": np.broadcast_to(l_code, n),
            "content_type": np.broadcast_to(c_code, n), "component": np.full(n, COMPONENTS.index(component)),
            "jobs": n_jobs, "busy_s": busy_s, "audio_s": audio_s, "energy_kwh": e_kwh, "facility_kwh": facility,
            "co2e_kg": co2e,
        }
        if market is not None:
            cols["co2e_market_kg"] = facility * market[m_idx] / 1000.0 + co2e_direct_kg
        for k, v in cols.items():
            parts[k].append(np.asarray(v))

    # Active: one row per non-empty (month, service, language, content) cell.
    m, s, l, c = np.nonzero(count)
    emit("active", pool_of_service[s], m, s, l, c, count[m, s, l, c],
         busy[m, s, l, c], active_j[m, s, l, c], 0.0, audio[m, s, l, c])

    svc_idx = np.arange(n_s)
    for pi, spec in enumerate(pools):
        pdraw = draws.pools[spec.name]
        on_s = np.array([spec.schedule.on_seconds(edges[i], edges[i + 1]) for i in range(horizon)]) * spec.instances
        idle_j = pdraw.gpu_idle_power_w * spec.gpus_per_instance * on_s
        host_j = pdraw.host_power_w * on_s
        embodied_kg = pdraw.embodied_kg * on_s / pdraw.lifetime_s
        in_pool = pool_of_service == pi
        pool_busy = busy[:, in_pool]  # month x services-in-pool x lang x content
        totals = pool_busy.reshape(horizon, -1).sum(axis=1)
        share = np.divide(pool_busy, totals[:, None, None, None], out=np.zeros(pool_busy.shape), where=totals[:, None, None, None] > 0)
        pm, ps, pl, pc = np.nonzero(share)
        pool_svc = svc_idx[in_pool]
        unused = np.flatnonzero(totals <= 0)
        pool_code = jobs.pools.index(spec.name)
        for comp, per_month_j, per_month_kg in (
            ("idle", idle_j, np.zeros(horizon)),
            ("host", host_j, np.zeros(horizon)),
            ("embodied", np.zeros(horizon), embodied_kg),
        ):
            w = share[pm, ps, pl, pc]
            zeros = np.zeros(len(pm))
            emit(comp, pool_code, pm, pool_svc[ps], pl, pc, zeros, zeros,
                 per_month_j[pm] * w, per_month_kg[pm] * w, zeros)
            if len(unused):
                z = np.zeros(len(unused))
                emit(comp, pool_code, unused, np.full(len(unused), unused_s), none_l, none_c,
                     z, z, per_month_j[unused], per_month_kg[unused], z)
    n_rows = sum(len(a) for a in parts["month"])
    frame: dict[str, object] = {"replication": np.full(n_rows, replication, dtype=np.int32),
                                "month": np.concatenate(parts["month"]).astype(np.int16)}
    for col in ("pool", "service", "language", "content_type", "component"):
        codes = np.concatenate(parts[col]).astype(np.int16)
        if categorical:
            frame[col] = pd.Categorical.from_codes(codes, categories=cats[col])
        else:
            frame[col] = pd.array(np.asarray(cats[col], dtype=object)[codes], dtype=str)
    for col in ("jobs", "busy_s", "audio_s", "energy_kwh", "facility_kwh", "co2e_kg", "co2e_market_kg"):
        if parts[col]:
            frame[col] = np.concatenate(parts[col]).astype(float)
    return pd.DataFrame(frame)


def pool_capacity_s(sc: Scenario, pools: list[PoolAccountingSpec]) -> np.ndarray:
    """Slot-seconds available per pool and month (pools x months)."""
    edges = np.asarray(sc.month_edges_s())
    return np.array(
        [[p.slots * p.instances * p.schedule.on_seconds(edges[i], edges[i + 1]) for i in range(sc.horizon_months)] for p in pools]
    )
