"""Calibration profile from production telemetry: the stored request records, refitted.

For each service, the same affine models as the calibration stage
(``calibrate.fit.fit_affine``: ``intercept + sum(coef[unit] * units)`` with a mean-one
lognormal residual) are fitted to the records' duration (``time_s``) and attributed energy
above idle (``energy_j``), over the units the handlers reported. The idle baseline comes
from the intervals with no request in flight. The method is recorded as ``telemetry``.

Caveat, written into the profile: under concurrency a request's energy is its share of
each interval by overlap, not a separate measurement, so per-request energies are noisier
(and durations longer) than in a calibration run. ``max_concurrency=1`` keeps only
requests that ran alone.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import statistics
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from calibrate.fit import fit_affine_detailed
from calibrate.names import SCENARIO_MODELS
from calibrate.quality import check_energy, significant_units
from sim.config.profile import Failure, GPUInfo, Hardware, Measurement, ModelProfile, Profile

from .store import connect


@dataclass
class Selection:
    """Which records feed the fit."""

    months: list[str] = field(default_factory=list)  # YYYY-MM; empty: all
    services: list[str] = field(default_factory=list)  # empty: all
    max_concurrency: int | None = None
    min_samples: int = 10
    keys: dict[str, str] = field(default_factory=dict)  # service -> profile entry name (default: SCENARIO_MODELS)
    tasks: dict[str, str] = field(default_factory=dict)  # service -> task, for services not named after one


def entry_for(service: str, sel: Selection) -> tuple[str, str]:
    """The (entry name, task) a service's records are written under; ValueError says what to pass."""
    task = sel.tasks.get(service, service)
    if task not in SCENARIO_MODELS:
        raise ValueError(f"service {service!r} is not named after a task: pass --task {service}=TASK "
                         f"({'|'.join(SCENARIO_MODELS)}) and --key {service}=MODEL")
    return sel.keys.get(service, SCENARIO_MODELS[task]), task


@dataclass
class ServiceData:
    units: dict[str, np.ndarray]
    time_s: np.ndarray
    energy_j: np.ndarray
    languages: set[str]


def load_records(db: str | Path, sel: Selection) -> dict[str, ServiceData]:
    """Successful (2xx), fully metered request records per service, as unit arrays."""
    where = ["status BETWEEN 200 AND 299", "metered = 1"]
    args: list = []
    if sel.months:
        where.append(f"month IN ({','.join('?' * len(sel.months))})")
        args += sel.months
    if sel.services:
        where.append(f"service IN ({','.join('?' * len(sel.services))})")
        args += sel.services
    if sel.max_concurrency is not None:
        where.append("concurrency <= ?")
        args.append(sel.max_concurrency)
    con = connect(db)
    try:
        rows = con.execute(
            f"SELECT service, language, units, duration_s, energy_j FROM requests WHERE {' AND '.join(where)} ORDER BY id",
            args,
        ).fetchall()
    finally:
        con.close()
    grouped: dict[str, list[tuple[str, dict, float, float]]] = {}
    for service, language, units, dur, energy in rows:
        grouped.setdefault(service, []).append((language, json.loads(units), dur, energy))
    out = {}
    for service, recs in grouped.items():
        names = sorted({u for _, units, _, _ in recs for u in units})
        out[service] = ServiceData(
            units={u: np.array([units.get(u, 0.0) for _, units, _, _ in recs]) for u in names},
            time_s=np.array([r[2] for r in recs]),
            energy_j=np.array([r[3] for r in recs]),
            languages={r[0] for r in recs},
        )
    return out


def idle_power(db: str | Path, sel: Selection) -> tuple[float | None, str]:
    """Median power (W) of the measured intervals with no request in flight, and the meter method."""
    where, args = "", []
    if sel.months:
        where, args = f"AND month IN ({','.join('?' * len(sel.months))})", list(sel.months)
    con = connect(db)
    try:
        rows = con.execute(
            f"SELECT energy_j / (ended_at - started_at), meter FROM intervals WHERE in_flight = 0 AND energy_j IS NOT NULL "
            f"AND unattributed_j = 0 AND ended_at > started_at {where}",
            args,
        ).fetchall()
        meters = [m for (m,) in con.execute("SELECT DISTINCT meter FROM intervals WHERE energy_j IS NOT NULL")]
    finally:
        con.close()
    power = statistics.median(p for p, _ in rows) if rows else None
    return power, ",".join(sorted(meters)) or "none"


