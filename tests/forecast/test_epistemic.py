"""Epistemic draws: each uncertain constant is the first value of its own named stream."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.config.columns import draw_columns
from sim.config.distributions import LogNormal, Normal, Triangular, Uniform, draw
from sim.config.resolve import load_and_check
from sim.forecast.epistemic import (
    TRIES,
    _build,
    _plan,
    _Recorder,
    _Replay,
    draw_epistemic,
    feasible_draws,
)
from sim.kernels.rng import Streams
from tests.helpers import scenario_dict


class _OneGeneratorEach:
    """The reference: every quantity drawn by ``draw`` from a generator of its own."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams

    def take(self, value, names):
        return float(draw(value, self.streams.rng(*names)))


def _reference(res, streams: Streams):
    """The reference draws: ``TRIES`` values of each quantity from a generator of its own,
    then the same choice of the rows whose power fits (``feasible_draws``)."""
    wanted = _recorded(res)
    rows = np.column_stack([draw(value, streams.rng(*names), TRIES) for value, names in wanted]) if wanted else np.empty((TRIES, 0))
    first = _build(res, _OneGeneratorEach(streams))
    assert _flat(first) == _flat(_build(res, _Replay(rows[0])))  # the first value of each stream is the draw
    return feasible_draws(res, rows)


def _flat(d) -> dict[str, float]:
    row = dict(d.as_row())
    for name, p in d.pools.items():
        row[f"pool.{name}.lifetime_s"] = p.lifetime_s
    for name, m in d.models.items():
        row[f"model.{name}.load_time_s"], row[f"model.{name}.load_energy_j"] = m.load_time_s, m.load_energy_j
        for cost in ("time_s", "energy_j"):
            c = getattr(m, cost)
            row |= {f"model.{name}.{cost}.{u}": v for u, v in c.coef.items()}
            row[f"model.{name}.{cost}.intercept"] = c.intercept
    row["market"] = d.market_g_per_kwh if d.market_g_per_kwh is not None else math.nan
    return row


@pytest.mark.parametrize("replication", [0, 1, 7])
def test_draws_are_what_a_generator_per_quantity_gives(replication):
    """One compiled call gives the values of one NumPy generator per quantity: normals,
    uniforms and triangulars (the regions' PUE and grid intensity, the translation and
    generation time per output token) bit for bit, lognormals to the last bit of ``exp``,
    truncated normals mapped inside their bounds to 1e-12."""
    res = load_and_check("configs/default.yaml")
    wanted = _recorded(res)
    assert {Normal, LogNormal, Uniform, Triangular} <= {type(v) for v, _ in wanted}  # every path is exercised
    row = np.empty((1, len(wanted)))
    draw_columns(row, slice(0, 1), _plan(res), Streams(res.scenario.seed, replication))
    streams = Streams(res.scenario.seed, replication)
    for k, (value, names) in enumerate(wanted):
        ref = float(draw(value, streams.rng(*names)))
        if isinstance(value, LogNormal) or (isinstance(value, Normal) and value.bounds != (-math.inf, math.inf)):
            np.testing.assert_allclose(row[0, k], ref, rtol=1e-12, atol=0, err_msg=str(names))
        else:
            assert row[0, k] == ref, names
    # and the replication's Draws are built from them
    got = _flat(draw_epistemic(res, Streams(res.scenario.seed, replication)))
    ref = _flat(_reference(res, Streams(res.scenario.seed, replication)))
    assert got.keys() == ref.keys()
    np.testing.assert_allclose(list(got.values()), list(ref.values()), rtol=1e-12, atol=0, equal_nan=True)


def _recorded(res):
    rec = _Recorder()
    _build(res, rec)
    return rec.wanted


def test_every_uncertain_quantity_has_a_stream_of_its_own():
    res = load_and_check("configs/default.yaml")
    names = [n for _, n in _recorded(res)]
    assert len(names) == len(set(names)) > 10
    assert len(_plan(res).cols) == len(names)


def test_changing_one_quantity_leaves_every_other_draw(write_yaml):
    """Common random numbers: another PUE distribution changes the PUE only."""
    data = scenario_dict("default")
    one = load_and_check(write_yaml(data, "a.yaml"))
    data["carbon"]["pue"] = {"dist": "uniform", "low": 1.3, "high": 1.5}
    two = load_and_check(write_yaml(data, "b.yaml"))
    a = _flat(draw_epistemic(one, Streams(5, 2)))
    b = _flat(draw_epistemic(two, Streams(5, 2)))
    assert 1.3 <= b.pop("pue") <= 1.5 and a.pop("pue") < 1.3
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_a_scenario_with_nothing_uncertain_draws_nothing(write_yaml):
    """Fixed numbers everywhere: no stream is opened, and the numbers are the config's."""
    data = scenario_dict("default")
    data["workload"]["growth"]["monthly_rate"] = 0.05
    data["carbon"]["grid_trend_per_year"] = 0.0
    data["carbon"]["pue"] = 1.2
    data["carbon"]["grid_intensity_g_per_kwh"] = 50.0
    res = load_and_check(write_yaml(data))
    d = draw_epistemic(res, Streams(1, 0))
    assert (d.growth_rate, d.pue, d.grid_g_per_kwh, d.grid_trend_per_year) == (0.05, 1.2, 50.0, 0.0)
    # what stays uncertain comes from the calibration and the SKUs, and is drawn as before
    ref = _flat(_reference(res, Streams(1, 0)))
    np.testing.assert_allclose(list(_flat(d).values()), list(ref.values()), rtol=1e-12, atol=0, equal_nan=True)
