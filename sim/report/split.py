"""Fixed versus marginal emissions, from a run's monthly table.

*Provisioned* emissions (idle GPU, host, embodied) are what the infrastructure costs while it
is on, whether or not a file arrives. *Marginal* emissions (the ``active`` component: each
job's energy above idle; and ``managed``, a managed endpoint's requests) are what the work itself adds: one more file adds about its own
active emissions and nothing else while the pools have room. The run's tables allocate the
provisioned part to services, languages and content types by busy time; that is an
allocation, not a cause, and this module puts the marginal view beside it.

Everything is computed per replication, then summarised by quantiles over the replications.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.montecarlo.bands import monthly_sums

from .figures import quantiles

PROVISIONED = ("idle", "host", "embodied")
#: What the work adds: the jobs' active energy on the pools, and the requests of managed
#: endpoints (each booked per request, with its own share of the provider's hardware).
MARGINAL = ("active", "managed")
#: Groupings of the marginal view, each a column of ``monthly.parquet``.
GROUPINGS = ("service", "language", "content_type")


@dataclass(frozen=True)
class MonthlySplit:
    """Per month (rows, in order): quantiles over replications of each quantity.

    ``provisioned_kg`` and ``marginal_kg`` add up to the month's emissions; the per-file
    intensities divide by the files served that month (gCO2e per file).
    """

    table: pd.DataFrame  # month, quantity, p5..p95, mean


def _grid(monthly: pd.DataFrame, components: tuple[str, ...], n: int, horizon: int) -> np.ndarray:
    rows = monthly[monthly["component"].isin(components)]
    return monthly_sums(rows, "co2e_kg", n, horizon)


def _files_grid(files: pd.DataFrame, n: int, horizon: int) -> np.ndarray:
    return monthly_sums(files, "served", n, horizon)


def monthly_split(monthly: pd.DataFrame, files: pd.DataFrame, n: int, horizon: int) -> pd.DataFrame:
    """Provisioned and marginal kgCO2e, average and marginal gCO2e per file served, per month.

    Columns: ``month, quantity, mean, p5 .. p95`` with quantity one of ``provisioned_kg``,
    ``marginal_kg``, ``average_g_per_file``, ``marginal_g_per_file``. A month without a file
    served has no per-file intensity (NaN).
    """
    prov = _grid(monthly, PROVISIONED, n, horizon)
    marg = _grid(monthly, MARGINAL, n, horizon)
    served = _files_grid(files, n, horizon)
    with np.errstate(divide="ignore", invalid="ignore"):
        avg = np.where(served > 0, (prov + marg) * 1000.0 / served, np.nan)
        per = np.where(served > 0, marg * 1000.0 / served, np.nan)
    out = []
    for name, grid in (("provisioned_kg", prov), ("marginal_kg", marg), ("average_g_per_file", avg),
                       ("marginal_g_per_file", per)):
        for m in range(horizon):
            out.append({"month": m, "quantity": name} | quantiles(grid[:, m]))
    return pd.DataFrame(out)


def allocated_and_marginal(monthly: pd.DataFrame, by: str, n: int) -> pd.DataFrame:
    """Horizon kgCO2e per group of ``by``: all components as allocated by busy time, and the
    marginal (active) part alone; P50 over replications of each.

    Columns: ``group, allocated_p50, marginal_p50``, sorted by allocated emissions, largest first.
    Rows without a group (unused capacity) are left out of the marginal view, which has none.
    """
    def per_rep(rows: pd.DataFrame) -> pd.DataFrame:
        s = rows.groupby([by, "replication"], observed=True)["co2e_kg"].sum().unstack(fill_value=0.0)
        return s.reindex(columns=range(n), fill_value=0.0)

    alloc = per_rep(monthly)
    marg = per_rep(monthly[monthly["component"].isin(MARGINAL)]).reindex(alloc.index, fill_value=0.0)
    tab = pd.DataFrame({"group": alloc.index.astype(str), "allocated_p50": np.percentile(alloc.to_numpy(), 50, axis=1),
                        "marginal_p50": np.percentile(marg.to_numpy(), 50, axis=1)})
    return tab.sort_values("allocated_p50", ascending=False).reset_index(drop=True)


def horizon_split(monthly: pd.DataFrame, n: int) -> dict[str, dict[str, float]]:
    """Quantiles over replications of provisioned and marginal kgCO2e over the horizon."""
    def total(components: tuple[str, ...]) -> np.ndarray:
        rows = monthly[monthly["component"].isin(components)]
        return rows.groupby("replication")["co2e_kg"].sum().reindex(range(n), fill_value=0.0).to_numpy(dtype=float)

    return {"provisioned_kg": quantiles(total(PROVISIONED)), "marginal_kg": quantiles(total(MARGINAL))}
