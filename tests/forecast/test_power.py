"""Coherent draws: no job, and no cold load, gets more power above idle than its GPU delivers."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.distributions import mean_of
from sim.config.errors import ConfigError
from sim.config.profile import energy_only_terms
from sim.config.resolve import load_and_check
from sim.forecast.epistemic import draw_epistemic
from sim.forecast.power import over_limit, power_limits
from sim.forecast.replication import sample_inputs
from sim.kernels.rng import Streams
from tests.helpers import CONFIGS, scenario_dict


@pytest.fixture(scope="module")
def res():
    return load_and_check(CONFIGS / "default.yaml")


def _limits(res, d):
    return power_limits(res, {name: p.gpu_idle_power_w for name, p in d.pools.items()})


def test_no_drawn_term_passes_the_cards_limit_over_many_draws(res):
    rng = np.random.default_rng(0)
    sku = res.skus.skus["Standard_NC24ads_A100_v4"]
    top = {}
    for r in range(400):
        d = draw_epistemic(res, Streams(res.scenario.seed, r))
        for model, limit in _limits(res, d).items():
            assert limit.watts == pytest.approx(sku.gpu_max_power_w - d.pools["gpu"].gpu_idle_power_w)
            m = d.models[model]
            assert m.load_energy_j <= limit.watts * m.load_time_s
            # any mix of units: the job's mean power above idle stays under the limit
            units = {u: rng.uniform(0, 5000, 50) for u in set(m.time_s.coef) | set(m.energy_j.coef)}
            power = m.energy_j.mean(units) / m.time_s.mean(units)
            assert power.max() <= limit.watts * (1 + 1e-12)
            top[model] = max(top.get(model, 0.0), m.energy_j.coef.get("audio_second", m.energy_j.coef.get("output_token")))
    # the truncation keeps the priors' high energies where the time allows them (lognormal p90 25 J/s, 2.0 J/token)
    assert top["whisper-large-v3"] > 18 and top["mistral-7b-q4"] > 2.0


def test_jobs_of_a_replication_stay_under_the_limit(res):
    for r in (0, 3):
        inp = sample_inputs(res, r)
        limit = min(x.watts for x in _limits(res, inp.draws).values())
        j = inp.jobs
        assert (j.energy_j <= limit * j.time_s * (1 + 1e-9)).all()


def test_a_profile_beyond_the_card_is_refused_naming_the_model(write_yaml, tmp_path):
    import yaml

    prof = yaml.safe_load((CONFIGS / "calibration" / "priors.yaml").read_text())
    prof["models"]["whisper-large-v3"]["energy_j"]["coef"]["audio_second"] = 400.0  # 400 J per 0.03-0.09 s
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(prof))
    data = scenario_dict("default")
    data["calibration"] = str(tmp_path / "p.yaml")
    res = load_and_check(write_yaml(data))
    with pytest.raises(ConfigError, match=r"whisper-large-v3.*audio_second.*Standard_NC24ads_A100_v4"):
        draw_epistemic(res, Streams(1, 0))


def test_terms_by_hand(res):
    assert over_limit({"intercept": 1.0, "u": 0.01}, {"intercept": 100.0, "u": 2.0}, 245.0, []) is None
    assert over_limit({"intercept": 1.0, "u": 0.01}, {"intercept": 100.0, "u": 3.0}, 245.0, []) == "u"  # 300 W
    assert over_limit({"intercept": 0.0}, {"intercept": 5.0}, 245.0, ["intercept"]) is None
    assert energy_only_terms(res.profile.models["whisper-large-v3"]) == []
    fixed = res.profile.models["whisper-large-v3"].model_copy(update={
        "time_s": res.profile.models["whisper-large-v3"].time_s.model_copy(update={"coef": {}})})
    assert energy_only_terms(fixed) == ["audio_second"]
    assert mean_of(fixed.energy_j.coef["audio_second"]) > 0


def test_simulate_refuses_it_before_any_replication(write_yaml, tmp_path):
    import pickle

    import yaml
    from click.testing import CliRunner

    from sim.cli import main

    prof = yaml.safe_load((CONFIGS / "calibration" / "priors.yaml").read_text())
    prof["models"]["mistral-7b-q4"]["load"] = {"time_s": 1.0, "energy_j": 5000.0}  # 5 kW to load
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(prof))
    data = scenario_dict("default")
    data["calibration"] = str(tmp_path / "p.yaml")
    res = CliRunner().invoke(main, ["simulate", str(write_yaml(data)), "-n", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "mistral-7b-q4" in res.output and "`load` term" in res.output
    assert not (tmp_path / "run").exists()
    err = ConfigError("x.yaml", [("a", "b", "c")])
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # travels back from a worker process intact


def test_energy_from_a_host_meter_is_not_bounded_by_the_card(write_yaml, tmp_path):
    import yaml

    prof = yaml.safe_load((CONFIGS / "calibration" / "priors.yaml").read_text())
    prof["models"]["whisper-large-v3"]["energy_j"]["coef"]["audio_second"] = 400.0
    prof["measurement"]["method"] = "codecarbon-cpu-load"  # host energy: the GPU's limit says nothing of it
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(prof))
    data = scenario_dict("default")
    data["calibration"] = str(tmp_path / "p.yaml")
    res = load_and_check(write_yaml(data))
    assert "whisper-large-v3" not in _limits(res, draw_epistemic(res, Streams(1, 0)))
    assert draw_epistemic(res, Streams(1, 0)).models["whisper-large-v3"].energy_j.coef["audio_second"] == 400.0
