"""Azure's carbon emissions report, as kgCO2e per month and scope.

Three sources, one table (``AzureReport.kg``: month x ``Scope1/2/3``):

- a portal export (CSV) from Carbon optimization or the Emissions Impact Dashboard, in
  one of two layouts: *long*, a month column, a ``scope`` column and one emissions column;
  or *wide*, a month column and one column per scope. The unit is read from each value
  column's header (``kgCO2e``/``kg``, or ``tCO2e``/``mtCO2e``: metric tonnes); a header
  without a unit is refused. Rows of the same month and scope (resources, services,
  regions) are summed: export only the resources of the modelled pools.
- the Carbon optimization REST API, through ``azure-mgmt-carbonoptimization``
  (``MonthlySummaryReport``, one query per scope);
- a JSON file of recorded API answers, ``{"scopes": {"Scope2": <response body>, ...}}``,
  as ``--save-azure`` writes them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SCOPES = ("Scope1", "Scope2", "Scope3")
MONTH_NAMES = ("date", "month", "datekey", "usage_month", "usagemonth", "billing_month")
_DATE_FORMATS = ("%Y-%m", "%Y-%m-%d", "%Y%m%d", "%Y%m", "%b %Y", "%B %Y", "%m/%d/%Y", "%d/%m/%Y", "%m/%Y")


class AzureReportError(ValueError):
    """Azure's report cannot be read; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class AzureReport:
    """kgCO2e per month (rows, ``YYYY-MM``) and scope (columns among ``SCOPES``)."""

    kg: pd.DataFrame
    source: str


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_")


def _unit_factor(header: str) -> float | None:
    """kg per unit of a value column, from its header; None when it names no unit."""
    k = _key(header)
    if re.search(r"(^|_)(mtco2e|tco2e|tonnes?|t)(_|$)", k):
        return 1000.0
    if re.search(r"(^|_)(kgco2e|kg)(_|$)", k):
        return 1.0
    return None


def _scope_of(text: str) -> str | None:
    m = re.search(r"scope_?([123])", _key(text)) or re.fullmatch(r"([123])", text.strip())
    return f"Scope{m.group(1)}" if m else None


def parse_month(value: str, where: str) -> str:
    """``YYYY-MM`` of a date written in one of the exports' formats."""
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).strftime("%Y-%m")
        except ValueError:
            continue
    raise AzureReportError(f"{where}: date {value!r} not understood; write months as YYYY-MM or YYYY-MM-DD")


def _number(value: str, where: str) -> float:
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        raise AzureReportError(f"{where}: {value!r} is not a number") from None


def read_export(path: Path) -> AzureReport:
    """A portal export (see the module docstring for the accepted layouts)."""
    path = Path(path)
    if not path.exists():
        raise AzureReportError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise AzureReportError(f"{path}: no rows")
    headers = list(rows[0])
    month_col = next((h for h in headers if _key(h) in MONTH_NAMES), None)
    if month_col is None:
        raise AzureReportError(f"{path}: no month column; name one of {list(MONTH_NAMES)} (found {headers})")
    scope_col = next((h for h in headers if _key(h) == "scope"), None)
    values = [h for h in headers if h not in (month_col, scope_col) and _unit_factor(h) is not None
              and (scope_col is not None or _scope_of(h))]
    records: list[tuple[str, str, float]] = []
    if scope_col is not None:  # long layout: one value column
        if len(values) != 1:
            named = [h for h in headers if "emission" in _key(h) or "co2" in _key(h)]
            raise AzureReportError(f"{path}: long layout needs one emissions column with its unit in the header, e.g. "
                                   f"`emissions (kgCO2e)`; found {values or named or headers}")
        for i, r in enumerate(rows, start=2):
            scope = _scope_of(r[scope_col] or "")
            if scope is None:
                raise AzureReportError(f"{path}: row {i}: scope {r[scope_col]!r}; use Scope 1, Scope 2 or Scope 3")
            records.append((parse_month(r[month_col], f"{path}: row {i}"), scope,
                            _number(r[values[0]], f"{path}: row {i}, {values[0]}") * _unit_factor(values[0])))
    else:  # wide layout: one column per scope
        if not values:
            unitless = [h for h in headers if _scope_of(h)]
            hint = f"; add the unit to {unitless}, e.g. `Scope 2 (kgCO2e)`" if unitless else ""
            raise AzureReportError(f"{path}: no scope column with a unit (`Scope 1 (kgCO2e)`...) and no `scope` column{hint}")
        for i, r in enumerate(rows, start=2):
            month = parse_month(r[month_col], f"{path}: row {i}")
            for h in values:
                if (r[h] or "").strip() != "":
                    records.append((month, _scope_of(h), _number(r[h], f"{path}: row {i}, {h}") * _unit_factor(h)))
    return AzureReport(_pivot(records, str(path)), str(path))


