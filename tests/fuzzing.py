"""Mutations of the shipped configs, and what each must give: a refusal that names the file
and the field, or a run whose outputs are finite and not negative. Never a traceback, never
a hang (``tests/test_fuzz_configs.py`` draws the mutations with hypothesis).

A mutation edits one file of a copy of ``configs/``: a value replaced (wrong type, out of
range, NaN or infinity, a distribution with bad parameters), a key removed or added, a
reference renamed, or the file damaged (cut short, invalid UTF-8, a duplicated line, a list,
empty, a folder, a device).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import signal
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import yaml
from click.testing import CliRunner

from sim.cli import main
from tests.helpers import CONFIGS

#: The files mutated, by role, relative to a copy of ``configs/``.
FILES = {
    "scenario": "default.yaml",
    "profile": "calibration/priors.yaml",
    "skus": "azure/skus.yaml",
    "regions": "azure/regions.yaml",
    "options": "options/default.yaml",
}
#: Values put in place of a leaf: types, ranges, NaN and infinity, sizes.
VALUES: tuple[Any, ...] = (
    float("nan"), float("inf"), float("-inf"), -1, 0, -1e-9, 0.5, 1e300, -1e300, 1e9, 10**19, "abc", "", None,
    True, [], {}, [1, 2], {"dist": "fixed"},
)
#: Distributions put in place of a number: incoherent, unbounded, NaN inside.
DISTRIBUTIONS: tuple[dict, ...] = (
    {"dist": "normal", "mean": 1.0, "sd": 0.5},
    {"dist": "normal", "mean": 1.0, "sd": -1},
    {"dist": "normal", "mean": 1.0, "sd": 0.1, "low": 2.0, "high": 1.5},
    {"dist": "normal", "mean": 0.0, "sd": 1.0, "low": 50.0},
    {"dist": "normal", "mean": float("nan"), "sd": 1.0, "low": 0.0},
    {"dist": "lognormal", "median": 10, "p90": 5},
    {"dist": "lognormal", "median": 10, "sigma": 40},
    {"dist": "lognormal", "median": 10},
    {"dist": "uniform", "low": float("nan"), "high": 5000},
    {"dist": "uniform", "low": 5, "high": 1},
    {"dist": "uniform", "low": -5, "high": 1},
    {"dist": "triangular", "low": 1, "mode": 0, "high": 2},
    {"dist": "exponential", "mean": 0},
    {"dist": "gamma", "mean": 3, "cv": 1e6},
    {"dist": "empirical", "values": []},
    {"dist": "empirical", "values": [1, float("inf")]},
    {"dist": "beta", "a": 1},
    {"dist": "uniform", "low": 1.0, "high": 2.0},  # coherent: accepted where the range allows
)
DAMAGE = ("truncate", "bad_utf8", "duplicate_line", "list", "empty", "folder", "device", "binary")
OUTCOMES = ("refused", "ran", "traceback", "hang", "unnamed", "wrong")
#: Longest a mutant may take (s) before it counts as a hang.
HANG_S = 60.0


@dataclass(frozen=True)
class Mutation:
    file: str  # a key of FILES
    kind: str  # value, dist, delete, unknown, reference, damage
    path: tuple = ()  # keys from the top of the file (ints for list items)
    value: Any = None  # the new value, or the damage's name

    def describe(self) -> str:
        where = ".".join(map(str, self.path)) or "(file)"
        return f"{self.file}:{where} {self.kind} {self.value!r}"[:200]


def load(file: str) -> Any:
    return yaml.safe_load((CONFIGS / FILES[file]).read_text(encoding="utf-8"))


def paths(node: Any, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in a parsed YAML document, containers included."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


def _parent(data: Any, path: tuple) -> Any:
    for p in path[:-1]:
        data = data[p]
    return data


def apply(m: Mutation, workdir: Path) -> None:
    """Write the mutated file into ``workdir`` (a copy of configs/)."""
    target = workdir / FILES[m.file]
    if m.kind == "damage":
        return _damage(target, m.value)
    data = copy.deepcopy(load(m.file))
    if not m.path:
        data = m.value
    else:
        parent = _parent(data, m.path)
        if m.kind == "delete":
            del parent[m.path[-1]]
        elif m.kind == "unknown":
            node = parent[m.path[-1]]
            if isinstance(node, dict):
                node["zz_unknown"] = 1
            else:
                parent[m.path[-1]] = {"zz_unknown": 1}
        else:
            parent[m.path[-1]] = copy.deepcopy(m.value)
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _damage(target: Path, how: str) -> None:
    text = target.read_bytes()
    if how == "truncate":
        target.write_bytes(text[: len(text) * 2 // 3])
    elif how == "bad_utf8":
        target.write_bytes(text[:40] + b"\xff\xfe\xc3" + text[40:])
    elif how == "duplicate_line":
        lines = text.splitlines(keepends=True)
        keyed = [i for i, ln in enumerate(lines) if b": " in ln and not ln.lstrip().startswith((b"#", b"-"))]
        i = keyed[len(keyed) // 2]
        target.write_bytes(b"".join(lines[: i + 1] + [lines[i]] + lines[i + 1 :]))
    elif how == "list":
        target.write_text("- a\n- b\n")
    elif how == "empty":
        target.write_text("")
    elif how == "folder":
        target.unlink()
        target.mkdir()
    elif how == "device":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif how == "binary":
        target.write_bytes(bytes(range(256)) * 8)


class Hang(Exception):
    pass


@contextmanager
def _limit(seconds: float) -> Iterator[None]:
    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _names_field(output: str, m: Mutation, workdir: Path) -> bool:
    """A refusal names the mutated file (or the scenario that refers to it) and, for a change
    inside the file, one of the keys on the way to it (a share's sum is the parent's)."""
    files = {str(workdir / FILES[m.file]), str(workdir / FILES["scenario"])}
    if not any(f in output for f in files):
        return False
    if m.kind == "damage" or not m.path:
        return True
    keys = [str(p) for p in m.path if not isinstance(p, int)]
    if m.kind in {"reference", "delete", "value"} and m.file != "scenario":
        # an entry of a catalogue or profile renamed, removed or emptied: the scenario's field that refers to it
        keys += ["sku", "region", "model", "chars_per_token", "calibration", "skus_file", "regions_file"]
    return any(k in output for k in keys)


def _numbers(node: Any) -> Iterator[float]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def wrong_outputs(run: Path) -> str | None:
    """Why a finished run's outputs are not finite and non-negative, or None."""
    head = json.loads((run / "headline.json").read_text())
    bad = [x for x in _numbers(head) if not math.isfinite(x) or x < 0]
    if bad:
        return f"headline.json holds {bad[:3]}"
    bands = pd.read_csv(run / "bands.csv")
    values = bands[["mean", "p5", "p50", "p95"]].to_numpy()
    if not (np.isfinite(values).all() and (values >= 0).all()):
        return "bands.csv holds non-finite or negative figures"
    return None


