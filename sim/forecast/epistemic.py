"""Epistemic draws: the uncertain constants of one replication, drawn once.

Each quantity has its own named stream, so an option that changes one input (a region, a
model) leaves every other draw of the replication untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.columns import Columns, draw_columns, prepare_columns
from sim.config.distributions import Uncertain, draw, is_uncertain
from sim.config.errors import ConfigError
from sim.config.memo import keep_last
from sim.config.profile import AffineCost, ModelProfile, energy_only_terms
from sim.config.resolve import Resolved, service_model
from sim.kernels.rng import Streams

from .power import over_limit, power_limits

#: Values drawn from each stream per replication: the first is the draw; a model whose time
#: and energy give some job more power than its GPU can deliver takes the next ones (below).
TRIES = 64


_YEAR_S = 365.25 * 86400


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
    embodied_gpu_kg: float = 0.0  # the drawn embodied emissions of one GPU
    embodied_server_kg: float = 0.0  # of one whole server (the SKU takes its share of it)


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
        """Flat record of every scalar drawn for the replication (for sensitivity analysis):
        each is an input of its own, none a sum of others (the embodied total is left out
        for its GPU and server parts)."""
        row = {
            "growth_rate": self.growth_rate,
            "pue": self.pue,
            "grid_g_per_kwh": self.grid_g_per_kwh,
            "grid_trend_per_year": self.grid_trend_per_year,
        }
        if self.market_g_per_kwh is not None:
            row["market_g_per_kwh"] = self.market_g_per_kwh
        for name, p in self.pools.items():
            row[f"pool.{name}.gpu_idle_power_w"] = p.gpu_idle_power_w
            row[f"pool.{name}.host_power_w"] = p.host_power_w
            row[f"pool.{name}.embodied_gpu_kg"] = p.embodied_gpu_kg
            row[f"pool.{name}.embodied_server_kg"] = p.embodied_server_kg
            row[f"pool.{name}.lifetime_years"] = p.lifetime_s / _YEAR_S
        for name, m in self.models.items():
            for cost in ("time_s", "energy_j"):
                c = getattr(m, cost)
                row[f"model.{name}.{cost}.intercept"] = c.intercept
                for unit, value in c.coef.items():
                    row[f"model.{name}.{cost}.{unit}"] = value
            row[f"model.{name}.load_time_s"] = m.load_time_s
            row[f"model.{name}.load_energy_j"] = m.load_energy_j
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
    coef = {u: _one(c, source, *names, u) for u, c in cost.coef.items()}
    return CostDraw(_one(cost.intercept, source, *names, "intercept"), coef, cost.sigma)


def _model(name: str, m: ModelProfile, source: _Recorder | _Replay) -> ModelDraw:
    return ModelDraw(
        time_s=_cost(m.time_s, source, "model", name, "time_s"),
        energy_j=_cost(m.energy_j, source, "model", name, "energy_j"),
        load_time_s=_one(m.load.time_s, source, "model", name, "load_time_s"),
        load_energy_j=_one(m.load.energy_j, source, "model", name, "load_energy_j"),
    )


@keep_last
def _recorded(res: Resolved) -> list[tuple[Uncertain, tuple[str, ...]]]:
    """The scenario's uncertain quantities in the order ``_build`` asks for them: which ones
    it asks for does not depend on the values drawn, so one run records them."""
    recorder = _Recorder()
    _build(res, recorder)
    return recorder.wanted


@keep_last
def _plan(res: Resolved) -> Columns:
    """The scenario's epistemic quantities as columns of one row (``draw_columns``)."""
    return prepare_columns([(k, value, names) for k, (value, names) in enumerate(_recorded(res))])


def draw_epistemic(res: Resolved, streams: Streams) -> Draws:
    """Draw every epistemic quantity of the scenario for one replication.

    Each quantity ``names`` gets ``draw(value, streams.rng("epistemic", *names))``'s first
    value, all drawn in one compiled call (``draw_columns``) instead of one generator each;
    ``TRIES`` values of each are drawn for ``feasible_draws``.
    """
    plan = _plan(res)
    rows = np.empty((TRIES, len(plan.cols)))
    draw_columns(rows, slice(0, TRIES), plan, streams)
    return feasible_draws(res, rows)


