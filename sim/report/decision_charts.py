"""Charts of the decision: the decision matrix as a heat table, SMAA-2 rank acceptability."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .chartkit import ChartData, Labels, _figure
from .contrast import DIVERGING, ink
from .executive import page_seconds_unit
from .rundata import RunData


def shown_values(matrix: pd.DataFrame, seconds_unit: tuple[str, float]) -> tuple[pd.Series, pd.Series]:
    """Each P50 of the decision matrix in the unit the page shows it in, and that unit:
    durations in the page's one unit of time, everything else as in ``decision.csv``."""
    secs = matrix["unit"] == "s"
    shown = matrix["p50"].astype(float).where(~secs, matrix["p50"].astype(float) / seconds_unit[1])
    unit = matrix["unit"].astype(str).where(~secs, seconds_unit[0])
    return shown, unit


def decision_data(run: RunData) -> ChartData | None:
    if run.decision is None:
        return None
    m = run.decision.matrix
    tab = m[["option", "criterion", "direction", "unit", "weight", "p50", "score_p50", "feasible"]].copy()
    tab["feasible"] = tab["feasible"].astype(str).str.lower().isin({"true", "1", "1.0"})
    tab["shown"], tab["shown_unit"] = shown_values(tab, page_seconds_unit(run))
    return ChartData(tab.reset_index(drop=True), {"options": _option_order(run), "criteria": list(dict.fromkeys(m["criterion"])),
                                                  "cmap": DIVERGING})


def _option_order(run: RunData) -> list[str]:
    listed = [str(o) for o in (run.decision.info.get("options") or []) if not isinstance(o, dict)]
    listed += [str(o["name"]) for o in (run.decision.info.get("options") or []) if isinstance(o, dict) and "name" in o]
    seen = list(dict.fromkeys(run.decision.matrix["option"].astype(str)))
    return [o for o in listed if o in seen] + [o for o in seen if o not in listed]


def decision_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    opts, crits = d.extra["options"], d.extra["criteria"]
    tab = d.table.set_index(["option", "criterion"])
    fig = _figure(lab, "decision", size=(max(6.0, 1.5 + 1.25 * len(crits)), 1.4 + 0.42 * len(opts)))
    ax = fig.add_subplot()
    score = np.array([[tab.loc[(o, c), "score_p50"] if (o, c) in tab.index else np.nan for c in crits] for o in opts], dtype=float)
    cmap = matplotlib.colormaps[d.extra["cmap"]]
    ax.imshow(np.ma.masked_invalid(score), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i, o in enumerate(opts):
        for j, c in enumerate(crits):
            if (o, c) in tab.index:
                # black or white, whichever reads better on the cell (WCAG contrast)
                ax.text(j, i, t.num(float(tab.loc[(o, c), "shown"])), ha="center", va="center", fontsize=8,
                        color=ink(cmap(float(np.clip(score[i, j], 0, 1)))) if np.isfinite(score[i, j]) else "black")
    first = d.table.drop_duplicates("criterion").set_index("criterion")
    ax.set_xticks(range(len(crits)), [f"{c}\n{first.loc[c, 'shown_unit']} [{t.num(float(first.loc[c, 'weight']), 2)}]" for c in crits], fontsize=7.5)
    feasible = d.table.groupby("option")["feasible"].all()
    ax.set_yticks(range(len(opts)), [o if feasible.get(o, True) else f"{o} ({t('dec.infeasible')})" for o in opts])
    ax.xaxis.tick_top()
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)
    return fig


def smaa_data(run: RunData) -> ChartData | None:
    if run.decision is None or run.decision.smaa is None:
        return None
    tab = run.decision.smaa[["option", "rank", "acceptability"]].copy()
    tab["option"] = tab["option"].astype(str)
    order = [o for o in _option_order(run) if o in set(tab["option"])]
    order += [o for o in dict.fromkeys(tab["option"]) if o not in order]
    return ChartData(tab.reset_index(drop=True), {"options": order})


def smaa_plot(d: ChartData, lab: Labels) -> Figure:
    t = lab.t
    opts = d.extra["options"]
    wide = d.table.pivot_table(index="option", columns="rank", values="acceptability", aggfunc="sum").reindex(opts).fillna(0.0)
    fig = _figure(lab, "smaa", size=(8.0, 1.4 + 0.4 * len(opts)))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    ranks = sorted(wide.columns)
    left = np.zeros(len(opts))
    y = np.arange(len(opts))[::-1]
    for k, r in enumerate(ranks):
        v = wide[r].to_numpy()
        colour = cmap(k / max(len(ranks) - 1, 1))
        ax.barh(y, v, left=left, color=colour, label=t("leg.rank", r=int(r)))
        ink = "white" if sum(colour[:3]) < 1.5 else "black"
        for yi, (l0, vi) in enumerate(zip(left, v)):
            if vi >= 0.06:  # rank number inside segments wide enough to hold it
                ax.text(l0 + vi / 2, y[yi], str(int(r)), ha="center", va="center", fontsize=7.5, color=ink)
        left += v
    ax.set_yticks(y, opts)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(t("ax.acceptability"))
    ax.grid(axis="y", visible=False)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(len(ranks), 8))
    return fig


