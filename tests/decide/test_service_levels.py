"""Service levels in the decision: an option likely to break one is infeasible, and the
recommendation names the level and by how much."""

from __future__ import annotations

import json

import numpy as np
import yaml
from click.testing import CliRunner

from sim.cli import main
from sim.config.serving import ServiceLevels
from sim.decide.decision import check_service_levels

from .conftest import small_scenario


def test_the_share_of_replications_over_a_level_decides_feasibility():
    sc = type("Sc", (), {"service_levels": ServiceLevels(p95_file_latency_s=100, max_utilisation=0.5, break_threshold=0.25)})()
    ok = {"level.p95_file_latency_s.final_year": np.array([50.0, 90, 99, 120]),  # 1 of 4 over: 25%, not above
          "level.p95_file_latency_s.any_month": np.array([50.0, 150, 99, 120]),
          "level.max_utilisation.final_year": np.array([0.1, 0.2, 0.3, 0.4]),
          "level.max_utilisation.any_month": np.array([0.1, 0.2, 0.3, 0.6])}
    slow = {**ok, "level.p95_file_latency_s.final_year": np.array([150.0, 300, 99, 120])}  # 3 of 4
    check = check_service_levels(sc, [ok, slow])
    assert check.names == ["p95_file_latency_s", "max_utilisation"]
    assert check.p_break.tolist() == [[0.25, 0.0], [0.75, 0.0]]
    assert check.p_break_any.tolist() == [[0.5, 0.25], [0.5, 0.25]]
    assert check.p50[1, 0] == 135.0
    assert check.broken(0) == [] and check.broken(1) == [0]


OPTIONS = {
    "schema_version": 1,
    "replications": 4,
    "smaa": {"draws_per_replication": 50},
    "options": [
        {"name": "no-generation", "label": "switch off generation", "deactivate": [{"service": "generation"}]},
        {"name": "night-batch", "label": "nightly batch", "batch_window": {"hours": [22, 6]}},
    ],
}


def _decide(tmp_path, levels: dict) -> tuple[dict, object]:
    """``carbonsim decide`` on the small scenario with ``levels`` and the two options above:
    its decision.json and run folder."""
    scenario = tmp_path / "small.yaml"
    data = small_scenario()
    data["carbon"]["budget"] = None
    data["service_levels"] = levels
    scenario.write_text(yaml.safe_dump(data))
    options = tmp_path / "options.yaml"
    options.write_text(yaml.safe_dump(OPTIONS))
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["decide", str(scenario), "--options", str(options), "-n", "4", "-w", "1",
                                  "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    return json.loads((out / "decision.json").read_text()), out


def test_an_option_breaking_the_latency_level_is_infeasible_and_named(tmp_path):
    info, out = _decide(tmp_path, {"p95_file_latency_s": 600, "max_utilisation": 0.8})
    levels = info["service_levels"]
    # files arriving by day wait for the night: hours, against a 10-minute level
    assert info["infeasible"] == ["night-batch"]
    assert levels["broken"]["night-batch"] == ["p95_file_latency_s"]
    assert levels["p_break_final_year"]["night-batch"]["p95_file_latency_s"] == 1.0
    assert levels["p_break_final_year"]["baseline"] == {"p95_file_latency_s": 0.0, "max_utilisation": 0.0}
    assert all(info["best"][m] != "night-batch" for m in info["best"])
    ratio = levels["p50_final_year"]["night-batch"]["p95_file_latency_s"] / 600
    text = (out / "recommendation.md").read_text()
    assert "**night-batch** (nightly batch): breaks the P95 file latency level of 10 min in 100% of replications" in text
    assert f"{ratio:,.1f}x the level" in text
    assert "latence P95 par fichier" in (out / "recommendation.fr.md").read_text()


def test_the_hardware_options_file_is_valid_and_gives_each_gpu_its_figures(small_res):
    from sim.config.resolve import load_and_check, service_model
    from sim.decide.loading import load_options
    from sim.decide.overlay import apply_option
    from tests.helpers import CONFIGS

    res = load_and_check(CONFIGS / "default.yaml")
    spec = load_options(CONFIGS / "options" / "hardware.yaml", res)
    keys = {o.name: service_model(apply_option(res, spec, o.name), "generation")[0] for o in spec.options}
    assert keys["t4"] == "mistral-7b-q4@T4 16GB" and keys["h100"] == "mistral-7b-q4@H100 NVL 94GB"
    serverless = apply_option(res, spec, "serverless").scenario.pools["gpu"]
    assert serverless.instances == 0 and serverless.provisioning.min_instances == 0


def test_a_content_types_latency_level_makes_an_option_infeasible_and_is_named(tmp_path):
    info, out = _decide(tmp_path, {"p95_file_latency_s_by_content": {"text": 600}})
    levels = info["service_levels"]
    assert levels["levels"] == {"p95_file_latency_s.text": 600.0}
    assert info["infeasible"] == ["night-batch"] and levels["broken"]["night-batch"] == ["p95_file_latency_s.text"]
    assert levels["p_break_final_year"]["baseline"] == {"p95_file_latency_s.text": 0.0}
    text = (out / "recommendation.md").read_text()
    assert "breaks the P95 file latency (text articles) level of 10 min in 100% of replications" in text
    assert "latence P95 par fichier (articles)" in (out / "recommendation.fr.md").read_text()


def test_content_levels_are_refused_for_an_unknown_type_or_a_latency_not_above_zero():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="podcast"):
        ServiceLevels(p95_file_latency_s_by_content={"podcast": 60})
    with pytest.raises(ValidationError, match="text files must be > 0 s"):
        ServiceLevels(p95_file_latency_s_by_content={"text": 0})
    levels = ServiceLevels(p95_file_latency_s=600, p95_file_latency_s_by_content={"text": 120, "audio": 900})
    assert levels.limits() == {"p95_file_latency_s": 600, "p95_file_latency_s.audio": 900, "p95_file_latency_s.text": 120}
