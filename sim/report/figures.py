"""Figures derived for the report from a run's tables: SCI per functional unit, budget
exceedance by month, input sensitivity (tornado), market-based totals.

All of them are computed per replication first, then summarised by quantiles over the
replications, as the headline figures are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.montecarlo.bands import monthly_sums

QS = (5, 10, 25, 50, 75, 90, 95)

#: Columns of ``replications.csv`` that are outputs of a replication, not inputs drawn for it.
OUTPUT_COLUMNS = {"replication", "files", "jobs", "co2e_kg", "energy_kwh", "facility_kwh", "files_served", "co2e_market_kg"}


def quantiles(values: np.ndarray) -> dict[str, float]:
    """mean and P5..P95 of finite ``values``; NaN everywhere when there are none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {f"p{q}": float("nan") for q in QS} | {"mean": float("nan")}
    return {f"p{q}": float(np.percentile(v, q)) for q in QS} | {"mean": float(v.mean())}


def services_by_task(config: dict) -> dict[str, list[str]]:
    """Enabled services of the resolved config, grouped by task (transcribe, translate, ...)."""
    out: dict[str, list[str]] = {}
    for name, svc in (config.get("services") or {}).items():
        if svc.get("enabled", True):
            out.setdefault(str(svc.get("task")), []).append(name)
    return out


def _per_rep(df: pd.DataFrame, value: str, n: int) -> np.ndarray:
    s = df.groupby("replication")[value].sum()
    return s.reindex(range(n), fill_value=0.0).to_numpy(dtype=float)


@dataclass(frozen=True)
class FunctionalUnit:
    """One SCI functional unit: emissions of the services doing ``task`` per unit of their work."""

    key: str  # audio_minute | article | response | file
    task: str | None
    g_per_unit: dict[str, float]  # quantiles over replications, gCO2e per unit
    units: dict[str, float]  # quantiles of the unit count over the horizon


def translated_text_files(files: pd.DataFrame, config: dict, translators: list[str]) -> pd.DataFrame:
    """Text files served whose pipeline passed through a translation service."""
    text_pipeline = {s.get("service") for s in (config.get("pipelines") or {}).get("text", [])}
    used = [s for s in translators if s in text_pipeline]
    if not used:
        return files.iloc[0:0]
    # A language is translated when at least one translation service serves it.
    services = config.get("services") or {}
    blocked = set.intersection(*(set(services[s].get("disabled_languages") or []) for s in used))
    keep = (files["content_type"] == "text") & ~files["language"].isin(blocked)
    return files[keep]


def sci_per_unit(monthly: pd.DataFrame, files: pd.DataFrame, config: dict, replications: int) -> list[FunctionalUnit]:
    """SCI (gCO2e) per audio-minute transcribed, per article translated, per generated response.

    Emissions are everything allocated to the services of the task (active, idle, host and
    embodied); the ratio is taken per replication, then summarised.
    """
    by_task = services_by_task(config)
    out: list[FunctionalUnit] = []

    def add(key: str, task: str, rows: pd.DataFrame, units: np.ndarray) -> None:
        kg = _per_rep(rows, "co2e_kg", replications)
        g = np.divide(kg * 1000.0, units, out=np.full_like(kg, np.nan), where=units > 0)
        out.append(FunctionalUnit(key, task, quantiles(g), quantiles(units)))

    if by_task.get("transcribe"):
        rows = monthly[monthly["service"].isin(by_task["transcribe"])]
        add("audio_minute", "transcribe", rows, _per_rep(rows, "audio_s", replications) / 60.0)
    if by_task.get("translate"):
        rows = monthly[monthly["service"].isin(by_task["translate"]) & (monthly["content_type"] == "text")]
        arts = translated_text_files(files, config, by_task["translate"])
        add("article", "translate", rows, _per_rep(arts, "served", replications))
    if by_task.get("generate"):
        rows = monthly[monthly["service"].isin(by_task["generate"])]
        add("response", "generate", rows, _per_rep(rows, "jobs", replications))
    return out


