"""The run's figures placed in the frameworks their readers report in.

- GHG Protocol: for the API's owner, the emissions of cloud compute bought from Azure are
  Scope 3, category 1 (purchased goods and services); location-based and market-based side
  by side (market-based only when the scenario gives a market factor,
  ``carbon.market_intensity_g_per_kwh``: no published default fits every contract).
- ESRS E1-6 (CSRD climate standard): gross Scope 3 emissions, in tCO2e per reporting year;
  the final 12 months of the horizon stand for a reporting year.
- SCI (Green Software Foundation, ISO/IEC 21031): SCI = (E x I + M) per R, with E the
  facility energy (kWh), E x I its location-based emissions, M the embodied emissions and R
  the functional unit, one file served.

Every figure is a quantile over the replications of a per-replication value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .content import Cell, Table
from .figures import market_totals, quantiles
from .i18n import Strings
from .rundata import RunData


def _per_rep(monthly: pd.DataFrame, n: int, mask: pd.Series | None = None, col: str = "co2e_kg") -> np.ndarray:
    rows = monthly if mask is None else monthly[mask]
    return rows.groupby("replication")[col].sum().reindex(range(n), fill_value=0.0).to_numpy(dtype=float)


def sci_terms(run: RunData) -> dict[str, dict[str, float]]:
    """Quantiles over replications of E (kWh), E x I (kgCO2e), M (kgCO2e), R (files) and SCI (gCO2e per file)."""
    n = int(run.headline["replications"])
    reps = run.replications.set_index("replication").reindex(range(n))
    embodied = run.monthly["component"] == "embodied"
    m = _per_rep(run.monthly, n, embodied)
    ei = _per_rep(run.monthly, n, ~embodied)
    r = reps["files_served"].to_numpy(dtype=float)
    sci = np.divide((ei + m) * 1000.0, r, out=np.full_like(r, np.nan), where=r > 0)
    return {"E": quantiles(reps["facility_kwh"].to_numpy(dtype=float)), "EI": quantiles(ei), "M": quantiles(m),
            "R": quantiles(r), "SCI": quantiles(sci)}


def _final_year_market(run: RunData, n: int) -> dict[str, float] | None:
    if "co2e_market_kg" not in run.monthly.columns:
        return None
    last = int(run.monthly["month"].max())
    return quantiles(_per_rep(run.monthly, n, run.monthly["month"] > last - 12, "co2e_market_kg"))


def frameworks_table(run: RunData, t: Strings) -> Table | None:
    """GHG Protocol, ESRS E1-6 and SCI rows with P50 and P90; None without the components."""
    if "component" not in run.monthly.columns:
        return None
    n = int(run.headline["replications"])
    h = run.headline
    rows: list[list[Cell | str]] = []

    def add(framework: str, point: str, q: dict[str, float] | None, key: str, scale: float = 1.0) -> None:
        if q is None:
            rows.append([t(framework), t(point), t("fw.market_none"), "–"])
            return
        rows.append([t(framework), t(point)] + [Cell(t.num(q[p] * scale), q[p] * scale, f"fw.{key}.{p}") for p in ("p50", "p90")])

    market = market_totals(run.monthly, n)
    add("fw.ghg", "fw.ghg_location", h["horizon_co2e_kg"], "ghg_location")
    add("fw.ghg", "fw.ghg_market", market, "ghg_market")
    add("fw.esrs", "fw.esrs_location", h["final_year_co2e_kg"], "esrs_location", 1e-3)
    add("fw.esrs", "fw.esrs_market", _final_year_market(run, n), "esrs_market", 1e-3)
    terms = sci_terms(run)
    for key in ("E", "EI", "M", "R", "SCI"):
        add("fw.sci", f"fw.sci_{key}", terms[key], f"sci_{key}")
    return Table([t("fw.framework"), t("fw.point"), "P50", "P90"], rows, t("fw.caption"))
