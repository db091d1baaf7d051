"""Managed services: jobs served by an external, shared endpoint instead of a pool.

Their jobs are expanded and sampled like every other (the same per-job streams, so common
random numbers hold), then taken out of the table the engines see: a managed job waits
for no slot. Its energy, emissions, latency and price come from its endpoint's figures:
EcoLogits' per-request formula for generation (``sim.config.endpoints``), sourced per-unit
figures for other tasks. They are booked under component ``managed`` and pool
``(managed)``; the pools keep only the jobs they still serve.

EcoLogits' min-max ranges are epistemic: each replication draws its position in the range
from a uniform law (EcoLogits gives an interval and nothing about which values in it are
likelier), one position per service, shared by all its requests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from sim.config.distributions import draw
from sim.config.endpoints import llm_figures, zone_gwp_kg_per_kwh
from sim.config.resolve import Resolved
from sim.config.scenario import CONTENT_TYPES
from sim.config.serving import ManagedEndpoint
from sim.engine.types import JobTable, Timings
from sim.kernels.rng import Streams

from .tables import Table
from .workload import FileTable

J_PER_KWH = 3.6e6
MANAGED = "managed"  # the component
MANAGED_POOL = "(managed)"


@dataclass(frozen=True)
class Rates:
    """A managed service's figures for one replication: ``fixed + per_unit * units`` per
    request, ``units`` being the job's ``unit`` (output tokens for generation).

    Energies in J (``facility_j`` with the provider's PUE), emissions in kg CO2e (usage
    and embodied), latency in s, price in USD.
    """

    unit: str
    it_j: tuple[float, float]
    facility_j: tuple[float, float]
    usage_kg: tuple[float, float]
    embodied_kg: tuple[float, float]
    latency_s: tuple[float, float]
    usd_per_unit: dict[str, float]


@dataclass
class ManagedJobs:
    """The jobs of the managed services, one entry per job, and their figures."""

    job: np.ndarray  # index in the full job table
    service: np.ndarray  # index into the scenario's services
    language: np.ndarray
    content: np.ndarray
    month: np.ndarray  # the file's arrival month: a managed job starts as its file is served
    file: np.ndarray
    it_j: np.ndarray
    facility_j: np.ndarray
    co2e_kg: np.ndarray
    latency_s: np.ndarray
    usd: np.ndarray

    def __len__(self) -> int:
        return len(self.service)


def managed_services(res: Resolved) -> dict[str, ManagedEndpoint]:
    return {name: svc.managed for name, svc in res.scenario.services.items() if svc.managed is not None}


def draw_rates(res: Resolved, streams: Streams) -> dict[str, Rates]:
    """Each managed service's figures for the replication, each drawn from a stream of its
    own (``epistemic``, ``managed``, service, quantity): drawing them shifts no other draw."""
    out = {}
    for name, ep in managed_services(res).items():
        prices = {u: p / 1e6 for u, p in ep.price_usd_per_million.items()}
        rng = functools.partial(streams.rng, "epistemic", "managed", name)  # rng(quantity): its own stream
        if ep.per_unit is None:
            rates = _llm_rates(ep, float(rng("position").random()), prices)
        else:
            rates = _unit_rates(ep, rng, prices)
        # the scenario's `carbon.embodied: false` leaves out the endpoint's embodied share too
        out[name] = rates if res.scenario.carbon.embodied else replace(rates, embodied_kg=(0.0, 0.0))
    return out


def _llm_rates(ep: ManagedEndpoint, position: float, prices: dict[str, float]) -> Rates:
    """EcoLogits' figures at ``position`` (0: the low end, 1: the high end) of its range."""
    fig = llm_figures(ep.provider, ep.model, ep.electricity_mix_zone)

    def at(affine, scale: float = 1.0) -> tuple[float, float]:
        lo, hi = np.asarray(affine.low), np.asarray(affine.high)
        v = (lo + position * (hi - lo)) * scale
        return float(v[0]), float(v[1])

    return Rates("output_token", at(fig.it_energy_kwh, J_PER_KWH), at(fig.energy_kwh, J_PER_KWH), at(fig.usage_kg),
                 at(fig.embodied_kg), at(fig.latency_s), prices)


