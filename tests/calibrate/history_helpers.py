"""Synthetic histories drawn by carbonsim's own workload model (sim.workload)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from calibrate.history.counts import CountTable, month_name
from sim.config.scenario import Workload
from sim.forecast.workload import _counts, expected_counts

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
FIRST = 12 * 2026  # 2026-01


def workload(**changes) -> Workload:
    """The reference scenario's workload with ``changes`` applied."""
    data = yaml.safe_load(DEFAULT.read_text())["workload"]
    data.update(changes)
    return Workload.model_validate(data)


def draw(wl: Workload, months: int, rate: float, seed: int, first: int = FIRST) -> CountTable:
    """``months`` months of counts per language: the simulator's expected counts at ``rate``
    and its count draw (Poisson or negative binomial), month 0 = ``first``."""
    rng = np.random.default_rng(seed)
    means = expected_counts(wl, months, rate)
    files = np.array([_counts(wl, means[code], rng) for code in wl.languages], dtype=np.int64)
    return CountTable(tuple(month_name(first + m) for m in range(months)), tuple(wl.languages), files, f"synthetic seed {seed}")


def with_jump(table: CountTable, at: int, factor: float, seed: int) -> CountTable:
    """``table`` with the counts from month ``at`` on redrawn at ``factor`` times their level
    (a client won): each cell gains a Poisson number of files, ``factor - 1`` times its count."""
    rng = np.random.default_rng(seed)
    files = table.files.copy()
    extra = rng.poisson(files[:, at:] * (factor - 1.0))
    files[:, at:] += extra
    return CountTable(table.months, table.languages, files, table.source)
