"""Where chunks of replications run: here, on local worker processes, or on Dask.

An executor is opened once per run and given batches of replication indices (one batch,
or several when the run goes on until its bands are tight); each finished chunk goes to
``on_done`` as it arrives. Replications derive their streams from (root seed, index), so
the executor never changes a number.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Callable, Iterator

from sim.config.resolve import Resolved

from .workers import stop_pool

ChunkRunner = Callable[[Resolved, str, list[int]], object]  # ``run.run_chunk``
OnDone = Callable[[object], None]


class Serial:
    """Chunks one after the other in this process."""

    slots = 1

    def __init__(self, res: Resolved, engine: str, run_chunk: ChunkRunner):
        self.res, self.engine, self.run_chunk = res, engine, run_chunk
        self.meta: dict = {"executor": "serial"}

    def run(self, reps: list[int], on_done: OnDone, chunks_of: Callable[[list[int], int], list[list[int]]]) -> None:
        for chunk in chunks_of(reps, 1):
            on_done(self.run_chunk(self.res, self.engine, chunk))


class Processes:
    """Local worker processes, forked at the first batch and kept for the next ones.

    With the fast engine, replication 0 runs here first (its result counts): it brings the
    compiled kernels into memory before the workers fork, so that none loads its own copy;
    the memory it freed goes back to the system first, so that the workers do not inherit
    it and copy every page of it they reuse.
    """

    def __init__(self, res: Resolved, engine: str, run_chunk: ChunkRunner, workers: int, start_worker, in_worker):
        self.res, self.engine, self.run_chunk, self.workers = res, engine, run_chunk, workers
        self._start_worker, self._in_worker = start_worker, in_worker
        self.slots = workers
        self.pool: ProcessPoolExecutor | None = None
        self._before: set[int | None] = set()  # child processes that were there before the pool's
        self.meta: dict = {"executor": "processes", "workers": workers}

    def run(self, reps: list[int], on_done: OnDone, chunks_of: Callable[[list[int], int], list[list[int]]]) -> None:
        if self.pool is None:
            if self.engine == "fast" and reps and reps[0] == 0:
                on_done(self.run_chunk(self.res, self.engine, reps[:1]))
                reps = reps[1:]
            if not reps:
                return
            self._before = {p.pid for p in multiprocessing.active_children()}
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(),
                                            initializer=self._start_worker, initargs=(self.res, self.engine, self.run_chunk))
        futures = [self.pool.submit(self._in_worker, chunk) for chunk in chunks_of(reps, self.workers)]
        # Collecting the tables needs pandas, which the replications do not: the workers are
        # forked first, and this process imports it while they run.
        import pandas  # noqa: F401

        for fut in as_completed(futures):
            on_done(fut.result())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def stop(self) -> None:
        """Cancel what is queued and kill the workers at once (the run is leaving by an
        exception: an interrupt, a SIGTERM, a failed chunk), instead of waiting for their chunks."""
        if self.pool is not None:
            stop_pool(self.pool, self._before)


class Dask:
    """A Dask cluster (a scheduler's address, or a local cluster of ``dask_local`` processes)."""

    def __init__(self, res: Resolved, engine: str, run_chunk: ChunkRunner, client, label: str):
        from .distributed import cluster_threads

        self.res, self.engine, self.run_chunk, self.client = res, engine, run_chunk, client
        self.slots = cluster_threads(client)
        self.meta: dict = {"executor": "dask", "scheduler": label}

    def run(self, reps: list[int], on_done: OnDone, chunks_of: Callable[[list[int], int], list[list[int]]]) -> None:
        from .distributed import run_chunks

        run_chunks(self.client, self.run_chunk, chunks_of(reps, self.slots), self.res, self.engine, on_done=on_done)


@contextmanager
def open_executor(res: Resolved, engine: str, run_chunk: ChunkRunner, *, workers: int, replications: int,
                  scheduler: str | None, dask_local: int | None, start_worker, in_worker) -> Iterator[Serial | Processes | Dask]:
    """The executor a run asked for, closed (workers and clusters stopped) on the way out."""
    if scheduler is not None or dask_local is not None:
        from .distributed import dask_client

        with dask_client(scheduler, dask_local) as client:
            yield Dask(res, engine, run_chunk, client, scheduler or f"LocalCluster({dask_local})")
        return
    if workers <= 1 or replications <= 1:
        yield Serial(res, engine, run_chunk)
        return
    ex = Processes(res, engine, run_chunk, workers, start_worker, in_worker)
    try:
        yield ex
    except BaseException:
        ex.stop()
        raise
    ex.close()
