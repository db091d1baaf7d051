"""The growth fit's figure: observed and fitted files per month, and the residuals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .counts import month_index
from .growth import GrowthFit, residual_rows


def plot_growth(gf: GrowthFit, path: Path) -> Path:
    """Write ``path`` (PNG): files per month, observed (dots) and fitted (lines), per
    language and in total, the break if any; below, the Pearson residuals of the total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = gf.table
    x_all = np.arange(len(table.months))
    lo = month_index(gf.fit_from) - table.first_month
    x_fit = x_all[lo:]
    expected = gf.expected()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(x_all, table.files.sum(axis=0), "o", color="black", ms=4, label="all, observed")
    top.plot(x_fit, expected.sum(axis=0), "-", color="black", label="all, fitted")
    for i, code in enumerate(gf.languages):
        li = table.languages.index(code)
        (line,) = top.plot(x_fit, np.where(expected[i] > 0, expected[i], np.nan), "-", lw=1)  # nothing before its start
        top.plot(x_all, table.files[li], "o", ms=3, color=line.get_color(), label=code)
    if gf.break_month:
        for ax in (top, bottom):
            ax.axvline(lo - 0.5, color="grey", ls="--", lw=1)
        top.text(lo - 0.4, top.get_ylim()[1] * 0.95, f"break {gf.break_month}", color="grey", va="top", fontsize=8)
    lo_r, hi_r = gf.rate_interval
    interval = f"[{'open' if lo_r is None else f'{lo_r:+.1%}'}, {'open' if hi_r is None else f'{hi_r:+.1%}'}]"
    top.set_title(f"Files per month: rate {gf.rate:+.2%}/month, 90% interval {interval}", fontsize=10)
    top.set_ylabel("files per month")
    top.legend(fontsize=8, ncol=3)
    res = [r["pearson"] for r in residual_rows(gf)]
    bottom.bar(x_fit, res, color="grey")
    bottom.axhline(0, color="black", lw=0.8)
    bottom.set_ylabel("Pearson residual")
    step = max(1, len(x_all) // 12)
    bottom.set_xticks(x_all[::step], [table.months[i] for i in x_all[::step]], rotation=45, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
