"""``carbonsim grid fetch``: an hourly grid profile from ENTSO-E's actual generation per
production type, times each type's life-cycle emission factor.

The intensity is that of the zone's production (imports are not traced), in the layout
``carbon.grid_profile`` reads: ``Datetime (UTC)`` and ``carbon_intensity_g_per_kwh``.
Needs the ``grid`` extra (entsoe-py) and the user's ENTSO-E Transparency Platform token.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

AR5 = "IPCC AR5 WGIII Annex III, Table A.III.2, life-cycle median"
SRREN = "IPCC SRREN Annex II, Table A.II.4, life-cycle median (AR5 has no oil figure)"

#: gCO2e/kWh per ENTSO-E production type (entsoe-py's names), with the source of each.
LIFECYCLE_G_PER_KWH: dict[str, tuple[float, str]] = {
    "Biomass": (230.0, f"{AR5} (biomass, dedicated)"),
    "Fossil Brown coal/Lignite": (820.0, f"{AR5} (coal, pulverised)"),
    "Fossil Coal-derived gas": (490.0, f"{AR5} (gas, combined cycle)"),
    "Fossil Gas": (490.0, f"{AR5} (gas, combined cycle)"),
    "Fossil Hard coal": (820.0, f"{AR5} (coal, pulverised)"),
    "Fossil Oil": (840.0, SRREN),
    "Fossil Oil shale": (840.0, f"{SRREN}, as oil"),
    "Fossil Peat": (820.0, f"{AR5} (coal), as coal"),
    "Geothermal": (38.0, AR5),
    "Hydro Pumped Storage": (24.0, f"{AR5} (hydropower); the pumping energy's own emissions are not traced"),
    "Hydro Run-of-river and pondage": (24.0, f"{AR5} (hydropower)"),
    "Hydro Water Reservoir": (24.0, f"{AR5} (hydropower)"),
    "Marine": (24.0, f"{AR5} (hydropower), as hydropower"),
    "Nuclear": (12.0, AR5),
    "Other renewable": (38.0, f"{AR5} (geothermal), as the median renewable"),
    "Solar": (48.0, f"{AR5} (solar PV, utility)"),
    "Waste": (230.0, f"{AR5} (biomass, dedicated), as biomass"),
    "Wind Offshore": (12.0, AR5),
    "Wind Onshore": (11.0, AR5),
    "Other": (490.0, f"{AR5} (gas, combined cycle), as gas"),
}
COLUMN = "carbon_intensity_g_per_kwh"


class GridFetchError(Exception):
    """A profile that cannot be made; the message names the fix."""


def intensity_from_generation(gen: pd.DataFrame) -> pd.DataFrame:
    """Hourly life-cycle intensity (gCO2e/kWh) of a generation table (MW per production type,
    any resolution, time-zone-aware index): sum of MW x factor over sum of MW, per UTC hour.

    Columns named twice (``Actual Aggregated`` / ``Actual Consumption``, as entsoe-py gives for
    storage) count only their generation. An unknown production type is an error.
    """
    import pandas as pd

    if isinstance(gen.columns, pd.MultiIndex):
        gen = gen.xs("Actual Aggregated", axis=1, level=1, drop_level=True) if "Actual Aggregated" in gen.columns.get_level_values(1) else gen.droplevel(1, axis=1)
    unknown = sorted(set(gen.columns) - set(LIFECYCLE_G_PER_KWH))
    if unknown:
        raise GridFetchError(f"no life-cycle factor for production type(s) {unknown}: add them to LIFECYCLE_G_PER_KWH")
    mw = gen.fillna(0.0).clip(lower=0.0)
    mw.index = pd.DatetimeIndex(mw.index).tz_convert("UTC")
    hourly = mw.resample("h").mean()
    factors = np.array([LIFECYCLE_G_PER_KWH[c][0] for c in hourly.columns])
    total = hourly.sum(axis=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (hourly.to_numpy() @ factors) / total
    out = pd.DataFrame({"Datetime (UTC)": hourly.index.strftime("%Y-%m-%d %H:%M:%S"), COLUMN: g})
    if not np.isfinite(g).all():
        first = out.loc[~np.isfinite(g), "Datetime (UTC)"].iloc[0]
        raise GridFetchError(f"no generation reported for {first} UTC: the zone's data has a gap; try another year")
    return out


def fetch_profile(zone: str, year: int, token: str, session=None) -> pd.DataFrame:
    """One calendar year of hourly intensities of ``zone`` (an ENTSO-E area code such as ``FR``)."""
    try:
        from entsoe import EntsoePandasClient
    except ImportError as exc:  # the grid extra
        raise GridFetchError("entsoe-py is not installed: pip install 'carbonsim[grid]'") from exc
    import pandas as pd

    client = EntsoePandasClient(api_key=token, session=session)
    start, end = pd.Timestamp(f"{year}-01-01", tz="UTC"), pd.Timestamp(f"{year + 1}-01-01", tz="UTC")
    gen = client.query_generation(zone, start=start, end=end)
    return intensity_from_generation(gen)


def write_profile(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path
