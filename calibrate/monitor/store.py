"""SQLite store of request and interval records, written off the request path.

One file, WAL mode (readers never block the writer; a killed process loses at most the
batch it was writing, and committed batches stay intact), ``synchronous=NORMAL``.
Records wait in a bounded queue and a writer thread commits them in batches. When the
disk cannot keep up and the queue is full, new records are dropped and **counted**: in
``Store.dropped``, in the ``on_drop`` callback (a Prometheus counter), in the log and,
at the next commit, in the file's ``meta.dropped_records``.

Only metadata is stored: service, language, route template, status, units of work,
duration, energy and emissions. No request body, file content, query or client address.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("carbonsim.monitor")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,        -- unix seconds
    month TEXT NOT NULL,             -- YYYY-MM, UTC, of started_at
    service TEXT NOT NULL,
    language TEXT NOT NULL,
    route TEXT NOT NULL,             -- route template, never the raw path
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    energy_j REAL NOT NULL,          -- above idle, attributed by overlap
    emissions_g REAL NOT NULL,       -- gCO2e: energy x PUE x grid intensity
    units TEXT NOT NULL,             -- JSON object unit -> amount
    concurrency INTEGER NOT NULL,    -- most requests in flight in any interval it overlapped
    metered INTEGER NOT NULL         -- 0 when the meter failed during the request
);
CREATE INDEX IF NOT EXISTS requests_month ON requests (month, service, language);
CREATE TABLE IF NOT EXISTS intervals (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    month TEXT NOT NULL,
    energy_j REAL,                   -- NULL when the meter failed
    idle_j REAL NOT NULL,
    attributed_j REAL NOT NULL,
    unattributed_j REAL NOT NULL,
    in_flight INTEGER NOT NULL,
    meter TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intervals_month ON intervals (month);
CREATE TABLE IF NOT EXISTS services (service TEXT PRIMARY KEY, enabled INTEGER NOT NULL, updated_at REAL NOT NULL);
"""


class StoreError(RuntimeError):
    """The store file cannot be used; the message names the file and the fix."""


@dataclass
class RequestRecord:
    started_at: float
    month: str
    service: str
    language: str
    route: str
    method: str
    status: int
    duration_s: float
    energy_j: float
    emissions_g: float
    units: str
    concurrency: int
    metered: int


@dataclass
class IntervalRecord:
    started_at: float
    ended_at: float
    month: str
    energy_j: float | None
    idle_j: float
    attributed_j: float
    unattributed_j: float
    in_flight: int
    meter: str


