"""One replication: draw, generate the workload, simulate, account."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .accounting import PoolAccountingSpec, month_of, monthly_records, pool_capacity_s
from .epistemic import Draws, draw_epistemic
from .jobs import JobTable, build_jobs, file_mask
from .model import PoolSpec, ServiceSpec, Timings, simulate
from .provisioning import schedule_for
from .resolve import Resolved
from .rng import Streams
from .scenario import CONTENT_TYPES
from .workload import FileTable, generate_files


@dataclass
class ReplicationInputs:
    """Everything sampled for one replication: what any engine consumes."""

    draws: Draws
    files: FileTable
    jobs: JobTable
    pools: list[PoolSpec]
    services: list[ServiceSpec]
    accounting: list[PoolAccountingSpec]


@dataclass
class ReplicationResult:
    monthly: pd.DataFrame
    service_stats: pd.DataFrame
    files: pd.DataFrame
    summary: dict
    events: int
    jobs: int


def sample_inputs(res: Resolved, replication: int, root_seed: int | None = None) -> ReplicationInputs:
    """Draw the epistemic constants, the files and the jobs of one replication."""
    sc = res.scenario
    streams = Streams(sc.seed if root_seed is None else root_seed, replication)
    draws = draw_epistemic(res, streams)
    files = generate_files(sc, draws.growth_rate, streams)
    jobs = build_jobs(res, files, draws, streams)
    weekday0 = sc.month_starts()[0].weekday()
    pools, acc = [], []
    for name, pool in sc.pools.items():
        sku = res.skus.skus[pool.sku]
        sched = schedule_for(pool.provisioning, weekday0)
        gpus_each = max(1, sku.gpus)
        pools.append(PoolSpec(gpus=gpus_each * pool.instances, slots_per_gpu=pool.slots_per_gpu, schedule=sched))
        acc.append(PoolAccountingSpec(name, pool.instances, sku.gpus * sku.gpu_fraction, gpus_each * pool.slots_per_gpu, sched))
    services = [
        ServiceSpec(svc.keep_alive_s, draws.models[svc.model].load_time_s, draws.models[svc.model].load_energy_j)
        for svc in sc.services.values()
    ]
    return ReplicationInputs(draws, files, jobs, pools, services, acc)


def service_stats(res: Resolved, inp: ReplicationInputs, t: Timings, replication: int) -> pd.DataFrame:
    """Per month and service: jobs, busy time, utilisation, waits and latencies (s)."""
    sc = res.scenario
    horizon = sc.horizon_months
    edges = np.asarray(sc.month_edges_s())
    month = month_of(t.start_s, edges)
    cap = pool_capacity_s(sc, inp.accounting)
    jobs = inp.jobs
    # One stable sort by (service, month) lists each cell's jobs in their original order, so
    # sums and means over a cell equal those over a boolean mask, bit for bit; cells are
    # gathered one at a time, which keeps memory low on runs of millions of jobs.
    key = jobs.service.astype(np.int64) * horizon + month
    del month
    # small integer keys sort stably by radix (linear time)
    order = np.argsort(key.astype(np.int16) if len(jobs.services) * horizon < 2**15 else key, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=len(jobs.services) * horizon))])
    del key
    rows = []
    for si, name in enumerate(jobs.services):
        pool_idx = jobs.pools.index(sc.services[name].pool)
        for m in range(horizon):
            idx = order[bounds[si * horizon + m] : bounds[si * horizon + m + 1]]
            busy = float(t.service_s[idx].sum())
            ready = t.ready_s[idx]
            rows.append(_stats_row(replication, m, name, len(idx), busy, busy / cap[pool_idx, m] if cap[pool_idx, m] else np.nan,
                                   t.start_s[idx] - ready, t.end_s[idx] - ready, int(t.cold[idx].sum())))
    # End-to-end latency of files, from arrival to the end of their last job.
    done = np.flatnonzero(~np.isnan(t.file_end_s))
    f_month = inp.files.month[done]
    f_order = done[np.argsort(f_month.astype(np.int16) if horizon < 2**15 else f_month, kind="stable")]
    f_lat = (t.file_end_s - inp.files.arrival_s)[f_order]
    f_bounds = np.concatenate([[0], np.cumsum(np.bincount(f_month, minlength=horizon))])
    for m in range(horizon):
        a, b = f_bounds[m], f_bounds[m + 1]
        rows.append(_stats_row(replication, m, "(file)", int(b - a), np.nan, np.nan, np.zeros(0), f_lat[a:b], 0))
    return pd.DataFrame(rows)


def _p(a: np.ndarray, pct: float) -> float:
    """``np.percentile(a, pct)`` (linear), by partition: same value, a fraction of the cost."""
    n = len(a)
    if n == 1:
        return float(a[0])
    vi = (n - 1) * (pct / 100)
    lo = int(np.floor(vi))
    part = np.partition(a, [lo, lo + 1])
    x, y = part[lo], part[lo + 1]
    gamma = vi - lo
    diff = y - x
    return float(y - diff * (1 - gamma)) if gamma >= 0.5 else float(x + diff * gamma)


def file_counts(res: Resolved, inp: ReplicationInputs, replication: int) -> pd.DataFrame:
    """Files requested and served per month, language and content type."""
    sc = res.scenario
    f = inp.files
    served = file_mask(res, f)
    n_l, n_c = len(f.languages), len(CONTENT_TYPES)
    key = (f.month * n_l + f.language) * n_c + f.content
    size = sc.horizon_months * n_l * n_c
    req = np.bincount(key, minlength=size)
    srv = np.bincount(key, weights=served, minlength=size)
    m, l, c = np.unravel_index(np.arange(size), (sc.horizon_months, n_l, n_c))
    return pd.DataFrame({
        "replication": replication, "month": m, "language": np.asarray(f.languages)[l],
        "content_type": np.asarray(CONTENT_TYPES)[c], "requested": req.astype(float), "served": srv,
    })


def _stats_row(rep, month, service, n, busy, util, wait, latency, cold) -> dict:
    def q(a, p):
        return _p(a, p) if len(a) else np.nan

    return dict(
        replication=rep, month=month, service=service, jobs=n, busy_s=busy, utilisation=util, cold_starts=cold,
        wait_mean_s=float(wait.mean()) if len(wait) else np.nan, wait_p95_s=q(wait, 95),
        latency_mean_s=float(latency.mean()) if len(latency) else np.nan, latency_p95_s=q(latency, 95),
    )


def run_replication(res: Resolved, replication: int, engine: str = "simpy", categorical: bool = False) -> ReplicationResult:
    """Simulate replication ``replication`` of the scenario and account for it.

    ``categorical`` gives the monthly table's label columns as categoricals (see
    ``monthly_records``): what the Monte Carlo keeps, to stay small.
    """
    from .engines import get_engine

    inp = sample_inputs(res, replication)
    timings = get_engine(engine)(inp)
    monthly = monthly_records(res.scenario, inp.jobs, timings, inp.draws, inp.accounting, replication, categorical=categorical)
    stats = service_stats(res, inp, timings, replication)
    summary = {
        "replication": replication,
        **inp.draws.as_row(),
        "files": int(len(inp.files)),
        "jobs": int(len(inp.jobs)),
        "co2e_kg": float(monthly["co2e_kg"].sum()),
        "energy_kwh": float(monthly["energy_kwh"].sum()),
        "facility_kwh": float(monthly["facility_kwh"].sum()),
    }
    files = file_counts(res, inp, replication)
    summary["files_served"] = float(files["served"].sum())
    return ReplicationResult(monthly, stats, files, summary, timings.events, len(inp.jobs))
