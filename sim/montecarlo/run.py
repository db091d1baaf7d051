"""Monte Carlo: R replications, serial, on local processes or on a Dask cluster, identical either way.

Each replication derives all its streams from (root seed, replication index), so where and
in which order it runs cannot change its numbers; results are sorted by replication.

Replications run in chunks; a chunk returns only its tidy tables (monthly rows, service
statistics, file counts, one summary row per replication), never per-job records, as
NumPy columns with labels as small integer codes (``Table``); the monthly table becomes a
DataFrame with categorical labels once, when the run collects it. Memory therefore grows
with the size of the tables the run writes, not with the number of jobs simulated.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from sim.config.resolve import Resolved
from sim.forecast.replication import ReplicationResult, run_replication
from sim.forecast.tables import Table

from .workers import start_worker_process

if TYPE_CHECKING:

    import pandas as pd  # imported while the workers run (``run_monte_carlo``)

MAX_CHUNK = 10  # replications per task: a smooth progress bar, and a short tail when the last chunks run


@dataclass
class MonteCarloResult:
    """Tidy tables over all replications."""

    monthly: pd.DataFrame  # replication x month x pool x service x language x content x component
    service_stats: pd.DataFrame  # replication x month x service
    files: pd.DataFrame  # replication x month x language x content: requested, served
    replications: pd.DataFrame  # one row per replication: epistemic draws and totals
    engine: str
    wall_s: float
    jobs: int
    events: int
    meta: dict = field(default_factory=dict)
    capacity: pd.DataFrame | None = None  # replication x month x pool (sim.forecast.capacity)


@dataclass
class ChunkResult:
    """The tables of a chunk of consecutive replications, as NumPy columns (``Table``)."""

    first: int
    monthly: Table | None  # None once a ``MonthlyCollector`` has taken its columns
    service_stats: Table
    files: Table
    summaries: list[dict]
    jobs: int
    events: int
    job_records: dict[int, Table | Path] = field(default_factory=dict)  # per replication kept (``--keep-jobs``; a part's path)
    capacity: Table | None = None


@dataclass(frozen=True)
class RunExtras:
    """What a run may do beyond its tables: run until its bands are tight, keep job records."""

    precision_pct: float | None = None  # replications in batches until this precision (``sim.montecarlo.precision``)
    keep_jobs: int = 0  # replications 0 .. keep_jobs - 1 write their jobs' records ...
    jobs_path: Path | None = None  # ... to this Parquet file


def run_chunk(res: Resolved, engine: str, reps: list[int], keep_jobs: int = 0, stream: bool = False,
              jobs_dir: Path | None = None) -> ChunkResult:
    """Run replications ``reps`` (their seeds follow from the scenario's seed and their
    indices); those below ``keep_jobs`` return their jobs' records too; with ``stream``,
    replications are streamed where they can be (``run_replication``: those keeping their
    jobs only with ``jobs_dir``, where their records are written block by block)."""
    results: list[ReplicationResult] = [run_replication(res, r, engine, keep_jobs=r < keep_jobs, stream=stream,
                                                        jobs_dir=jobs_dir) for r in reps]
    return ChunkResult(
        first=reps[0],
        monthly=Table.concat([r.monthly_table for r in results]),
        service_stats=Table.concat([r.stats_table for r in results]),
        files=Table.concat([r.files_table for r in results]),
        summaries=[r.summary for r in results],
        jobs=sum(r.jobs for r in results),
        events=sum(r.events for r in results),
        job_records={r.summary["replication"]: r.job_records for r in results if r.job_records is not None},
        capacity=Table.concat([r.capacity_table for r in results]) if all(r.capacity_table is not None for r in results) else None,
    )


_WORKER: dict[str, object] = {}  # what a local worker process was started with (``_start_worker``)


def _start_worker(res: Resolved, engine: str, runner=run_chunk) -> None:
    """Keep the scenario in the worker process, once: a task then carries only its
    replication indices (the resolved scenario need not be sent and rebuilt for every
    chunk, and the plans kept per scenario stay valid from one chunk to the next)."""
    start_worker_process()  # interrupts are the run's; exits when the run's process dies
    _WORKER["res"], _WORKER["engine"], _WORKER["run"] = res, engine, runner


def _run_chunk_in_worker(reps: list[int]) -> ChunkResult:
    return _WORKER["run"](_WORKER["res"], _WORKER["engine"], reps)  # type: ignore[operator]


def chunks_of(reps: list[int], slots: int) -> list[list[int]]:
    """Consecutive chunks of at most ``MAX_CHUNK``, each about a quarter of what is left per
    worker slot: they shrink towards the end (guided scheduling), so that when the last
    chunks run, the other slots wait for a replication or two, not for a whole chunk."""
    chunks, i = [], 0
    while i < len(reps):
        size = max(1, min(MAX_CHUNK, (len(reps) - i) // (max(1, slots) * 4)))
        chunks.append(reps[i : i + size])
        i += size
    return chunks


class MonthlyCollector:
    """The chunks' monthly tables end to end, in replication order, built as chunks arrive.

    Chunks may arrive in any order (local workers, Dask); each is copied into the growing
    columns once the chunks before it have been, and its own columns are released at
    once. The run's process does this while the workers run, on a core that mostly
    waits, rather than concatenating everything after them; and it never holds the
    chunks and the table both whole.
    """

    _MARGIN = 1.1  # room beyond the rows per replication seen first, for replications with more rows

    def __init__(self, replications: int):
        self._replications = replications
        self._next = 0  # the first replication not yet copied
        self._waiting: dict[int, ChunkResult] = {}  # arrived early, by first replication
        self._columns: dict[str, np.ndarray] = {}
        self._layout: Table | None = None  # the first table's columns, without rows, and labels
        self._rows = 0

    def add(self, chunk: ChunkResult) -> None:
        """Take ``chunk``'s monthly table (it is left None), now or once the chunks before it have come."""
        self._waiting[chunk.first] = chunk
        while self._next in self._waiting:
            ready = self._waiting.pop(self._next)
            if ready.monthly is not None:
                self._append(ready.monthly, len(ready.summaries))
            ready.monthly = None
            self._next += len(ready.summaries)

    def _append(self, table: Table, replications: int) -> None:
        if self._layout is None:
            self._layout = Table({name: col[:0] for name, col in table.columns.items()}, dict(table.labels))
            left = self._replications - self._next  # replications still to come, this one included
            size = int(len(table) / max(replications, 1) * left * self._MARGIN) + len(table)
            self._columns = {name: np.empty(size, dtype=col.dtype) for name, col in table.columns.items()}
        else:
            Table.alike([self._layout, table])
        end = self._rows + len(table)
        if end > len(next(iter(self._columns.values()))):  # more rows than foreseen: grow by half
            for name, col in self._columns.items():
                grown = np.empty(max(end, len(col) * 3 // 2), dtype=col.dtype)
                grown[: self._rows] = col[: self._rows]
                self._columns[name] = grown
        for name, col in table.columns.items():
            self._columns[name][self._rows : end] = col
        self._rows = end

    def frame(self) -> pd.DataFrame:
        """The monthly rows collected, labels categorical; call once every chunk has been added."""
        import pandas as pd

        if self._waiting:
            raise ValueError(f"chunks from replication {min(self._waiting)} on wait for replication {self._next}")
        if self._layout is None:
            return pd.DataFrame()
        columns = {name: col[: self._rows] for name, col in self._columns.items()}
        self._columns = {}
        return Table(columns, self._layout.labels).frame(categorical=True)


def collect(chunks: list[ChunkResult], monthly: MonthlyCollector, engine: str, wall_s: float) -> MonteCarloResult:
    """Concatenate chunk tables in replication order; labels stay categorical (compact).
    The monthly tables are already in ``monthly``, which took them as the chunks arrived."""
    import pandas as pd

    chunks = sorted(chunks, key=lambda c: c.first)
    return MonteCarloResult(
        monthly=monthly.frame(),
        service_stats=Table.concat([c.service_stats for c in chunks]).frame(),
        files=Table.concat([c.files for c in chunks]).frame(),
        replications=pd.DataFrame([s for c in chunks for s in c.summaries]),
        engine=engine,
        wall_s=wall_s,
        jobs=sum(c.jobs for c in chunks),
        events=sum(c.events for c in chunks),
        capacity=Table.concat([c.capacity for c in chunks]).frame() if all(c.capacity is not None for c in chunks) else None,
    )


#: Jobs per replication (at the growth rate's P95) from which replications are streamed:
#: below it a whole replication fits in a few hundred MB, with less overhead.
STREAM_FROM_JOBS = 2_000_000


def streams_replications(res: Resolved) -> bool:
    """Whether this run streams its replications (``STREAM_FROM_JOBS``)."""
    from .estimate import estimate

    return estimate(res.scenario).jobs_p95 >= STREAM_FROM_JOBS


def run_monte_carlo(
    res: Resolved,
    replications: int | None = None,
    workers: int = 1,
    engine: str = "auto",
    progress: bool | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    extras: RunExtras = RunExtras(),
) -> MonteCarloResult:
    """Run the scenario's replications.

    ``workers > 1`` uses local processes; ``scheduler`` (a Dask scheduler address) or
    ``dask_local`` (start a local Dask cluster of that many processes) sends chunks of
    replications to Dask. ``engine`` is ``auto``, ``simpy`` or ``fast``. With
    ``extras.precision_pct``, replications run in batches until the horizon emissions' bands
    are that tight (``sim.montecarlo.precision``), at most the scenario's count (or
    ``replications``); with ``extras.keep_jobs``, the first replications' job records go to
    ``extras.jobs_path`` as they arrive (``JobsWriter``).
    """
    from sim.engine.registry import choose_engine, engine_note

    from . import precision
    from .executors import open_executor
    from .job_records import JobsWriter

    precision_pct = extras.precision_pct
    requested, engine = engine, choose_engine(engine, res.scenario)
    stream = streams_replications(res)
    jobs_out = JobsWriter(extras.jobs_path, extras.keep_jobs) if extras.keep_jobs and extras.jobs_path else None
    # streamed replications write their records where the run does (not on a remote cluster's workers)
    jobs_dir = jobs_out.parts if jobs_out is not None and scheduler is None else None
    runner = (functools.partial(run_chunk, keep_jobs=extras.keep_jobs, stream=stream, jobs_dir=jobs_dir)
              if extras.keep_jobs or stream else run_chunk)
    n = res.scenario.replications if replications is None else replications
    target = n if precision_pct is None else precision.first_batch(n)
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    done: list[ChunkResult] = []
    monthly = MonthlyCollector(n)
    with tqdm(total=n, disable=not show, desc="replications", unit="rep") as bar, open_executor(
        res, engine, runner, workers=workers, replications=n, scheduler=scheduler, dask_local=dask_local,
        start_worker=_start_worker, in_worker=_run_chunk_in_worker,
    ) as ex:

        def on_done(chunk: ChunkResult) -> None:
            done.append(chunk)
            monthly.add(chunk)
            if jobs_out is not None:
                jobs_out.add(chunk.job_records)
            chunk.job_records = {}
            bar.update(len(chunk.summaries))

        ran = 0
        while target is not None:
            ex.run(list(range(ran, target)), on_done, chunks_of)
            ran = target
            if precision_pct is None:
                break
            target = precision.next_count(ran, precision.reached(_totals(done)), precision_pct, n)
        meta = dict(ex.meta)
    if jobs_out is not None:
        meta["jobs_kept"] = {"replications": jobs_out.close(), "file": extras.jobs_path.name}
    meta["chunks"] = len(done)  # replication 0's, run here first, included
    if precision_pct is not None:
        meta["precision"] = precision.record(_totals(done), precision_pct, n)
    if (note := engine_note(requested, engine, res.scenario)) is not None:
        meta["engine_reason"] = f"auto chose simpy: the fast engine cannot run this scenario ({note})"
    mc = collect(done, monthly, engine, time.perf_counter() - t0)
    done.clear()  # the chunks: their tables are in mc now
    mc.meta.update(meta)
    return mc


def _totals(chunks: list[ChunkResult]) -> np.ndarray:
    """Horizon emissions (kg CO2e) of the replications run so far, in replication order."""
    rows = sorted((s["replication"], s["co2e_kg"]) for c in chunks for s in c.summaries)
    return np.array([v for _, v in rows], dtype=float)
