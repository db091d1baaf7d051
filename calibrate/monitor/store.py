"""SQLite store of request and interval records, written off the request path.

One file, WAL mode (readers never block the writer; a killed process loses at most the
batch it was writing, and committed batches stay intact), ``synchronous=NORMAL``; schema
and queries in ``schema.py``. Records wait in a bounded queue and a writer thread commits
them in batches, each request batch with its emissions added to the ``spending`` table (the
budgets' source of truth, shared by every process writing the file).

Nothing is lost silently. When the queue is full or a batch cannot be written (a full
disk), the records are dropped and **counted once**, in one counter that ``/metrics``
and ``/carbon/report`` both read (``Store.dropped_records``: the file's
``meta.dropped_records`` plus this process's drops not yet written there), in the log,
and in ``meta.dropped_records`` at the next commit. A dropped request's emissions are kept
and added to ``spending`` with the next batch that commits: rows can be lost, spending not. When the file disappears (its folder
deleted) or is replaced, the writer notices before the next batch, says so in the log,
and opens a new file at the same path rather than writing into the deleted one.

Only metadata is stored: service, language, route template, status, units of work,
duration, energy and emissions. No request body, file content, query or client address.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import astuple
from pathlib import Path
from typing import Callable, Protocol

from .schema import (  # noqa: F401  (re-exported: the store's public names)
    INSERT,
    SCHEMA_VERSION,
    UPSERT_SPENDING,
    IntervalRecord,
    RequestRecord,
    StoreError,
    connect,
    json_units,
    read_dropped,
    read_spending,
    report,
)

log = logging.getLogger("carbonsim.monitor")

Key = tuple[str, str, str]  # (month, service, language)


class SpendingSink(Protocol):
    """What the store tells the budgets (``budget.Budgets``) about committed spending."""

    def month(self) -> str: ...

    def refresh(self, rows: dict[tuple[str, str], float], month: str) -> None: ...

    def settle(self, written: dict[Key, float], rows: dict[tuple[str, str], float] | None, month: str) -> None: ...

    def committed_rows(self) -> dict[Key, float]: ...


class Store:
    """Batched, bounded writer plus the read queries the monitor needs."""

    def __init__(
        self,
        path: str | Path,
        queue_max: int = 10_000,
        batch_max: int = 500,
        flush_interval_s: float = 0.2,
        on_drop: Callable[[int], None] | None = None,
        on_error: Callable[[], None] | None = None,
        spending: SpendingSink | None = None,
        max_bytes: int | None = None,
    ):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._queue: queue.Queue = queue.Queue(maxsize=queue_max)
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self._on_drop = on_drop
        self._on_error = on_error
        self._spending = spending
        self.dropped = 0  # records this process dropped
        self.reopened = 0  # times the file vanished and was opened anew
        self._dropped_unsaved = 0  # of those, not yet added to meta.dropped_records
        self._spending_unsaved: dict[Key, float] = {}  # emissions of dropped request records, not yet in `spending`
        self._dropped_persisted = 0  # meta.dropped_records as last read
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_drop_log = self._last_open_log = self._last_error_log = 0.0
        self._identity: tuple[int, int] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.path, create=True)
        try:
            self._dropped_persisted = read_dropped(con)
        finally:
            con.close()

    # --- writing -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="carbonsim-store", daemon=True)
            self._thread.start()

    def put(self, record: RequestRecord | IntervalRecord) -> bool:
        """Queue a record for writing; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            self._count_drop([record])
            return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def dropped_records(self) -> int:
        """Records dropped by every process of this file: written to it, plus ours not yet written."""
        with self._drop_lock:
            return self._dropped_persisted + self._dropped_unsaved

    def _count_drop(self, records: list) -> None:
        """Count dropped records; keep their emissions for the spending table (a lost row must not lift a budget)."""
        n = len(records)
        with self._drop_lock:
            self.dropped += n
            self._dropped_unsaved += n
            for key, g in _spending_of(records).items():
                self._spending_unsaved[key] = self._spending_unsaved.get(key, 0.0) + g
        if self._on_drop is not None:
            self._on_drop(n)
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:  # one line per 10 s, not one per record
            self._last_drop_log = now
            log.warning("carbon store %s cannot keep up: %d record(s) dropped so far", self.path, self.dropped)

    def _run(self) -> None:
        con = self._open()
        try:
            while not (self._stop.is_set() and self._queue.empty()):
                batch = self._next_batch()
                con = self._check_file(con)
                if batch:
                    self._write(con, batch)
                elif con is not None:
                    self._refresh(con)  # idle: catch up with the other processes' spending and drops
        finally:
            if con is not None:
                con.close()

    def _open(self) -> sqlite3.Connection | None:
        """Open (creating if need be) the file and remember which file it is; None if impossible."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = connect(self.path, create=True)
            if self.max_bytes is not None:  # SQLite then fails writes past it as on a full disk (SQLITE_FULL)
                page = con.execute("PRAGMA page_size").fetchone()[0]
                con.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page)}")
            st = os.stat(self.path)
        except (OSError, StoreError) as exc:
            now = time.monotonic()
            if now - self._last_open_log > 10.0:  # retried every flush interval: log one line per 10 s
                self._last_open_log = now
                log.error("carbon store %s cannot be opened (%s); records are dropped and counted until it can", self.path, exc)
            return None
        self._identity = (st.st_dev, st.st_ino)
        return con

    def _check_file(self, con: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """The connection to write with: a new one when the file vanished or was replaced."""
        try:
            st = os.stat(self.path)
            same = (st.st_dev, st.st_ino) == self._identity
        except OSError:
            same = False
        if con is not None and same:
            return con
        if con is not None:
            con.close()
            self.reopened += 1
            log.error(
                "carbon store %s vanished or was replaced while in use; records written before are in the old "
                "file only. Opening a new file at that path (keeping this month's known spending)", self.path,
            )  # fmt: skip
        con = self._open()
        if con is not None:
            self._carry_over(con)
        return con

    def _carry_over(self, con: sqlite3.Connection) -> None:
        """Into a new file: the spending and drop count known so far (lower bounds, so take the max)."""
        rows = [] if self._spending is None else [(*k, g) for k, g in self._spending.committed_rows().items()]
        with self._drop_lock:
            persisted = self._dropped_persisted
        with con:
            con.executemany(
                "INSERT INTO spending VALUES (?,?,?,?) ON CONFLICT(month, service, language) "
                "DO UPDATE SET emissions_g = max(emissions_g, excluded.emissions_g)",
                rows,
            )
            con.execute(
                "UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'dropped_records'", (persisted,)
            )

    def _refresh(self, con: sqlite3.Connection) -> None:
        try:
            dropped = read_dropped(con)
            if self._spending is not None:
                month = self._spending.month()
                self._spending.refresh(read_spending(con, month), month)
        except sqlite3.Error as exc:
            log.warning("carbon store %s: reading the shared spending failed (%s)", self.path, exc)
            return
        with self._drop_lock:
            self._dropped_persisted = max(self._dropped_persisted, dropped)

    def _next_batch(self) -> list:
        try:
            batch = [self._queue.get(timeout=self.flush_interval_s)]
        except queue.Empty:
            return []
        # Let records gather, then take them all: one wake-up per flush interval rather than one
        # per record keeps this thread from contending with the event loop for the GIL.
        self._stop.wait(self.flush_interval_s)
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, con: sqlite3.Connection | None, batch: list) -> None:
        by_kind: dict[type, list[tuple]] = {}
        for rec in batch:
            by_kind.setdefault(type(rec), []).append(astuple(rec))
        with self._drop_lock:
            unsaved = self._dropped_unsaved
            carried = dict(self._spending_unsaved)  # earlier drops' emissions, written with this batch
        grams = _spending_of(batch, dict(carried))
        written = False
        for attempt in range(3 if con is not None else 0):
            try:
                with con:  # one transaction: the batch, its spending and the drop count, or nothing
                    for kind, rows in by_kind.items():
                        con.executemany(INSERT[kind], rows)
                    con.executemany(UPSERT_SPENDING, [(*k, g) for k, g in grams.items()])
                    if unsaved:
                        con.execute(
                            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_records'", (unsaved,)
                        )
                    persisted = read_dropped(con)
                written = True
                break
            except sqlite3.Error as exc:
                if self._on_error is not None:
                    self._on_error()
                now = time.monotonic()
                if now - self._last_error_log > 10.0:  # a full disk fails every batch: one line per 10 s
                    self._last_error_log = now
                    log.warning("carbon store %s: write failed (%s), attempt %d of 3", self.path, exc, attempt + 1)
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                    break  # a full disk stays full for now: drop at once rather than stall the queue
                time.sleep(0.05 * (attempt + 1))
        if written:
            with self._drop_lock:  # at once: the count never dips nor counts a drop twice
                self._dropped_persisted = persisted
                self._dropped_unsaved -= unsaved
                self._spending_unsaved = _minus(self._spending_unsaved, carried)
            self._settle(con, grams)
        else:
            self._count_drop(batch)  # their emissions stay pending, to be written with a later batch
        for _ in batch:
            self._queue.task_done()

    def _settle(self, con: sqlite3.Connection | None, grams: dict[Key, float]) -> None:
        """Tell the budgets the batch left the queue, with the store's spending read after a commit."""
        if self._spending is None:
            return
        month = self._spending.month()
        rows = None
        if con is not None:
            try:
                rows = read_spending(con, month)
            except sqlite3.Error as exc:  # the snapshot stays a little behind until the next read
                log.warning("carbon store %s: reading the shared spending failed (%s)", self.path, exc)
        self._spending.settle(grams, rows, month)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued record is committed (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline or self._thread is None:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=timeout_s)
            self._thread = None

    # --- reading -------------------------------------------------------------------------

    def read(self) -> sqlite3.Connection:
        """A new connection for reading (the caller closes it)."""
        return connect(self.path)

    def spending(self, month: str) -> dict[tuple[str, str], float]:
        """Committed emissions (gCO2e) per (service, language) in ``month``, from the spending table."""
        con = self.read()
        try:
            return read_spending(con, month)
        finally:
            con.close()

    def service_states(self) -> dict[str, bool]:
        con = self.read()
        try:
            return {s: bool(e) for s, e in con.execute("SELECT service, enabled FROM services")}
        finally:
            con.close()

    def set_service_enabled(self, service: str, enabled: bool) -> None:
        """Persist a service switch at once (not through the queue: the caller waits on it)."""
        con = self.read()
        try:
            with con:
                con.execute(
                    "INSERT INTO services VALUES (?,?,?) ON CONFLICT(service) DO UPDATE SET enabled=excluded.enabled, "
                    "updated_at=excluded.updated_at",
                    (service, int(enabled), time.time()),
                )
        finally:
            con.close()


def _spending_of(batch: list, start: dict[Key, float] | None = None) -> dict[Key, float]:
    """Emissions (gCO2e) of a batch's request records per (month, service, language), added to ``start``."""
    out: dict[Key, float] = start if start is not None else {}
    for rec in batch:
        if isinstance(rec, RequestRecord):
            key = (rec.month, rec.service, rec.language)
            out[key] = out.get(key, 0.0) + rec.emissions_g
    return out


def _minus(have: dict[Key, float], written: dict[Key, float]) -> dict[Key, float]:
    """``have`` less what was written, keys that reach zero removed."""
    out = {}
    for key, g in have.items():
        left = g - written.get(key, 0.0)
        if abs(left) > 1e-12 * max(g, 1.0):
            out[key] = left
    return out
