"""One replication: draw, generate the workload, simulate, account."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.config.memo import keep_last
from sim.config.resolve import Resolved, service_model
from sim.config.scenario import CONTENT_TYPES
from sim.engine.provisioning import autoscale_rule, schedule_for
from sim.engine.registry import get_engine
from sim.engine.types import EngineInputs, JobTable, PoolSpec, ServiceSpec, Timings
from sim.kernels.compiled import njit
from sim.kernels.indices import ix
from sim.kernels.rng import Streams

from .accounting import PoolAccountingSpec, month_step, monthly_table, pool_capacity_s
from .epistemic import Draws, draw_epistemic
from .jobs import build_jobs, file_mask
from .tables import Table
from .workload import FileTable, generate_files

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (see sim.forecast.tables)
    import pandas as pd


@dataclass
class ReplicationInputs:
    """Everything sampled for one replication: what any engine consumes."""

    draws: Draws
    files: FileTable
    served: np.ndarray  # which files are served under the volume limits
    jobs: JobTable
    pools: list[PoolSpec]
    services: list[ServiceSpec]
    accounting: list[PoolAccountingSpec]

    @property
    def for_engine(self) -> EngineInputs:
        """The part of the inputs an engine reads."""
        return EngineInputs(self.jobs, self.files.arrival_s, self.pools, self.services)


@dataclass
class ReplicationResult:
    """A replication's tables (``Table``: cheap to concatenate and to send between
    processes) and its summary row; ``monthly``, ``service_stats`` and ``files`` give them
    as DataFrames."""

    monthly_table: Table
    stats_table: Table
    files_table: Table
    summary: dict
    events: int
    jobs: int
    categorical: bool = False  # the monthly DataFrame's labels as categoricals (else strings)
    capacity_table: Table | None = None  # per month and pool (sim.forecast.capacity)

    @property
    def monthly(self) -> pd.DataFrame:
        return self.monthly_table.frame(self.categorical)

    @property
    def service_stats(self) -> pd.DataFrame:
        return self.stats_table.frame()

    @property
    def files(self) -> pd.DataFrame:
        return self.files_table.frame()


def sample_inputs(res: Resolved, replication: int, root_seed: int | None = None, details: bool = True) -> ReplicationInputs:
    """Draw the epistemic constants, the files and the jobs of one replication (``details``:
    see ``JobTable``; the same draws either way)."""
    sc = res.scenario
    streams = Streams(sc.seed if root_seed is None else root_seed, replication)
    draws = draw_epistemic(res, streams)
    files = generate_files(sc, draws.growth_rate, streams)
    served = file_mask(res, files)
    jobs = build_jobs(res, files, served, draws, streams, details)
    pools, acc = _pool_specs(res)
    services = []
    for name, svc in sc.services.items():
        model = draws.models[service_model(res, name)[0]]
        services.append(ServiceSpec(svc.keep_alive_s, model.load_time_s, model.load_energy_j))
    return ReplicationInputs(draws, files, served, jobs, list(pools), services, list(acc))


@keep_last
def _pool_specs(res: Resolved) -> tuple[tuple[PoolSpec, ...], tuple[PoolAccountingSpec, ...]]:
    """The pools as the engines and the accounting see them: nothing drawn, so the
    replications of a run share them."""
    sc = res.scenario
    weekday0 = sc.month_starts()[0].weekday()
    pools, acc = [], []
    for name, pool in sc.pools.items():
        sku = res.skus.skus[pool.sku]
        sched = schedule_for(pool.provisioning, weekday0)
        gpus_each = max(1, sku.gpus)
        rule = autoscale_rule(pool.provisioning, pool.instances, gpus_each)
        pools.append(PoolSpec(gpus=gpus_each * pool.instances, slots_per_gpu=pool.slots_per_gpu, schedule=sched, autoscale=rule))
        acc.append(PoolAccountingSpec(name, pool.instances, sku.gpus * sku.gpu_fraction, gpus_each * pool.slots_per_gpu, sched))
    return tuple(pools), tuple(acc)


def service_stats(res: Resolved, inp: ReplicationInputs, t: Timings, replication: int) -> pd.DataFrame:
    """Per month and service: jobs, busy time, utilisation, waits and latencies (s).

    Rows run service by service, month by month, then the files' end-to-end latencies
    (from arrival to the end of their last job) under service ``(file)``, by arrival month.
    """
    return service_table(res, inp, t, replication).frame()


def service_table(res: Resolved, inp: ReplicationInputs, t: Timings, replication: int) -> Table:
    """``service_stats``' rows as a ``Table`` (the service as a code)."""
    sc = res.scenario
    horizon = sc.horizon_months
    jobs = inp.jobs
    n_s = len(jobs.services)
    edges = np.asarray(sc.month_edges_s(), dtype=float)
    n, busy, cold, wait_sum, wait_p95, lat_sum, lat_p95 = _service_cells(
        jobs.service, t.start_s, t.ready_s, t.end_s, t.service_s, t.cold, edges, n_s, 95.0)
    pool_of_service = [jobs.pools.index(sc.services[name].pool) for name in jobs.services]
    cap = pool_capacity_s(sc, inp.accounting, t)[pool_of_service].ravel()  # same (service, month) order
    f_n, f_sum, f_p95 = _value_cells(inp.files.month, horizon, t.file_end_s - inp.files.arrival_s, 95.0)
    none = np.full(horizon, np.nan)
    return Table({
        "replication": np.full((n_s + 1) * horizon, replication, dtype=np.int64),
        "month": np.tile(np.arange(horizon, dtype=np.int64), n_s + 1),
        "service": np.repeat(np.arange(n_s + 1, dtype=np.int16), horizon),
        "jobs": np.concatenate([n, f_n]),
        "busy_s": np.concatenate([busy, none]),
        "utilisation": np.concatenate([_ratio(busy, cap), none]),
        "cold_starts": np.concatenate([cold, np.zeros(horizon, dtype=np.int64)]),
        "wait_mean_s": np.concatenate([_ratio(wait_sum, n), none]),
        "wait_p95_s": np.concatenate([wait_p95, none]),
        "latency_mean_s": _ratio(np.concatenate([lat_sum, f_sum]), np.concatenate([n, f_n])),
        "latency_p95_s": np.concatenate([lat_p95, f_p95]),
    }, {"service": (*jobs.services, "(file)")})


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, NaN where ``b`` is 0 (an empty cell's mean, an unprovisioned month's utilisation)."""
    return np.divide(a, b, out=np.full(len(a), np.nan), where=b != 0)


def _p(a: np.ndarray, pct: float) -> float:
    """``np.percentile(a, pct)`` (linear interpolation), by the kernel the statistics use;
    NaN for an empty array."""
    a = np.ascontiguousarray(a, dtype=float)
    return float(_percentiles(a, np.array([0, len(a)]), float(pct))[0])


# -- compiled cell statistics ---------------------------------------------------------------------
# The kernels lay each cell's values out contiguously in their original order (a counting sort),
# so sums and means equal numpy's over the same cell (same pairwise summation), bit for bit.

_SMALL = 64  # values in play from which the rest is sorted outright
_SAMPLE = 15  # values sampled to pick a pivot (measured: larger samples cost more than they save)
_MARGIN = 2  # sample ranks between pivot and target: at p95 the pivot passes the target 4% of the time


@njit(cache=True)
def _service_cells(service, start_s, ready_s, end_s, service_s, cold, edges, n_services, pct):
    """Per cell service x month (flat, in that order; jobs count in the month they start):
    jobs, busy time (s), cold starts, and the sum and ``pct`` percentile of waits (start -
    ready) and of latencies (end - ready), in s; percentiles are NaN for an empty cell."""
    horizon = len(edges) - 1
    n_cells = n_services * horizon
    n = len(service)
    key = np.empty(n, dtype=np.int32)
    bounds = np.zeros(n_cells + 1, dtype=np.int64)
    cold_n = np.zeros(n_cells, dtype=np.int64)
    m = 0
    for i in range(n):
        m = month_step(start_s[i], edges, m)
        k = ix(service[i] * horizon + m)
        key[i] = k
        bounds[k + 1] += 1
        cold_n[k] += cold[i]
    for c in range(n_cells):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    busy, wait, latency = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        k = ix(key[i])
        p = ix(fill[k])
        fill[k] = p + 1
        busy[p] = service_s[i]
        wait[p] = start_s[i] - ready_s[i]
        latency[p] = end_s[i] - ready_s[i]
    return (bounds[1:] - bounds[:-1], _sums(busy, bounds), cold_n, _sums(wait, bounds), _percentiles(wait, bounds, pct),
            _sums(latency, bounds), _percentiles(latency, bounds, pct))


@njit(cache=True)
def _value_cells(cell, n_cells, values, pct):
    """Count, sum and ``pct`` percentile of ``values`` per ``cell`` (NaN values are left out)."""
    bounds = np.zeros(n_cells + 1, dtype=np.int64)
    for i in range(len(cell)):
        if values[i] == values[i]:
            bounds[ix(cell[i]) + 1] += 1
    for c in range(n_cells):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    v = np.empty(bounds[n_cells])
    for i in range(len(cell)):
        if values[i] == values[i]:
            k = ix(cell[i])
            v[ix(fill[k])] = values[i]
            fill[k] += 1
    return bounds[1:] - bounds[:-1], _sums(v, bounds), _percentiles(v, bounds, pct)


@njit(cache=True)
def _sums(v, bounds):
    """Sum of each cell of ``v`` as ``np.sum`` gives it."""
    out = np.empty(len(bounds) - 1)
    for c in range(len(out)):
        out[c] = 0.0 + _pairwise_sum(v, bounds[c], bounds[c + 1] - bounds[c])
    return out


@njit(cache=True)
def _pairwise_sum(a, lo, n):
    """Sum of ``a[lo:lo + n]`` in numpy's order (``pairwise_sum`` in its loops_utils.h): 8
    running sums over blocks of up to 128 values, blocks halved and added pairwise."""
    lo, n = ix(lo), ix(n)
    if n < 8:
        s = 0.0
        for i in range(lo, lo + n):
            s += a[i]
        return s
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = lo + 8
        end = lo + n - n % 8
        while i < end:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(end, lo + n):
            s += a[j]
        return s
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


@njit(cache=True)
def _percentiles(v, bounds, pct):
    """``np.percentile(cell, pct)`` (linear interpolation) of each cell of ``v``; NaN when empty."""
    widest = 0
    for c in range(len(bounds) - 1):
        widest = max(widest, bounds[c + 1] - bounds[c])
    buf_a, buf_b = np.empty(widest), np.empty(widest)
    out = np.empty(len(bounds) - 1)
    for c in range(len(out)):
        a, b = bounds[c], bounds[c + 1]
        n = b - a
        if n <= 1:
            out[c] = v[a] if n == 1 else np.nan
            continue
        vi = (n - 1) * (pct / 100)
        lo = min(int(np.floor(vi)), n - 2)  # at 100%, interpolate from the last two, wholly to the last
        x, y = _ranks(v[a:b], lo, buf_a, buf_b)
        gamma = vi - lo
        diff = y - x
        # numpy's lerp: from the nearer end, so the result stays between x and y
        out[c] = y - diff * (1 - gamma) if gamma >= 0.5 else x + diff * gamma
    return out


@njit(cache=True)
def _ranks(values, k, buf_a, buf_b):
    """The k-th and (k + 1)-th smallest of ``values`` (0-based, k + 1 < len; not NaN).

    Quickselect that leaves ``values`` as they are: each round splits the values in play
    around a pivot into below / equal / above, writing below and above to the two ends of a
    buffer, and goes on with the side holding rank k (so at least the pivot drops out). The
    pivot is a sampled value a few ranks from k on the side of the nearer end, so the side
    kept is small: about 1.3 passes over the values in all, half of what ``np.partition``
    costs. ``above`` is the smallest value ranked above those in play: the (k + 1)-th when
    k ends up last.
    """
    cur, nxt, spare = values, buf_a, buf_b
    n = len(values)
    above = np.inf
    sample = np.empty(_SAMPLE)
    while n > _SMALL:
        step = n // _SAMPLE
        for j in range(_SAMPLE):
            sample[j] = cur[j * step + step // 2]
        _insertion_sort(sample, _SAMPLE)
        r = k * _SAMPLE // n
        pivot = sample[min(r + 1 + _MARGIN, _SAMPLE - 1)] if 2 * k < n else sample[max(r - _MARGIN, 0)]
        lt, gt_at = 0, n - 1  # below fills nxt from the front, above from the back
        for i in range(n):  # branch-free: the comparisons go either way unpredictably
            x = cur[i]
            nxt[ix(lt)] = x
            nxt[ix(gt_at)] = x
            lt += x < pivot
            gt_at -= x > pivot
        gt = n - 1 - gt_at
        if k < lt:
            cur, n, above = nxt[:lt], lt, pivot
        elif k < n - gt:
            if k + 1 < n - gt:
                return pivot, pivot
            for i in range(gt_at + 1, n):  # the (k + 1)-th is the smallest above the pivot
                above = min(above, nxt[i])
            return pivot, above
        else:
            cur, k, n = nxt[gt_at + 1 : n], k - (n - gt), gt
        nxt, spare = spare, nxt
    for i in range(n):  # (explicit loops: numba's slice assignment takes seconds to compile)
        nxt[i] = cur[i]
    _insertion_sort(nxt, n)
    return nxt[k], (nxt[k + 1] if k + 1 < n else above)


@njit(cache=True)
def _insertion_sort(a, n):
    """Sort ``a[:n]`` in place: for the few values (up to ``_SMALL``) left to sort, where it
    is as fast as numba's quicksort, which takes seconds to compile."""
    for i in range(1, n):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


