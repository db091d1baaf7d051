"""Every code block of the README is exercised: the Python snippet runs, every YAML block
validates (a distribution spec, or scenario fields in the reference scenario), every
`carbonsim` line parses against the real command line (subcommands, options and
arguments), and the cheap ones run (marked slow). Lines for other tools (make, pip,
apt-get, curl, ollama) and diagrams are not run (they set up machines or call a running
server)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
#: First words of lines that are not carbonsim commands, and why they are not run here.
OTHER_TOOLS = {"make", "pip", "sudo", "curl", "ollama", "git", "python3", "huggingface-cli", "nvidia-smi",
               "CARBONSIM_ADMIN_TOKEN=change-me", ".venv/bin/python"}


def _lines(block: str) -> list[str]:
    """Shell lines of a block: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _carbonsim_lines() -> list[str]:
    return [ln for lang, body in BLOCKS if lang in ("", "bash") for ln in _lines(body) if ln.startswith("carbonsim ")]


def _args(line: str) -> list[str]:
    """The arguments of a README command, with placeholders filled and optional parts dropped."""
    line = re.sub(r"\[[^\]]*\]", "", line)  # [--month 2025-07 ...]
    line = line.replace("<run>", "run").replace("<lang>", "en")
    return shlex.split(line)[1:]


def _parse(args: list[str]) -> click.Command:
    """Resolve subcommands and parse every option and argument as click would; raise on any unknown."""
    cmd: click.Command = main
    ctx = cmd.make_context("carbonsim", list(args), resilient_parsing=False)
    while isinstance(cmd, click.Group):
        rest = ctx.protected_args + ctx.args
        name, sub, rest = cmd.resolve_command(ctx, rest)
        cmd = sub
        ctx = cmd.make_context(name, rest, parent=ctx)
    return cmd


def test_the_python_snippet_runs():
    pytest.importorskip("fastapi")
    block = next(body for lang, body in BLOCKS if lang == "python")
    namespace: dict = {}
    exec(compile(block.replace("...", "'', 0.0, 0"), "README.md", "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    assert any(m.cls.__name__ == "CarbonMiddleware" for m in app.user_middleware)
    assert "/transcribe" in {r.path for r in app.routes}


YAML_BLOCKS = [body for lang, body in BLOCKS if lang == "yaml"]


def _assert_within(block: object, dumped: object, where: str) -> None:
    if isinstance(block, dict):
        assert isinstance(dumped, dict), where
        for key, value in block.items():
            _assert_within(value, dumped[key], f"{where}.{key}")
    else:
        assert block == dumped, where


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=lambda b: b.split(":")[0])
def test_every_yaml_block_validates(block, tmp_path):
    """A block of scenario fields validates inside the reference scenario; any other block is
    a list of uncertain quantities, each of which must validate and draw."""
    import numpy as np
    import yaml
    from pydantic import TypeAdapter

    from sim.config.distributions import Uncertain, draw
    from sim.config.resolve import load_and_check
    from sim.config.scenario import Scenario

    from .helpers import scenario_dict

    data = yaml.safe_load(block)
    assert isinstance(data, dict) and data
    if set(data) <= set(Scenario.model_fields):
        scenario = scenario_dict("default") | data
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        dumped = load_and_check(path).scenario.model_dump(mode="json")
        _assert_within(data, dumped, "")  # every value of the block is the scenario's, as written
        return
    adapter = TypeAdapter(Uncertain)
    for name, spec in data.items():
        value = adapter.validate_python(spec)
        assert np.isfinite(draw(value, np.random.default_rng(0), 10)).all(), name


@pytest.mark.parametrize("line", _carbonsim_lines())
def test_every_carbonsim_line_parses(line):
    assert _parse(_args(line)) is not None


def test_bash_blocks_hold_carbonsim_or_known_tools():
    """A shell block line is a carbonsim command (parsed above) or one of the known other tools;
    blocks without a language are file listings and diagrams, whose carbonsim lines are parsed too."""
    for lang, body in BLOCKS:
        if lang != "bash":
            continue
        for ln in _lines(body):
            assert ln.startswith("carbonsim ") or ln.split()[0] in OTHER_TOOLS, ln


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["validate", "configs/default.yaml", "configs/options/default.yaml"],
    ["simulate", "configs/default.yaml", "--engine", "fast", "-n", "2", "--months", "1", "-w", "1", "--no-progress"],
])
def test_cheap_readme_commands_run(args, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    if args[0] == "simulate":
        args = args + ["--out", str(tmp_path / "run")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output


def test_every_vm_size_named_in_the_readme_is_in_the_catalogue():
    import yaml

    skus = set(yaml.safe_load((ROOT / "configs" / "azure" / "skus.yaml").read_text())["skus"])
    named = set(re.findall(r"\bStandard_[A-Za-z0-9_]+", README))
    assert named and named <= skus, named - skus
