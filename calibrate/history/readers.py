"""Read monthly file counts: a CSV, a monitor store, or an Azure Monitor logs response.

Every reader returns a ``CountTable``; ``load_history`` picks one from the argument.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from .counts import MONTH_RE, CountTable, HistoryError, table_from_rows

CSV_COLUMNS = ("month", "language", "files")
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
UNLABELLED = ("other", "unknown")  # the monitor's labels for a request without a known language


def rows_from_records(records: list[dict], source: str, where: str = "row") -> list[tuple[str, str, str | None, int]]:
    """Check records with keys month, language, files (and content) and return them as rows.

    ``where`` names a record in messages (``row`` in a CSV: numbered from the header's
    next line, 2).
    """
    if not records:
        raise HistoryError(f"{source}: no rows; the history needs at least 3 months of counts")
    missing = [c for c in CSV_COLUMNS if c not in records[0]]
    if missing:
        raise HistoryError(f"{source}: missing column(s) {missing}; the columns are month, language, files[, content]")
    has_content = "content" in records[0]
    rows = []
    for i, rec in enumerate(records, start=2 if where == "row" else 0):
        month = str(rec["month"]).strip()
        if len(month) >= 7 and month[4] == "-" and month[:7] != month:  # a date or timestamp: keep its month
            month = month[:7]
        if not MONTH_RE.match(month):
            raise HistoryError(f"{source}: {where} {i}: month {rec['month']!r} is not YYYY-MM")
        lang = str(rec["language"] or "").strip()
        if not lang:
            raise HistoryError(f"{source}: {where} {i}: empty language")
        try:
            n = float(rec["files"])
        except (TypeError, ValueError):
            raise HistoryError(f"{source}: {where} {i}: files {rec['files']!r} is not a number") from None
        if n < 0 or n != int(n):
            raise HistoryError(f"{source}: {where} {i}: files {rec['files']!r} must be a whole number >= 0")
        content = str(rec["content"]).strip() if has_content and rec.get("content") not in (None, "") else None
        if has_content and content is None:
            raise HistoryError(f"{source}: {where} {i}: empty content; give audio, video or text")
        rows.append((month, lang, content, int(n)))
    return rows


def read_csv(path: Path) -> CountTable:
    """Counts from a CSV with columns ``month`` (YYYY-MM), ``language``, ``files`` and
    optionally ``content`` (audio, video, text)."""
    path = Path(path)
    if not path.exists():
        raise HistoryError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    return table_from_rows(rows_from_records(records, str(path)), str(path))


def read_store(path: Path, services: tuple[str, ...] = ()) -> CountTable:
    """Counts from a monitor store: successful requests (status < 400) per month and
    language, of ``services``. A file passes through several services (transcribe, then
    translate to each target...), so the one every file passes once must be named when the
    store holds several."""
    from calibrate.monitor.store import StoreError, connect

    try:
        con = connect(path)
    except StoreError as exc:
        raise HistoryError(str(exc)) from None
    try:
        known = [s for (s,) in con.execute("SELECT DISTINCT service FROM requests ORDER BY service")]
        unknown = sorted(set(services) - set(known))
        if unknown:
            raise HistoryError(f"{path}: no request of service(s) {unknown}; the store holds {known}")
        if not services and len(known) > 1:
            raise HistoryError(f"{path}: requests of several services {known}; name with --service the one each file "
                               "passes once (the first stage of its pipeline), or several whose files do not overlap")
        wanted = services or tuple(known)
        marks = ",".join("?" * len(wanted))
        got = con.execute(
            f"SELECT month, language, COUNT(*) FROM requests WHERE status < 400 AND service IN ({marks}) "
            "GROUP BY month, language ORDER BY month, language", wanted).fetchall()
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{path}: cannot read the requests table ({exc})") from None
    finally:
        con.close()
    source = f"{path} (monitor store, services {', '.join(wanted)})"
    kept = [(m, lang, None, int(n)) for m, lang, n in got if lang not in UNLABELLED]
    left = sum(int(n) for _, lang, n in got if lang in UNLABELLED)
    total = sum(int(n) for _, _, n in got)
    notes = (f"{left} of {total} requests ({left / total:.1%}) carry no known language ({'/'.join(UNLABELLED)}) "
             "and are left out: declare the language on the routes (carbon_route's language_param)",) if left else ()
    return table_from_rows(kept, source, notes)


def load_history(spec: str, services: tuple[str, ...] = (), kql: str | None = None, months: int = 24) -> CountTable:
    """The counts named by ``spec``: a ``.csv`` file, a monitor store (``.db``/``.sqlite``),
    a saved Azure Monitor logs response (``.json``), or a live query,
    ``appinsights:<resource id>`` / ``loganalytics:<workspace id>`` (``months`` back)."""
    from . import azure_monitor

    for prefix in azure_monitor.TARGETS:
        if spec.startswith(prefix + ":"):
            return azure_monitor.query_history(prefix, spec[len(prefix) + 1:], kql=kql, months=months)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix in STORE_SUFFIXES:
        return read_store(path, services)
    if suffix == ".json":
        return azure_monitor.read_response_file(path)
    raise HistoryError(f"{spec}: unknown history; give a .csv, a monitor store (.db/.sqlite), a saved Azure Monitor "
                       "response (.json), appinsights:<resource id> or loganalytics:<workspace id>")
