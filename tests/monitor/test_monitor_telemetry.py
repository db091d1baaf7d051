"""Telemetry to calibration: the stored records refit into a profile the simulator reads."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from calibrate.monitor.cli import telemetry
from calibrate.monitor.store import IntervalRecord, RequestRecord, Store, json_units
from calibrate.names import SCENARIO_MODELS
from sim.config.distributions import Normal
from sim.config.profile import load_profile

SIGMA = 0.2
# Known truth per service: (time intercept, time coefs), (energy intercept, energy coefs).
TRUTH = {
    "transcribe": ((0.4, {"audio_second": 0.05}), (25.0, {"audio_second": 8.0})),
    "generate": ((0.2, {"input_token": 0.0004, "output_token": 0.02}), (5.0, {"input_token": 0.04, "output_token": 1.2})),
}


def _synthetic_store(path, rng: np.random.Generator, n: int = 400, idle_w: float = 60.0) -> None:
    store = Store(path, queue_max=10 * n)
    for service, ((t0, tc), (e0, ec)) in TRUTH.items():
        for i in range(n):
            if service == "transcribe":
                units = {"audio_second": float(rng.uniform(5, 900))}
            else:
                units = {"input_token": float(rng.integers(50, 3000)), "output_token": float(rng.integers(10, 800))}
            z = rng.standard_normal()
            noise = np.exp(SIGMA * z - SIGMA**2 / 2)  # mean one, shared by time and energy
            dur = (t0 + sum(tc[u] * x for u, x in units.items())) * noise
            energy = (e0 + sum(ec[u] * x for u, x in units.items())) * noise
            store.put(
                RequestRecord(
                    started_at=float(i), month="2025-07", service=service, language="fr", route=f"/{service}",
                    method="POST", status=200, duration_s=dur, energy_j=energy, emissions_g=0.0,
                    units=json_units(units), concurrency=1 + i % 3, metered=1,
                )
            )  # fmt: skip
    # Refused and unmetered requests must be left out of the fit.
    for status, metered in [(429, 1), (200, 0)]:
        store.put(
            RequestRecord(
                started_at=0.0, month="2025-07", service="transcribe", language="fr", route="/transcribe", method="POST",
                status=status, duration_s=1e3, energy_j=1e9, emissions_g=0.0, units=json_units({"audio_second": 1}),
                concurrency=1, metered=metered,
            )
        )  # fmt: skip
    for k in range(50):
        dt = float(rng.uniform(0.5, 2.0))
        store.put(IntervalRecord(float(k), float(k) + dt, "2025-07", idle_w * dt, idle_w * dt, 0.0, 0.0, 0, "nvml"))
    store.start()
    store.close()


def _mean_sd(value) -> tuple[float, float]:
    if isinstance(value, Normal):
        return value.mean_, value.sd
    return float(value), 0.0


def test_telemetry_fit_recovers_known_coefficients(tmp_path):
    db, out = tmp_path / "carbon.db", tmp_path / "prod.yaml"
    _synthetic_store(db, np.random.default_rng(20250701))
    result = CliRunner().invoke(telemetry, [str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert profile.measurement.method == "telemetry"
    assert profile.measurement.samples == 800
    assert profile.hardware.gpu_idle_power_w == pytest.approx(60.0)
    assert set(profile.models) == {SCENARIO_MODELS[s] for s in TRUTH}  # keyed by the scenario's model names
    for service, truth in TRUTH.items():
        model = profile.models[SCENARIO_MODELS[service]]
        assert model.service == service and set(model.units) == set(truth[0][1])
        for cost, (intercept, coefs) in zip((model.time_s, model.energy_j), truth):
            mean, sd = _mean_sd(cost.intercept)
            assert abs(mean - intercept) < 4 * sd, (service, mean, intercept, sd)
            for u, want in coefs.items():
                mean, sd = _mean_sd(cost.coef[u])
                # Within 4 standard errors of the truth, and the standard error itself informative.
                assert abs(mean - want) < 4 * sd, (service, u, mean, want, sd)
                assert sd < 0.2 * want
            assert cost.sigma == pytest.approx(SIGMA, rel=0.15)
        assert model.fit["energy_j"].n == 400
        assert model.fit["energy_j"].responds and model.fit["energy_j"].flags == []


def test_telemetry_keys_and_tasks_name_the_entries(tmp_path):
    db, out = tmp_path / "carbon.db", tmp_path / "prod.yaml"
    _synthetic_store(db, np.random.default_rng(3), n=40)
    args = [str(db), "--out", str(out), "--key", "transcribe=whisper-large-v3-turbo"]
    result = CliRunner().invoke(telemetry, args)
    assert result.exit_code == 0, result.output
    assert set(load_profile(out).models) == {"whisper-large-v3-turbo", "mistral-7b-q4"}
    result = CliRunner().invoke(telemetry, args + ["--key", "generate=whisper-large-v3-turbo"])
    assert result.exit_code != 0 and "both map to 'whisper-large-v3-turbo'" in result.output


def test_telemetry_selection_and_clear_errors(tmp_path):
    db, out = tmp_path / "carbon.db", tmp_path / "prod.yaml"
    _synthetic_store(db, np.random.default_rng(7), n=30)
    runner = CliRunner()
    result = runner.invoke(telemetry, [str(db), "--out", str(out), "--max-concurrency", "1", "--min-samples", "10"])
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert {m.fit["time_s"].n for m in profile.models.values()} == {10}
    assert "concurrency <= 1" in profile.measurement.uncertainty
    # Too few records: reported as failures, then as an error naming the file.
    result = runner.invoke(telemetry, [str(db), "--out", str(out), "--max-concurrency", "1", "--min-samples", "11"])
    assert result.exit_code != 0 and "carbon.db" in result.output and "--min-samples 11" in result.output
    result = runner.invoke(telemetry, [str(db), "--out", str(out), "--month", "2024-01"])
    assert result.exit_code != 0 and "no successful, metered request records" in result.output
    result = runner.invoke(telemetry, [str(tmp_path / "missing.db"), "--out", str(out)])
    assert result.exit_code != 0 and "missing.db" in result.output