def file_counts(res: Resolved, inp: ReplicationInputs, replication: int) -> pd.DataFrame:
    """Files requested and served per month, language and content type."""
    return file_table(res, inp, replication).frame()


def file_table(res: Resolved, inp: ReplicationInputs, replication: int) -> Table:
    """``file_counts``' rows as a ``Table`` (language and content type as codes)."""
    sc = res.scenario
    f = inp.files
    n_l, n_c = len(f.languages), len(CONTENT_TYPES)
    req, srv = _file_cells(f.month, f.language, f.content, inp.served, sc.horizon_months, n_l, n_c)
    m, l, c = _file_labels(sc.horizon_months, n_l, n_c)
    return Table({
        "replication": np.full(len(req), replication, dtype=np.int64), "month": m.copy(), "language": l.copy(),
        "content_type": c.copy(), "requested": req, "served": srv,
    }, {"language": tuple(f.languages), "content_type": tuple(CONTENT_TYPES)})


@functools.lru_cache(maxsize=16)
def _file_labels(horizon: int, n_l: int, n_c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month, language and content type of each cell of ``_file_cells`` (the same every replication)."""
    m, l, c = np.unravel_index(np.arange(horizon * n_l * n_c), (horizon, n_l, n_c))
    return m, l.astype(np.int16), c.astype(np.int16)


@njit(cache=True)
def _file_cells(month, language, content, served, horizon, n_l, n_c):
    """Files requested and served per cell month x language x content type (flat, in that
    order), as floats: one pass instead of a key array and two bincounts."""
    req, srv = np.zeros(horizon * n_l * n_c), np.zeros(horizon * n_l * n_c)
    for i in range(len(month)):
        k = ix((month[i] * n_l + language[i]) * n_c + content[i])
        req[k] += 1.0
        srv[k] += served[i]
    return req, srv


def run_replication(res: Resolved, replication: int, engine: str = "simpy", categorical: bool = False) -> ReplicationResult:
    """Simulate replication ``replication`` of the scenario and account for it.

    The tables come as NumPy columns (``ReplicationResult.monthly_table`` ...), as the
    Monte Carlo keeps them; ``monthly`` and the other properties make DataFrames of them,
    ``categorical`` giving the monthly labels as categoricals (see ``monthly_records``).
    """
    inp = sample_inputs(res, replication, details=False)  # the tables need no job's target or tokens
    timings = get_engine(engine)(inp.for_engine)
    monthly = monthly_table(res.scenario, inp.jobs, timings, inp.draws, inp.accounting, replication)
    stats = service_table(res, inp, timings, replication)
    files = file_table(res, inp, replication)
    from .capacity import capacity_table  # (it reads this module's cell statistics)

    capacity = capacity_table(res.scenario, inp.jobs, timings, inp.files.month, inp.files.arrival_s, inp.accounting, stats,
                              replication)
    summary = {
        "replication": replication,
        **inp.draws.as_row(),
        "files": int(len(inp.files)),
        "jobs": int(len(inp.jobs)),
        "co2e_kg": float(monthly.columns["co2e_kg"].sum()),
        "energy_kwh": float(monthly.columns["energy_kwh"].sum()),
        "facility_kwh": float(monthly.columns["facility_kwh"].sum()),
        "files_served": float(files.columns["served"].sum()),
    }
    return ReplicationResult(monthly, stats, files, summary, timings.events, len(inp.jobs), categorical, capacity)