def _unit_rates(ep: ManagedEndpoint, rng, prices: dict[str, float]) -> Rates:
    """Sourced per-unit figures, each drawn once for the replication."""
    f = ep.per_unit
    energy = max(0.0, float(draw(f.energy_j, rng("energy_j"))))
    pue = max(1.0, float(draw(f.pue, rng("pue"))))
    embodied = max(0.0, float(draw(f.embodied_g, rng("embodied_g")))) / 1000.0
    gwp = zone_gwp_kg_per_kwh(ep.electricity_mix_zone)
    latency = (max(0.0, float(draw(f.latency_fixed_s, rng("latency_fixed_s")))),
               max(0.0, float(draw(f.latency_s, rng("latency_s")))))
    return Rates(f.unit, (0.0, energy), (0.0, energy * pue), (0.0, energy * pue / J_PER_KWH * gwp), (0.0, embodied),
                 latency, prices)


def units_of(jobs: JobTable, unit: str) -> np.ndarray:
    """Each job's amount of ``unit`` (needs the table's details)."""
    if unit == "audio_second":
        return jobs.audio_s
    if unit == "input_token":
        return jobs.tokens_in
    if unit == "output_token":
        return jobs.tokens_out
    return np.ones(len(jobs))  # request


def managed_jobs(jobs: JobTable, files: FileTable, rates: dict[str, Rates]) -> ManagedJobs:
    """The jobs of the managed services, with their figures from the replication's ``rates``.

    ``jobs`` must have its details (tokens): managed jobs are priced by them.
    """
    services = list(jobs.services)
    is_managed = np.array([s in rates for s in services], dtype=bool)
    on_managed = is_managed[jobs.service]
    idx = np.flatnonzero(on_managed)
    service = jobs.service[idx]
    cols = {k: np.zeros(len(idx)) for k in ("it_j", "facility_j", "co2e_kg", "latency_s", "usd")}
    for name, r in rates.items():
        sel = np.flatnonzero(service == services.index(name))
        units = {u: units_of(jobs, u)[idx[sel]] for u in {r.unit, *r.usd_per_unit}}
        x = units[r.unit]
        cols["it_j"][sel] = r.it_j[0] + r.it_j[1] * x
        cols["facility_j"][sel] = r.facility_j[0] + r.facility_j[1] * x
        cols["co2e_kg"][sel] = (r.usage_kg[0] + r.embodied_kg[0]) + (r.usage_kg[1] + r.embodied_kg[1]) * x
        cols["latency_s"][sel] = r.latency_s[0] + r.latency_s[1] * x
        cols["usd"][sel] = sum(price * units[u] for u, price in r.usd_per_unit.items())
    return ManagedJobs(
        job=idx, service=service, language=jobs.language[idx], content=jobs.content[idx],
        month=files.month[jobs.file[idx]], file=jobs.file[idx], **cols)


@dataclass
class Regrouped:
    """The pools' job table, and per file the managed latency before its first pool stage
    (s: its release to the pools waits for it), after it (s: added to its end), and
    whether it has pool work at all."""

    pool_jobs: JobTable
    lead_s: np.ndarray
    trail_s: np.ndarray
    has_pool: np.ndarray


def regroup(jobs: JobTable, managed: ManagedJobs, n_files: int) -> Regrouped:
    """Take the managed jobs out of ``jobs``: groups left empty go (a stage's jobs share one
    service, so a group goes whole), each file's chain of groups is relinked in order.

    A managed stage's jobs run in parallel: the stage takes its slowest job's latency. A
    managed stage between two pool stages is counted after the last one (its latency is
    added to the file's end, the later pool stage is not held back by it).
    """
    keep = np.ones(len(jobs), dtype=bool)
    latency = np.zeros(len(jobs))
    keep[managed.job] = False
    latency[managed.job] = managed.latency_s
    new_id, first, nxt, gfile, lead, trail, has_pool = _regroup(
        keep, np.asarray(jobs.group_first_job, dtype=np.int64), np.asarray(jobs.group_file, dtype=np.int64), latency, n_files)
    idx = np.flatnonzero(keep)
    opt = lambda a: None if a is None else a[idx]
    pool_jobs = JobTable(
        file=jobs.file[idx], group=new_id[jobs.group[idx]].astype(jobs.group.dtype), service=jobs.service[idx],
        pool=jobs.pool[idx], language=jobs.language[idx], content=jobs.content[idx], target=opt(jobs.target),
        time_s=jobs.time_s[idx], energy_j=jobs.energy_j[idx], audio_s=jobs.audio_s[idx],
        tokens_in=opt(jobs.tokens_in), tokens_out=opt(jobs.tokens_out),
        group_first_job=first.astype(jobs.group_first_job.dtype), group_next=nxt.astype(jobs.group_next.dtype),
        group_file=gfile.astype(jobs.group_file.dtype), services=jobs.services, pools=jobs.pools,
    )
    return Regrouped(pool_jobs, lead, trail, has_pool)