_INSERT = {
    RequestRecord: "INSERT INTO requests (started_at, month, service, language, route, method, status, duration_s, "
    "energy_j, emissions_g, units, concurrency, metered) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    IntervalRecord: "INSERT INTO intervals (started_at, ended_at, month, energy_j, idle_j, attributed_j, unattributed_j, "
    "in_flight, meter) VALUES (?,?,?,?,?,?,?,?,?)",
}


def connect(path: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store, checking (or, with ``create``, setting up) its schema version."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"{path}: no such store; check the path (the monitor creates it on first start)")
    try:
        con = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        con.execute("PRAGMA busy_timeout = 10000")
        row = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        version = None
        if row:
            got = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(got[0]) if got else None
        if version is not None and version > SCHEMA_VERSION:
            con.close()
            raise StoreError(
                f"{path}: schema_version {version} is newer than this carbonsim understands ({SCHEMA_VERSION}); "
                "upgrade carbonsim or point the monitor at another file"
            )
        if create and version is None:
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(_SCHEMA)
            with con:
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (repr(time.time()),))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('dropped_records', '0')")
        elif version is None:
            con.close()
            raise StoreError(f"{path}: not a carbonsim monitor store (no schema_version); check the path")
        con.execute("PRAGMA synchronous = NORMAL")
        return con
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open as SQLite ({exc}); check the path or move the file aside") from exc


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
    ):
        self.path = Path(path)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_max)
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self._on_drop = on_drop
        self._on_error = on_error
        self.dropped = 0
        self._dropped_unsaved = 0
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_drop_log = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connect(self.path, create=True).close()

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
            self._count_drop(1)
            return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _count_drop(self, n: int) -> None:
        with self._drop_lock:
            self.dropped += n
            self._dropped_unsaved += n
        if self._on_drop is not None:
            self._on_drop(n)
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:  # one line per 10 s, not one per record
            self._last_drop_log = now
            log.warning("carbon store %s cannot keep up: %d record(s) dropped so far", self.path, self.dropped)

    def _run(self) -> None:
        con = connect(self.path)
        try:
            while not (self._stop.is_set() and self._queue.empty()):
                batch = self._next_batch()
                if batch:
                    self._write(con, batch)
        finally:
            con.close()

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

    def _write(self, con: sqlite3.Connection, batch: list) -> None:
        by_kind: dict[type, list[tuple]] = {}
        for rec in batch:
            by_kind.setdefault(type(rec), []).append(astuple(rec))
        with self._drop_lock:
            unsaved, self._dropped_unsaved = self._dropped_unsaved, 0
        for attempt in range(3):
            try:
                with con:  # one transaction: the batch is all there or not at all
                    for kind, rows in by_kind.items():
                        con.executemany(_INSERT[kind], rows)
                    if unsaved:
                        con.execute(
                            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_records'", (unsaved,)
                        )
                break
            except sqlite3.Error as exc:
                if self._on_error is not None:
                    self._on_error()
                log.warning("carbon store %s: write failed (%s), attempt %d of 3", self.path, exc, attempt + 1)
                time.sleep(0.05 * (attempt + 1))
        else:
            with self._drop_lock:
                self._dropped_unsaved += unsaved
            self._count_drop(len(batch))
        for _ in batch:
            self._queue.task_done()

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

    def month_spending(self, month: str) -> dict[tuple[str, str], float]:
        """Emissions (gCO2e) committed per (service, language) in ``month``."""
        con = self.read()
        try:
            rows = con.execute(
                "SELECT service, language, SUM(emissions_g) FROM requests WHERE month=? GROUP BY service, language", (month,)
            ).fetchall()
        finally:
            con.close()
        return {(s, lang): float(g) for s, lang, g in rows}

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


def report(path: str | Path, month: str | None) -> dict:
    """Emissions report from the store: per service and language, plus idle and losses.

    ``month`` is ``YYYY-MM`` or None for all time. Energies in J, emissions in gCO2e.
    """
    where, args = ("WHERE month = ?", (month,)) if month else ("", ())
    con = connect(path)
    try:
        groups: dict[tuple[str, str], dict] = {}
        for s, lang, n, dur, e, g, unmetered in con.execute(
            "SELECT service, language, COUNT(*), SUM(duration_s), SUM(energy_j), SUM(emissions_g), SUM(1 - metered) "
            f"FROM requests {where} GROUP BY service, language ORDER BY service, language",
            args,
        ):
            groups[(s, lang)] = {
                "service": s, "language": lang, "requests": n, "duration_s": dur, "energy_j": e,
                "emissions_g": g, "unmetered_requests": unmetered, "units": {},
            }  # fmt: skip
        for s, lang, unit, amount in con.execute(
            "SELECT service, language, j.key, SUM(j.value) FROM requests, json_each(requests.units) AS j "
            f"{where} GROUP BY service, language, j.key",
            args,
        ):
            groups[(s, lang)]["units"][unit] = amount
        n_iv, seconds, energy, idle, attributed, unattributed, failed = con.execute(
            "SELECT COUNT(*), COALESCE(SUM(ended_at - started_at), 0), COALESCE(SUM(energy_j), 0), COALESCE(SUM(idle_j), 0), "
            "COALESCE(SUM(attributed_j), 0), COALESCE(SUM(unattributed_j), 0), COALESCE(SUM(energy_j IS NULL), 0) "
            f"FROM intervals {where}",
            args,
        ).fetchone()
        dropped = int(con.execute("SELECT value FROM meta WHERE key='dropped_records'").fetchone()[0])
    finally:
        con.close()
    return {
        "month": month or "all",
        "services": list(groups.values()),
        "meter": {
            "intervals": n_iv, "seconds": seconds, "energy_j": energy, "idle_j": idle,
            "attributed_j": attributed, "unattributed_j": unattributed, "failed_intervals": failed,
        },  # fmt: skip
        "dropped_records": dropped,
    }


def json_units(units: dict[str, float]) -> str:
    return json.dumps(units, sort_keys=True, separators=(",", ":"))
