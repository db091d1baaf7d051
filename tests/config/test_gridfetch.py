"""`carbonsim grid fetch`: ENTSO-E generation per type x life-cycle factors, on a stored answer
of the platform (no network)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from sim.config.gridfetch import (
    LIFECYCLE_G_PER_KWH,
    GridFetchError,
    fetch_profile,
    intensity_from_generation,
)
from sim.config.gridprofile import load_grid_profile

ANSWER = Path(__file__).parent / "data" / "entsoe_a75_fr.xml"


class Replay(HTTPAdapter):
    """A transport adapter answering every request with a stored ENTSO-E document."""

    def __init__(self, body: bytes):
        super().__init__()
        self.body, self.urls = body, []

    def send(self, request, **kwargs):
        self.urls.append(request.url)
        raw = HTTPResponse(body=io.BytesIO(self.body), status=200, headers={"Content-Type": "text/xml"}, preload_content=False)
        return self.build_response(request, raw)


def test_profile_from_a_stored_answer():
    pytest.importorskip("entsoe")
    session, adapter = requests.Session(), Replay(ANSWER.read_bytes())
    session.mount("https://", adapter)
    df = fetch_profile("FR", 2024, "my-token", session=session)
    assert "documentType=A75" in adapter.urls[0] and "securityToken=my-token" in adapter.urls[0]
    assert "in_Domain=10YFR-RTE------C" in adapter.urls[0]
    g = df.set_index("Datetime (UTC)")["carbon_intensity_g_per_kwh"]
    # hand-computed: 00:00 nuclear 40 GW + wind 10 GW; 01:00 nuclear 40 + gas 10; 02:00 nuclear 30 + gas 10 + wind 10
    assert g["2024-01-01 00:00:00"] == pytest.approx((40000 * 12 + 10000 * 11) / 50000)
    assert g["2024-01-01 01:00:00"] == pytest.approx((40000 * 12 + 10000 * 490) / 50000)
    assert g["2024-01-01 02:00:00"] == pytest.approx((30000 * 12 + 10000 * 490 + 10000 * 11) / 50000)


def test_quarter_hours_average_to_the_hour_and_times_are_utc():
    idx = pd.date_range("2024-06-01 02:00", periods=4, freq="15min", tz="Europe/Paris")  # 00:00 UTC
    gen = pd.DataFrame({"Nuclear": [100.0, 100.0, 100.0, 100.0], "Fossil Gas": [0.0, 0.0, 100.0, 100.0]}, index=idx)
    df = intensity_from_generation(gen)
    assert list(df["Datetime (UTC)"]) == ["2024-06-01 00:00:00"]
    assert df["carbon_intensity_g_per_kwh"].iloc[0] == pytest.approx((100 * 12 + 50 * 490) / 150)


def test_every_factor_has_a_source_and_unknown_types_are_refused():
    assert all(v > 0 and "IPCC" in src for v, src in LIFECYCLE_G_PER_KWH.values())
    gen = pd.DataFrame({"Fusion": [1.0]}, index=pd.date_range("2024-01-01", periods=1, freq="h", tz="UTC"))
    with pytest.raises(GridFetchError, match="Fusion"):
        intensity_from_generation(gen)


def test_the_written_profile_is_read_by_carbon_grid_profile(tmp_path):
    hours = pd.date_range("2023-01-01", "2024-01-01", freq="h", inclusive="left", tz="UTC")
    gen = pd.DataFrame({"Nuclear": 1.0, "Fossil Gas": (hours.hour >= 18).astype(float)}, index=hours)
    path = tmp_path / "FR_2023_hourly.csv"
    intensity_from_generation(gen).to_csv(path, index=False)
    prof = load_grid_profile(path)
    assert prof.column == "carbon_intensity_g_per_kwh"
    assert prof.g_per_kwh[0] == 12.0 and prof.g_per_kwh[18] == pytest.approx((12 + 490) / 2)


def test_the_command_needs_a_token(tmp_path, monkeypatch):
    from sim.cli import main

    monkeypatch.delenv("ENTSOE_API_TOKEN", raising=False)
    res = CliRunner().invoke(main, ["grid", "fetch", "--zone", "FR", "--year", "2024"])
    assert res.exit_code == 2 and "--token" in res.output
