"""Reconciliation of a run's forecast with Azure's own carbon report (``carbonsim reconcile``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .azure_report import AzureReportError, load_report
from .compare import ReconcileError, reconcile, write_outputs
from .forecast import RunFolderError, read_forecast

ERRORS = (AzureReportError, ReconcileError, RunFolderError)


def reconcile_run(run_dir: Path, spec: str, basis: str = "location", save: Path | None = None) -> tuple[pd.DataFrame, Path, Path]:
    """Read ``run_dir``'s forecast and the Azure report ``spec``, write ``reconcile.csv`` and
    ``reconcile.md`` into ``run_dir``; return the table and both paths."""
    forecast = read_forecast(run_dir)
    report = load_report(spec, list(forecast.location.index), save=save)
    table, outside = reconcile(forecast, report, basis)
    csv_path, md_path = write_outputs(run_dir, table, outside, report, forecast)
    return table, csv_path, md_path