def _version() -> str:
    try:
        return version("carbonsim")
    except PackageNotFoundError:
        return "unknown"


def fit_telemetry(db: str | Path, sel: Selection | None = None, name: str = "telemetry") -> Profile:
    """Fit a calibration profile (method ``telemetry``) from a monitor store.

    Each service is written under the entry name scenarios use for its model (``sel.keys``,
    else the shipped scenario's model for the task it is named after). Services with fewer
    than ``sel.min_samples`` usable records, or whose fit fails, are listed in ``failures``
    rather than dropped silently. Raises ValueError when no service
    could be fitted.
    """
    sel = sel or Selection()
    data = load_records(db, sel)
    if not data:
        raise ValueError(f"{db}: no successful, metered request records match the selection; widen --month/--service")
    models: dict[str, ModelProfile] = {}
    failures: list[Failure] = []
    fitted_from: dict[str, str] = {}  # entry name -> the service it was fitted from
    for service, d in sorted(data.items()):
        n = len(d.time_s)
        try:
            key, task = entry_for(service, sel)
        except ValueError as exc:
            failures.append(Failure(model=service, error=str(exc)))
            continue
        if n < sel.min_samples:
            failures.append(Failure(model=key, error=f"{service}: {n} record(s), fewer than --min-samples {sel.min_samples}"))
            continue
        try:
            time_fit = fit_affine_detailed(d.units, d.time_s)
            energy_fit = fit_affine_detailed(d.units, d.energy_j)
        except ValueError as exc:
            failures.append(Failure(model=key, error=f"{service}: {exc}"))
            continue
        check = check_energy(True, energy_fit.quality.r2, significant_units(energy_fit.mean, energy_fit.sd, list(d.units)), False, None)
        time_q = time_fit.quality.model_copy(update={"sigma": time_fit.cost.sigma})
        energy_q = energy_fit.quality.model_copy(update={"sigma": energy_fit.cost.sigma, "responds": check.responds, "flags": check.flags})
        if key in fitted_from:
            raise ValueError(f"services {fitted_from[key]} and {service} both map to {key!r}: give each its own --key")
        fitted_from[key] = service
        models[key] = ModelProfile(
            service=task,
            units=list(d.units),
            time_s=time_fit.cost,
            energy_j=energy_fit.cost,
            fit={"time_s": time_q, "energy_j": energy_q},
            source=f"telemetry: service {service}, {n} requests from {Path(db).name} (languages {', '.join(sorted(d.languages))})",
        )
    if not models:
        raise ValueError(f"{db}: no service could be fitted: " + "; ".join(f"{f.model}: {f.error}" for f in failures))
    power, meter = idle_power(db, sel)
    on_gpu = meter.startswith("nvml")
    hardware = Hardware(
        gpu=GPUInfo(model="unknown", count=1 if on_gpu else 0),
        gpu_idle_power_w=power if on_gpu else None,
        host_idle_power_w=None if on_gpu else power,
        source="idle power: median of the monitor's intervals with no request in flight",
    )
    measurement = Measurement(
        method="telemetry",
        tools={"meter": meter, "carbonsim": _version(), "sqlite": sqlite3.sqlite_version},
        date=dt.date.today(),
        samples=sum(len(d.time_s) for d in data.values()),
        uncertainty=(
            "production traffic: energy of overlapping requests shared by overlap time (and service weight), "
            "so per-request energy is an allocation, not a separate measurement"
            + ("" if sel.max_concurrency is None else f"; requests with concurrency <= {sel.max_concurrency} only")
        ),
        source=f"carbonsim monitor store {db}" + (f", months {', '.join(sel.months)}" if sel.months else ""),
    )
    return Profile(name=name, hardware=hardware, measurement=measurement, models=models, failures=failures)
