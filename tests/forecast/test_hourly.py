"""Hourly grid intensity (carbon.grid_profile): loading, splitting jobs over hours, and the
accounting of both engines (flat = yearly figure bit for bit; a night pool under a
night-heavy profile by the hand-computed ratio)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sim.config.errors import ConfigError
from sim.config.gridprofile import load_grid_profile
from sim.config.resolve import load_and_check
from sim.engine.provisioning import Schedule
from sim.forecast.hourly import job_weights, pool_month_weights
from sim.forecast.replication import run_replication

from ..helpers import scenario_file

LCA = "Carbon Intensity gCO₂eq/kWh (LCA)"
FLAT = 56.0


def write_profile(path, values, year: int = 2023, *, datetime_column="Datetime (UTC)", column=LCA, extra=True):
    """A year of hourly values in Electricity Maps' export layout (with its other columns)."""
    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left")
    v = values(hours) if callable(values) else np.full(len(hours), float(values))
    df = pd.DataFrame({datetime_column: hours.strftime("%Y-%m-%d %H:%M:%S"), "Country": "France", "Zone Id": "FR",
                       "Carbon Intensity gCO₂eq/kWh (direct)": v / 2, column: v} if extra else {datetime_column: hours, column: v})
    df.to_csv(path, index=False)
    return path


def night_heavy(hours: pd.DatetimeIndex) -> np.ndarray:
    """3 x FLAT from 22:00 to 06:00 UTC, FLAT otherwise."""
    h = hours.hour.to_numpy()
    return np.where((h >= 22) | (h < 6), 3 * FLAT, FLAT)


# ---- splitting over hours (hand cases) --------------------------------------------------

def test_a_job_spanning_an_hour_boundary_is_split():
    shape = np.array([1.0, 3.0, 0.5])
    # 600 s in hour 0 and 600 s in hour 1: (600 x 1 + 600 x 3) / 1200 = 2
    assert job_weights(np.array([3000.0]), np.array([1200.0]), shape)[0] == 2.0
    # 1,800 s in hour 0, 3,600 in hour 1, 1,800 in hour 2: (1800 + 10800 + 900) / 7200
    assert job_weights(np.array([1800.0]), np.array([7200.0]), shape)[0] == pytest.approx(13500.0 / 7200.0)
    # inside one hour, no duration, or past the horizon: that hour's (the last one's)
    np.testing.assert_array_equal(job_weights(np.array([3700.0, 5000.0, 99999.0]), np.array([10.0, 0.0, 50.0]), shape),
                                  [3.0, 3.0, 0.5])
    # a flat shape gives exactly 1 whatever the split
    assert (job_weights(np.array([1.5, 3599.9, 17.0]), np.array([7000.3, 0.2, 1e-3]), np.ones(3)) == 1.0).all()


def test_pool_weights_follow_the_provisioned_hours():
    night = np.zeros(168, dtype=bool)
    for d in range(7):
        night[d * 24:d * 24 + 6] = True  # 00:00-06:00 every day
    shape = np.tile(np.r_[np.full(6, 2.0), np.ones(18)], 2)  # two days, nights at 2
    w = pool_month_weights(Schedule(night, 0), np.array([0.0, 86400.0, 172800.0]), shape)
    np.testing.assert_array_equal(w, [2.0, 2.0])
    assert (pool_month_weights(Schedule(np.ones(168, dtype=bool), 0), np.array([0.0, 172800.0]), shape) ==
            (12 * 2.0 + 36) / 48).all()


# ---- loading -------------------------------------------------------------------------------

def test_electricity_maps_layout_is_read_as_it_is(tmp_path):
    p = write_profile(tmp_path / "FR_2023_hourly.csv", night_heavy)
    prof = load_grid_profile(p)
    assert prof.column == LCA and prof.g_per_kwh.shape == (8760,)
    assert prof.g_per_kwh[0] == 3 * FLAT and prof.g_per_kwh[12] == FLAT
    # hours of 2027 map on the profile's by hour of year; 29 February repeats 28 February
    idx = prof.hour_of_year(dt.datetime(2028, 2, 28, 0), 72)
    assert list(idx[:24]) == list(range(58 * 24, 59 * 24)) == list(idx[24:48]) and idx[48] == 59 * 24


def test_the_later_electricity_maps_layout_is_read_as_it_is(tmp_path):
    """Files for 2024 on name their columns differently; the life-cycle one is still preferred."""
    hours = pd.date_range("2024-01-01", "2025-01-01", freq="h", inclusive="left")
    v = night_heavy(hours)
    df = pd.DataFrame({"Datetime (UTC)": hours.strftime("%Y-%m-%d %H:%M:%S"), "Zone id": "FR",
                       "Carbon intensity gCO₂eq/kWh (direct)": v / 2, "Carbon intensity gCO₂eq/kWh (Life cycle)": v,
                       "Carbon-free energy percentage (CFE%)": 90.0, "Renewable energy percentage (RE%)": 30.0})
    df.to_csv(tmp_path / "FR_2024_hourly.csv", index=False)
    prof = load_grid_profile(tmp_path / "FR_2024_hourly.csv")
    assert prof.column == "Carbon intensity gCO₂eq/kWh (Life cycle)"
    assert prof.g_per_kwh[0] == 3 * FLAT and prof.g_per_kwh[12] == FLAT
    df.drop(columns="Carbon intensity gCO₂eq/kWh (Life cycle)").to_csv(tmp_path / "direct.csv", index=False)
    prof = load_grid_profile(tmp_path / "direct.csv")
    assert prof.column == "Carbon intensity gCO₂eq/kWh (direct)" and prof.g_per_kwh[0] == 1.5 * FLAT


