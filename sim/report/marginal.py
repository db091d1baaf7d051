"""Marginal emissions per month by service, language and content type (``marginal.csv``).

What one more file adds is its jobs' own emissions (their active energy on the pools, or a
managed endpoint's per-request figures: :data:`~sim.report.split.MARGINAL`), not the
provisioned part, which the pools cost whether or not the file arrives.

Per replication, month and group: the group's marginal kgCO2e, and that per file: for a
language or a content type, per file of that language or type served that month; for a
service, per file served that month (all of them: a service is one step of a file's
pipeline, so this is what it adds to an average file, and the services' figures add up to
the month's marginal gCO2e per file). Quantiles are then taken over the replications. Per
replication and month, the groups of each grouping add up to the month's marginal total.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.montecarlo.bands import grouped_monthly_sums, monthly_sums

from .split import GROUPINGS, MARGINAL

MARGINAL_CSV = "marginal.csv"
#: Groupings whose per-file figure divides by the group's own files (``files.parquet`` has them).
OWN_FILES = ("language", "content_type")
#: Quantiles of each figure in ``marginal.csv``, with the mean.
QS = (5, 50, 95)


@dataclass(frozen=True)
class GroupCubes:
    """One grouping's marginal kgCO2e and the files its per-file figure divides by, each
    replications x months x groups (``groups`` in order; ``total`` has one, ``all``)."""

    by: str
    groups: list[str]
    kg: np.ndarray
    files: np.ndarray

    def g_per_file(self) -> np.ndarray:
        """gCO2e per file, NaN where no file was served."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.files > 0, self.kg * 1000.0 / self.files, np.nan)


def marginal_cubes(monthly: pd.DataFrame, files: pd.DataFrame, by: str, n: int, horizon: int) -> GroupCubes:
    """Marginal kgCO2e per replication, month and group of ``by`` (``total``, or one of
    :data:`~sim.report.split.GROUPINGS`), with the files each group's per-file figure counts."""
    rows = monthly[monthly["component"].isin(MARGINAL)]
    served = monthly_sums(files, "served", n, horizon)
    if by == "total":
        return GroupCubes(by, ["all"], monthly_sums(rows, "co2e_kg", n, horizon)[:, :, None], served[:, :, None])
    kg, groups = grouped_monthly_sums(rows, "co2e_kg", by, n, horizon)
    if by in OWN_FILES:
        own, names = grouped_monthly_sums(files, "served", by, n, horizon)
        at = {g: i for i, g in enumerate(names)}
        count = np.stack([own[:, :, at[g]] if g in at else np.zeros((n, horizon)) for g in groups], axis=2)
    else:
        count = np.repeat(served[:, :, None], len(groups), axis=2)
    return GroupCubes(by, groups, kg, count.reshape(n, horizon, len(groups)))


def _summary(cube: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Mean and quantiles over replications (axis 0) of the finite values, month-major."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell without any file served: NaN, as meant
        out = {f"{name}_mean": np.nanmean(cube, axis=0).ravel()}
        for q, arr in zip(QS, np.nanpercentile(cube, QS, axis=0)):
            out[f"{name}_p{q}"] = arr.ravel()
    return out


def marginal_table(monthly: pd.DataFrame, files: pd.DataFrame, n: int, periods: list[str]) -> pd.DataFrame:
    """``marginal.csv``: one row per month, grouping (``total`` first) and group.

    Columns: ``month, period, group_by, group, per_file_of`` (``all``: the month's files
    served; ``group``: the group's own), ``files_p50``, then mean, P5, P50 and P95 of
    ``marginal_kg`` and of ``marginal_g_per_file`` (NaN where no such file was served).
    """
    horizon = len(periods)
    frames = []
    for by in ("total", *GROUPINGS):
        c = marginal_cubes(monthly, files, by, n, horizon)
        k = len(c.groups)
        frame = pd.DataFrame({
            "month": np.repeat(np.arange(horizon), k), "period": np.repeat(np.asarray(periods, dtype=object), k),
            "group_by": by, "group": np.tile(np.asarray(c.groups, dtype=object), horizon),
            "per_file_of": "group" if by in OWN_FILES else "all",
            "files_p50": np.percentile(c.files, 50, axis=0).ravel(),
            **_summary(c.kg, "marginal_kg"), **_summary(c.g_per_file(), "marginal_g_per_file"),
        })
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
