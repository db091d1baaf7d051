"""Capacity per month and pool, from ``capacity.csv`` (long form: ``month, period, pool,
metric, mean, p5, p50, p95``; metrics ``utilisation``, ``instances``, ``instance_hours``,
``wait_p95_s``, ``latency_p95_s``): a chart (``figures/capacity.png``) and a table. A run
without the file gets neither, and the report says so."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sim.decide.recommendation import duration_unit

from .chartkit import PALETTE, ChartData, Labels, _figure, _month_axis, _thousands
from .content import Cell, Table
from .i18n import Strings
from .rundata import RunData

PANELS = ("utilisation", "instances", "latency_p95_s")


def latency_unit(cap) -> tuple[str, float]:
    """One unit for every latency of the capacity view, from the largest P50."""
    lat = cap.loc[cap["metric"] == "latency_p95_s", "p50"].to_numpy(dtype=float)
    return duration_unit(float(np.nanmax(lat)) if lat.size and np.isfinite(lat).any() else float("nan"))


def capacity_data(run: RunData) -> ChartData | None:
    if run.capacity is None:
        return None
    cap = run.capacity[run.capacity["metric"].isin(PANELS)].copy()
    cap["pool"] = cap["pool"].astype(str)
    return ChartData(cap.sort_values(["metric", "pool", "month"]).reset_index(drop=True), {"unit": latency_unit(cap)})


def capacity_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    fig = _figure(lab, "capacity", size=(10.0, 3.8))
    axes = fig.subplots(1, 3)
    unit, per = d.extra["unit"]
    periods = list(d.table.drop_duplicates("month").sort_values("month")["period"].astype(str))
    pools = list(dict.fromkeys(d.table["pool"]))
    for ax, metric in zip(axes, PANELS):
        scale = 1.0 / per if metric == "latency_p95_s" else 1.0
        for i, pool in enumerate(pools):
            s = d.table[(d.table["metric"] == metric) & (d.table["pool"] == pool)]
            c = PALETTE[i % len(PALETTE)]
            ax.fill_between(s["month"], s["p5"] * scale, s["p95"] * scale, color=c, alpha=0.18, lw=0)
            ax.plot(s["month"], s["p50"] * scale, color=c, label=pool)
        ax.set_title(t(f"cap.{metric}", unit=unit), loc="left")
        ax.set_ylim(bottom=0)
        if metric == "utilisation":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            ax.yaxis.set_major_formatter(_thousands(t))
        _month_axis(ax, periods)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(pools), 6),
               title=t("cap.legend"))
    return fig


def capacity_table(run: RunData, t: Strings) -> Table | None:
    """Per month and pool, P50 of utilisation, instances and P95 latency (the page's one unit)."""
    if run.capacity is None:
        return None
    cap = run.capacity.assign(pool=run.capacity["pool"].astype(str))
    unit, per = latency_unit(cap)
    wide = cap.pivot_table(index=["month", "pool"], columns="metric", values="p50", aggfunc="first")
    period = cap.drop_duplicates("month").set_index("month")["period"].astype(str)
    rows: list[list[Cell | str]] = []
    for (m, pool), r in wide.iterrows():
        row: list[Cell | str] = [period[m], pool]
        for metric in PANELS:
            v = r.get(metric, np.nan)
            if not np.isfinite(v):
                row.append("–")
            elif metric == "utilisation":
                row.append(Cell(t.pct(v), float(v), f"cap.{pool}.{metric}.{m}.p50"))
            else:
                shown = v / per if metric == "latency_p95_s" else v
                row.append(Cell(t.num(shown), float(v), f"cap.{pool}.{metric}.{m}.p50"))
        rows.append(row)
    header = [t("tbl.month"), t("cap.pool")] + [t(f"cap.{m}", unit=unit) for m in PANELS]
    return Table(header, rows, t("cap.caption"))
