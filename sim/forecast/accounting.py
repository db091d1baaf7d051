"""Accounting: from job timings to monthly energy and emissions by component (DESIGN.md).

Per pool instance: idle GPU power and host power over all provisioned time (the pool's
schedule, or each autoscaled instance's provisioned intervals), plus each job's energy above idle, times PUE, times the month's grid intensity; plus embodied
emissions amortised over provisioned time (SCI's M). Jobs count in the month they start.
With an hourly grid profile (``carbon.grid_profile``) each hour's energy takes that hour's
intensity (``sim.forecast.hourly``).

The pool-level components (idle, host, embodied) are allocated to the services, languages
and content types that used the pool that month in proportion to their busy time; a month
with no work books them under service ``(unused)``. Allocation moves emissions between
rows, never creates or loses any: the parts sum to the total.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from sim.config.gridprofile import GridProfile
from sim.config.scenario import CONTENT_TYPES, Scenario, pool_codes
from sim.engine.provisioning import Schedule
from sim.engine.types import JobTable, Timings
from sim.kernels.indices import ix

from .epistemic import Draws
from .hourly import EnergySums, pool_month_weights
from .tables import Table

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (see sim.forecast.tables)
    import pandas as pd

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


@njit(cache=True, inline="always")
def month_step(t, edges, m):
    """Month index of time ``t`` (s), walking from month ``m``: constant time when times
    mostly increase, as job starts do (a binary search per job costs more).

    As ``searchsorted(edges, t, "right") - 1`` clipped to the horizon: times past the
    horizon (or NaN) count in the last month.
    """
    last = len(edges) - 2
    if t != t:
        return last
    while m < last and t >= edges[m + 1]:
        m += 1
    while m > 0 and t < edges[m]:
        m -= 1
    return m


@njit(cache=True)
def _cube(start_s, edges, service, language, content, service_s, energy_j, audio_s, n_s, n_l, n_c):
    """Jobs, busy time (s), energy above idle (J) and audio (s) per cell month x service x
    language x content (flat, in that order), jobs counting in the month they start.

    Sums run in job order, as ``np.bincount`` adds its weights: the same numbers, bit for bit.
    """
    size = (len(edges) - 1) * n_s * n_l * n_c
    cube = (np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size))
    cube_into(cube, start_s, edges, service, language, content, service_s, energy_j, audio_s, n_s, n_l, n_c)
    return cube


@njit(cache=True)
def cube_into(cube, start_s, edges, service, language, content, service_s, energy_j, audio_s, n_s, n_l, n_c):
    """``_cube``'s sums, added to ``cube`` (its four arrays) in job order: blocks of a
    replication's jobs added in order give ``_cube`` of them all, bit for bit."""
    count, busy, active_j, audio = cube
    m = 0
    for i in range(len(start_s)):
        m = month_step(start_s[i], edges, m)
        k = ix(((m * n_s + service[i]) * n_l + language[i]) * n_c + content[i])
        count[k] += 1.0
        busy[k] += service_s[i]
        active_j[k] += energy_j[i]
        audio[k] += audio_s[i]


def grid_by_month(draws: Draws, horizon: int, level: float | None = None) -> np.ndarray:
    """Location-based intensity per month (g/kWh) with the yearly trend applied; ``level``
    replaces the drawn yearly figure (an hourly profile's reference level)."""
    base = draws.grid_g_per_kwh if level is None else level
    return base * (1.0 + draws.grid_trend_per_year) ** (np.arange(horizon) / 12.0)


def monthly_records(
    sc: Scenario, jobs: JobTable, timings: Timings, draws: Draws, pools: list[PoolAccountingSpec], replication: int,
    categorical: bool = False, grid: GridProfile | None = None,
) -> pd.DataFrame:
    """Tidy monthly table: one row per month x pool x service x language x content x component.

    ``categorical`` gives the label columns as ``pandas.Categorical`` over every label the
    scenario can produce (compact, and identical across replications so they concatenate
    without widening); otherwise they are strings.
    """
    return monthly_table(sc, jobs, timings, draws, pools, replication, grid).frame(categorical)


