"""Local worker processes that never outlive the run that started them.

A ``ProcessPoolExecutor`` on its own lets its workers run on when the run's process dies
(SIGKILL leaves them to PID 1, still computing), and on an interrupt it waits for every
running chunk before it returns (seconds to minutes). Here:

- each worker watches its parent and exits as soon as it is gone (``watch_parent``: the
  parent's PID changes when it dies, a standard-library signal that needs no platform call);
- workers ignore SIGINT: a Ctrl-C reaches the whole process group, and it is the run's
  process that decides, stops them and cleans up (no traceback from every worker);
- when the run's process leaves the pool by an exception (KeyboardInterrupt, the
  SystemExit of a SIGTERM, a failed chunk), the queued chunks are cancelled and the workers
  it started are killed at once, instead of finishing their chunks (``local_pool``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

#: How often a worker looks at its parent (s): the longest a worker outlives it, plus
#: whatever a compiled kernel holding the interpreter lock takes to return.
PARENT_POLL_S = 0.2


def watch_parent(interval_s: float = PARENT_POLL_S) -> threading.Thread:
    """In a worker: a daemon thread that ends the process once its parent has died."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(1)  # the run is gone: nothing to return results to, nothing to clean

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def start_worker_process() -> None:
    """What every local worker does first: leave interrupts to the run, watch the run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent()


@contextmanager
def local_pool(max_workers: int, mp_context: Any, initializer: Callable[..., None], initargs: tuple) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers are killed, not waited for, when the block is left by
    an exception; left normally, it shuts down as usual."""
    before = {p.pid for p in multiprocessing.active_children()}
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context, initializer=initializer, initargs=initargs)
    try:
        yield pool
    except BaseException:
        stop_pool(pool, before)
        raise
    pool.shutdown(wait=True)


def stop_pool(pool: ProcessPoolExecutor, keep: set[int | None]) -> None:
    """Cancel what is queued and kill the workers this pool started (not ``keep``, the
    children that existed before it)."""
    mine = [p for p in multiprocessing.active_children() if p.pid not in keep]
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in mine:
        proc.kill()
    for proc in mine:
        proc.join(timeout=2)
