"""One replication: draw, generate the workload, simulate, account."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.config.memo import keep_last
from sim.config.resolve import Resolved, service_model
from sim.config.scenario import CONTENT_TYPES
from sim.engine.provisioning import autoscale_rule, schedule_for
from sim.engine.registry import get_engine
from sim.engine.types import EngineInputs, JobTable, PoolSpec, ServiceSpec, Timings
from sim.kernels.rng import Streams

from . import statistics
from .accounting import PoolAccountingSpec, monthly_table
from .capacity import capacity_table
from .epistemic import Draws, draw_epistemic
from .job_parts import JobsPart
from .jobs import build_jobs, file_mask
from .managed import (
    ManagedInputs,
    draw_rates,
    managed_stats,
    monthly_rows,
    split_managed,
    with_managed_ends,
)
from .power import shares_of, stretch_to_share
from .stream import run_streamed, streamable
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
    managed: ManagedInputs | None = None  # the jobs of managed services, out of ``jobs``

    @property
    def for_engine(self) -> EngineInputs:
        """The part of the inputs an engine reads (a file waits for its leading managed stages)."""
        arrival = self.files.arrival_s if self.managed is None else self.files.arrival_s + self.managed.lead_s
        return EngineInputs(self.jobs, arrival, self.pools, self.services)


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
    job_records: Table | Path | None = None  # one row per job, when asked for (``job_table``; streamed: a part's path)
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
    rates = draw_rates(res, streams)
    # managed jobs are priced by their tokens: they need the details
    jobs = build_jobs(res, files, served, draws, streams, details or bool(rates))
    managed = split_managed(res, jobs, files, rates, details) if rates else None
    if managed is not None:
        jobs = managed.pool_jobs
    pools, acc = _pool_specs(res)
    return ReplicationInputs(draws, files, served, jobs, list(pools), services_of(res, draws), list(acc), managed)


def services_of(res: Resolved, draws: Draws) -> list[ServiceSpec]:
    """The services as the engines see them, with the replication's drawn model loads."""
    models = [draws.models[service_model(res, name)[0]] for name in res.scenario.services]
    load_s = np.array([m.load_time_s for m in models], dtype=float)
    load_j = np.array([m.load_energy_j for m in models], dtype=float)
    stretch_to_share(load_s, load_j, shares_of(res, draws))  # a cold load shares the card's power too
    return [ServiceSpec(svc.keep_alive_s, float(t), m.load_energy_j)
            for svc, m, t in zip(res.scenario.services.values(), models, load_s)]


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
    """Per month and service: jobs, busy time, utilisation, waits and latencies (s) (``statistics.service_stats``)."""
    return service_table(res, inp, t, replication).frame()


def service_table(res: Resolved, inp: ReplicationInputs, t: Timings, replication: int) -> Table:
    """``service_stats``' rows as a ``Table`` (the service as a code)."""
    return statistics.service_table(res, inp.jobs, inp.files, inp.accounting, t, replication)


def file_counts(res: Resolved, inp: ReplicationInputs, replication: int) -> pd.DataFrame:
    """Files requested and served per month, language and content type."""
    return file_table(res, inp, replication).frame()


def file_table(res: Resolved, inp: ReplicationInputs, replication: int) -> Table:
    """``file_counts``' rows as a ``Table`` (language and content type as codes)."""
    return statistics.file_table(res, inp.files, inp.served, replication)


def job_table(inp: ReplicationInputs, t: Timings, replication: int) -> Table:
    """One row per job (``jobs.parquet``): see ``job_rows``."""
    return job_rows(inp.jobs, t, inp.files.languages, replication)


def job_rows(jobs: JobTable, t: Timings, languages: tuple[str, ...], replication: int, first_job: int = 0,
             first_file: int = 0) -> Table:
    """One row per job of ``jobs`` (numbered from ``first_job``, their files from
    ``first_file``): its file, service, language, content type, pool and the GPU it ran on
    (within the pool), its start and end (s since the first month's start), wait for a slot
    (s), service time (s, any model load included), energy above idle (J, likewise) and
    whether it loaded its model (cold)."""
    n = len(jobs)
    return Table({
        "replication": np.full(n, replication, dtype=np.int32), "job": np.arange(first_job, first_job + n, dtype=np.int64),
        "file": jobs.file.astype(np.int64) + first_file, "service": jobs.service.astype(np.int16, copy=False),
        "language": jobs.language.astype(np.int16, copy=False), "content_type": jobs.content.astype(np.int16, copy=False),
        "pool": jobs.pool.astype(np.int16, copy=False), "gpu": t.gpu, "start_s": t.start_s, "end_s": t.end_s,
        "wait_s": t.start_s - t.ready_s, "service_s": t.service_s, "energy_j": t.energy_j, "cold": t.cold,
    }, {"service": tuple(jobs.services), "language": tuple(languages), "content_type": tuple(CONTENT_TYPES),
        "pool": tuple(jobs.pools)})