def monthly_table(
    sc: Scenario, jobs: JobTable, timings: Timings | None, draws: Draws, pools: list[PoolAccountingSpec], replication: int,
    grid: GridProfile | None = None, cube: tuple | None = None, hourly: EnergySums | None = None,
) -> Table:
    """``monthly_records``' rows as a ``Table``: label columns as codes into every label the
    scenario can produce. With an hourly ``grid`` profile, each row's energy is weighted by
    the intensity of the hours it was used in (``sim.forecast.hourly``). ``cube``: the jobs'
    sums already added up (``cube_into``, block by block), in place of ``jobs``' and
    ``timings``' (``jobs`` then only names the services and pools); ``hourly``, likewise,
    the jobs' sums for ``grid`` (``hourly_sums``, ``add_hourly``)."""
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    horizon = sc.horizon_months
    langs = tuple(sc.workload.languages)
    n_l, n_c, n_s = len(langs), len(CONTENT_TYPES), len(jobs.services)
    shape = (horizon, n_s, n_l, n_c)
    if cube is None:
        cube = _cube(timings.start_s, edges, jobs.service, jobs.language, jobs.content, timings.service_s,
                     timings.energy_j, jobs.audio_s, n_s, n_l, n_c)
    count, busy, active_j, audio = (a.reshape(shape) for a in cube)
    pool_of_service = np.array(pool_codes(sc, jobs.services, jobs.pools), dtype=np.int64)  # -1: managed

    # Per pool and month: busy time (the allocation key) and each component's amount.
    pool_code = np.array([jobs.pools.index(spec.name) for spec in pools], dtype=np.int64)
    totals = np.empty((len(pools), horizon))
    pool_j = np.zeros((len(pools), len(COMPONENTS) - 1, horizon))  # idle, host, embodied (J)
    pool_kg = np.zeros_like(pool_j)  # kg CO2e directly
    on_instance_s = instance_seconds(sc, pools, timings)
    for pi, spec in enumerate(pools):
        pdraw = draws.pools[spec.name]
        on_s = on_instance_s[pi]
        pool_j[pi, 0] = pdraw.gpu_idle_power_w * spec.gpus_per_instance * on_s
        pool_j[pi, 1] = pdraw.host_power_w * on_s
        pool_kg[pi, 2] = pdraw.embodied_kg * on_s / pdraw.lifetime_s
        totals[pi] = busy[:, pool_of_service == pi].reshape(horizon, -1).sum(axis=1)
    labels, (n_jobs, busy_s, audio_s, energy_j, direct_kg) = _rows(
        count, busy, active_j, audio, pool_of_service, pool_code, totals, pool_j, pool_kg)

    month = labels[0]
    e_kwh = energy_j / J_PER_KWH
    facility = e_kwh * draws.pue
    columns: dict[str, np.ndarray] = {"replication": np.full(len(month), replication, dtype=np.int32), "month": month}
    # Label codes index these lists ("-" and UNUSED last).
    names = {
        "pool": tuple(jobs.pools), "service": (*jobs.services, UNUSED), "language": (*langs, "-"),
        "content_type": (*CONTENT_TYPES, "-"), "component": COMPONENTS,
    }
    columns |= dict(zip(names, labels[1:]))
    if grid is None:
        co2e = facility * grid_by_month(draws, horizon)[month] / 1000.0 + direct_kg
    else:
        sums = hourly if hourly is not None else hourly_sums(sc, grid, jobs, timings)
        factor = _hourly_factors(sums, jobs.pools, pools, labels, edges, (n_s, n_l, n_c))
        co2e = facility * (grid_by_month(draws, horizon, sums.level)[month] * factor) / 1000.0 + direct_kg
    columns |= {
        "jobs": n_jobs, "busy_s": busy_s, "audio_s": audio_s, "energy_kwh": e_kwh, "facility_kwh": facility,
        "co2e_kg": co2e,
    }
    if draws.market_g_per_kwh is not None:
        columns["co2e_market_kg"] = facility * draws.market_g_per_kwh / 1000.0 + direct_kg
    return Table(columns, names)


