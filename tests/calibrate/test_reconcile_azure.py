"""Azure's carbon report: portal exports, recorded Carbon optimization answers, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calibrate.reconcile import reconcile_run
from calibrate.reconcile.azure_report import (
    AzureReportError,
    query_api,
    read_export,
    read_recorded,
)

from .reconcile_helpers import make_run

DATA = Path(__file__).parent / "data" / "azure"


def _write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_recorded_api_answers_parse_into_months_by_scope():
    kg = read_recorded(DATA / "carbonopt_monthly.json").kg
    assert list(kg.index) == ["2027-01", "2027-02"] and list(kg.columns) == ["Scope1", "Scope2", "Scope3"]
    assert kg.loc["2027-01"].tolist() == [0.4, 6.2, 40.1]
    assert kg.loc["2027-02"].tolist() == [0.5, 5.8, 36.3]


def test_long_export_in_tonnes_sums_resources(tmp_path):
    path = _write(tmp_path, "Date,Resource,Scope,Total emissions (mtCO2e)\n"
                            "2027-01-01,vm-a,Scope 2,0.004\n2027-01-01,disk-a,Scope 2,0.001\n2027-01-01,vm-a,Scope 3,0.04\n"
                            "2027-02-01,vm-a,Scope 2,0.005\n")
    kg = read_export(path).kg
    assert kg.loc["2027-01", "Scope2"] == pytest.approx(5.0)
    assert kg.loc["2027-01", "Scope3"] == pytest.approx(40.0)
    assert kg.loc["2027-02", "Scope2"] == pytest.approx(5.0)


def test_wide_export_in_kilograms(tmp_path):
    path = _write(tmp_path, "Month,Scope 1 (kgCO2e),Scope 2 (kgCO2e),Scope 3 (kgCO2e)\nJan 2027,0.1,6,40\nFeb 2027,0.2,5,39\n")
    kg = read_export(path).kg
    assert kg.loc["2027-02"].tolist() == [0.2, 5.0, 39.0]


@pytest.mark.parametrize("text, message", [
    ("Date,Scope,Emissions\n2027-01-01,Scope 2,3\n", r"long layout needs one emissions column with its unit"),
    ("Month,Scope 1,Scope 2\n2027-01,1,2\n", r"add the unit to \['Scope 1', 'Scope 2'\]"),
    ("Date,Scope,Emissions (kgCO2e)\n2027-01-01,Scope 4,3\n", r"row 2: scope 'Scope 4'; use Scope 1, Scope 2 or Scope 3"),
    ("Date,Scope,Emissions (kgCO2e)\n13/13/2027,Scope 2,3\n", r"row 2: date '13/13/2027' not understood"),
    ("Date,Scope,Emissions (kgCO2e)\n2027-01-01,Scope 2,n/a\n", r"row 2, Emissions \(kgCO2e\): 'n/a' is not a number"),
    ("Resource,Scope,Emissions (kgCO2e)\nvm,Scope 2,3\n", r"no month column"),
    ("Date,Scope,Emissions (kgCO2e)\n2027-01-01,Scope 2,-3\n", r"negative emissions"),
])
def test_malformed_exports_name_the_file_row_and_field(tmp_path, text, message):
    with pytest.raises(AzureReportError, match=message) as err:
        read_export(_write(tmp_path, text))
    assert "export.csv" in str(err.value)


def _recorded(tmp_path: Path, change) -> Path:
    data = json.loads((DATA / "carbonopt_monthly.json").read_text())
    change(data["scopes"])
    return _write(tmp_path, json.dumps(data), "answers.json")


@pytest.mark.parametrize("change, message", [
    (lambda s: s["Scope2"].pop("value"), r"Scope2: field `value` missing"),
    (lambda s: s["Scope2"]["value"][1].pop("latestMonthEmissions"), r"Scope2: value\[1\].latestMonthEmissions missing"),
    (lambda s: s["Scope1"]["value"][0].update(dataType="ItemDetailsData"), r"Scope1: value\[0\] dataType 'ItemDetailsData'; query a MonthlySummaryReport"),
    (lambda s: s["Scope3"].update(skipToken="abc"), r"Scope3: the answer is paged"),
    (lambda s: s["Scope2"]["subscriptionAccessDecisionList"][0].update(decision="Denied", denialReason="no role"),
     r"access denied to subscription 0000.* \(no role\); grant the Carbon Optimization Reader role"),
    (lambda s: s.update(Scope4={}), r"scope 'Scope4'"),
])
def test_malformed_or_partial_answers_are_refused(tmp_path, change, message):
    with pytest.raises(AzureReportError, match=message):
        read_recorded(_recorded(tmp_path, change))


class _FakeCarbonClient:
    """Stands in for CarbonOptimizationMgmtClient: answers each scope from the recording."""

    def __init__(self):
        self.scopes = json.loads((DATA / "carbonopt_monthly.json").read_text())["scopes"]
        self.queries = []
        self.carbon_service = self

    def query_carbon_emission_reports(self, query):
        from azure.mgmt.carbonoptimization.models import CarbonEmissionDataListResult

        self.queries.append(query.as_dict())
        return CarbonEmissionDataListResult(self.scopes[query.carbon_scope_list[0]])


def test_api_query_per_scope_and_saved_answers_hold_no_credential(tmp_path, monkeypatch):
    pytest.importorskip("azure.mgmt.carbonoptimization")
    secret = "s3cret-client-value-123"
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret)
    client = _FakeCarbonClient()
    saved = tmp_path / "answers.json"
    report = query_api("0000ABCD/resourceGroups/carbonsim-api", ["2027-01", "2027-02"], client=client, save=saved)
    assert report.kg.loc["2027-01", "Scope3"] == 40.1
    assert [q["carbonScopeList"] for q in client.queries] == [["Scope1"], ["Scope2"], ["Scope3"]]
    q = client.queries[0]
    assert q["reportType"] == "MonthlySummaryReport" and q["subscriptionList"] == ["0000abcd"]
    assert q["resourceGroupUrlList"] == ["/subscriptions/0000abcd/resourcegroups/carbonsim-api"]
    assert q["dateRange"] == {"start": "2027-01-01", "end": "2027-02-01"}
    assert read_recorded(saved).kg.equals(report.kg)
    run = make_run(tmp_path / "run")
    reconcile_run(run, str(saved))
    for path in (saved, run / "reconcile.csv", run / "reconcile.md"):
        assert secret not in path.read_text()
