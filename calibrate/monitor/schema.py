"""The monitor store's file: schema, records, opening (with migration) and the report query.

One SQLite file in WAL mode. ``requests`` and ``intervals`` hold one row per request and
per meter sample; ``spending`` holds each month's emissions per service and language,
updated in the same transaction as the request rows, so that every process writing the
store shares one budget; ``services`` holds the switches; ``meta`` the schema version and
the count of dropped records.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 2

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

# Version 2: the budgets' source of truth, kept equal to SUM(requests.emissions_g) per key.
_SPENDING = """
CREATE TABLE IF NOT EXISTS spending (
    month TEXT NOT NULL, service TEXT NOT NULL, language TEXT NOT NULL,
    emissions_g REAL NOT NULL,       -- gCO2e of the committed request records
    PRIMARY KEY (month, service, language)
);
"""

UPSERT_SPENDING = (
    "INSERT INTO spending VALUES (?,?,?,?) "
    "ON CONFLICT(month, service, language) DO UPDATE SET emissions_g = emissions_g + excluded.emissions_g"
)


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


INSERT = {
    RequestRecord: "INSERT INTO requests (started_at, month, service, language, route, method, status, duration_s, "
    "energy_j, emissions_g, units, concurrency, metered) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    IntervalRecord: "INSERT INTO intervals (started_at, ended_at, month, energy_j, idle_j, attributed_j, unattributed_j, "
    "in_flight, meter) VALUES (?,?,?,?,?,?,?,?,?)",
}


def connect(path: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store, checking its schema version; with ``create``, set it up or migrate it."""
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
            con.executescript(_SCHEMA + _SPENDING)
            with con:
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (repr(time.time()),))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('dropped_records', '0')")
        elif create and version < SCHEMA_VERSION:
            _migrate(con)
        elif version is None:
            con.close()
            raise StoreError(f"{path}: not a carbonsim monitor store (no schema_version); check the path")
        con.execute("PRAGMA synchronous = NORMAL")
        return con
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open as SQLite ({exc}); check the path or move the file aside") from exc


def _migrate(con: sqlite3.Connection) -> None:
    """Version 1 -> 2: the spending table, filled from the records already there (one transaction)."""
    con.execute("BEGIN IMMEDIATE")  # one migrating process at a time; the others then see version 2
    try:
        (version,) = con.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key='schema_version'").fetchone()
        if version < 2:
            con.execute(_SPENDING)
            con.execute(
                "INSERT INTO spending SELECT month, service, language, SUM(emissions_g) FROM requests "
                "GROUP BY month, service, language"
            )
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_spending(con: sqlite3.Connection, month: str) -> dict[tuple[str, str], float]:
    """Committed emissions (gCO2e) per (service, language) in ``month``."""
    rows = con.execute("SELECT service, language, emissions_g FROM spending WHERE month = ?", (month,))
    return {(s, lang): float(g) for s, lang, g in rows}


def read_dropped(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT value FROM meta WHERE key='dropped_records'").fetchone()[0])


def report(path: str | Path, month: str | None) -> dict:
    """Emissions report from the store: per service and language, plus idle and losses.

    ``month`` is ``YYYY-MM`` or None for all time. Energies in J, emissions in gCO2e.
    ``dropped_records`` is what the file holds; a running monitor adds what it has not
    written yet (``CarbonMonitor.report``).
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
        dropped = read_dropped(con)
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
    """Units as stored: a JSON object; a non-finite amount is refused (it would not be JSON)."""
    bad = sorted(f"{k}={v}" for k, v in units.items() if not (math.isfinite(v) and v >= 0))
    if bad:
        raise ValueError(f"units must be finite and non-negative; got {bad}")
    return json.dumps(units, sort_keys=True, separators=(",", ":"), allow_nan=False)