def check(m: Mutation, workdir: Path) -> tuple[str, str]:
    """Run one mutation in ``workdir`` (a fresh copy of configs/): (outcome, detail)."""
    apply(m, workdir)
    runner = CliRunner()
    scenario = str(workdir / FILES["scenario"])
    try:
        with _limit(HANG_S):
            if m.file == "options":
                return _check_options(m, workdir)
            res = runner.invoke(main, ["validate", scenario])
            if isinstance(res.exception, Hang):  # (CliRunner catches what the alarm raised)
                raise res.exception
            if res.exception is not None and not isinstance(res.exception, SystemExit):
                return "traceback", repr(res.exception)
            if res.exit_code != 0:
                return ("refused", "") if _names_field(res.output, m, workdir) else ("unnamed", res.output[-400:])
            out = workdir / "run"
            res = runner.invoke(main, ["simulate", scenario, "-n", "1", "--months", "3", "-w", "1", "--no-progress",
                                       "--out", str(out)])
            if isinstance(res.exception, Hang):
                raise res.exception
            if res.exception is not None and not isinstance(res.exception, SystemExit):
                return "traceback", repr(res.exception)
            if res.exit_code != 0:  # a refusal at run time (a drawn growth beyond the bound)
                return ("refused", "") if "error:" in res.output else ("unnamed", res.output[-400:])
            why = wrong_outputs(out)
            return ("wrong", why) if why else ("ran", "")
    except Hang:
        return "hang", ""


def _check_options(m: Mutation, workdir: Path) -> tuple[str, str]:
    """Options: loaded and checked against the base scenario (every overlay built); each
    accepted option's scenario simulated for one replication."""
    from sim.config.errors import ConfigError
    from sim.config.resolve import load_and_check
    from sim.decide.loading import load_options
    from sim.decide.overlay import apply_option
    from sim.montecarlo.run import run_monte_carlo

    res = load_and_check(workdir / FILES["scenario"], {"horizon_months": 3, "replications": 1})
    path = workdir / FILES["options"]
    try:
        spec = load_options(path, res)
    except ConfigError as exc:
        return ("refused", "") if _names_field(str(exc), m, workdir) else ("unnamed", str(exc)[-400:])
    except Exception as exc:  # noqa: BLE001 (what the fuzz test looks for)
        return "traceback", repr(exc)
    changed = {spec.options[m.path[1]].name} if len(m.path) > 1 and m.path[0] == "options" and m.path[1] < len(spec.options) else set()
    for name in changed:
        mc = run_monte_carlo(apply_option(res, spec, name), workers=1, progress=False)
        co2 = mc.monthly["co2e_kg"].to_numpy()
        if not (np.isfinite(co2).all() and (co2 >= 0).all()):
            return "wrong", f"option {name}: non-finite or negative emissions"
    return "ran", ""


def workspace(root: Path) -> Path:
    """A fresh copy of the shipped configs under ``root``."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(CONFIGS, root, ignore=shutil.ignore_patterns("examples"))
    return root


def tally(results: list[tuple[Mutation, str, str]]) -> dict[str, int]:
    """How many mutants gave each outcome (every outcome listed, zeros included)."""
    counts = Counter(outcome for _, outcome, _ in results)
    return {k: counts[k] for k in OUTCOMES}