@njit(cache=True)
def _regroup(keep, group_first_job, group_file, latency, n_files):
    """One pass over the groups, in order: the kept groups' new ids (-1: dropped), first
    jobs (plus a sentinel), next groups and files; per file the managed latency before and
    after its first kept group, and whether it has one."""
    n_groups = len(group_file)
    new_id = np.full(n_groups, -1, np.int64)
    first = np.empty(n_groups + 1, np.int64)
    nxt = np.full(n_groups, -1, np.int64)
    gfile = np.empty(n_groups, np.int64)
    lead, trail = np.zeros(n_files), np.zeros(n_files)
    has_pool = np.zeros(n_files, np.bool_)
    kept_jobs, n_kept = 0, 0
    for g in range(n_groups):
        a, b = group_first_job[g], group_first_job[g + 1]
        f = group_file[g]
        if keep[a]:
            if n_kept > 0 and gfile[n_kept - 1] == f:
                nxt[n_kept - 1] = n_kept
            new_id[g] = n_kept
            first[n_kept] = kept_jobs
            gfile[n_kept] = f
            kept_jobs += b - a
            n_kept += 1
            has_pool[f] = True
        else:
            slowest = 0.0
            for j in range(a, b):
                slowest = max(slowest, latency[j])
            if has_pool[f]:
                trail[f] += slowest
            else:
                lead[f] += slowest
    first[n_kept] = kept_jobs
    return new_id, first[: n_kept + 1], nxt[:n_kept], gfile[:n_kept], lead, trail, has_pool


def file_end(engine_end: np.ndarray, arrival: np.ndarray, lead: np.ndarray, trail: np.ndarray,
             has_pool: np.ndarray, has_managed: np.ndarray) -> np.ndarray:
    """Each file's end (s): the pools' end plus the managed latency after it; for a file
    served by managed endpoints alone, its arrival plus their latency; NaN with no job."""
    out = engine_end + trail
    alone = ~has_pool & has_managed
    out[alone] = arrival[alone] + lead[alone] + trail[alone]
    return out


def monthly_rows(res: Resolved, managed: ManagedJobs, table: Table, replication: int) -> Table:
    """The monthly table with the managed jobs' rows appended: one per month x service x
    language x content type, component ``managed``, pool ``(managed)``."""
    sc = res.scenario
    h, n_s = sc.horizon_months, len(sc.services)
    n_l, n_c = len(sc.workload.languages), len(CONTENT_TYPES)
    labels = dict(table.labels)
    labels["pool"] = (*labels["pool"], MANAGED_POOL)
    labels["component"] = (*labels["component"], MANAGED)
    cell = ((managed.month.astype(np.int64) * n_s + managed.service) * n_l + managed.language) * n_c + managed.content
    size = h * n_s * n_l * n_c
    sums = {k: np.bincount(cell, getattr(managed, k), minlength=size) for k in ("it_j", "facility_j", "co2e_kg", "usd")}
    jobs = np.bincount(cell, minlength=size).astype(float)
    cells = np.flatnonzero(jobs)
    m, s, l, c = np.unravel_index(cells, (h, n_s, n_l, n_c))
    rows = len(cells)
    dtypes = {k: v.dtype for k, v in table.columns.items()}
    new = {
        "replication": np.full(rows, replication), "month": m, "pool": np.full(rows, len(labels["pool"]) - 1),
        "service": s, "language": l, "content_type": c, "component": np.full(rows, len(labels["component"]) - 1),
        "jobs": jobs[cells], "busy_s": np.zeros(rows), "audio_s": np.zeros(rows),
        "energy_kwh": sums["it_j"][cells] / J_PER_KWH, "facility_kwh": sums["facility_j"][cells] / J_PER_KWH,
        "co2e_kg": sums["co2e_kg"][cells], "co2e_market_kg": sums["co2e_kg"][cells],
    }
    columns = {k: np.concatenate([v, new[k].astype(dtypes[k])]) for k, v in table.columns.items() if k != "managed_usd"}
    columns["managed_usd"] = np.concatenate([np.zeros(len(table)), sums["usd"][cells]])
    return Table(columns, labels)


