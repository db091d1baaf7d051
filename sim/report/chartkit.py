"""What every chart shares: style, colours, the data and label records, axis helpers.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot, no global state) in one
shared style: Okabe-Ito colours (readable by colour-blind readers and in grey print), titles
with units and period.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from .i18n import Strings
from .rundata import RunData

# Okabe & Ito (2008) colour-blind safe palette, black last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BAND = "#0072B2"
BUDGET = "#D55E00"
COMPONENT_COLOURS = {"active": "#0072B2", "idle": "#E69F00", "host": "#CC79A7", "embodied": "#999999", "managed": "#009E73"}

STYLE = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#dddddd", "grid.linewidth": 0.6, "axes.axisbelow": True, "legend.frameon": False,
    "lines.linewidth": 1.8, "svg.hashsalt": "carbonsim", "svg.fonttype": "path", "pdf.fonttype": 42,
}
PNG_DPI = 150


@dataclass
class ChartData:
    """What one chart plots: a tidy table and a few scalars."""

    table: pd.DataFrame
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Labels:
    """Words for one chart: the language and the period of the run."""

    t: Strings
    period: str


@dataclass(frozen=True)
class Chart:
    name: str
    data: Callable[[RunData], ChartData | None]
    plot: Callable[[ChartData, Labels], Figure]


# ---------------------------------------------------------------- shared helpers

def _figure(lab: Labels, key: str, size: tuple[float, float] = (8.0, 4.0), **title_kw: object) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    title = lab.t(f"fig.{key}.title", period=lab.period, **title_kw)
    fig.suptitle("\n".join(textwrap.wrap(title, 95)), x=0.01, ha="left", fontweight="bold", fontsize=10)
    return fig


def _month_axis(ax, periods: list[str]) -> None:
    step = max(1, int(np.ceil(len(periods) / 12)))
    ticks = list(range(0, len(periods), step))
    ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=45, ha="right")
    ax.set_xlim(-0.5, len(periods) - 0.5)


class _Num(Formatter):
    """Tick labels in the report's language, with as many decimals as the tick step needs."""

    def __init__(self, t: Strings):
        self.t, self.digits = t, 0

    def format_ticks(self, values):
        v = np.asarray(values, dtype=float)
        step = np.min(np.diff(v)) if v.size > 1 else 1.0
        self.digits = 0 if step >= 1 or step <= 0 else int(min(4, -np.floor(np.log10(step))))
        return [self(x) for x in v]

    def __call__(self, x, pos=None) -> str:
        return self.t.num(float(x), self.digits)


def _thousands(t: Strings) -> Formatter:
    return _Num(t)


def _bands(ax, x: np.ndarray, tab: pd.DataFrame, t: Strings, colour: str = BAND) -> None:
    ax.fill_between(x, tab["p5"], tab["p95"], color=colour, alpha=0.18, lw=0, label=t("leg.p5_p95"))
    ax.fill_between(x, tab["p25"], tab["p75"], color=colour, alpha=0.38, lw=0, label=t("leg.p25_p75"))
    ax.plot(x, tab["p50"], color=colour, label=t("leg.median"))


def _nonzero_groups(tab: pd.DataFrame, col: str = "p50") -> pd.DataFrame:
    keep = tab.groupby("group")[col].transform(lambda s: bool((s.abs() > 0).any()))
    return tab[keep.astype(bool)].reset_index(drop=True)


def _periods(tab: pd.DataFrame) -> list[str]:
    return list(tab.drop_duplicates("month").sort_values("month")["period"].astype(str))


