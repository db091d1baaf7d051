"""What a GPU can deliver: the power above idle a job's drawn time and energy imply.

A job's energy above idle over its time is its mean power above idle. With affine costs
``time = t0 + sum(t_u x_u)`` and ``energy = e0 + sum(e_u x_u)`` (non-negative terms), that
ratio lies between the smallest and the largest of the terms' ratios ``e_c / t_c``, whatever
the units ``x``: so a draw whose every term satisfies ``e_c <= limit * t_c`` gives no job
more power than ``limit``, and one that breaks a term gives some job more. The shared
lognormal residual scales time and energy alike and leaves the ratio unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config.resolve import Resolved, service_model


@dataclass(frozen=True)
class PowerLimit:
    """The tightest GPU power headroom (W above idle) among the pools that run a model."""

    watts: float
    pool: str
    sku: str


def power_limits(res: Resolved, gpu_idle_w: dict[str, float]) -> dict[str, PowerLimit]:
    """Per model (by its draws' key: ``service_model``), the smallest ``(gpu_max_power_w -
    idle) x gpu_fraction`` over the GPU pools its services run on (``gpu_idle_w``: the
    replication's drawn idle power per pool). Models whose energy a host meter measured
    (RAPL, codecarbon) have none: the card does not bound it."""
    sc = res.scenario
    out: dict[str, PowerLimit] = {}
    for name, svc in sc.services.items():
        if svc.pool is None:  # a managed endpoint: the provider's fleet, not a card of ours
            continue
        key, _ = service_model(res, name)
        if key == svc.model and res.layers is not None and not res.layers.gpu_energy(svc.model):
            continue
        pool = sc.pools[svc.pool]
        sku = res.skus.skus[pool.sku]
        if sku.gpus == 0:
            continue
        watts = (sku.gpu_max_power_w - gpu_idle_w[svc.pool]) * sku.gpu_fraction
        if key not in out or watts < out[key].watts:
            out[key] = PowerLimit(watts, svc.pool, pool.sku)
    return out


def over_limit(time_terms: dict[str, float], energy_terms: dict[str, float], limit_w: float, skip: list[str]) -> str | None:
    """The first term whose energy exceeds ``limit_w`` x its time, or None when all fit."""
    for name, e in energy_terms.items():
        if name in skip or e <= 0:
            continue
        if e > limit_w * time_terms.get(name, 0.0):
            return name
    return None
