"""Monte Carlo: R replications, serial, on local processes or on a Dask cluster, identical either way.

Each replication derives all its streams from (root seed, replication index), so where and
in which order it runs cannot change its numbers; results are sorted by replication.

Replications run in chunks; a chunk returns only its tidy tables (monthly rows, service
statistics, file counts, one summary row per replication), never per-job records, and the
monthly table travels with compact categorical labels. Memory therefore grows with the
size of the tables the run writes, not with the number of jobs simulated.
"""

from __future__ import annotations

import ctypes
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from .replication import ReplicationResult, run_replication
from .resolve import Resolved

LABELS = ("pool", "service", "language", "content_type", "component")
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


@dataclass
class ChunkResult:
    """The tables of a chunk of consecutive replications."""

    first: int
    monthly: pd.DataFrame  # label columns categorical
    service_stats: pd.DataFrame
    files: pd.DataFrame
    summaries: list[dict]
    jobs: int
    events: int


_TUNED = False


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
    results: list[ReplicationResult] = [run_replication(res, r, engine, categorical=True) for r in reps]
    return ChunkResult(
        first=reps[0],
        monthly=pd.concat([r.monthly for r in results], ignore_index=True),
        service_stats=pd.concat([r.service_stats for r in results], ignore_index=True),
        files=pd.concat([r.files for r in results], ignore_index=True),
        summaries=[r.summary for r in results],
        jobs=sum(r.jobs for r in results),
        events=sum(r.events for r in results),
    )


def chunks_of(reps: list[int], slots: int) -> list[list[int]]:
    """Consecutive chunks, about four per worker slot, at most ``MAX_CHUNK`` each."""
    size = max(1, min(MAX_CHUNK, len(reps) // (max(1, slots) * 4) or 1))
    return [reps[i : i + size] for i in range(0, len(reps), size)]


def detach_columns(df: pd.DataFrame) -> dict[str, object]:
    """A table as independent columns (arrays, or categoricals for labels).

    Unpickled frames keep their numbers in one 2-D block: a column taken from it keeps the
    whole block alive. Copies let ``concat_releasing`` free each column as it goes.
    """
    out: dict[str, object] = {}
    for col in df.columns:
        s = df[col]
        if col in LABELS:
            out[col] = s.array if isinstance(s.dtype, pd.CategoricalDtype) else pd.Categorical(s.astype(str))
        else:
            out[col] = s.to_numpy().copy()
    return out


def concat_releasing(chunks: list[ChunkResult]) -> pd.DataFrame:
    """Concatenate the chunks' monthly tables column by column, releasing each input column.

    ``pd.concat`` holds every input and the output at once (twice the table); this holds
    the inputs and one output column. Labels stay categorical, with the union of categories.
    """
    parts = [c.monthly if isinstance(c.monthly, dict) else detach_columns(c.monthly) for c in chunks]
    for c in chunks:
        c.monthly = None  # type: ignore[assignment]
    if not parts:
        return pd.DataFrame()
    columns = list(parts[0])
    out: dict[str, object] = {}
    for col in columns:
        pieces = [p.pop(col) for p in parts]
        if col in LABELS:
            cats: dict[str, None] = {}
            for piece in pieces:
                cats.update(dict.fromkeys(str(v) for v in piece.categories))
            categories = list(cats)
            # chunks mostly share their categories (the same lists, in order): their codes are
            # then already right; only others are recoded through their values
            codes = np.concatenate([
                piece.codes if list(piece.categories) == categories else pd.Categorical(piece, categories=categories).codes
                for piece in pieces
            ])
            out[col] = pd.Categorical.from_codes(codes, categories=categories)
        else:
            out[col] = np.concatenate(pieces)
        del pieces
        release_free_memory()  # the inputs' pages go back before the next column is built
    # copy=False keeps the columns as they are: the default would stack the numeric ones
    # into one 2-D block, a copy of the whole table
    return pd.DataFrame(out, copy=False)


def release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc), so a finished phase's peak does not stay."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def collect(chunks: list[ChunkResult], engine: str, wall_s: float) -> MonteCarloResult:
    """Concatenate chunk tables in replication order; labels stay categorical (compact)."""
    chunks = sorted(chunks, key=lambda c: c.first)
    monthly = concat_releasing(chunks)
    return MonteCarloResult(
        monthly=monthly,
        service_stats=pd.concat([c.service_stats for c in chunks], ignore_index=True),
        files=pd.concat([c.files for c in chunks], ignore_index=True),
        replications=pd.DataFrame([s for c in chunks for s in c.summaries]),
        engine=engine,
        wall_s=wall_s,
        jobs=sum(c.jobs for c in chunks),
        events=sum(c.events for c in chunks),
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
    from .engines import choose_engine

    engine = choose_engine(engine, res.scenario)
    n = res.scenario.replications if replications is None else replications
    reps = list(range(n))
    show = sys.stderr.isatty() if progress is None else progress
    if engine == "fast" and workers > 1 and n > 1 and scheduler is None and dask_local is None:
        # One replication here brings every compiled kernel into memory before the worker
        # processes fork, so that none of them loads (or compiles) its own copy.
        run_replication(res, 0, engine, categorical=True)
    t0 = time.perf_counter()
    done: list[ChunkResult] = []
    meta: dict = {}
    with tqdm(total=n, disable=not show, desc="replications", unit="rep") as bar:

        def on_done(chunk: ChunkResult) -> None:
            chunk.monthly = detach_columns(chunk.monthly)  # type: ignore[assignment]
            done.append(chunk)
            bar.update(len(chunk.summaries))

        if scheduler is not None or dask_local is not None:
            from .distributed import cluster_threads, dask_client, run_chunks

            with dask_client(scheduler, dask_local) as client:
                chunks = chunks_of(reps, cluster_threads(client))
                run_chunks(client, run_chunk, chunks, res, engine, on_done=on_done)
            meta = {"executor": "dask", "scheduler": scheduler or f"LocalCluster({dask_local})", "chunks": len(chunks)}
        elif workers <= 1 or n <= 1:
            chunks = chunks_of(reps, 1)
            for chunk in chunks:
                on_done(run_chunk(res, engine, chunk))
            meta = {"executor": "serial", "chunks": len(chunks)}
        else:
            chunks = chunks_of(reps, workers)
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
                futures = [pool.submit(run_chunk, res, engine, chunk) for chunk in chunks]
                for fut in as_completed(futures):
                    on_done(fut.result())
            meta = {"executor": "processes", "workers": workers, "chunks": len(chunks)}
    mc = collect(done, engine, time.perf_counter() - t0)
    del done
    release_free_memory()
    mc.meta.update(meta)
    return mc
