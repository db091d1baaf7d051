"""Epistemic draws: the uncertain constants of one replication, drawn once.

Each quantity has its own named stream, so an option that changes one input (a region, a
model) leaves every other draw of the replication untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.distributions import (
    Columns,
    Uncertain,
    draw,
    draw_columns,
    is_uncertain,
    prepare_columns,
)
from sim.config.memo import keep_last
from sim.config.profile import AffineCost, ModelProfile
from sim.config.resolve import Resolved, service_model
from sim.kernels.rng import Streams


@dataclass(frozen=True)
class CostDraw:
    """An affine cost with its coefficients fixed for the replication."""

    intercept: float
    coef: dict[str, float]
    sigma: float

    def mean(self, units: dict[str, np.ndarray]) -> np.ndarray:
        """Mean cost for each job, given arrays of units (same length)."""
        n = len(next(iter(units.values())))
        out = np.full(n, self.intercept)
        for unit, c in self.coef.items():
            out += c * units[unit]
        return out


@dataclass(frozen=True)
class ModelDraw:
    time_s: CostDraw
    energy_j: CostDraw
    load_time_s: float
    load_energy_j: float


@dataclass(frozen=True)
class PoolDraw:
    gpu_idle_power_w: float
    host_power_w: float
    embodied_kg: float  # GPUs and server share of one instance over its lifetime
    lifetime_s: float


@dataclass(frozen=True)
class Draws:
    growth_rate: float
    pue: float
    grid_g_per_kwh: float
    grid_trend_per_year: float
    market_g_per_kwh: float | None
    models: dict[str, ModelDraw] = field(default_factory=dict)
    pools: dict[str, PoolDraw] = field(default_factory=dict)

    def as_row(self) -> dict[str, float]:
        """Flat record of the scalar draws (for sensitivity analysis)."""
        row = {
            "growth_rate": self.growth_rate,
            "pue": self.pue,
            "grid_g_per_kwh": self.grid_g_per_kwh,
            "grid_trend_per_year": self.grid_trend_per_year,
        }
        for name, p in self.pools.items():
            row[f"pool.{name}.gpu_idle_power_w"] = p.gpu_idle_power_w
            row[f"pool.{name}.host_power_w"] = p.host_power_w
            row[f"pool.{name}.embodied_kg"] = p.embodied_kg
        for name, m in self.models.items():
            for unit, c in m.energy_j.coef.items():
                row[f"model.{name}.energy_j.{unit}"] = c
            row[f"model.{name}.energy_j.intercept"] = m.energy_j.intercept
        return row


class _Recorder:
    """Stands in for the draws while ``_build`` runs once per scenario: notes each uncertain
    quantity, in order, with its stream's name, and gives 0 for it."""

    def __init__(self) -> None:
        self.wanted: list[tuple[Uncertain, tuple[str, ...]]] = []

    def take(self, value: Uncertain, names: tuple[str, ...]) -> float:
        self.wanted.append((value, names))
        return 0.0


class _Replay:
    """Gives a replication's drawn values to ``_build``, in the order it asks for them."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = iter(values.tolist())

    def take(self, value: Uncertain, names: tuple[str, ...]) -> float:
        return next(self.values)


def _one(value: Uncertain, source: _Recorder | _Replay, *names: str) -> float:
    if not is_uncertain(value):  # a plain or fixed number: no stream to open
        return float(draw(value, None))  # type: ignore[arg-type]
    return source.take(value, ("epistemic", *names))


def _cost(cost: AffineCost, source: _Recorder | _Replay, *names: str) -> CostDraw:
    coef = {u: max(0.0, _one(c, source, *names, u)) for u, c in cost.coef.items()}
    return CostDraw(max(0.0, _one(cost.intercept, source, *names, "intercept")), coef, cost.sigma)


def _model(name: str, m: ModelProfile, source: _Recorder | _Replay) -> ModelDraw:
    return ModelDraw(
        time_s=_cost(m.time_s, source, "model", name, "time_s"),
        energy_j=_cost(m.energy_j, source, "model", name, "energy_j"),
        load_time_s=max(0.0, _one(m.load.time_s, source, "model", name, "load_time_s")),
        load_energy_j=max(0.0, _one(m.load.energy_j, source, "model", name, "load_energy_j")),
    )


@keep_last
def _plan(res: Resolved) -> Columns:
    """The scenario's epistemic quantities as columns of one row (``draw_columns``): which
    ones ``_build`` asks for does not depend on the values drawn, so one run records them."""
    recorder = _Recorder()
    _build(res, recorder)
    return prepare_columns([(k, value, names) for k, (value, names) in enumerate(recorder.wanted)])


def draw_epistemic(res: Resolved, streams: Streams) -> Draws:
    """Draw every epistemic quantity of the scenario for one replication.

    Each quantity ``names`` gets ``draw(value, streams.rng("epistemic", *names))``'s first
    value, all drawn in one compiled call (``draw_columns``) instead of one generator each.
    """
    plan = _plan(res)
    row = np.empty((1, len(plan.cols)))
    draw_columns(row, slice(0, 1), plan, streams)
    return _build(res, _Replay(row[0]))


def _build(res: Resolved, source: _Recorder | _Replay) -> Draws:
    """The replication's ``Draws``, each uncertain quantity taken from ``source``."""
    sc = res.scenario
    region = res.regions.regions[sc.region]
    carbon = sc.carbon
    hw = res.profile.hardware
    pools: dict[str, PoolDraw] = {}
    for name, pool in sc.pools.items():
        sku = res.skus.skus[pool.sku]
        # A measured idle power in the profile wins for the SKU it was measured on.
        measured = hw.vm_sku == pool.sku
        gpu_idle = hw.gpu_idle_power_w if measured and hw.gpu_idle_power_w is not None else sku.gpu_idle_power_w
        host = hw.host_idle_power_w if measured and hw.host_idle_power_w is not None else sku.host_power_w
        gpus = sku.gpus * sku.gpu_fraction
        embodied = gpus * _one(sku.embodied_gpu_kg, source, "sku", pool.sku, "embodied_gpu") + sku.server_share * _one(
            sku.embodied_server_kg, source, "sku", pool.sku, "embodied_server"
        )
        pools[name] = PoolDraw(
            gpu_idle_power_w=max(0.0, _one(gpu_idle, source, "sku", pool.sku, "gpu_idle")),
            host_power_w=max(0.0, _one(host, source, "sku", pool.sku, "host")),
            embodied_kg=max(0.0, embodied) if carbon.embodied else 0.0,
            lifetime_s=max(1e-9, _one(sku.lifetime_years, source, "sku", pool.sku, "lifetime")) * 365.25 * 86400,
        )
    # a model's figures belong to the GPU its pool runs on (``service_model``'s key)
    used_models = dict(service_model(res, name) for name in sc.services)
    models = {key: _model(key, used_models[key], source) for key in sorted(used_models)}
    market = carbon.market_intensity_g_per_kwh
    return Draws(
        growth_rate=_one(sc.workload.growth.monthly_rate, source, "growth"),
        pue=max(1.0, _one(carbon.pue if carbon.pue is not None else region.pue, source, "pue")),
        grid_g_per_kwh=max(
            0.0,
            _one(
                carbon.grid_intensity_g_per_kwh if carbon.grid_intensity_g_per_kwh is not None else region.grid_intensity_g_per_kwh,
                source,
                "grid",
            ),
        ),
        grid_trend_per_year=_one(carbon.grid_trend_per_year, source, "grid_trend"),
        market_g_per_kwh=None if market is None else max(0.0, _one(market, source, "market")),
        models=models,
        pools=pools,
    )
