"""Shipped configs validate; broken ones fail with the file, the field and a fix."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.config.errors import ConfigError
from sim.config.profile import load_profile
from sim.config.resolve import load_and_check
from tests.helpers import CONFIGS, scenario_dict

SCENARIOS = sorted([CONFIGS / "default.yaml", *(CONFIGS / "examples").glob("*.yaml")])
PROFILES = sorted((CONFIGS / "calibration").glob("*.yaml"))


def _absent_grid_profile(path) -> str | None:
    """The hourly profile a shipped scenario reads but the repository does not hold (it is
    downloaded: configs/grid/README.md), or None."""
    import yaml

    ref = (yaml.safe_load(path.read_text()).get("carbon") or {}).get("grid_profile")
    ref = ref.get("path") if isinstance(ref, dict) else ref
    return ref if ref and not (path.parent / ref).is_file() else None


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    absent = _absent_grid_profile(path)
    if absent:
        with pytest.raises(ConfigError, match="grid profile file not found"):
            load_and_check(path)  # said clearly, naming the file
        pytest.skip(f"{absent} is downloaded, not shipped: configs/grid/README.md")
    res = load_and_check(path)
    assert res.scenario.name


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_shipped_profile_validates_and_cites_sources(path):
    prof = load_profile(path)
    assert all(m.source for m in prof.models.values())


def test_priors_token_ratios_follow_the_reference_measurements():
    prof = load_profile(CONFIGS / "calibration" / "priors.yaml")
    mistral = prof.models["mistral-7b-q4"].chars_per_token
    # Arabic costs about 3.5x the tokens of English on Mistral (FLORES-200)
    assert mistral["en"].mean() / mistral["ar"].mean() == pytest.approx(3.5, rel=0.15)


def _problems(write_yaml, data) -> list[tuple[str, str, str]]:
    path = write_yaml(data)
    with pytest.raises(ConfigError) as exc:
        load_and_check(path)
    assert str(path) in str(exc.value)
    return exc.value.problems


def _fields(problems) -> set[str]:
    return {p[0] for p in problems}


def test_unknown_field(write_yaml):
    data = scenario_dict("default")
    data["workload"]["base_files_per_mont"] = 3
    problems = _problems(write_yaml, data)
    assert "workload.base_files_per_mont" in _fields(problems)
    assert any("spelling" in fix for _, _, fix in problems)


def test_negative_volume(write_yaml):
    data = scenario_dict("default")
    data["workload"]["base_files_per_month"] = -5
    assert "workload.base_files_per_month" in _fields(_problems(write_yaml, data))


def test_shares_must_sum_to_one(write_yaml):
    data = scenario_dict("default")
    data["workload"]["languages"]["fr"]["share"] = 0.9
    problems = _problems(write_yaml, data)
    assert any("sum to 1" in msg for _, msg, _ in problems)
    assert any(loc.startswith("workload") for loc in _fields(problems))


def test_service_on_a_missing_pool(write_yaml):
    data = scenario_dict("default")
    data["services"]["translation"]["pool"] = "nowhere"
    problems = _problems(write_yaml, data)
    assert "services.translation.pool" in _fields(problems)


def test_missing_profile_entry(write_yaml):
    data = scenario_dict("default")
    data["services"]["generation"]["model"] = "mistral-70b"
    problems = _problems(write_yaml, data)
    assert "services.generation.model" in _fields(problems)
    assert any("mistral-7b-q4" in fix for _, _, fix in problems)


def test_every_problem_is_reported_at_once(write_yaml):
    data = scenario_dict("default")
    data["services"]["translation"]["pool"] = "nowhere"
    data["services"]["generation"]["model"] = "nope"
    data["region"] = "marsnorth"
    assert {"services.translation.pool", "services.generation.model", "region"} <= _fields(_problems(write_yaml, data))


def test_bad_distribution(write_yaml):
    data = scenario_dict("default")
    data["workload"]["growth"]["monthly_rate"] = {"dist": "lognormal", "median": 0.05}
    problems = _problems(write_yaml, data)
    assert any(loc.startswith("workload.growth.monthly_rate") for loc in _fields(problems))


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_and_check(path)


def test_validate_command_exit_codes(write_yaml):
    ok = CliRunner().invoke(main, ["validate", str(CONFIGS / "default.yaml")])
    assert ok.exit_code == 0 and "ok" in ok.output
    data = scenario_dict("default")
    data["pools"]["gpu"]["instances"] = 0
    bad = CliRunner().invoke(main, ["validate", str(write_yaml(data))])
    assert bad.exit_code == 1
    assert "pools.gpu.instances" in bad.output
    assert "Traceback" not in bad.output


def test_schema_command_prints_a_json_schema():
    out = CliRunner().invoke(main, ["schema"])
    assert out.exit_code == 0
    schema = json.loads(out.output)
    assert "workload" in schema["properties"] and schema["additionalProperties"] is False
    prof = json.loads(CliRunner().invoke(main, ["schema", "--kind", "profile"]).output)
    assert "models" in prof["properties"]
