"""The options file beside the scenario is found from any directory; `validate` checks
options files against a scenario."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from sim.cli import main, options_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _elsewhere(tmp_path: Path) -> Path:
    """A copy of configs/ with a small options file (one option, 2 replications)."""
    dst = tmp_path / "elsewhere" / "configs"
    shutil.copytree(CONFIGS, dst)
    opts = yaml.safe_load((dst / "options" / "default.yaml").read_text())
    opts["options"] = [o for o in opts["options"] if o["name"] == "no-generation"]
    opts["replications"], opts["smaa"]["draws_per_replication"] = 2, 10
    (dst / "options" / "default.yaml").write_text(yaml.safe_dump(opts))
    return dst


def test_default_options_path_is_beside_the_scenario():
    assert options_path(Path("/x/configs/s.yaml"), None) == Path("/x/configs/options/default.yaml")
    assert options_path(Path("/x/configs/s.yaml"), Path("o.yaml")) == Path("o.yaml")


def test_run_from_another_directory_evaluates_the_scenarios_options(tmp_path, monkeypatch):
    cfg = _elsewhere(tmp_path)
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # no configs/ here
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(cfg / "default.yaml"), "-n", "2", "--months", "1", "-w", "1",
                                    "--no-progress", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "decision.csv").is_file()
    info = json.loads((out / "decision.json").read_text())
    assert info["options"] == ["baseline", "no-generation"]


def test_an_options_file_given_but_missing_is_an_error(tmp_path):
    res = CliRunner().invoke(main, ["run", str(CONFIGS / "default.yaml"), "--options", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2 and "the options file does not exist" in res.output and "fix:" in res.output


def test_validate_recognises_an_options_file(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(CONFIGS / "options" / "default.yaml")])
    assert res.exit_code == 0, res.output
    shipped = len(yaml.safe_load((CONFIGS / "options" / "default.yaml").read_text())["options"])
    assert f"ok (options, {shipped} options" in res.output and "Field required" not in res.output
    res = CliRunner().invoke(main, ["validate", str(CONFIGS / "default.yaml"), str(CONFIGS / "options" / "default.yaml")])
    assert res.exit_code == 0 and res.output.count(": ok") == 2
    # a broken reference is named against the scenario given first
    bad = yaml.safe_load((CONFIGS / "options" / "default.yaml").read_text())
    bad["options"][0]["deactivate"] = [{"service": "nowhere"}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = CliRunner().invoke(main, ["validate", str(CONFIGS / "default.yaml"), str(path)])
    assert res.exit_code == 1 and "nowhere" in res.output and "Field required" not in res.output
    # alone, with no scenario to check against: says how to give one
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 1 and "carbonsim validate SCENARIO OPTIONS" in res.output


def test_a_path_set_by_an_option_is_read_from_the_scenarios_folder(tmp_path, monkeypatch):
    """An option setting carbon.grid_profile to a relative path: the file beside the scenario
    is read, whatever the current directory."""
    from sim.config.resolve import load_and_check
    from sim.decide.loading import load_options
    from sim.decide.overlay import apply_option

    from ..forecast.test_hourly import night_heavy, write_profile

    cfg = _elsewhere(tmp_path)
    write_profile(cfg / "night.csv", night_heavy)
    opts = yaml.safe_load((cfg / "options" / "default.yaml").read_text())
    opts["options"] = [{"name": "hourly", "set": {"carbon.grid_profile": "night.csv"}}]
    (cfg / "options" / "default.yaml").write_text(yaml.safe_dump(opts))
    monkeypatch.chdir(tmp_path)
    res = load_and_check(cfg / "default.yaml")
    spec = load_options(cfg / "options" / "default.yaml", res)
    profile = apply_option(res, spec, "hourly").grid_profile()
    assert profile is not None and profile.path == (cfg / "night.csv").resolve()
    assert res.grid_profile() is None
