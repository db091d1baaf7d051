"""Exports people open in a spreadsheet: ``emissions.csv`` in wide form (one row per month)
and ``forecast.xlsx`` with the same sheet, the bands, the headline figures, the marginal
emissions per month and group (``marginal.csv``, sim.report.marginal) and the decision.

Both are language-neutral (column names in English, numbers unformatted) and rebuilt with
the report from the run's files.
"""

from __future__ import annotations

import io

import pandas as pd

from .rundata import RunData

EMISSIONS_CSV, WORKBOOK = "emissions.csv", "forecast.xlsx"
#: Groupings of ``bands.csv`` that get columns in the wide table, in order.
WIDE_GROUPS = ("component", "service")
WIDE_QUANTILES = ("p50", "p90")


def emissions_wide(run: RunData) -> pd.DataFrame:
    """One row per month: total kgCO2e, then each component and each service, P50 and P90
    (``total_p50``, ``component.idle_p90``, ``service.translation_p50``...), and files served."""
    total = run.band("co2e_kg").set_index("month")
    out = pd.DataFrame({"month": total.index, "period": total["period"].astype(str).to_numpy()})
    for q in WIDE_QUANTILES:
        out[f"total_{q}"] = total[q].to_numpy()
    for by in WIDE_GROUPS:
        b = run.band("co2e_kg", by)
        for g in dict.fromkeys(b["group"].astype(str)):
            rows = b[b["group"].astype(str) == g].set_index("month").reindex(out["month"])
            for q in WIDE_QUANTILES:
                out[f"{by}.{g}_{q}"] = rows[q].fillna(0.0).to_numpy()
    files = run.band("files_served").set_index("month").reindex(out["month"])
    out["files_served_p50"] = files["p50"].to_numpy()
    return out


def headline_frame(run: RunData) -> pd.DataFrame:
    """``headline.json`` as rows: one figure per row, its quantiles as columns."""
    rows = []
    for key, v in run.headline.items():
        if isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            rows.append({"figure": key, **v})
        elif isinstance(v, (int, float)) or v is None:
            rows.append({"figure": key, "value": v})
    return pd.DataFrame(rows)


def workbook_bytes(run: RunData, wide: pd.DataFrame, marginal: pd.DataFrame | None = None) -> bytes:
    """``forecast.xlsx``: sheets emissions (the wide table), bands, headline, marginal (when
    given: ``marginal.csv``), and when the options were evaluated, decision and ranking."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        wide.to_excel(xl, sheet_name="emissions", index=False)
        run.bands.to_excel(xl, sheet_name="bands", index=False)
        headline_frame(run).to_excel(xl, sheet_name="headline", index=False)
        if marginal is not None:
            marginal.to_excel(xl, sheet_name="marginal", index=False)
        if run.decision is not None:
            run.decision.matrix.to_excel(xl, sheet_name="decision", index=False)
            run.decision.ranking.to_excel(xl, sheet_name="ranking", index=False)
            if run.decision.components is not None:
                run.decision.components.to_excel(xl, sheet_name="saving_by_component", index=False)
    return buf.getvalue()
