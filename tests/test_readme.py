"""The README's examples work: distribution specs validate, every command it lists has help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import TypeAdapter

from sim.cli import main
from sim.config.distributions import Uncertain, draw

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _yaml_block_after(heading: str) -> dict:
    section = README[README.index(heading):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)


def test_distribution_examples_validate_and_sample():
    import numpy as np

    adapter = TypeAdapter(Uncertain)
    specs = _yaml_block_after("### Uncertain quantities")
    assert len(specs) >= 6
    for name, spec in specs.items():
        value = adapter.validate_python(spec)
        assert np.isfinite(draw(value, np.random.default_rng(0), 10)).all(), name


COMMANDS = sorted(set(re.findall(r"`carbonsim ([a-z]+)", README)))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_in_the_readme_exists(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_quick_start_commands_are_make_targets():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
