"""Every number is checked where it is declared: finite, in its physical range, distribution
supports included; dates real; references existing; sizes bounded. Nothing is clamped later."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import yaml

from sim.config.distributions import Normal, range_problem
from sim.config.errors import ConfigError
from sim.config.resolve import load_and_check
from sim.config.scenario import MAX_FILES_PER_REPLICATION, horizon_files
from sim.config.serving import MAX_INSTANCES, MAX_SLOTS_PER_GPU
from tests.helpers import CONFIGS, scenario_dict, set_dotted

NAN, INF = float("nan"), float("inf")


def _refused(write_yaml, changes: dict, name: str = "default") -> dict[str, str]:
    """The problems (field -> message) of the default scenario with ``changes``."""
    path = write_yaml(set_dotted(scenario_dict(name), changes))
    with pytest.raises(ConfigError) as exc:
        load_and_check(path)
    assert str(path) in str(exc.value)
    return {loc: msg for loc, msg, _ in exc.value.problems}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("carbon.pue", 0.5),
        ("carbon.pue", -1),
        ("carbon.pue", NAN),
        ("carbon.pue", {"dist": "normal", "mean": 1.2, "sd": 0.1}),  # untruncated: reaches below 1
        ("carbon.pue", {"dist": "uniform", "low": 0.9, "high": 1.3}),
        ("carbon.grid_intensity_g_per_kwh", -5),
        ("carbon.grid_intensity_g_per_kwh", INF),
        ("carbon.market_intensity_g_per_kwh", {"dist": "triangular", "low": -1, "mode": 2, "high": 3}),
        ("carbon.grid_trend_per_year", -1.5),
        ("workload.growth.monthly_rate", {"dist": "uniform", "low": -2, "high": 0.1}),
        ("workload.languages.fr.share", NAN),
        ("workload.languages.fr.content_mix.audio", NAN),
        ("workload.content.text.chars", {"dist": "uniform", "low": NAN, "high": 5000}),
        ("workload.content.text.chars", {"dist": "uniform", "low": -10, "high": 5000}),
        ("workload.content.audio.duration_s", {"dist": "lognormal", "median": INF, "p90": INF}),
        ("workload.content.audio.duration_s", {"dist": "lognormal", "median": 100, "sigma": 50}),
        ("workload.speech_chars_per_second", {"dist": "normal", "mean": 14, "sd": 2}),
        ("workload.dispersion", INF),
        ("pipelines.audio.2.output_tokens", {"dist": "normal", "mean": 300, "sd": 100}),
        ("pipelines.audio.1.length_ratio", 0),
        ("pools.gpu.instances", MAX_INSTANCES + 1),
        ("pools.gpu.slots_per_gpu", MAX_SLOTS_PER_GPU + 1),
        ("horizon_months", 241),
        ("replications", 10_001),
        ("workload.base_files_per_month", 1e12),
        ("carbon.budget.total_kg", NAN),
        ("workload.content.video.duration_s", 1e300),  # finite, but products overflow to infinity
        ("workload.content.text.chars", {"dist": "uniform", "low": 3000, "high": 1e300}),
        ("pools.gpu.sku", 3),
        ("pools.gpu.instances", True),  # pydantic alone would read it as 1
        ("carbon.grid_intensity_g_per_kwh", False),
        ("workload.languages.fr.content_mix.audio", True),
    ],
)
def test_out_of_range_numbers_are_refused_by_name(write_yaml, field, value):
    problems = _refused(write_yaml, {field: value})
    assert any(loc.startswith(field) for loc in problems), problems


def test_a_normal_must_be_truncated_inside_the_range():
    pue = {"dist": "normal", "mean": 1.2, "sd": 0.1}
    assert "truncate it with `low`" in range_problem(Normal.model_validate(pue), ge=1)
    assert range_problem(Normal.model_validate({**pue, "low": 1}), ge=1) is None
    assert range_problem(Normal.model_validate({**pue, "low": 0.99}), ge=1) is not None


def test_a_truncation_far_in_the_tail_is_refused():
    # 40 sd above the mean: no mass left, the inverse CDF would give infinity
    with pytest.raises(ValueError, match="mass"):
        Normal.model_validate({"dist": "normal", "mean": 0, "sd": 1, "low": 40})


def test_strictly_positive_fields_refuse_a_support_that_reaches_zero():
    sku = {"dist": "uniform", "low": 0, "high": 4}
    assert range_problem(Normal.model_validate({"dist": "normal", "mean": 3, "sd": 1, "low": 0}), gt=0) is not None
    from sim.config.distributions import LogNormal, Uniform

    assert range_problem(Uniform.model_validate({"dist": "uniform", **{k: v for k, v in sku.items() if k != "dist"}}), gt=0)
    # a lognormal never draws 0: its open support satisfies > 0
    assert range_problem(LogNormal.model_validate({"dist": "lognormal", "median": 3, "p90": 4}), gt=0) is None


def _catalogue_copy(tmp_path, what: str, edit) -> dict:
    """The default scenario pointed at a copy of a shipped catalogue edited by ``edit``."""
    src = {"skus_file": CONFIGS / "azure" / "skus.yaml", "regions_file": CONFIGS / "azure" / "regions.yaml",
           "calibration": CONFIGS / "calibration" / "priors.yaml"}[what]
    data = yaml.safe_load(src.read_text())
    edit(data)
    copy = tmp_path / src.name
    copy.write_text(yaml.safe_dump(data))
    return {what: str(copy)}


@pytest.mark.parametrize(
    ("what", "edit", "field"),
    [
        ("skus_file", lambda d: d["skus"]["Standard_NC24ads_A100_v4"].update(lifetime_years=0), "lifetime_years"),
        ("skus_file", lambda d: d["skus"]["Standard_NC24ads_A100_v4"].update(gpu_idle_power_w=-3), "gpu_idle_power_w"),
        ("skus_file", lambda d: d["skus"]["Standard_NC24ads_A100_v4"].update(gpus=10**9), "gpus"),
        ("regions_file", lambda d: d["regions"]["francecentral"].update(pue=0.5), "pue"),
        ("regions_file", lambda d: d["regions"]["francecentral"].update(grid_intensity_g_per_kwh=-1), "grid_intensity"),
        ("calibration", lambda d: d["models"]["mistral-7b-q4"]["chars_per_token"].update(en=0), "chars_per_token.en"),
        ("calibration", lambda d: d["models"]["mistral-7b-q4"]["energy_j"].update(intercept=-2), "energy_j.intercept"),
        ("calibration", lambda d: d["models"]["whisper-large-v3"]["time_s"]["coef"].update(audio_second=-0.1), "audio_second"),
    ],
)
def test_catalogue_and_profile_ranges(tmp_path, write_yaml, what, edit, field):
    changes = _catalogue_copy(tmp_path, what, edit)
    path = write_yaml({**scenario_dict("default"), **changes})
    with pytest.raises(ConfigError) as exc:
        load_and_check(path)
    assert any(field in loc for loc, _, _ in exc.value.problems), exc.value.problems


def test_dates_are_real(write_yaml):
    assert "start_month" in _refused(write_yaml, {"start_month": "0000-01"})
    assert "start_month" in _refused(write_yaml, {"start_month": "2027-13"})
    assert "start_month" in _refused(write_yaml, {"start_month": "9999-01", "horizon_months": 36})


def test_limits_refer_to_known_languages_and_content_types(write_yaml):
    problems = _refused(write_yaml, {"workload.limits": [{"languages": ["de"]}]})
    assert "de" in problems["workload.limits.0.languages"]
    problems = _refused(write_yaml, {"workload.limits": [{"content_types": ["pdf"]}]})
    assert "pdf" in problems["workload.limits.0.content_types"]


def test_horizon_demand_is_bounded(write_yaml):
    # 50%/month over 36 months from 500 files: ~2e9 files, a typo rather than a forecast
    problems = _refused(write_yaml, {"workload.growth.monthly_rate": 0.5})
    assert "bound" in problems["workload.growth.monthly_rate"]


def test_steep_growth_that_streams_is_not_refused(tmp_path):
    """15%/month over 60 months: 14.6 million files, more than a replication could hold
    whole, but a streamed one holds a month's: the scenario validates (the estimate says
    whether a run fits the machine)."""
    from tests.helpers import scenario_file

    res = load_and_check(scenario_file(tmp_path, horizon_months=60, **{"workload.growth.monthly_rate": 0.15}))
    assert 10_000_000 < horizon_files(res.scenario.workload, 60, 0.15) < MAX_FILES_PER_REPLICATION


def test_horizon_files_is_the_sum_of_monthly_demand():
    wl = load_and_check(CONFIGS / "default.yaml").scenario.workload
    # languages: fr, en, es from month 0 (0.9 of the volume), ar from month 12 (0.1)
    expected = sum(500 * 1.05**m * (0.9 + (0.1 if m >= 12 else 0.0)) for m in range(36))
    assert horizon_files(wl, 36, 0.05) == pytest.approx(expected, rel=1e-12)
    assert horizon_files(wl, 36, 3.0) > MAX_FILES_PER_REPLICATION


def test_a_drawn_growth_beyond_the_bound_is_refused_at_run_time(tmp_path, write_yaml):
    """An unbounded growth distribution cannot be ruled out by the schema: the replication
    that draws too much refuses, naming the field, instead of exhausting memory."""
    from sim.forecast.workload import generate_files
    from sim.kernels.rng import Streams

    path = write_yaml(set_dotted(scenario_dict("default"), {"workload.growth.monthly_rate": {"dist": "normal", "mean": 0.05, "sd": 0.02, "low": 0}}))
    sc = load_and_check(path).scenario
    with pytest.raises(ConfigError) as exc:
        generate_files(sc, 2.0, Streams(sc.seed, 0))
    assert exc.value.problems[0][0] == "workload.growth.monthly_rate"


def test_config_error_survives_a_trip_to_a_worker_process():
    import pickle

    err = ConfigError("x.yaml", [("a.b", "bad", "fix it")])
    back = pickle.loads(pickle.dumps(err))
    assert back.problems == err.problems and str(back) == str(err)


def test_no_clamp_left_in_the_epistemic_draws():
    """The draws of the reference case equal the sampled values themselves: the bounds the
    schema enforces (PUE >= 1, lifetimes > 0) hold for every draw without a clamp."""
    from sim.forecast.epistemic import draw_epistemic
    from sim.kernels.rng import Streams

    res = load_and_check(CONFIGS / "default.yaml")
    for rep in range(20):
        d = draw_epistemic(res, Streams(res.scenario.seed, rep))
        assert 1.125 <= d.pue <= 1.20 and 44.2 <= d.grid_g_per_kwh <= 56.039
        for p in d.pools.values():
            assert 3 * 365.25 * 86400 <= p.lifetime_s <= 4 * 365.25 * 86400
            assert p.gpu_idle_power_w >= 46 and p.host_power_w >= 80 and np.isfinite(p.embodied_kg)
    assert math.isfinite(d.growth_rate)


def test_copy_of_shipped_catalogues_still_validates(tmp_path, write_yaml):
    for name in ("skus.yaml", "regions.yaml"):
        shutil.copy(CONFIGS / "azure" / name, tmp_path / name)
    data = {**scenario_dict("default"), "skus_file": str(tmp_path / "skus.yaml"), "regions_file": str(tmp_path / "regions.yaml")}
    assert load_and_check(write_yaml(data)).scenario.name == "reference"


def test_slots_of_a_pool_are_bounded(write_yaml):
    # 1,000 VMs of 2 GPUs with 256 slots each: 512,000 slots, twice the bound
    problems = _refused(write_yaml, {"pools.gpu.instances": 1000, "pools.gpu.slots_per_gpu": 256,
                                     "pools.gpu.sku": "Standard_NC48ads_A100_v4"})
    assert "slots" in problems["pools.gpu.instances"]
