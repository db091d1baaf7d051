"""The report's charts: for each, a data function (what is plotted, from the run's files)
and a plot function (how), kept apart so tests can check the numbers, not the pixels.
Output is deterministic: the SVG hash salt is fixed and no date is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .capacity import capacity_data, capacity_plot
from .chartkit import (
    BUDGET,
    COMPONENT_COLOURS,
    PALETTE,
    PNG_DPI,
    STYLE,
    Chart,
    ChartData,
    Labels,
    _bands,
    _figure,
    _month_axis,
    _nonzero_groups,
    _periods,
    _thousands,
)
from .decision_charts import decision_data, decision_plot, smaa_data, smaa_plot
from .figures import exceedance_by_month, linear_fit, tornado
from .i18n import Strings
from .rundata import RunData
from .split_charts import intensity_data, intensity_plot

# ---------------------------------------------------------------- forecast charts

_BAND_COLS = ["month", "period", "p5", "p25", "p50", "p75", "p95"]


def fan_data(run: RunData) -> ChartData:
    tab = run.band("co2e_kg")[_BAND_COLS]
    budget = run.budget_kg
    return ChartData(tab, {"budget_month_kg": budget / len(tab) if budget is not None else None})


def fan_plot(d: ChartData, lab: Labels) -> Figure:
    fig = _figure(lab, "fan")
    ax = fig.add_subplot()
    x = d.table["month"].to_numpy()
    _bands(ax, x, d.table, lab.t)
    if d.extra.get("budget_month_kg") is not None:
        v = d.extra["budget_month_kg"]
        ax.axhline(v, color=BUDGET, ls="--", lw=1.4, label=lab.t("leg.budget_month", v=lab.t.num(v)))
    ax.set_ylabel(lab.t("ax.kg_month"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_thousands(lab.t))
    _month_axis(ax, _periods(d.table))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=4)
    return fig


def cumulative_data(run: RunData) -> ChartData:
    tab = run.band("co2e_kg_cumulative")[_BAND_COLS].copy()
    n, horizon = int(run.headline["replications"]), len(tab)
    p = exceedance_by_month(run.monthly, n, horizon, run.budget_kg)
    tab["p_exceed"] = p if p is not None else np.nan
    return ChartData(tab, {"budget_kg": run.budget_kg, "p_exceed_budget": run.headline.get("p_exceed_budget")})


def cumulative_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "cumulative")
    ax = fig.add_subplot()
    x = d.table["month"].to_numpy()
    _bands(ax, x, d.table, t)
    handles = None
    if d.extra.get("budget_kg") is not None:
        ax.axhline(d.extra["budget_kg"], color=BUDGET, ls="--", lw=1.4, label=t("leg.budget", v=t.num(d.extra["budget_kg"])))
        ax2 = ax.twinx()
        ax2.step(x, d.table["p_exceed"], where="mid", color="#000000", lw=1.2, ls=":", label=t("leg.p_exceed"))
        ax2.set_ylim(0, 1.02)
        ax2.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax2.set_ylabel(t("ax.p_exceed"))
        ax2.grid(False)
        ax2.spines["right"].set_visible(True)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        handles = (h1 + h2, l1 + l2)
        p = d.extra.get("p_exceed_budget")
        if p is not None:
            ax.text(0.99, 0.03, t("fig.cumulative.note", p=t.pct(p), words=t.likelihood(p)), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=9, fontweight="bold")
    ax.set_ylabel(t("ax.kg"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_thousands(t))
    _month_axis(ax, _periods(d.table))
    fig.legend(*(handles or ax.get_legend_handles_labels()), loc="outside lower center", ncol=5)
    return fig


def stacked_data(run: RunData) -> ChartData:
    parts = []
    for by in ("service", "language"):
        b = _nonzero_groups(run.band("co2e_kg", by))[["group", "month", "period", "p50"]]
        b.insert(0, "group_by", by)
        parts.append(b)
    return ChartData(pd.concat(parts, ignore_index=True))


def stacked_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "stacked", size=(9.0, 4.0))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, by in zip(axes, ("service", "language")):
        sub = d.table[d.table["group_by"] == by]
        wide = sub.pivot(index="month", columns="group", values="p50").fillna(0.0)
        order = list(wide.sum().sort_values(ascending=False).index)
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(order))]
        ax.stackplot(wide.index.to_numpy(), [wide[g].to_numpy() for g in order], colors=colours, alpha=0.9,
                     labels=[t.group(by, g) for g in order])
        ax.set_title(t(f"sub.{by}"), loc="left")
        _month_axis(ax, _periods(sub))
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=4, fontsize=7.5)
        ax.yaxis.set_major_formatter(_thousands(t))
    axes[0].set_ylabel(t("ax.kg_month"))
    return fig


def components_data(run: RunData) -> ChartData:
    tab = run.band("facility_kwh", "component")
    tab = tab[tab["group"] != "embodied"][["group", "month", "period", "p50"]].reset_index(drop=True)
    return ChartData(tab, {"share": dict(run.headline.get("component_share") or {})})


def components_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "components", size=(9.0, 4.0))
    left, right = fig.subplots(1, 2, width_ratios=[2.2, 1])
    wide = d.table.pivot(index="month", columns="group", values="p50").fillna(0.0)
    bottom = np.zeros(len(wide))
    for comp in [c for c in ("active", "idle", "host") if c in wide.columns] + [c for c in wide.columns if c not in ("active", "idle", "host")]:
        left.bar(wide.index, wide[comp], bottom=bottom, color=COMPONENT_COLOURS.get(comp, "#000000"),
                 label=t.component(comp), width=0.8)
        bottom += wide[comp].to_numpy()
    left.set_title(t("sub.energy"), loc="left")
    left.set_ylabel(t("ax.kwh_month"))
    left.yaxis.set_major_formatter(_thousands(t))
    _month_axis(left, _periods(d.table))
    left.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=3)
    share = sorted(d.extra["share"].items(), key=lambda kv: kv[1])
    names = [t.component(k) for k, _ in share]
    vals = [v for _, v in share]
    right.barh(names, vals, color=[COMPONENT_COLOURS.get(k, "#000000") for k, _ in share])
    for i, v in enumerate(vals):
        right.text(v + 0.01, i, t.pct(v), va="center", fontsize=8, fontweight="bold" if v == max(vals) else "normal")
    right.set_xlim(0, 1.15)
    right.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right.set_title(t("sub.share"), loc="left")
    right.set_xlabel(t("ax.share"))
    right.grid(axis="y", visible=False)
    return fig


def files_data(run: RunData) -> ChartData:
    tab = _nonzero_groups(run.band("files_served", "language"))[["group", "month", "period", "p5", "p50", "p95"]]
    req = run.band("files_requested")[["month", "p50"]].rename(columns={"p50": "requested_p50"})
    served = run.band("files_served")[["month", "p50"]]
    differs = not np.allclose(req["requested_p50"].to_numpy(), served["p50"].to_numpy())
    return ChartData(tab, {"requested": req if differs else None})


def files_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "files")
    ax = fig.add_subplot()
    totals = d.table.groupby("group")["p50"].sum().sort_values(ascending=False)
    for i, g in enumerate(totals.index):
        sub = d.table[d.table["group"] == g]
        c = PALETTE[i % len(PALETTE)]
        ax.fill_between(sub["month"], sub["p5"], sub["p95"], color=c, alpha=0.18, lw=0)
        ax.plot(sub["month"], sub["p50"], color=c, label=t.language(g))
    if d.extra.get("requested") is not None:
        r = d.extra["requested"]
        ax.plot(r["month"], r["requested_p50"], color="#000000", ls=":", label=t("leg.requested"))
    ax.set_title(t("sub.files_bands"), loc="left")
    ax.set_ylabel(t("ax.files_month"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_thousands(t))
    _month_axis(ax, _periods(d.table))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=5)
    return fig


def tornado_data(run: RunData) -> ChartData:
    centre, drivers = tornado(run.replications)
    tab = pd.DataFrame([d.__dict__ for d in drivers], columns=["name", "low_kg", "high_kg", "variance_share", "x_p10", "x_p90"])
    fit = linear_fit(run.replications)
    return ChartData(tab, {"centre_kg": centre, "r2": None if fit is None else fit.r2})


def tornado_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    n = max(len(d.table), 1)
    fig = _figure(lab, "tornado", size=(8.0, 1.2 + 0.38 * n))
    ax = fig.add_subplot()
    if d.table.empty:
        ax.text(0.5, 0.5, t("fig.tornado.none"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    tab = d.table.iloc[::-1]  # largest swing at the top
    y = np.arange(len(tab))
    ax.barh(y, tab["low_kg"], color=PALETTE[4], label=t("leg.low"))
    ax.barh(y, tab["high_kg"], color=PALETTE[0], label=t("leg.high"))
    ax.axvline(0, color="#000000", lw=0.8)
    ax.set_yticks(y, [f"{nm}  ({t.pct(v)})" for nm, v in zip(tab["name"], tab["variance_share"])])
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_formatter(_thousands(t))
    ax.set_xlabel(t("ax.swing", centre=t.num(d.extra["centre_kg"])))
    if d.extra.get("r2") is not None:  # how much of the variance the linear shares can account for
        ax.set_title(t("fig.tornado.r2", r2=t.num(d.extra["r2"], 3)), loc="left", fontsize="small")
    ax.legend(loc="lower right")
    return fig


CHARTS: tuple[Chart, ...] = (
    Chart("fan", fan_data, fan_plot),
    Chart("cumulative", cumulative_data, cumulative_plot),
    Chart("stacked", stacked_data, stacked_plot),
    Chart("components", components_data, components_plot),
    Chart("files", files_data, files_plot),
    Chart("intensity", intensity_data, intensity_plot),
    Chart("capacity", capacity_data, capacity_plot),
    Chart("tornado", tornado_data, tornado_plot),
    Chart("decision", decision_data, decision_plot),
    Chart("smaa", smaa_data, smaa_plot),
)


def figure_file(name: str, lang: str, ext: str) -> str:
    """Path of a chart in the run folder: ``figures/fan.png`` in English, ``figures/fan.fr.png``
    in another language, so that each language's charts keep their own words."""
    return f"figures/{name}.{ext}" if lang == "en" else f"figures/{name}.{lang}.{ext}"


@dataclass
class Rendered:
    name: str
    data: ChartData
    png: bytes
    svg: bytes


def render(chart: Chart, run: RunData, lab: Labels) -> Rendered | None:
    """Draw one chart to PNG and SVG bytes; None when the run has nothing for it."""
    with matplotlib.rc_context(STYLE):
        data = chart.data(run)
        if data is None:
            return None
        fig = chart.plot(data, lab)
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return Rendered(chart.name, data, png.getvalue(), svg.getvalue())


def render_all(run: RunData, t: Strings) -> list[Rendered]:
    periods = run.periods
    lab = Labels(t, t("period", start=periods[0], end=periods[-1]) if periods else "")
    return [r for r in (render(c, run, lab) for c in CHARTS) if r is not None]