def run_replication(res: Resolved, replication: int, engine: str = "simpy", categorical: bool = False,
                    keep_jobs: bool = False, stream: bool = False, jobs_dir: Path | None = None) -> ReplicationResult:
    """Simulate replication ``replication`` of the scenario and account for it (with
    ``keep_jobs``, its jobs' records too: ``job_table``; streamed, they are written block
    by block to a part in ``jobs_dir``, whose path comes back in their place).

    With ``stream`` and the fast engine (no managed service; job records only with
    ``jobs_dir``), the replication is streamed block by block (``sim.forecast.stream``: the
    same monthly, statistics, file and capacity tables, its memory bounded by a block's
    jobs), unless it falls back to running whole (``run_streamed``).

    The tables come as NumPy columns (``ReplicationResult.monthly_table`` ...), as the
    Monte Carlo keeps them; ``monthly`` and the other properties make DataFrames of them,
    ``categorical`` giving the monthly labels as categoricals (see ``monthly_records``).
    """
    if stream and engine == "fast" and (not keep_jobs or jobs_dir is not None) and streamable(res):
        part = JobsPart(Path(jobs_dir) / f"replication-{replication:06d}.parquet") if keep_jobs else None
        done = run_streamed(res, replication, records=_JobRecords(part, res, replication) if part is not None else None)
        if done is not None:
            summary = _summary(replication, done.draws, done.n_files, done.n_jobs, done.monthly, done.files)
            return ReplicationResult(done.monthly, done.stats, done.files, summary, done.events, done.n_jobs, categorical,
                                     part.close() if part is not None else None, done.capacity)
        if part is not None:
            part.discard()  # (it runs whole)
    inp = sample_inputs(res, replication, details=False)  # the tables need no job's target or tokens
    timings = get_engine(engine)(inp.for_engine)
    if inp.managed is not None:
        timings = with_managed_ends(timings, inp.files.arrival_s, inp.managed)
    monthly = monthly_table(res.scenario, inp.jobs, timings, inp.draws, inp.accounting, replication, res.grid_profile())
    stats = service_table(res, inp, timings, replication)
    if inp.managed is not None:
        monthly = monthly_rows(res, inp.managed.jobs, monthly, replication)
        stats = managed_stats(stats, inp.managed.jobs)
    files = file_table(res, inp, replication)
    capacity = capacity_table(res.scenario, inp.jobs, timings, inp.files.month, inp.files.arrival_s, inp.accounting, stats,
                              replication)
    n_jobs = len(inp.jobs) + (0 if inp.managed is None else len(inp.managed.jobs))
    summary = _summary(replication, inp.draws, len(inp.files), n_jobs, monthly, files)
    records = job_table(inp, timings, replication) if keep_jobs else None
    return ReplicationResult(monthly, stats, files, summary, timings.events, len(inp.jobs), categorical, records, capacity)


class _JobRecords:
    """A streamed replication's job records (``sim.forecast.stream.Records``), into a part."""

    def __init__(self, part: JobsPart, res: Resolved, replication: int):
        self.part, self.replication = part, replication
        self.languages = tuple(res.scenario.workload.languages)

    def add(self, jobs: JobTable, timings: Timings, first_job: int, first_file: int) -> None:
        self.part.add(job_rows(jobs, timings, self.languages, self.replication, first_job, first_file))

    def restart(self) -> None:
        self.part.discard()


def _summary(replication: int, draws: Draws, n_files: int, n_jobs: int, monthly: Table, files: Table) -> dict:
    """A replication's row of ``replications.csv``."""
    return {
        "replication": replication,
        **draws.as_row(),
        "files": int(n_files),
        "jobs": int(n_jobs),
        "co2e_kg": float(monthly.columns["co2e_kg"].sum()),
        "energy_kwh": float(monthly.columns["energy_kwh"].sum()),
        "facility_kwh": float(monthly.columns["facility_kwh"].sum()),
        "files_served": float(files.columns["served"].sum()),
    }
