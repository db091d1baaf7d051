"""Profile writer: a service whose every measured call failed is left out of the profile
(with a failure saying so) rather than written as a model that costs 0 s and 0 J."""

from __future__ import annotations

import numpy as np

from calibrate.meters import Meter
from calibrate.profile_writer import build_profile, write_profile
from calibrate.runner import CalibrationRun, Record, ServiceRun, ServiceSpec
from sim.config.profile import Failure, load_profile


class _Meter(Meter):
    method = "rapl"
    uncertainty = "test meter"


def _run(key: str, n: int) -> ServiceRun:
    run = ServiceRun(ServiceSpec("transformers-nllb", key, key), service="translate", units=["input_token", "output_token"],
                     load_time_s=1.0, load_energy_j=2.0)
    rng = np.random.default_rng(0)
    for i in range(n):
        tin, tout = float(rng.integers(20, 400)), float(rng.integers(10, 200))
        t = 0.05 + 0.001 * tin + 0.01 * tout
        run.records.append(Record(key, f"s{i}", "text", "en", 0, {"input_token": tin, "output_token": tout}, t, 30 * t, energy_j=10 * t))
    return run


def test_a_service_with_no_successful_call_is_left_out_and_reported(tmp_path):
    dead = _run("dead", 0)
    result = CalibrationRun([_run("ok", 12), dead], idle_power_w=20.0, idle_before_w=20.0, idle_after_w=20.0,
                            failures=[Failure(model="dead", sample="en/a.wav", error="cannot run (RuntimeError: no CUDA library)")])
    prof = build_profile(result, _Meter())
    assert list(prof.models) == ["ok"]
    assert prof.measurement.samples == 12
    dead_errors = [f.error for f in prof.failures if f.model == "dead"]
    assert len(dead_errors) == 2 and "left out of the profile" in dead_errors[1]
    out = write_profile(prof, tmp_path / "p.yaml")
    assert list(load_profile(out).models) == ["ok"]