def hourly_sums(sc: Scenario, grid: GridProfile, jobs: JobTable | None = None, timings: Timings | None = None) -> EnergySums:
    """The jobs' energy sums per monthly cell for an hourly ``grid`` profile (``EnergySums``):
    of ``jobs`` with their ``timings``, or none yet (a streamed replication adds its blocks:
    ``add_hourly``)."""
    n_cells = sc.horizon_months * len(sc.services) * len(sc.workload.languages) * len(CONTENT_TYPES)
    sums = EnergySums(sc, grid, n_cells)
    if jobs is not None:
        add_hourly(sums, sc, jobs, timings)
    return sums


def add_hourly(sums: EnergySums, sc: Scenario, jobs: JobTable, timings: Timings) -> None:
    """Add jobs (in order) to an hourly profile's sums, each in the cell of the month it starts."""
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    n_s, n_l, n_c = len(jobs.services), len(sc.workload.languages), len(CONTENT_TYPES)
    job_month = np.clip(np.searchsorted(edges, timings.start_s, "right") - 1, 0, sc.horizon_months - 1)
    cell = ((job_month * n_s + jobs.service) * n_l + jobs.language) * n_c + jobs.content
    sums.add(cell, timings.start_s, timings.service_s, timings.energy_j)


def _hourly_factors(sums: EnergySums, pool_names: tuple[str, ...], pools: list[PoolAccountingSpec], labels: np.ndarray,
                    edges: np.ndarray, dims: tuple[int, int, int]) -> np.ndarray:
    """Per-row factor of an hourly profile: active rows take their cell's energy-weighted
    mean shape over the hours the jobs ran (``sums``), idle and host rows their pool's mean
    shape over its provisioned hours that month, embodied rows 1 (no energy)."""
    n_s, n_l, n_c = dims
    horizon = len(edges) - 1
    w_cell = sums.cell_weights()
    w_pool = np.ones((len(pool_names), horizon))
    for spec in pools:
        w_pool[pool_names.index(spec.name)] = pool_month_weights(spec.schedule, edges, sums.shape)
    month, pool, service, language, content, component = (labels[i].astype(np.int64) for i in range(6))
    factor = np.ones(len(month))
    active = component == 0
    factor[active] = w_cell[((month[active] * n_s + service[active]) * n_l + language[active]) * n_c + content[active]]
    energy = (component == 1) | (component == 2)
    factor[energy] = w_pool[pool[energy], month[energy]]
    return factor


@functools.lru_cache(maxsize=256)
def _on_seconds_cached(schedule: Schedule, edges: tuple[float, ...]) -> np.ndarray:
    on_s = np.array([schedule.on_seconds(edges[i], edges[i + 1]) for i in range(len(edges) - 1)])
    on_s.flags.writeable = False
    return on_s


def _on_seconds(schedule: Schedule, edges: np.ndarray) -> np.ndarray:
    """Seconds on per month (s): the same for every replication of a run (cached)."""
    return _on_seconds_cached(schedule, tuple(edges.tolist()))


