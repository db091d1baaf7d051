"""Fit quality in the profile: a meter that reads flat under load is flagged, a responsive one is not."""

from __future__ import annotations

import time

import numpy as np
import pytest

from calibrate.backends.base import BACKENDS, Backend, RunResult
from calibrate.meters import Meter
from calibrate.profile_writer import build_profile
from calibrate.quality import check_energy, is_flat, significant_units
from calibrate.runner import ServiceSpec, run_calibration
from calibrate.samples import Sample

IDLE_W = 28.0


class _PowerMeter(Meter):
    """Integrates a piecewise-constant power exactly over the clock (no resolution limit)."""

    method = "rapl"
    uncertainty = "test meter"

    def __init__(self, idle_w: float):
        self.power_w, self._t, self._e = idle_w, time.perf_counter(), 0.0

    def read_energy_j(self) -> float:
        now = time.perf_counter()
        self._e += self.power_w * (now - self._t)
        self._t = now
        return self._e

    def set_power(self, watts: float) -> None:
        self.read_energy_j()  # accrue at the old power up to now
        self.power_w = watts


class _Busy(Backend):
    """Works for 1 ms per input token; the meter reads ``load()`` meanwhile, idle otherwise."""

    name = "test-busy"
    service = "translate"
    units = ["input_token"]
    kinds = ("text",)
    library = "numpy"
    meter: _PowerMeter | None = None
    load = staticmethod(lambda: IDLE_W)

    def run(self, sample: Sample) -> RunResult:
        n = float(len(sample.text))
        self.meter.set_power(type(self).load())
        time.sleep(n / 1000)
        self.meter.set_power(IDLE_W)
        return RunResult({"input_token": n})


def _profile(load, monkeypatch):
    meter = _PowerMeter(IDLE_W)
    monkeypatch.setitem(BACKENDS, _Busy.name, _Busy)
    monkeypatch.setattr(_Busy, "meter", meter)
    monkeypatch.setattr(_Busy, "load", staticmethod(load))
    samples = [Sample(f"s{n}", "text", "en", text="x" * n) for n in (5, 10, 20, 40, 60)]
    run = run_calibration([ServiceSpec(_Busy.name, "m", key="m")], samples, meter, repeats=2, warmup=0, idle_s=0.05)
    return build_profile(run, meter).models["m"]


def test_a_meter_reading_constant_power_under_load_is_flagged(monkeypatch):
    rng = np.random.default_rng(0)
    model = _profile(lambda: IDLE_W + rng.normal(0, 0.3), monkeypatch)
    q = model.fit["energy_j"]
    assert q.responds is False and "flat_meter" in q.flags
    assert "flagged" in q.notes


def test_a_meter_that_follows_the_load_is_not_flagged(monkeypatch):
    model = _profile(lambda: IDLE_W + 100.0, monkeypatch)
    q = model.fit["energy_j"]
    assert q.responds is True and q.flags == []
    assert q.r2 > 0.9 and q.sigma == model.energy_j.sigma
    assert model.energy_j.coef["input_token"].mean() == pytest.approx(0.1, rel=0.1)  # 100 W x 1 ms per token
    # no finer step than one window here: the shortest call, 5 ms at 128 W (0.64 J) plus the sleep's overrun
    assert 0.6 < q.meter_resolution_j < 1.5


def test_checks_by_hand():
    assert significant_units({"a": 1.0, "b": 1.0}, {"a": 0.5, "b": 0.6}, ["a", "b"]) == ["a"]  # 1 - 1.96*0.6 < 0
    assert significant_units({"a": 1.0}, {"a": float("nan")}, ["a"]) == []
    assert is_flat(28.0 * 10, 10, 28.0, 0.1) == (True, 0.0)
    assert is_flat(38.0 * 10, 10, 28.0, 0.1) == (False, 10.0)
    assert check_energy(True, 0.3, ["a"], False, 5.0).flags == ["low_r2"]
    assert check_energy(False, None, [], True, 0.0).flags == ["not_fitted", "flat_meter"]
    assert check_energy(True, 0.8, ["a"], False, 5.0).responds


def test_the_cli_warns_of_a_flat_meter_and_writes_the_flag(monkeypatch, tmp_path):
    """`calibrate run` on a meter that reads constant power under load: written, flagged, warned."""
    from click.testing import CliRunner

    from calibrate import meters
    from calibrate.cli import calibrate
    from sim.config.profile import load_profile

    meter = _PowerMeter(IDLE_W)
    monkeypatch.setitem(BACKENDS, "transformers-nllb", _Busy)  # the translate service's backend, scripted
    monkeypatch.setattr(_Busy, "meter", meter)
    monkeypatch.setattr(_Busy, "load", staticmethod(lambda: IDLE_W))
    monkeypatch.setitem(meters.METERS, "rapl", lambda: meter)
    for n in (5, 10, 20, 40, 60):
        (tmp_path / "samples" / "text" / "en").mkdir(parents=True, exist_ok=True)
        (tmp_path / "samples" / "text" / "en" / f"s{n}.txt").write_text("x" * n)
    out = tmp_path / "flat.yaml"
    res = CliRunner().invoke(calibrate, ["run", "--out", str(out), "--samples", str(tmp_path / "samples"), "--device", "cpu",
                                         "--services", "translate", "--meter", "rapl", "--idle-s", "0.05", "--repeats", "2",
                                         "--warmup", "0", "--key", "translate=flat-model"])
    assert res.exit_code == 0, res.output
    assert "WARNING: flat-model: energy flagged" in res.output and "flat_meter" in res.output
    q = load_profile(out).models["flat-model"].fit["energy_j"]
    assert q.responds is False and "flat_meter" in q.flags
