"""Figures per GPU: a pool runs its models with the figures of its SKU's GPU, and a pool on
a GPU that no profile has figures for is refused, naming the GPU, the model and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from sim.config.errors import ConfigError
from sim.config.resolve import load_and_check, service_model
from sim.decide.loading import load_options
from sim.decide.overlay import apply_option
from sim.forecast.replication import run_replication, sample_inputs
from tests.helpers import scenario_dict


def small(**pool) -> dict:
    data = scenario_dict("default")
    data["horizon_months"] = 2
    data["pools"]["gpu"].update(pool)
    return data


def test_a_sku_whose_gpu_has_no_figures_is_refused_naming_gpu_model_and_fix(write_yaml):
    with pytest.raises(ConfigError) as info:
        load_and_check(write_yaml(small(sku="Standard_NV36ads_A10_v5")))
    (field, message, fix), *_ = info.value.problems
    assert field == "pools.gpu.sku"
    assert "GPU `A10 24GB`" in message and "model `whisper-large-v3`" in message
    assert "calibrate" in fix and "gpu_profiles" in fix


def test_without_its_profile_a_t4_pool_is_refused_not_run_with_the_a100_figures(write_yaml):
    data = small(sku="Standard_NC4as_T4_v3")
    data["gpu_profiles"] = []
    with pytest.raises(ConfigError, match="GPU `T4 16GB`"):
        load_and_check(write_yaml(data))


def test_an_option_moving_a_pool_to_a_gpu_without_figures_is_refused(write_yaml, tmp_path):
    res = load_and_check(write_yaml(small()))
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump({"options": [{"name": "a10", "pools": {"gpu": {"sku": "Standard_NV36ads_A10_v5"}}}]}))
    with pytest.raises(ConfigError) as info:
        apply_option(res, load_options(path, res), "a10")
    assert any("A10 24GB" in msg and "whisper-large-v3" in msg for _, msg, _ in info.value.problems)


def test_t4_figures_are_used_on_a_t4_and_change_the_latency(write_yaml):
    a100 = load_and_check(write_yaml(small(), "a100.yaml"))
    t4 = load_and_check(write_yaml(small(sku="Standard_NC4as_T4_v3"), "t4.yaml"))
    key, model = service_model(t4, "transcription")
    assert key == "whisper-large-v3@T4 16GB" and model.source.startswith("derived")
    assert service_model(a100, "transcription")[0] == "whisper-large-v3"
    d_t4, d_a100 = sample_inputs(t4, 0).draws, sample_inputs(a100, 0).draws
    assert d_t4.models[key].time_s.coef["audio_second"] >= 0.07  # the T4 prior's low end, above the A100's 0.03-0.09 mode
    assert d_a100.models["whisper-large-v3"].time_s.coef["audio_second"] <= 0.09
    lat = {}
    for name, res in (("a100", a100), ("t4", t4)):
        st = run_replication(res, 0).service_stats
        lat[name] = st[st.service == "transcription"].latency_mean_s.to_numpy()
    assert np.all(lat["t4"] > lat["a100"])


def test_a_profile_that_states_no_gpu_serves_any_sku(write_yaml):
    data = scenario_dict("mmc")
    data["pools"]["pool"]["sku"] = "Standard_NC4as_T4_v3"
    res = load_and_check(write_yaml(data))
    assert service_model(res, "server")[0] == "exact-server"


def test_a_gpu_profile_must_state_its_gpu(write_yaml):
    data = small()
    data["gpu_profiles"] = [scenario_dict("mmc")["calibration"]]
    with pytest.raises(ConfigError, match="gpu_profiles.0.*states no GPU"):
        load_and_check(write_yaml(data))

