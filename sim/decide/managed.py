"""What a decision records about managed endpoints: where each option's managed figures
come from, and what a job costs on the dedicated VM, whole and marginal, to set beside them."""

from __future__ import annotations

import pandas as pd

from sim.config.resolve import Resolved
from sim.forecast.managed import managed_services, provenance

from .options import BASELINE, OptionsFile
from .overlay import apply_option


def provenance_by_option(res: Resolved, spec: OptionsFile) -> dict[str, dict]:
    """Per option with managed services: each one's provenance (EcoLogits version, model
    entry, mix zone, assumptions; or the per-unit figures' source)."""
    out = {}
    for name in [BASELINE] + [o.name for o in spec.options]:
        r = apply_option(res, spec, name)
        if managed_services(r):
            out[name] = provenance(r)
    return out


def vm_per_job_g(monthly: pd.DataFrame, service: str) -> tuple[float, float] | None:
    """A pool job's emissions (gCO2e, P50 over replications) of ``service``: all its
    components (the VM's fixed part allocated by busy time: idle, host, embodied) and its
    active part alone; None when the service ran no pool job."""
    rows = monthly[(monthly["service"] == service) & (monthly["component"] != "managed")]
    active = rows[rows["component"] == "active"]
    jobs = active.groupby("replication", observed=True)["jobs"].sum()
    jobs = jobs[jobs > 0]
    if jobs.empty:
        return None
    whole = rows.groupby("replication", observed=True)["co2e_kg"].sum().reindex(jobs.index) / jobs * 1000
    own = active.groupby("replication", observed=True)["co2e_kg"].sum().reindex(jobs.index) / jobs * 1000
    return float(whole.median()), float(own.median())


def vm_per_job_by_service(monthly: pd.DataFrame, services: list[str]) -> dict[str, dict[str, float]]:
    """``vm_per_job_g`` of each service that ran on a pool, as ``{"whole": g, "own": g}``."""
    out = {}
    for svc in services:
        v = vm_per_job_g(monthly, svc)
        if v is not None:
            out[svc] = {"whole": v[0], "own": v[1]}
    return out
