"""Charts of fixed versus marginal emissions (``intensity``): provisioned and marginal
kgCO2e per month, and the average and marginal gCO2e per file served over time."""

from __future__ import annotations

from matplotlib.figure import Figure

from .chartkit import (
    COMPONENT_COLOURS,
    PALETTE,
    ChartData,
    Labels,
    _figure,
    _month_axis,
    _thousands,
)
from .rundata import RunData
from .split import monthly_split


def intensity_data(run: RunData) -> ChartData | None:
    if "component" not in run.monthly.columns:
        return None
    periods = run.periods
    tab = monthly_split(run.monthly, run.files, int(run.headline["replications"]), len(periods))
    tab.insert(1, "period", [periods[m] for m in tab["month"]])
    return ChartData(tab)


def intensity_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "intensity", size=(9.0, 4.0))
    left, right = fig.subplots(1, 2)
    tab = d.table
    periods = list(tab.drop_duplicates("month").sort_values("month")["period"])

    def q(name: str):
        return tab[tab["quantity"] == name].sort_values("month")

    prov, marg = q("provisioned_kg"), q("marginal_kg")
    left.bar(prov["month"], prov["p50"], color=COMPONENT_COLOURS["embodied"], label=t("leg.provisioned"), width=0.8)
    left.bar(marg["month"], marg["p50"], bottom=prov["p50"].to_numpy(), color=COMPONENT_COLOURS["active"],
             label=t("leg.marginal"), width=0.8)
    left.set_title(t("sub.split"), loc="left")
    left.set_ylabel(t("ax.kg_month"))
    left.yaxis.set_major_formatter(_thousands(t))
    _month_axis(left, periods)
    left.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=2)
    for name, colour, key in (("average_g_per_file", PALETTE[0], "leg.average_file"),
                              ("marginal_g_per_file", PALETTE[5], "leg.marginal_file")):
        s = q(name)
        right.fill_between(s["month"], s["p5"], s["p95"], color=colour, alpha=0.18, lw=0)
        right.plot(s["month"], s["p50"], color=colour, label=t(key))
    right.set_title(t("sub.per_file"), loc="left")
    right.set_ylabel(t("ax.g_file"))
    right.set_ylim(bottom=0)
    right.yaxis.set_major_formatter(_thousands(t))
    _month_axis(right, periods)
    right.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=1)
    return fig