@njit(cache=True)
def _rows(count, busy, active_j, audio, pool_of_service, pool_code, totals, pool_j, pool_kg):
    """The monthly table's rows, in order, as label codes (month, pool, service, language,
    content, component: int16, 6 x rows) and amounts (jobs, busy s, audio s, energy J and
    kg CO2e booked directly: 5 x rows).

    First "active": one row per non-empty cell. Then per pool and component (idle, host,
    embodied): each month's ``pool_j`` / ``pool_kg`` split among the pool's cells by their
    share of its busy time ``totals``, cell by cell; then the months without work, whole,
    under service UNUSED, language and content "-".
    """
    horizon, n_s, n_l, n_c = count.shape
    n_rows = count.size * len(COMPONENTS) + len(pool_code) * (len(COMPONENTS) - 1) * horizon  # at most
    labels = np.empty((6, n_rows), dtype=np.int16)
    amounts = np.zeros((5, n_rows))
    r = 0
    for m in range(horizon):
        for s in range(n_s):
            for l in range(n_l):
                for c in range(n_c):
                    if count[m, s, l, c] != 0:
                        _put(labels, amounts, r, m, pool_of_service[s], s, l, c, 0,
                             count[m, s, l, c], busy[m, s, l, c], audio[m, s, l, c], active_j[m, s, l, c], 0.0)
                        r += 1
    for p in range(len(pool_code)):
        for comp in range(len(COMPONENTS) - 1):
            for m in range(horizon):
                if totals[p, m] > 0:
                    for s in range(n_s):
                        if pool_of_service[s] != p:
                            continue
                        for l in range(n_l):
                            for c in range(n_c):
                                w = busy[m, s, l, c] / totals[p, m]
                                if w != 0:
                                    _put(labels, amounts, r, m, pool_code[p], s, l, c, comp + 1,
                                         0.0, 0.0, 0.0, pool_j[p, comp, m] * w, pool_kg[p, comp, m] * w)
                                    r += 1
            for m in range(horizon):
                if not totals[p, m] > 0:
                    _put(labels, amounts, r, m, pool_code[p], n_s, n_l, n_c, comp + 1,
                         0.0, 0.0, 0.0, pool_j[p, comp, m], pool_kg[p, comp, m])
                    r += 1
    return labels[:, :r], amounts[:, :r]


@njit(cache=True, inline="always")
def _put(labels, amounts, r, month, pool, service, language, content, component,
         jobs, busy_s, audio_s, energy_j, direct_kg):
    """Row ``r`` of ``_rows``' output (element by element: numba compiles tuple stores slowly)."""
    labels[0, r] = month
    labels[1, r] = pool
    labels[2, r] = service
    labels[3, r] = language
    labels[4, r] = content
    labels[5, r] = component
    amounts[0, r] = jobs
    amounts[1, r] = busy_s
    amounts[2, r] = audio_s
    amounts[3, r] = energy_j
    amounts[4, r] = direct_kg


def instance_seconds(sc: Scenario, pools: list[PoolAccountingSpec], timings: Timings | None = None) -> np.ndarray:
    """Provisioned instance-seconds per pool and month (pools x months): the schedule times
    the instances, or, for an autoscaled pool, its instances' intervals cut at the month edges."""
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    intervals = timings.instance_intervals if timings is not None else None
    out = np.empty((len(pools), sc.horizon_months))
    for pi, p in enumerate(pools):
        spans = intervals[pi] if intervals is not None else None
        out[pi] = _on_seconds(p.schedule, edges) * p.instances if spans is None else interval_seconds(spans, edges)
    return out


def interval_seconds(spans: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Seconds of the intervals ``spans`` ([start, end) rows, s) inside each month of ``edges``."""
    lo = np.maximum(spans[:, :1], edges[None, :-1])
    hi = np.minimum(spans[:, 1:], edges[None, 1:])
    return np.clip(hi - lo, 0.0, None).sum(axis=0)


def pool_capacity_s(sc: Scenario, pools: list[PoolAccountingSpec], timings: Timings | None = None) -> np.ndarray:
    """Slot-seconds provisioned per pool and month (pools x months)."""
    slots = np.array([p.slots for p in pools], dtype=float).reshape(-1, 1)
    return slots * instance_seconds(sc, pools, timings)