def feasible_draws(res: Resolved, rows: np.ndarray) -> Draws:
    """The draws of ``rows[0]``, except for a model whose time and energy terms give some job
    more power above idle than its GPU can deliver (``sim.forecast.power``; its cold load is a
    term too): its time, energy and load come from the first later row where every term fits. Time and energy are so drawn
    jointly from their priors truncated to what the card can do; each keeps its own streams,
    so nothing else in the replication moves. Raises ConfigError when no row fits.
    """
    draws = _build(res, _Replay(rows[0]))
    limits = power_limits(res, {name: p.gpu_idle_power_w for name, p in draws.pools.items()})
    row = rows[0]
    figures = dict(service_model(res, name) for name in res.scenario.services)  # draws' key -> its profile entry
    for model, limit in limits.items():
        skip = energy_only_terms(figures[model])
        if _excess(draws.models[model], limit.watts, skip) is None:
            continue
        cols = [k for k, (_, names) in enumerate(_recorded(res)) if names[1:3] == ("model", model)]
        for k in range(1, len(rows)):
            trial = row.copy()
            trial[cols] = rows[k, cols]
            candidate = _build(res, _Replay(trial))
            if _excess(candidate.models[model], limit.watts, skip) is None:
                row, draws = trial, candidate
                break
        else:
            term = _excess(draws.models[model], limit.watts, skip)
            raise ConfigError(res.path, [(
                "calibration", f"model `{model}`: in {len(rows)} joint draws of its time and energy, none keeps the "
                f"`{term}` term's power above idle under the {limit.watts:.0f} W that pool `{limit.pool}` "
                f"({limit.sku}: gpu_max_power_w less idle) allows",
                "check the profile's time and energy for this model (energy in J above idle, time in s), or the SKU's gpu_max_power_w",
            )])
    return draws


def _excess(m: ModelDraw, limit_w: float, skip: list[str]) -> str | None:
    """The first of the model's terms (its cold load included) whose drawn power above idle exceeds ``limit_w``."""
    time_terms = {"intercept": m.time_s.intercept, **m.time_s.coef, "load": m.load_time_s}
    energy_terms = {"intercept": m.energy_j.intercept, **m.energy_j.coef, "load": m.load_energy_j}
    return over_limit(time_terms, energy_terms, limit_w, skip)


def _build(res: Resolved, source: _Recorder | _Replay) -> Draws:
    """The replication's ``Draws``, each uncertain quantity taken from ``source``.

    Nothing is clamped here: the schema refuses any number, or distribution whose support
    reaches, outside its physical range (PUE >= 1, lifetimes > 0, powers, intensities and
    costs >= 0), so every draw is already inside it.
    """
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
        gpu_kg = _one(sku.embodied_gpu_kg, source, "sku", pool.sku, "embodied_gpu")
        server_kg = _one(sku.embodied_server_kg, source, "sku", pool.sku, "embodied_server")
        embodied = gpus * gpu_kg + sku.server_share * server_kg
        pools[name] = PoolDraw(
            gpu_idle_power_w=_one(gpu_idle, source, "sku", pool.sku, "gpu_idle"),
            host_power_w=_one(host, source, "sku", pool.sku, "host"),
            embodied_kg=embodied if carbon.embodied else 0.0,
            lifetime_s=_one(sku.lifetime_years, source, "sku", pool.sku, "lifetime") * _YEAR_S,
            embodied_gpu_kg=gpu_kg,
            embodied_server_kg=server_kg,
        )
    # a model's figures belong to the GPU its pool runs on (``service_model``'s key)
    used_models = dict(service_model(res, name) for name in sc.services)
    models = {key: _model(key, used_models[key], source) for key in sorted(used_models)}
    market = carbon.market_intensity_g_per_kwh
    return Draws(
        growth_rate=_one(sc.workload.growth.monthly_rate, source, "growth"),
        pue=_one(carbon.pue if carbon.pue is not None else region.pue, source, "pue"),
        grid_g_per_kwh=_one(
            carbon.grid_intensity_g_per_kwh if carbon.grid_intensity_g_per_kwh is not None else region.grid_intensity_g_per_kwh,
            source,
            "grid",
        ),
        grid_trend_per_year=_one(carbon.grid_trend_per_year, source, "grid_trend"),
        market_g_per_kwh=None if market is None else _one(market, source, "market"),
        models=models,
        pools=pools,
    )
