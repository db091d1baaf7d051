"""The report's section on fixed versus marginal emissions: the busy-time allocation stated
as an allocation with the marginal view beside it, per month, and where each option's saving
comes from, component by component."""

from __future__ import annotations

import math

import pandas as pd

from .content import Cell, Table
from .i18n import Strings
from .marginal import marginal_table
from .rundata import RunData
from .split import GROUPINGS, allocated_and_marginal, monthly_split

COMPONENT_ORDER = ("active", "idle", "host", "embodied")


def _c(t: Strings, v: float, key: str) -> Cell:
    v = float(v)
    return Cell(t.num(v), v if math.isfinite(v) else None, key)  # NaN: no file of the group that month


def split_monthly_table(run: RunData, t: Strings) -> Table:
    """Per month (P50): provisioned and marginal kgCO2e, average and marginal gCO2e per file."""
    periods = run.periods
    tab = monthly_split(run.monthly, run.files, int(run.headline["replications"]), len(periods)).set_index(["quantity", "month"])
    names = ("provisioned_kg", "marginal_kg", "average_g_per_file", "marginal_g_per_file")
    rows = [[p] + [_c(t, tab.loc[(q, m), "p50"], f"split.{q}.{m}.p50") for q in names] for m, p in enumerate(periods)]
    return Table([t("tbl.month")] + [t(f"split.{q}") for q in names], rows, t("split.monthly_caption"))


def marginal_by_group_table(run: RunData, t: Strings, table: pd.DataFrame | None = None) -> Table:
    """Per month (P50): marginal gCO2e per file of each service, language and content type
    (``marginal.csv``, or ``table`` when it has been computed already)."""
    periods = run.periods
    tab = table if table is not None else marginal_table(run.monthly, run.files, int(run.headline["replications"]), periods)
    tab = tab[tab["group_by"] != "total"]
    shown = tab.groupby(["group_by", "group"], sort=False)["marginal_kg_p95"].max()
    cols = [(by, g) for by in GROUPINGS for g in dict.fromkeys(tab.loc[tab["group_by"] == by, "group"]) if shown[(by, g)] > 0]
    cell = tab.set_index(["group_by", "group", "month"])["marginal_g_per_file_p50"]
    rows = [[p] + [_c(t, cell[(by, g, m)], f"marginal.{by}.{g}.{m}.g_per_file.p50") for by, g in cols]
            for m, p in enumerate(periods)]
    return Table([t("tbl.month")] + [t.group(by, g) for by, g in cols], rows, t("split.by_group_caption"))


def allocation_tables(run: RunData, t: Strings) -> list[Table]:
    """Per service, language and content type: horizon kgCO2e allocated by busy time, and the marginal part."""
    out = []
    n = int(run.headline["replications"])
    for by in GROUPINGS:
        tab = allocated_and_marginal(run.monthly, by, n)
        rows = [[t.group(by, g) if g != "(unused)" else t("unused"), _c(t, a, f"alloc.{by}.{g}.p50"), _c(t, mg, f"marginal.{by}.{g}.p50")]
                for g, a, mg in zip(tab["group"], tab["allocated_p50"], tab["marginal_p50"])]
        out.append(Table([t(f"split.by.{by}"), t("split.allocated"), t("split.marginal")], rows, t("split.alloc_caption")))
    return out


def saving_table(run: RunData, t: Strings) -> Table | None:
    """Per option: the mean difference to the baseline of each emission component (kgCO2e over
    the horizon, replication by replication); the components add up to the total difference."""
    comp = run.decision.components if run.decision is not None else None
    if comp is None:
        return None
    comp = comp.assign(option=comp["option"].astype(str))
    wide = comp.pivot(index="option", columns="component", values="diff_mean")
    order = [o for o in dict.fromkeys(run.decision.matrix["option"].astype(str)) if o in wide.index]
    base = str(run.decision.info.get("baseline", "baseline"))
    rows = []
    for o in order:
        if o == base:
            continue
        r = wide.loc[o]
        cells = [_c(t, r.get(c, 0.0), f"saving.{o}.{c}") for c in COMPONENT_ORDER]
        rows.append([o] + cells + [_c(t, sum(r.get(c, 0.0) for c in COMPONENT_ORDER), f"saving.{o}.total")])
    header = [t("dec.option")] + [t.component(c) for c in COMPONENT_ORDER] + [t("split.total")]
    return Table(header, rows, t("split.saving_caption"))
