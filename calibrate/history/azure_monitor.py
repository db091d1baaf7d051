"""Monthly counts from Azure Monitor / Application Insights, through ``azure-monitor-query``.

The query (KQL) must return one table with columns ``month``, ``language``, ``files`` and
optionally ``content``; the default one counts successful requests of Application
Insights' ``requests`` table per month and language, the language read from the request's
custom dimension ``language`` (what ``--kql`` replaces when the API records it elsewhere).
Credentials are the user's, through ``DefaultAzureCredential`` (environment, managed
identity, Azure CLI login...); nothing of them is written or logged here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .counts import CountTable, HistoryError, table_from_rows
from .readers import rows_from_records

TARGETS = ("appinsights", "loganalytics")

DEFAULT_KQL = """\
requests
| where success == true
| extend language = tostring(customDimensions["language"])
| where isnotempty(language)
| summarize files = count() by month = format_datetime(startofmonth(timestamp), "yyyy-MM"), language
| order by month asc, language asc"""


def query_history(target: str, ident: str, kql: str | None = None, months: int = 24, client: Any = None) -> CountTable:
    """Run the query against an Application Insights resource (``appinsights``, its
    resource id) or a Log Analytics workspace (``loganalytics``, its workspace id) over the
    last ``months`` months, and read the answer. ``client`` stands in for a
    ``LogsQueryClient`` (tests pass recorded answers)."""
    if client is None:
        try:
            from azure.identity import DefaultAzureCredential
            from azure.monitor.query import LogsQueryClient
        except ImportError:
            raise HistoryError("reading Azure Monitor needs the azure extra: pip install 'carbonsim[azure]'") from None
        client = LogsQueryClient(DefaultAzureCredential())
    query = kql or DEFAULT_KQL
    span = dt.timedelta(days=31 * months)
    if target == "appinsights":
        result = client.query_resource(ident, query, timespan=span)
    else:
        result = client.query_workspace(ident, query, timespan=span)
    return table_from_result(result, f"Azure Monitor {target}:{ident}")


def table_from_result(result: Any, source: str) -> CountTable:
    """A ``LogsQueryResult`` as counts; a partial result is refused with Azure's error."""
    status = str(getattr(result, "status", "")).rsplit(".", 1)[-1].upper()
    if status in ("PARTIAL", "PARTIALERROR") or hasattr(result, "partial_error"):
        err = getattr(result, "partial_error", None)
        what = f"{getattr(err, 'code', '')}: {getattr(err, 'message', '')}".strip(": ") or "no detail"
        raise HistoryError(f"{source}: the query returned partial results ({what}); narrow the time span or fix the "
                           "query, then run again (counts from part of the data would bias the rate)")
    tables = getattr(result, "tables", None)
    if tables is None:
        raise HistoryError(f"{source}: not a logs query result (no `tables`)")
    return _table(((t.columns, [list(r) for r in t.rows]) for t in tables), source)


def read_response_file(path: Path) -> CountTable:
    """Counts from a saved logs query response: the REST API's JSON body,
    ``{"tables": [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]}``."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}: not JSON ({exc})") from None
    if not isinstance(body, dict) or not isinstance(body.get("tables"), list):
        raise HistoryError(f"{path}: field `tables` missing; expected a logs query response "
                           '{"tables": [{"columns": [...], "rows": [...]}]}')
    if body.get("error"):
        err = body["error"]
        raise HistoryError(f"{path}: the response carries an error ({err.get('code', '')}: {err.get('message', '')}); "
                           "partial results are not used")
    tables = []
    for i, t in enumerate(body["tables"]):
        cols = t.get("columns") if isinstance(t, dict) else None
        rows = t.get("rows") if isinstance(t, dict) else None
        if not isinstance(cols, list) or not all(isinstance(c, dict) and "name" in c for c in cols):
            raise HistoryError(f"{path}: tables[{i}].columns must be a list of {{name, type}}")
        if not isinstance(rows, list):
            raise HistoryError(f"{path}: tables[{i}].rows missing")
        tables.append(([c["name"] for c in cols], rows))
    return _table(tables, str(path))


def _table(tables: Iterable[tuple[list[str], list[list]]], source: str) -> CountTable:
    tables = list(tables)
    if len(tables) != 1:
        raise HistoryError(f"{source}: {len(tables)} tables in the response; the query must return one")
    columns, rows = tables[0]
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise HistoryError(f"{source}: rows[{i}] has {len(row)} values for {len(columns)} columns {columns}")
    records = [dict(zip(columns, row)) for row in rows]
    if not records:
        raise HistoryError(f"{source}: the query returned no rows; check the time span and the language dimension")
    return table_from_rows(rows_from_records(records, source, where="rows"), source)