def provenance(res: Resolved) -> dict:
    """What each managed service's figures are and where they come from (for the manifest)."""
    out = {}
    for name, ep in managed_services(res).items():
        if ep.per_unit is None:
            out[name] = dict(llm_figures(ep.provider, ep.model, ep.electricity_mix_zone).provenance)  # (cached: copied)
        else:
            out[name] = {"method": "per-unit figures from the options or scenario", "provider": ep.provider,
                         "model": ep.model, "unit": ep.per_unit.unit, "source": ep.per_unit.source,
                         "figures": ep.per_unit.model_dump(mode="json", exclude={"unit", "source"}),
                         "electricity_mix_zone": ep.electricity_mix_zone,
                         "mix_gwp_kg_per_kwh": zone_gwp_kg_per_kwh(ep.electricity_mix_zone)}
        out[name]["price_usd_per_million"] = dict(ep.price_usd_per_million)
    return out


@dataclass
class ManagedInputs:
    """A replication's managed side: the pools' jobs, the managed ones, and per file the
    managed latency before and after its pool work (see ``Regrouped``)."""

    pool_jobs: JobTable
    jobs: ManagedJobs
    lead_s: np.ndarray
    trail_s: np.ndarray
    has_pool: np.ndarray
    has_managed: np.ndarray


def split_managed(res: Resolved, jobs: JobTable, files: FileTable, rates: dict[str, Rates], details: bool) -> ManagedInputs:
    """``managed_jobs`` and ``regroup`` together; without ``details`` the pools' table drops
    its targets and tokens, as ``build_jobs`` would have."""
    managed = managed_jobs(jobs, files, rates)
    r = regroup(jobs, managed, len(files))
    if not details:
        r.pool_jobs.target = r.pool_jobs.tokens_in = r.pool_jobs.tokens_out = None
    has_managed = np.bincount(managed.file, minlength=len(files)) > 0
    return ManagedInputs(r.pool_jobs, managed, r.lead_s, r.trail_s, r.has_pool, has_managed)


def with_managed_ends(timings: Timings, arrival: np.ndarray, m: ManagedInputs) -> Timings:
    """The engine's timings with each file's end moved by its managed stages (``file_end``)."""
    return replace(timings, file_end_s=file_end(timings.file_end_s, arrival, m.lead_s, m.trail_s, m.has_pool, m.has_managed))


def managed_stats(stats: Table, managed: ManagedJobs) -> Table:
    """The per-service statistics with the managed services' rows filled: jobs, latencies
    (no queue: a wait of 0), and no busy time or utilisation (no pool of the user's).

    Rows run service by service, month by month (``service_table``); percentiles
    interpolate linearly, as ``np.percentile`` does.
    """
    cols = {k: v.copy() for k, v in stats.columns.items()}
    horizon = int(cols["month"].max()) + 1
    rows = len(cols["month"])
    cell = managed.service.astype(np.int64) * horizon + managed.month
    order = np.lexsort((managed.latency_s, cell))
    latency = managed.latency_s[order]
    count = np.bincount(cell, minlength=rows)
    start = np.cumsum(count) - count
    for s in np.unique(managed.service):
        r = slice(int(s) * horizon, (int(s) + 1) * horizon)
        cols["busy_s"][r] = cols["utilisation"][r] = np.nan
    full = np.flatnonzero(count)
    n = count[full]
    rank = (n - 1) * 0.95
    low = np.floor(rank).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    a, b = latency[start[full] + low], latency[start[full] + high]
    cols["jobs"][full] = n
    cols["wait_mean_s"][full] = cols["wait_p95_s"][full] = 0.0
    cols["latency_mean_s"][full] = np.bincount(cell, managed.latency_s, minlength=rows)[full] / n
    cols["latency_p95_s"][full] = a + (rank - low) * (b - a)
    return Table(cols, dict(stats.labels))