def _pivot(records: list[tuple[str, str, float]], source: str) -> pd.DataFrame:
    if not records:
        raise AzureReportError(f"{source}: no emissions in the report")
    df = pd.DataFrame(records, columns=["month", "scope", "kg"])
    if (df["kg"] < 0).any():
        bad = df[df["kg"] < 0].iloc[0]
        raise AzureReportError(f"{source}: negative emissions ({bad['kg']} kg) in {bad['month']}, {bad['scope']}")
    return df.pivot_table(index="month", columns="scope", values="kg", aggfunc="sum").sort_index().rename_axis(columns=None)


# --- the Carbon optimization API -------------------------------------------------------------


def report_from_responses(responses: dict[str, Any], source: str) -> AzureReport:
    """Per scope, a ``MonthlySummaryReport`` answer (the SDK's result or its JSON body) as
    kgCO2e per month. A denied subscription, a paged or malformed answer is refused."""
    records = []
    for scope, resp in responses.items():
        if scope not in SCOPES:
            raise AzureReportError(f"{source}: scope {scope!r}; use {list(SCOPES)}")
        body = resp.as_dict() if hasattr(resp, "as_dict") else resp
        where = f"{source}: {scope}"
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise AzureReportError(f"{where}: field `value` missing; expected a carbon emission report answer")
        for d in body.get("subscriptionAccessDecisionList") or []:
            if str(d.get("decision", "")).lower() == "denied":
                raise AzureReportError(f"{where}: access denied to subscription {d.get('subscriptionId')} "
                                       f"({d.get('denialReason', 'no reason given')}); grant the Carbon Optimization "
                                       "Reader role, or leave that subscription out")
        if body.get("skipToken"):
            raise AzureReportError(f"{where}: the answer is paged (skipToken); query fewer months at a time")
        for i, item in enumerate(body["value"]):
            if not isinstance(item, dict) or item.get("dataType") != "MonthlySummaryData":
                raise AzureReportError(f"{where}: value[{i}] dataType {item.get('dataType') if isinstance(item, dict) else item!r}; "
                                       "query a MonthlySummaryReport")
            for name in ("date", "latestMonthEmissions"):
                if item.get(name) is None:
                    raise AzureReportError(f"{where}: value[{i}].{name} missing")
            records.append((parse_month(item["date"], f"{where}: value[{i}].date"), scope,
                            _number(item["latestMonthEmissions"], f"{where}: value[{i}].latestMonthEmissions")))
    return AzureReport(_pivot(records, source), source)


def read_recorded(path: Path) -> AzureReport:
    """Recorded API answers, ``{"scopes": {"Scope1": body, ...}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AzureReportError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise AzureReportError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scopes"), dict):
        raise AzureReportError(f'{path}: field `scopes` missing; expected {{"scopes": {{"Scope2": <answer>, ...}}}}')
    return report_from_responses(data["scopes"], str(path))


def query_api(target: str, months: list[str], client: Any = None, save: Path | None = None) -> AzureReport:
    """Ask the Carbon optimization API for ``target`` (``SUBSCRIPTION_ID`` or
    ``SUBSCRIPTION_ID/resourceGroups/NAME``) over ``months``, one query per scope.
    ``client`` stands in for a ``CarbonOptimizationMgmtClient``; ``save`` records the
    answers (no credential is in them)."""
    try:
        from azure.mgmt.carbonoptimization.models import (
            DateRange,
            MonthlySummaryReportQueryFilter,
        )
    except ImportError:
        raise AzureReportError("the Carbon optimization API needs the azure extra: pip install 'carbonsim[azure]'") from None
    if client is None:
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.carbonoptimization import CarbonOptimizationMgmtClient

        client = CarbonOptimizationMgmtClient(DefaultAzureCredential())
    sub, _, rest = target.partition("/")
    groups = [f"/subscriptions/{sub}/{rest}".lower()] if rest else None
    span = DateRange(start=dt.date.fromisoformat(months[0] + "-01"), end=dt.date.fromisoformat(months[-1] + "-01"))
    answers = {}
    for scope in SCOPES:
        query = MonthlySummaryReportQueryFilter(date_range=span, subscription_list=[sub.lower()], carbon_scope_list=[scope],
                                                resource_group_url_list=groups)
        answers[scope] = client.carbon_service.query_carbon_emission_reports(query).as_dict()
    if save is not None:
        save.write_text(json.dumps({"target": target, "scopes": answers}, indent=1), encoding="utf-8")
    return report_from_responses(answers, f"Carbon optimization API, {target}")


def load_report(spec: str, months: list[str], save: Path | None = None) -> AzureReport:
    """The report named by ``spec``: ``carbonopt:<target>`` (the API), a ``.json`` of
    recorded answers, or a ``.csv`` portal export."""
    if spec.startswith("carbonopt:"):
        return query_api(spec[len("carbonopt:"):], months, save=save)
    suffix = Path(spec).suffix.lower()
    if suffix == ".json":
        return read_recorded(Path(spec))
    if suffix == ".csv":
        return read_export(Path(spec))
    raise AzureReportError(f"{spec}: unknown report; give a portal export (.csv), recorded answers (.json) "
                           "or carbonopt:<subscription id>[/resourceGroups/<name>]")
