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

import ctypes
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np
from tqdm import tqdm

from sim.config.resolve import Resolved
from sim.forecast.replication import ReplicationResult, run_replication
from sim.forecast.tables import Table

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

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
    capacity: Table | None = None


_TUNED = False


def huge_pages(on: bool) -> None:
    """Whether NumPy asks the kernel for huge pages (2 MiB) for arrays of 4 MB or more (its
    default: on). The replications gain from them (5-7% measured: fewer TLB misses, as
    their heap is reused). Tables built once do not: where the kernel compacts memory to
    find a huge page at the fault (``defrag`` set to ``madvise``, a common default),
    collecting 1,000 replications' tables took 0.5 s with them and 0.2 s without.
    Process wide; forked workers inherit it. A no-op on NumPy builds without the switch.
    """
    _set_huge_pages(on)


def _set_huge_pages(on: bool) -> bool:
    """``huge_pages(on)``; returns whether they were on before."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        return False
    return bool(_set_madvise_hugepage(on))


def tune_allocator() -> None:
    """Keep large allocations on glibc's heap instead of fresh ``mmap`` pages.

    Every replication allocates and frees arrays of a few MB; served by ``mmap`` each one
    costs a page fault per 4 KiB on first touch, which dominated sampling time. Process
    wide, harmless elsewhere, and a no-op off glibc.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def run_chunk(res: Resolved, engine: str, reps: list[int]) -> ChunkResult:
    """Run replications ``reps`` (their seeds follow from the scenario's seed and their indices)."""
    tune_allocator()
    results: list[ReplicationResult] = [run_replication(res, r, engine) for r in reps]
    return ChunkResult(
        first=reps[0],
        monthly=Table.concat([r.monthly_table for r in results]),
        service_stats=Table.concat([r.stats_table for r in results]),
        files=Table.concat([r.files_table for r in results]),
        summaries=[r.summary for r in results],
        jobs=sum(r.jobs for r in results),
        events=sum(r.events for r in results),
        capacity=Table.concat([r.capacity_table for r in results]) if all(r.capacity_table is not None for r in results) else None,
    )


_WORKER: dict[str, object] = {}  # what a local worker process was started with (``_start_worker``)


def _start_worker(res: Resolved, engine: str, cores: tuple[int, ...] = (), started: Synchronized | None = None) -> None:
    """Keep the scenario in the worker process, once: a task then carries only its
    replication indices (the resolved scenario need not be sent and rebuilt for every
    chunk, and the plans kept per scenario stay valid from one chunk to the next).

    With ``cores`` (see ``worker_cores``), the worker stays on one of them, the next in
    turn (``started`` counts the workers started, across processes).
    """
    _WORKER["res"], _WORKER["engine"] = res, engine
    if cores and started is not None:
        with started.get_lock():
            index = started.value
            started.value += 1
        try:
            os.sched_setaffinity(0, {cores[index % len(cores)]})
        except OSError:  # the core is no longer ours: the scheduler places the worker
            pass


def worker_cores(workers: int) -> tuple[int, ...]:
    """The cores to keep the local workers on, one each: the cores this process may use,
    when there are exactly as many as workers (the run has the machine; each worker then
    keeps its core's caches, where the scheduler would move workers about whenever the
    run's own process wakes: about 1% faster over whole runs on a quiet machine). Empty
    where workers and cores differ, or off Linux: the scheduler places them."""
    try:
        cores = tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:
        return ()
    return cores if len(cores) == workers else ()


def _run_chunk_in_worker(reps: list[int]) -> ChunkResult:
    return run_chunk(_WORKER["res"], _WORKER["engine"], reps)  # type: ignore[arg-type]


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
            with _no_huge_pages():  # built once: see huge_pages
                self._columns = {name: np.empty(size, dtype=col.dtype) for name, col in table.columns.items()}
        else:
            Table.alike([self._layout, table])
        end = self._rows + len(table)
        if end > len(next(iter(self._columns.values()))):  # more rows than foreseen: grow by half
            with _no_huge_pages():
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


@contextmanager
def _no_huge_pages() -> Iterator[None]:
    """NumPy's huge pages switched off for the arrays allocated inside, then as they were."""
    before = _set_huge_pages(False)
    try:
        yield
    finally:
        _set_huge_pages(before)


def release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc), so a finished phase's peak does not stay."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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


def run_monte_carlo(
    res: Resolved,
    replications: int | None = None,
    workers: int = 1,
    engine: str = "auto",
    progress: bool | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
) -> MonteCarloResult:
    """Run the scenario's replications.

    ``workers > 1`` uses local processes; ``scheduler`` (a Dask scheduler address) or
    ``dask_local`` (start a local Dask cluster of that many processes) sends chunks of
    replications to Dask. ``engine`` is ``auto``, ``simpy`` or ``fast``.
    """
    from sim.engine.registry import choose_engine, engine_note

    requested, engine = engine, choose_engine(engine, res.scenario)
    huge_pages(True)  # for the replications, here or in the workers forked from here
    n = res.scenario.replications if replications is None else replications
    reps = list(range(n))
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    done: list[ChunkResult] = []
    monthly = MonthlyCollector(n)
    meta: dict = {}
    with tqdm(total=n, disable=not show, desc="replications", unit="rep") as bar:

        def on_done(chunk: ChunkResult) -> None:
            done.append(chunk)
            monthly.add(chunk)
            bar.update(len(chunk.summaries))

        if scheduler is not None or dask_local is not None:
            from .distributed import cluster_threads, dask_client, run_chunks

            with dask_client(scheduler, dask_local) as client:
                chunks = chunks_of(reps, cluster_threads(client))
                run_chunks(client, run_chunk, chunks, res, engine, on_done=on_done)
            meta = {"executor": "dask", "scheduler": scheduler or f"LocalCluster({dask_local})"}
        elif workers <= 1 or n <= 1:
            chunks = chunks_of(reps, 1)
            for chunk in chunks:
                on_done(run_chunk(res, engine, chunk))
            meta = {"executor": "serial"}
        else:
            if engine == "fast":
                # Replication 0 runs here first: it brings the compiled kernels a replication
                # uses into memory before the worker processes fork, so that none of them
                # loads its own copy (a kernel needed only now and then, such as the fast
                # engine's event loop after a tie, is loaded by the worker that needs it).
                on_done(run_chunk(res, engine, reps[:1]))
                reps = reps[1:]
                # Its freed arrays go back to the OS: left in the heap, the workers would
                # inherit them shared, and copy every page they reuse (copy on write).
                release_free_memory()
            chunks = chunks_of(reps, workers)
            context = multiprocessing.get_context()
            started = context.Value("i", 0)
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context, initializer=_start_worker,
                                     initargs=(res, engine, worker_cores(workers), started)) as pool:
                futures = [pool.submit(_run_chunk_in_worker, chunk) for chunk in chunks]
                # Collecting the tables needs pandas, which the replications do not: the
                # workers are forked first, and this process imports it while they run.
                import pandas  # noqa: F401

                for fut in as_completed(futures):
                    on_done(fut.result())
            meta = {"executor": "processes", "workers": workers}
    meta["chunks"] = len(done)  # replication 0's, run here first, included
    if (note := engine_note(requested, engine, res.scenario)) is not None:
        meta["engine_reason"] = f"auto chose simpy: the fast engine cannot run this scenario ({note})"
    huge_pages(False)  # the tables are built once (see huge_pages)
    mc = collect(done, monthly, engine, time.perf_counter() - t0)
    done.clear()  # the chunks: their tables are in mc now
    release_free_memory()
    mc.meta.update(meta)
    return mc