def test_other_layouts_name_their_columns(tmp_path):
    p = write_profile(tmp_path / "p.csv", 10.0, datetime_column="time", column="g", extra=False)
    with pytest.raises(ConfigError, match="datetime_column"):
        load_grid_profile(p)
    assert load_grid_profile(p, "time", "g").g_per_kwh.max() == 10.0


def test_a_missing_hour_is_a_clear_error(tmp_path):
    p = write_profile(tmp_path / "p.csv", 10.0)
    df = pd.read_csv(p).drop(index=100)
    df.to_csv(p, index=False)
    with pytest.raises(ConfigError, match="first hour without one: 100"):
        load_grid_profile(p)


def test_a_leap_year_profile_keeps_28_february(tmp_path):
    p = write_profile(tmp_path / "p.csv", lambda h: h.dayofyear.to_numpy() * 1.0, year=2024)
    prof = load_grid_profile(p)
    assert prof.g_per_kwh[58 * 24] == 59.0 and prof.g_per_kwh[59 * 24] == 61.0  # 1 March is day 61 of 2024


# ---- accounting --------------------------------------------------------------------------

def _res(tmp_path, name, profile=None, **changes):
    d = tmp_path / name
    d.mkdir()
    fields = {"carbon.grid_intensity_g_per_kwh": FLAT, "carbon.grid_trend_per_year": -0.05, "horizon_months": 2,
              "replications": 2, **changes}
    if profile is not None:
        write_profile(d / "grid.csv", profile)
        fields["carbon.grid_profile"] = "grid.csv"  # relative to the scenario's folder
    return load_and_check(scenario_file(d, **fields))


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_a_flat_profile_equals_the_yearly_figure_bit_for_bit(tmp_path, engine):
    yearly = run_replication(_res(tmp_path, "yearly"), 0, engine).monthly
    flat = run_replication(_res(tmp_path, "flat", FLAT), 0, engine).monthly
    np.testing.assert_array_equal(flat["co2e_kg"].to_numpy(), yearly["co2e_kg"].to_numpy())


def test_a_night_pool_under_a_night_heavy_profile_by_the_hand_ratio(tmp_path):
    night = {"pools.gpu.provisioning": {"policy": "scheduled", "hours": [22, 6]}}
    flat = run_replication(_res(tmp_path, "flat", FLAT, **night), 0, "fast").monthly
    heavy = run_replication(_res(tmp_path, "heavy", night_heavy, **night), 0, "fast").monthly

    def by(df, comps):
        return df[df["component"].isin(comps)].groupby("month")["co2e_kg"].sum().to_numpy()

    # idle and host energy is spent only in the pool's hours, 22:00-06:00, all at 3 x FLAT
    np.testing.assert_allclose(by(heavy, ["idle", "host"]), 3.0 * by(flat, ["idle", "host"]), rtol=1e-12)
    np.testing.assert_array_equal(by(heavy, ["embodied"]), by(flat, ["embodied"]))  # no energy, no intensity
    # jobs run while the pool is on; one still running at 06:00 finishes on the day's FLAT
    ratio = by(heavy, ["active"]).sum() / by(flat, ["active"]).sum()
    assert 2.5 < ratio <= 3.0 + 1e-12
    # under an always-on pool the same profile weighs the nights' third of the hours: (8 x 3 + 16) / 24
    on = run_replication(_res(tmp_path, "on-heavy", night_heavy), 0, "fast").monthly
    base = run_replication(_res(tmp_path, "on-flat", FLAT), 0, "fast").monthly
    np.testing.assert_allclose(by(on, ["idle", "host"]), (8 * 3 + 16) / 24 * by(base, ["idle", "host"]), rtol=1e-12)


def test_both_engines_account_the_same_hours(tmp_path):
    res = _res(tmp_path, "heavy", night_heavy)
    a, b = run_replication(res, 1, "simpy").monthly, run_replication(res, 1, "fast").monthly
    np.testing.assert_array_equal(a["co2e_kg"].to_numpy(), b["co2e_kg"].to_numpy())


@pytest.mark.parametrize("changes", [
    {},
    {"pools.gpu.provisioning": {"policy": "scheduled", "hours": [8, 18], "weekdays_only": True}},
])
def test_a_streamed_replication_weighs_the_same_hours(tmp_path, changes):
    """A night-heavy profile, blocks of 37 and 500 files: the jobs' energy-weighted hours are
    added block by block in job order, so the streamed tables are the whole replication's,
    bit for bit (and, on a pool on at night, the profile does move the emissions)."""
    from tests.forecast.test_stream import assert_streamed_is_whole

    res = _res(tmp_path, "night", night_heavy, horizon_months=3, **changes)
    for block in (37, 500):
        got = assert_streamed_is_whole(res, 0, block)
    if not changes:
        flat = run_replication(_res(tmp_path, "flat", FLAT, horizon_months=3), 0, "fast")
        assert got.monthly.columns["co2e_kg"].sum() > 1.01 * flat.monthly_table.columns["co2e_kg"].sum()
