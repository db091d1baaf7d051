"""Monthly counts from a CSV, a monitor store and Azure Monitor (recorded answers, no network)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from calibrate.history.azure_monitor import (
    query_history,
    read_response_file,
    table_from_result,
)
from calibrate.history.counts import HistoryError
from calibrate.history.readers import load_history, read_csv, read_store

DATA = Path(__file__).parent / "data" / "azure"


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(text)
    return path


def test_csv_with_content_types(tmp_path):
    path = _csv(tmp_path, "month,language,files,content\n"
                          "2026-01,fr,10,audio\n2026-01,fr,30,text\n2026-01,en,5,text\n"
                          "2026-02,fr,12,audio\n2026-02,fr,33,text\n2026-02,en,0,text\n"
                          "2026-03,fr,14,audio\n2026-03,fr,35,text\n2026-03,en,7,text\n")
    t = read_csv(path)
    assert t.months == ("2026-01", "2026-02", "2026-03") and t.languages == ("en", "fr")
    assert t.files.tolist() == [[5, 0, 7], [40, 45, 49]]
    assert t.content["fr"]["audio"].tolist() == [10, 12, 14]
    assert t.starts() == {"en": 0, "fr": 0}


@pytest.mark.parametrize("text, message", [
    ("month,lang,files\n2026-01,fr,3\n", r"history.csv: missing column\(s\) \['language'\]"),
    ("month,language,files\n2026-1,fr,3\n", r"history.csv: row 2: month '2026-1' is not YYYY-MM"),
    ("month,language,files\n2026-01,fr,-3\n", r"row 2: files '-3' must be a whole number"),
    ("month,language,files\n2026-01,fr,2.5\n", r"row 2: files '2.5' must be a whole number"),
    ("month,language,files\n2026-01,fr,3\n2026-01,fr,4\n", r"month 2026-01, language 'fr' appears twice"),
    ("month,language,files\n2026-01,fr,3\n2026-03,fr,4\n", r"no row for month\(s\) \['2026-02'\]"),
    ("month,language,files\n", r"no rows"),
])
def test_csv_errors_name_file_row_and_field(tmp_path, text, message):
    with pytest.raises(HistoryError, match=message):
        read_csv(_csv(tmp_path, text))


def _store(tmp_path: Path) -> Path:
    from calibrate.monitor.store import connect

    path = tmp_path / "carbon.db"
    con = connect(path, create=True)
    rows = []
    for month, lang, service, status, n in [("2026-01", "fr", "transcribe", 200, 4), ("2026-01", "fr", "translate", 200, 9),
                                            ("2026-02", "fr", "transcribe", 200, 6), ("2026-02", "fr", "transcribe", 500, 3),
                                            ("2026-02", "en", "transcribe", 200, 2), ("2026-03", "fr", "transcribe", 200, 7),
                                            ("2026-03", "unknown", "transcribe", 200, 1)]:
        rows += [(time.time(), month, service, lang, "/x", "POST", status, 0.1, 1.0, 0.1, "{}", 1, 1)] * n
    with con:
        con.executemany("INSERT INTO requests (started_at, month, service, language, route, method, status, duration_s, "
                        "energy_j, emissions_g, units, concurrency, metered) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.close()
    return path


def test_store_counts_successful_requests_of_the_named_service(tmp_path):
    t = read_store(_store(tmp_path), ("transcribe",))
    assert t.languages == ("en", "fr") and t.months == ("2026-01", "2026-02", "2026-03")
    assert t.files.tolist() == [[0, 2, 0], [4, 6, 7]]  # the 3 failed requests are not files
    assert t.content is None
    assert t.notes == ("1 of 20 requests (5.0%) carry no known language (other/unknown) and are left out: declare the "
                       "language on the routes (carbon_route's language_param)",)


def test_store_with_several_services_asks_which_counts_files(tmp_path):
    path = _store(tmp_path)
    with pytest.raises(HistoryError, match=r"several services \['transcribe', 'translate'\]; name with --service"):
        read_store(path)
    with pytest.raises(HistoryError, match=r"no request of service\(s\) \['generate'\]"):
        read_store(path, ("generate",))


def test_recorded_logs_response_parses():
    t = load_history(str(DATA / "appinsights_requests.json"))
    assert t.languages == ("ar", "en", "fr")
    assert t.files.tolist() == [[0, 0, 0, 31], [151, 160, 170, 179], [203, 212, 228, 240]]
    assert t.starts()["ar"] == 3


def _logs_result(rows, columns=("month", "language", "files")):
    from azure.monitor.query import LogsQueryResult, LogsTable

    table = LogsTable(name="PrimaryResult", columns=list(columns), columns_types=["string", "string", "long"][: len(columns)],
                      rows=rows)
    return LogsQueryResult(tables=[table])


class _FakeLogsClient:
    """Stands in for LogsQueryClient: answers with a recorded result, keeps the call."""

    def __init__(self, result):
        self.result, self.calls = result, []

    def query_resource(self, resource_id, query, timespan):
        self.calls.append(("resource", resource_id, query, timespan))
        return self.result

    def query_workspace(self, workspace_id, query, timespan):
        self.calls.append(("workspace", workspace_id, query, timespan))
        return self.result


def test_live_query_reads_the_sdk_result():
    pytest.importorskip("azure.monitor.query")
    rows = [["2026-01-01T00:00:00Z", "es", 20], ["2026-02-01T00:00:00Z", "es", 22], ["2026-03-01T00:00:00Z", "es", 25]]
    client = _FakeLogsClient(_logs_result(rows))
    t = query_history("appinsights", "/subscriptions/s/resourceGroups/g/providers/microsoft.insights/components/api",
                      client=client, months=6)
    assert t.files.tolist() == [[20, 22, 25]] and t.months == ("2026-01", "2026-02", "2026-03")
    kind, _, query, span = client.calls[0]
    assert kind == "resource" and "summarize files = count()" in query and span.days == 6 * 31


def test_partial_result_is_refused_with_azure_error():
    pytest.importorskip("azure.monitor.query")
    from azure.monitor.query import LogsQueryError, LogsQueryPartialResult

    partial = LogsQueryPartialResult(partial_data=[], partial_error=LogsQueryError(code="PartialError",
                                                                                 message="Query exceeded the row limit"))
    with pytest.raises(HistoryError, match="partial results .*Query exceeded the row limit"):
        table_from_result(partial, "Azure Monitor appinsights:x")


@pytest.mark.parametrize("body, message", [
    ('{"value": []}', "field `tables` missing"),
    ('{"tables": [{"columns": [{"name": "month"}], "rows": [["2026-01", 3]]}]}', r"rows\[0\] has 2 values for 1 columns"),
    ('{"tables": [{"columns": [{"name": "month"}, {"name": "language"}], "rows": [["2026-01", "fr"]]}]}',
     r"missing column\(s\) \['files'\]"),
    ('{"tables": [{"columns": "month", "rows": []}]}', r"tables\[0\].columns must be a list"),
    ('{"tables": [], "error": {"code": "BadArgumentError", "message": "syntax"}}', "BadArgumentError: syntax"),
    ('{"tables": [{"columns": [{"name": "month"}], "rows": []}, {"columns": [], "rows": []}]}', "2 tables"),
    ("not json", "not JSON"),
])
def test_malformed_responses_name_the_file_and_field(tmp_path, body, message):
    path = tmp_path / "answer.json"
    path.write_text(body)
    with pytest.raises(HistoryError, match=message) as err:
        read_response_file(path)
    assert str(path) in str(err.value)


def test_unknown_history_kind_is_refused():
    with pytest.raises(HistoryError, match="unknown history"):
        load_history("history.xlsx")