def exceedance_by_month(monthly: pd.DataFrame, replications: int, horizon: int, budget_kg: float | None) -> np.ndarray | None:
    """Share of replications whose cumulative emissions exceed the budget, at the end of each month."""
    if budget_kg is None:
        return None
    # the bands' one-pass sums: a groupby on two keys of millions of rows held several
    # times the table's size in temporaries (the report's peak memory)
    grid = monthly_sums(monthly, "co2e_kg", replications, horizon)
    return (np.cumsum(grid, axis=1) > budget_kg).mean(axis=0)


def market_totals(monthly: pd.DataFrame, replications: int) -> dict[str, float] | None:
    """Quantiles of market-based emissions over the horizon (kgCO2e), when the run has them."""
    if "co2e_market_kg" not in monthly.columns:
        return None
    return quantiles(_per_rep(monthly, "co2e_market_kg", replications))


@dataclass(frozen=True)
class Driver:
    """One input's effect on horizon emissions, from the Monte Carlo draws."""

    name: str
    low_kg: float  # fitted change of horizon emissions with the input at its P10 instead of its median
    high_kg: float  # same, at its P90
    variance_share: float  # SRC²: share of the variance of horizon emissions due to this input
    x_p10: float
    x_p90: float


def drawn_inputs(replications: pd.DataFrame) -> pd.DataFrame:
    """The inputs drawn per replication that vary: the columns of ``replications.csv`` that are not outputs."""
    cols = [c for c in replications.columns if c not in OUTPUT_COLUMNS and pd.api.types.is_numeric_dtype(replications[c])]
    x = replications[cols].astype(float)
    return x.loc[:, (x.max() > x.min()) & x.notna().all()]


@dataclass(frozen=True)
class LinearFit:
    """Least squares of horizon emissions (kgCO2e) on the centred drawn inputs."""

    inputs: pd.DataFrame
    y: np.ndarray
    coef: np.ndarray  # intercept, then one slope per input column
    r2: float  # share of the variance of horizon emissions the linear model explains


def linear_fit(replications: pd.DataFrame) -> LinearFit | None:
    """The linear model behind the tornado, or None with too few replications (n < inputs + 3)."""
    y = replications["co2e_kg"].to_numpy(dtype=float)
    x = drawn_inputs(replications)
    n, p = x.shape
    if p == 0 or n < p + 3 or np.ptp(y) == 0:
        return None
    xv = x.to_numpy()
    design = np.column_stack([np.ones(n), xv - xv.mean(axis=0)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return LinearFit(x, y, coef, r2)


def tornado(replications: pd.DataFrame, top: int = 10) -> tuple[float, list[Driver]]:
    """Variance-based sensitivity of horizon emissions to the inputs drawn per replication.

    A linear model of horizon emissions on all drawn inputs is fitted by least squares over
    the replications (standardised regression coefficients, SRC; ``linear_fit``, whose R²
    says how much of the variance the shares can account for). Each input's slope b gives
    the swing b * (P10(x) - P50(x)) .. b * (P90(x) - P50(x)) in kgCO2e around the median
    emissions; SRC² = (b * sd(x) / sd(y))² is its share of the variance, which the inputs
    share out when they are drawn independently and the response is close to linear.
    Needs more replications than inputs + 2; otherwise no driver is returned.
    Returns (median horizon emissions, drivers sorted by swing, the ``top`` largest).
    """
    y = replications["co2e_kg"].to_numpy(dtype=float)
    centre = float(np.median(y)) if y.size else float("nan")
    fit = linear_fit(replications)
    if fit is None:
        return centre, []
    xv, coef = fit.inputs.to_numpy(), fit.coef
    sd_y = y.std(ddof=1)
    drivers = []
    for j, name in enumerate(fit.inputs.columns):
        b = float(coef[j + 1])
        p10, p50, p90 = np.percentile(xv[:, j], [10, 50, 90])
        src = b * xv[:, j].std(ddof=1) / sd_y
        drivers.append(Driver(name, b * (p10 - p50), b * (p90 - p50), float(src * src), float(p10), float(p90)))
    drivers.sort(key=lambda d: -abs(d.high_kg - d.low_kg))
    return centre, drivers[:top]
