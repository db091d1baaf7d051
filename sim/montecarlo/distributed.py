"""Replications on a Dask cluster (``dask.distributed``).

Each task is one chunk of replication indices; a replication derives every random stream
from (root seed, replication index), and the scenario (with its seed) travels with the
task, so a chunk gives the same numbers on any worker, in any order, and when Dask runs it
again after losing the worker that had it (the scheduler reschedules the tasks of a lost
worker; ``distributed.scheduler.allowed-failures`` bounds how often).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence


@contextmanager
def dask_client(scheduler: str | None = None, local_workers: int | None = None) -> Iterator[object]:
    """A client on ``scheduler`` (``tcp://HOST:8786``), or on a new ``LocalCluster`` of ``local_workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(
        n_workers=int(local_workers or 1), threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        yield client


def cluster_threads(client) -> int:
    """Worker threads in the cluster now (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def run_chunks(client, func: Callable, chunks: Sequence[list[int]], *args, on_done: Callable[[object], None]) -> None:
    """Submit ``func(*args, chunk)`` for every chunk; call ``on_done`` with each result as it arrives."""
    from dask.distributed import as_completed

    futures = [
        client.submit(func, *args, chunk, key=f"carbonsim-chunk-{chunk[0]}-{chunk[-1]}-{id(chunks)}", pure=False)
        for chunk in chunks
    ]
    try:
        for fut in as_completed(futures):
            on_done(fut.result())
            fut.release()
    finally:
        for fut in futures:
            fut.cancel()
