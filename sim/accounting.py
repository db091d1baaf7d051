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
    sc: Scenario, jobs: JobTable, timings: Timings, draws: Draws, pools: list[PoolAccountingSpec], replication: int
) -> pd.DataFrame:
    """Tidy monthly table: one row per month x pool x service x language x content x component."""
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
    pool_of_service = np.array([jobs.pools.index(sc.services[s].pool) for s in jobs.services])

    rows: list[pd.DataFrame] = []

    def emit(component, pool_name, m_idx, s_names, l_names, c_names, n_jobs, busy_s, energy_j, co2e_direct_kg, audio_s):
        e_kwh = energy_j / J_PER_KWH
        facility = e_kwh * draws.pue
        co2e = facility * grid[m_idx] / 1000.0 + co2e_direct_kg
        frame = {
            "replication": np.full(len(m_idx), replication, dtype=np.int32),
            "month": m_idx.astype(np.int16),
            "pool": pool_name,
            "service": s_names,
            "language": l_names,
            "content_type": c_names,
            "component": component,
            "jobs": n_jobs,
            "busy_s": busy_s,
            "audio_s": audio_s,
            "energy_kwh": e_kwh,
            "facility_kwh": facility,
            "co2e_kg": co2e,
        }
        if market is not None:
            frame["co2e_market_kg"] = facility * market[m_idx] / 1000.0 + co2e_direct_kg
        rows.append(pd.DataFrame(frame))

    # Active: one row per non-empty (month, service, language, content) cell.
    m, s, l, c = np.nonzero(count)
    pools_of_rows = np.asarray(jobs.pools, dtype=object)[pool_of_service[s]] if len(s) else np.zeros(0, dtype=object)
    svc_names = np.asarray(jobs.services, dtype=object)
    lang_names = np.asarray(langs, dtype=object)
    ct_names = np.asarray(CONTENT_TYPES, dtype=object)
    emit("active", pools_of_rows, m, svc_names[s], lang_names[l], ct_names[c], count[m, s, l, c],
         busy[m, s, l, c], active_j[m, s, l, c], 0.0, audio[m, s, l, c])

    for pi, spec in enumerate(pools):
        pdraw = draws.pools[spec.name]
        on_s = np.array([spec.schedule.on_seconds(edges[i], edges[i + 1]) for i in range(horizon)]) * spec.instances
        idle_j = pdraw.gpu_idle_power_w * spec.gpus_per_instance * on_s
        host_j = pdraw.host_power_w * on_s
        embodied_kg = pdraw.embodied_kg * on_s / pdraw.lifetime_s
        in_pool = pool_of_service == pi
        pool_busy = busy[:, in_pool]  # month x services-in-pool x lang x content
        totals = pool_busy.reshape(horizon, -1).sum(axis=1)
        share = np.divide(pool_busy, totals[:, None, None, None], out=np.zeros_like(pool_busy), where=totals[:, None, None, None] > 0)
        pm, ps, pl, pc = np.nonzero(share)
        pool_svc_names = svc_names[in_pool]
        unused = np.flatnonzero(totals <= 0)
        for comp, per_month_j, per_month_kg in (
            ("idle", idle_j, np.zeros(horizon)),
            ("host", host_j, np.zeros(horizon)),
            ("embodied", np.zeros(horizon), embodied_kg),
        ):
            w = share[pm, ps, pl, pc]
            zeros = np.zeros(len(pm))
            emit(comp, spec.name, pm, pool_svc_names[ps], lang_names[pl], ct_names[pc], zeros, zeros,
                 per_month_j[pm] * w, per_month_kg[pm] * w, zeros)
            if len(unused):
                z = np.zeros(len(unused))
                emit(comp, spec.name, unused, np.full(len(unused), UNUSED, dtype=object), np.full(len(unused), "-", dtype=object),
                     np.full(len(unused), "-", dtype=object), z, z, per_month_j[unused], per_month_kg[unused], z)
    out = pd.concat(rows, ignore_index=True)
    for col in ("pool", "service", "language", "content_type", "component"):
        out[col] = out[col].astype(str)
    return out


def pool_capacity_s(sc: Scenario, pools: list[PoolAccountingSpec]) -> np.ndarray:
    """Slot-seconds available per pool and month (pools x months)."""
    edges = np.asarray(sc.month_edges_s())
    return np.array(
        [[p.slots * p.instances * p.schedule.on_seconds(edges[i], edges[i + 1]) for i in range(sc.horizon_months)] for p in pools]
    )
