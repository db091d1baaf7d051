"""Hourly grid intensity from a CSV file (``carbon.grid_profile``).

One year of hourly UTC intensities (gCO2e/kWh), repeated by hour of year over the horizon
(29 February takes 28 February's hours). Electricity Maps' export is read as it is: a
``Datetime (UTC)`` column and its life-cycle intensity column (else its direct one), in the
layout of its files for 2021-2023 (``Carbon Intensity gCO₂eq/kWh (LCA)``) or of later ones
(``Carbon intensity gCO₂eq/kWh (Life cycle)``); another layout names its columns. Problems
are ConfigErrors naming the file, the column and the fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError

HOURS_PER_YEAR = 8760
DEFAULT_DATETIME = "Datetime (UTC)"
#: Intensity columns tried in order when none is named: Electricity Maps' life-cycle figure
#: first (as the regions' yearly figures, which count life-cycle emissions), then its direct
#: one, each as its files for 2021-2023 and its later files name it; then ``grid fetch``'s.
INTENSITY_CANDIDATES = ("Carbon Intensity gCO₂eq/kWh (LCA)", "Carbon intensity gCO₂eq/kWh (Life cycle)",
                        "Carbon Intensity gCO₂eq/kWh (direct)", "Carbon intensity gCO₂eq/kWh (direct)",
                        "carbon_intensity_g_per_kwh")


@dataclass(frozen=True, eq=False)
class GridProfile:
    """Hour-of-year intensities (gCO2e/kWh, 8760 values, hour 0 = 1 January 00:00 UTC)."""

    path: Path
    column: str
    g_per_kwh: np.ndarray = field(repr=False)

    def hour_of_year(self, start: dt.datetime, hours: int) -> np.ndarray:
        """Index into ``g_per_kwh`` of each of ``hours`` hours from ``start`` (UTC)."""
        return hour_of_year(np.datetime64(start.replace(tzinfo=None), "h") + np.arange(hours))


def hour_of_year(t: np.ndarray) -> np.ndarray:
    """Hour of a 365-day year (0..8759) of each time ``t`` (datetime64[h], UTC); 29 February
    takes 28 February's hours and the later days of a leap year shift back by one."""
    year = t.astype("datetime64[Y]")
    day = (t.astype("datetime64[D]") - year.astype("datetime64[D]")).astype(np.int64)
    leap = _is_leap(year.astype(np.int64) + 1970)
    day = np.where(leap & (day >= 59), day - 1, day)
    hour = (t - t.astype("datetime64[D]")).astype(np.int64)
    return day * 24 + hour


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def load_grid_profile(path: Path, datetime_column: str = DEFAULT_DATETIME, intensity_column: str | None = None,
                      field_name: str = "carbon.grid_profile") -> GridProfile:
    """Read and check an hourly profile; every hour of one year must be there exactly once."""
    import pandas as pd

    if not path.is_file():
        raise ConfigError(path, [(field_name, "grid profile file not found", "check the path (relative to the scenario's folder)")])
    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(path, [(field_name, f"not a readable CSV ({exc})", "export the profile as CSV")]) from None
    if datetime_column not in df.columns:
        raise ConfigError(path, [(f"{field_name}.datetime_column", f"no column `{datetime_column}`",
                                  f"name the UTC time column with datetime_column; columns are {list(df.columns)}")])
    column = intensity_column or next((c for c in INTENSITY_CANDIDATES if c in df.columns), None)
    if column is None or column not in df.columns:
        raise ConfigError(path, [(f"{field_name}.intensity_column", f"no intensity column `{column or INTENSITY_CANDIDATES[0]}`",
                                  f"name it with intensity_column; columns are {list(df.columns)}")])
    when = pd.to_datetime(df[datetime_column], utc=True, errors="coerce")
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(when.isna().to_numpy() | ~np.isfinite(values) | (values < 0))
    if bad.size:
        raise ConfigError(path, [(f"{field_name}.{column}", f"row {int(bad[0]) + 2}: not a time and a non-negative intensity",
                                  "fix or remove the row")])
    stamps = when.dt.tz_convert(None).to_numpy().astype("datetime64[h]")
    years = np.unique(stamps.astype("datetime64[Y]"))
    if len(years) != 1:
        raise ConfigError(path, [(field_name, f"holds {len(years)} years", "give one calendar year of hourly values")])
    hoy = hour_of_year(stamps)
    out = np.full(HOURS_PER_YEAR, np.nan)
    count = np.bincount(hoy, minlength=HOURS_PER_YEAR)
    most = 2 if bool(_is_leap(years.astype(np.int64) + 1970)[0]) else 1  # 29 Feb shares 28 Feb's hours
    if (count > most).any() or (count == 0).any() or len(count) > HOURS_PER_YEAR:
        missing = int(np.flatnonzero(count == 0)[0]) if (count == 0).any() else None
        raise ConfigError(path, [(field_name, f"not one value per hour of the year (first hour without one: {missing})",
                                  "give 8,760 (or 8,784 in a leap year) hourly rows, one per hour, in UTC")])
    # in a leap year 29 February's rows land on 28 February's hours: the first row of each hour is kept
    first = np.unique(hoy, return_index=True)[1]
    out[hoy[first]] = values[first]
    return GridProfile(path, column, out)
