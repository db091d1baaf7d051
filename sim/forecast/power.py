"""What a GPU can deliver: the power above idle a job's drawn time and energy imply.

A job's energy above idle over its time is its mean power above idle. With affine costs
``time = t0 + sum(t_u x_u)`` and ``energy = e0 + sum(e_u x_u)`` (non-negative terms), that
ratio lies between the smallest and the largest of the terms' ratios ``e_c / t_c``, whatever
the units ``x``: so a draw whose every term satisfies ``e_c <= limit * t_c`` gives no job
more power than ``limit``, and one that breaks a term gives some job more. The shared
lognormal residual scales time and energy alike and leaves the ratio unchanged.

Jobs running together on one GPU (``slots_per_gpu`` > 1) share that headroom: each slot
may draw at most ``headroom / slots_per_gpu`` above idle (``slot_shares``), and a job or a
cold load whose drawn energy needs more power runs at the share, its time stretched to
``energy / share`` with its energy unchanged (``stretch_to_share``). The card's summed draw
then never passes its limit, whatever runs beside a job, in both engines alike (they are
given the stretched times). The price: a job alone on a card of several slots runs slower
than it could (``slots_per_gpu: 1`` gives one job at a time the whole headroom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    out: dict[str, PowerLimit] = {}
    for name in res.scenario.services:
        found = _headroom(res, name, gpu_idle_w)
        if found is None:
            continue
        key, limit = found
        if key not in out or limit.watts < out[key].watts:
            out[key] = limit
    return out


def slot_shares(res: Resolved, gpu_idle_w: dict[str, float]) -> np.ndarray:
    """Per service (scenario order): the power above idle (W) one slot of its pool may draw,
    ``(gpu_max_power_w - idle) x gpu_fraction / slots_per_gpu``; inf where the card does not
    bound it (managed endpoints, CPU pools, energy from a host meter)."""
    out = np.full(len(res.scenario.services), np.inf)
    for i, name in enumerate(res.scenario.services):
        found = _headroom(res, name, gpu_idle_w)
        if found is not None:
            out[i] = found[1].watts / res.scenario.pools[found[1].pool].slots_per_gpu
    return out


def shares_of(res: Resolved, draws) -> np.ndarray:
    """``slot_shares`` with a replication's drawn idle powers (``draws``: its ``Draws``)."""
    return slot_shares(res, {name: p.gpu_idle_power_w for name, p in draws.pools.items()})


def stretch_to_share(time_s: np.ndarray, energy_j: np.ndarray, share_w: np.ndarray) -> None:
    """Stretch, in place, each time (s) to at least its energy (J above idle) over its share
    (W above idle): the job then draws no more than its slot's share of the card."""
    np.maximum(time_s, energy_j / share_w, out=time_s)


def _headroom(res: Resolved, service: str, gpu_idle_w: dict[str, float]) -> tuple[str, PowerLimit] | None:
    """The service's model key and its pool's headroom above idle (W), or None where the card does not bound it."""
    svc = res.scenario.services[service]
    if svc.pool is None:  # a managed endpoint: the provider's fleet, not a card of ours
        return None
    key, _ = service_model(res, service)
    if key == svc.model and res.layers is not None and not res.layers.gpu_energy(svc.model):
        return None
    pool = res.scenario.pools[svc.pool]
    sku = res.skus.skus[pool.sku]
    if sku.gpus == 0:
        return None
    return key, PowerLimit((sku.gpu_max_power_w - gpu_idle_w[svc.pool]) * sku.gpu_fraction, svc.pool, pool.sku)


def over_limit(time_terms: dict[str, float], energy_terms: dict[str, float], limit_w: float, skip: list[str]) -> str | None:
    """The first term whose energy exceeds ``limit_w`` x its time, or None when all fit."""
    for name, e in energy_terms.items():
        if name in skip or e <= 0:
            continue
        if e > limit_w * time_terms.get(name, 0.0):
            return name
    return None
