"""France's hourly grid intensity of 2023 (Electricity Maps, ODbL; configs/grid/README.md):
one year of hours, a life-cycle mean within the region's published yearly range, and the
example scenario accounting each month's idle energy at that month's mean intensity.

The file is not in the repository: the tests read it where it is put (configs/grid/, as
the README says, or the shared data folder beside the project) and skip cleanly otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.config.gridprofile import load_grid_profile
from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication

from ..helpers import CONFIGS, ROOT, scenario_file

NAME = "FR_2023_hourly.csv"
PLACES = (CONFIGS / "grid" / NAME, ROOT.parent / "shared" / "data" / "grid" / NAME)
LIFE_CYCLE = ("Carbon Intensity gCO₂eq/kWh (LCA)", "Carbon intensity gCO₂eq/kWh (Life cycle)")
DIRECT = ("Carbon Intensity gCO₂eq/kWh (direct)", "Carbon intensity gCO₂eq/kWh (direct)")


@pytest.fixture(scope="module")
def profile():
    found = next((p for p in PLACES if p.is_file()), None)
    if found is None:
        pytest.skip(f"{NAME} is not here: download it as configs/grid/README.md says")
    return found


def _column(df: pd.DataFrame, names: tuple[str, ...]) -> str:
    return next(c for c in names if c in df.columns)


def test_one_year_of_hours_of_france(profile):
    df = pd.read_csv(profile)
    when = pd.to_datetime(df["Datetime (UTC)"])
    assert len(df) == 8760
    assert (when.dt.year == 2023).all() and (when.diff().iloc[1:] == pd.Timedelta(hours=1)).all()
    assert set(df[next(c for c in df.columns if c.lower() == "zone id")]) == {"FR"}
    # life-cycle emissions include the direct ones, hour by hour
    assert (df[_column(df, LIFE_CYCLE)] >= df[_column(df, DIRECT)]).all()


def test_the_life_cycle_mean_lies_within_the_regions_yearly_range(profile):
    prof = load_grid_profile(profile)
    assert prof.column in LIFE_CYCLE  # read by default, like the regions' life-cycle yearly figures
    regions = yaml.safe_load((CONFIGS / "azure" / "regions.yaml").read_text())["regions"]
    yearly = regions["francecentral"]["grid_intensity_g_per_kwh"]  # codecarbon / EcoLogits / CCF spread
    assert yearly["low"] <= prof.g_per_kwh.mean() <= yearly["high"]


def test_the_example_accounts_idle_energy_at_each_months_mean_intensity(profile, tmp_path):
    """An always-on pool draws idle and host power in every hour: its emissions are its energy
    times the mean of the month's hours of the profile (January 2027 takes January 2023's)."""
    path = scenario_file(tmp_path, "hourly-grid", **{"carbon.grid_profile": str(profile), "carbon.grid_trend_per_year": 0.0,
                                                     "horizon_months": 2, "replications": 1})
    res = load_and_check(path)
    monthly = run_replication(res, 0, "fast").monthly
    rows = monthly[monthly["component"].isin(["idle", "host"])].groupby("month")[["co2e_kg", "facility_kwh"]].sum()
    g = load_grid_profile(profile).g_per_kwh
    expected = [g[: 31 * 24].mean(), g[31 * 24: 59 * 24].mean()]  # January, February
    np.testing.assert_allclose(rows["co2e_kg"] / rows["facility_kwh"] * 1000.0, expected, rtol=1e-9)
