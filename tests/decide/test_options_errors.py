"""Options files: the shipped one is valid; bad ones fail naming the option, the field and a fix."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from sim.cli import main
from sim.config.errors import ConfigError
from sim.config.resolve import load_and_check
from sim.decide.loading import load_options
from sim.decide.overlay import apply_option
from tests.helpers import CONFIGS

from .conftest import small_scenario


@pytest.fixture(scope="module")
def res():
    return load_and_check(CONFIGS / "default.yaml")


def test_the_shipped_options_file_is_valid_and_covers_the_reference_choices(res):
    spec = load_options(CONFIGS / "options" / "default.yaml", res)
    assert 8 <= len(spec.options) <= 13  # ten switch-off, reduction and hosting options, three managed ones
    assert sum(spec.weights.values()) == pytest.approx(1.0)
    sc = {o.name: apply_option(res, spec, o.name).scenario for o in spec.options}
    assert "ar" in sc["no-ar-transcription"].services["transcription"].disabled_languages
    assert {sc[n].region for n in sc} >= {"francecentral", "westeurope", "swedencentral"}
    assert sc["whisper-turbo"].services["transcription"].model == "whisper-large-v3-turbo"
    assert sc["scheduled"].pools["gpu"].provisioning.policy == "scheduled"
    # a combined option carries the changes of the options it combines
    lean = sc["lean"]
    assert lean.services["transcription"].model == "whisper-large-v3-turbo"
    assert lean.services["translation"].model == "nllb-200-distilled-600m"
    assert all(st.targets == ["fr", "en"] for stages in lean.pipelines.values() for st in stages
               if st.service == "translation")
    # and the base scenario is left alone
    assert res.scenario.region == "francecentral" and res.scenario.services["transcription"].enabled


BAD = [
    ({"deactivate": [{"service": "ocr"}]}, "options.0(bad).deactivate.0.service", "unknown service `ocr`"),
    ({"deactivate": [{"service": "transcription", "languages": ["de"]}]}, "options.0(bad).deactivate.0.languages",
     "unknown language `de`"),
    ({"volume": [{"languages": ["xx"], "reduce_share": 0.5}]}, "options.0(bad).volume.0.languages", "unknown language `xx`"),
    ({"volume": [{"content_types": ["image"], "reduce_share": 0.5}]}, "options.0(bad).volume.0.content_types",
     "unknown content type `image`"),
    ({"translation_targets": {"targets": ["fr", "de"]}}, "options.0(bad).translation_targets.targets", "unknown language `de`"),
    ({"region": "marscentral"}, "options.0(bad).region", "unknown region `marscentral`"),
    ({"models": {"transcription": "whisper-tiny"}}, "options.0(bad).models.transcription", "not in the calibration profile"),
    ({"models": {"transcription": "mistral-7b-q4"}}, "options.0(bad).models.transcription", "serves `generate`"),
    ({"pools": {"gpu": {"sku": "Standard_X1"}}}, "options.0(bad).pools.gpu.sku", "unknown SKU"),
    ({"pools": {"cpu": {"instances": 2}}}, "options.0(bad).pools.cpu", "unknown pool `cpu`"),
    ({"set": {"services.generation.keep_alive": 60}}, "options.0(bad).set.services.generation.keep_alive",
     "is not a field of the scenario"),
    ({"set": {"pools.gpu.instances": 0}}, "options.0(bad): pools.gpu.instances", "greater than or equal to 1"),
    ({"combine": ["nowhere"]}, "options.0(bad).combine", "unknown option `nowhere`"),
    ({"colour": "red"}, "options.0(bad).colour", "Extra inputs"),
]


@pytest.mark.parametrize("change,field,message", BAD, ids=[b[1].split(").")[-1] for b in BAD])
def test_bad_option_names_the_option_and_the_field(res, tmp_path, change, field, message):
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump({"options": [{"name": "fine", "region": "westeurope"}, {"name": "bad", **change}][::-1]}))
    with pytest.raises(ConfigError) as info:
        load_options(path, res)
    text = str(info.value)
    assert str(path) in text
    matches = [p for p in info.value.problems if p[0].startswith(field)]
    assert matches, text
    assert any(message in p[1] for p in matches), text
    assert all(fix for _, _, fix in info.value.problems)


@pytest.mark.parametrize("weights,message", [
    ({"energy": 0.5, "carbon": 0.3}, "weights sum to 0.8"),
    ({"energy": 0.5, "carbon": 0.5, "beauty": 0.0}, "unknown criterion"),
    ({"energy": 1.2, "carbon": -0.2}, "must not be negative"),
])
def test_weights_must_sum_to_one_and_name_known_criteria(res, tmp_path, weights, message):
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump({"weights": weights, "options": []}))
    with pytest.raises(ConfigError) as info:
        load_options(path, res)
    assert info.value.problems[0][0] == "weights" and message in info.value.problems[0][1]


def test_names_must_be_unique_and_not_baseline_and_combine_without_cycles(res, tmp_path):
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump({"options": [
        {"name": "baseline"}, {"name": "a", "combine": ["b"]}, {"name": "b", "combine": ["a"]}, {"name": "a"},
    ]}))
    with pytest.raises(ConfigError) as info:
        load_options(path, res)
    fields = {p[0] for p in info.value.problems}
    assert {"options.0(baseline).name", "options.3(a).name", "options.1(a).combine", "options.2(b).combine"} <= fields


def test_decide_with_a_bad_options_file_exits_with_the_problem_and_leaves_no_folder(tmp_path):
    scenario = tmp_path / "small.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario()))
    options = tmp_path / "options.yaml"
    options.write_text(yaml.safe_dump({"options": [{"name": "ocr-off", "deactivate": [{"service": "ocr"}]}]}))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["decide", str(scenario), "--options", str(options), "-n", "2", "--out", str(out)])
    assert result.exit_code == 2
    assert "options.0(ocr-off).deactivate.0.service" in result.output and "unknown service `ocr`" in result.output
    assert not out.exists() and not list(tmp_path.glob(".run*"))
