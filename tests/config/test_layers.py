"""Layered calibration: a measured profile of one model sits on the priors and changes that model alone."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from calibrate.cli import calibrate
from sim.cli import main
from sim.config.distributions import mean_of
from sim.config.profile import load_profile
from sim.config.resolve import load_and_check
from tests.helpers import CONFIGS, scenario_dict

PRIORS = CONFIGS / "calibration" / "priors.yaml"


def _one_model_profile(tmp_path, flags=None):
    """whisper-large-v3 as measured on another machine: 0.02 s and 3 J per audio second (150 W)."""
    entry = {
        "service": "transcribe", "units": ["audio_second"],
        "time_s": {"intercept": 0.1, "coef": {"audio_second": 0.02}, "sigma": 0.1},
        "energy_j": {"intercept": 2.0, "coef": {"audio_second": 3.0}, "sigma": 0.1},
        "fit": {"energy_j": {"n": 30, "r2": 0.1 if flags else 0.95, "responds": not flags, "flags": flags or []}},
        "source": "measured: faster-whisper large-v3, 30 calls, meter nvml",
    }
    data = {"name": "my-a100", "hardware": {"vm_sku": "Standard_NC24ads_A100_v4", "gpu_idle_power_w": 55.0},
            "measurement": {"method": "nvml", "samples": 30}, "models": {"whisper-large-v3": entry},
            "translation_length": {"source": "my corpus", "ratios": {"en>fr": 1.3}}}
    path = tmp_path / "my-a100.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _scenario(tmp_path, calibration):
    sc = scenario_dict("default")
    sc.update(calibration=calibration)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(sc, sort_keys=False))
    return path


def test_a_one_model_profile_over_the_priors_changes_that_model_alone(tmp_path):
    mine = _one_model_profile(tmp_path)
    res = load_and_check(_scenario(tmp_path, [str(PRIORS), str(mine)]))
    priors, merged = load_profile(PRIORS), res.profile
    assert set(merged.models) == set(priors.models)
    assert merged.models["whisper-large-v3"] == load_profile(mine).models["whisper-large-v3"]
    for key in set(priors.models) - {"whisper-large-v3"}:
        assert merged.models[key] == priors.models[key]
    assert res.layers.model_sources["whisper-large-v3"] == mine
    assert res.layers.model_sources["mistral-7b-q4"] == PRIORS
    # hardware field by field: what the measured file sets wins, the rest stays the priors'
    assert merged.hardware.gpu_idle_power_w == 55.0 and merged.hardware.gpu.model == priors.hardware.gpu.model
    assert merged.measurement.method == "nvml" and res.profile_paths == (PRIORS, mine)
    # translation length pair by pair
    assert merged.translation_length.ratios["en>fr"] == 1.3
    assert mean_of(merged.translation_length.ratios["ar>fr"]) == mean_of(priors.translation_length.ratios["ar>fr"])
    assert res.warnings == ()


def test_the_order_decides(tmp_path):
    mine = _one_model_profile(tmp_path)
    res = load_and_check(_scenario(tmp_path, [str(mine), str(PRIORS)]))
    assert res.profile.models["whisper-large-v3"] == load_profile(PRIORS).models["whisper-large-v3"]


def test_calibrate_show_prints_the_merged_profile_with_each_entrys_file(tmp_path):
    mine = _one_model_profile(tmp_path)
    out = CliRunner().invoke(calibrate, ["show", str(_scenario(tmp_path, [str(PRIORS), str(mine)]))])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    whisper = next(line for line in lines if line.startswith("whisper-large-v3 "))
    mistral = next(line for line in lines if line.startswith("mistral-7b-q4 "))
    assert whisper.endswith(f"[{mine}]") and mistral.endswith(f"[{PRIORS}]")


def test_a_flagged_model_is_reported_by_validate(tmp_path):
    mine = _one_model_profile(tmp_path, flags=["flat_meter", "low_r2"])
    res = CliRunner().invoke(main, ["validate", str(_scenario(tmp_path, [str(PRIORS), str(mine)]))])
    assert res.exit_code == 0
    assert "warning: model `whisper-large-v3`: its energy fit is flagged (flat_meter, low_r2)" in res.output


def test_an_empty_list_is_refused(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(_scenario(tmp_path, []))])
    assert res.exit_code == 1 and "calibration" in res.output and "at least one profile" in res.output


def test_simulate_warns_of_a_flagged_model_and_the_manifest_lists_the_layers(tmp_path):
    import json

    mine = _one_model_profile(tmp_path, flags=["no_slope"])
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["simulate", str(_scenario(tmp_path, [str(PRIORS), str(mine)])), "-n", "1", "--months", "1",
                                    "-w", "1", "--no-progress", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: model `whisper-large-v3`: its energy fit is flagged (no_slope)" in res.output
    cal = json.loads((out / "manifest.json").read_text())["calibration"]
    assert [layer["path"] for layer in cal["layers"]] == [str(PRIORS), str(mine)]
    assert cal["model_files"] == {"whisper-large-v3": str(mine), "nllb-200-1.3b": str(PRIORS), "mistral-7b-q4": str(PRIORS)}
    assert len(cal["warnings"]) == 1
