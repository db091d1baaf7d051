"""Config errors that name the file, the field and the fix; atomic file writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# Hints for pydantic error types: what the user should do about them.
_FIXES = {
    "extra_forbidden": "remove this field, or check its spelling against `carbonsim schema`",
    "missing": "add this field",
    "greater_than_equal": "use a value that is not negative",
    "greater_than": "use a positive value",
    "less_than_equal": "use a smaller value",
    "float_parsing": "give a number, or a distribution such as {dist: lognormal, median: 1, p90: 2}",
    "union_tag_invalid": "use one of the listed `dist` names",
    "literal_error": "use one of the allowed values",
    "instances_for_policy": "use instances: 1 or more, or policy autoscale (min_instances: 0 scales to zero)",
}


class ConfigError(Exception):
    """One or more problems in a config file; ``problems`` holds (field path, message, fix)."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        for loc, msg, fix in problems:
            lines.append(f"  - {loc or '(top level)'}: {msg}" + (f" -> fix: {fix}" if fix else ""))
        super().__init__("\n".join(lines))


def _loc(loc: tuple) -> str:
    # Drop pydantic's union branch names (float, function-after[...]) so the path stays the user's.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in {"float", "int"}))]
    return ".".join(parts)


def problems_from_validation(err: ValidationError) -> list[tuple[str, str, str]]:
    """Turn a pydantic error into (field, message, fix) triples, one per field."""
    seen: dict[str, tuple[str, str, str]] = {}
    for e in err.errors():
        loc = _loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(e["type"], "")
        # A union reports one error per branch; keep the most specific (first non-float) one.
        if loc in seen and e["type"] == "float_parsing":
            continue
        seen[loc] = (loc, msg, fix)
    return list(seen.values())


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping; a missing or malformed file is a ConfigError naming it."""
    if not path.exists():
        raise ConfigError(path, [("", "file not found", "check the path")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(path, [("", f"not valid YAML: {exc}", "fix the YAML syntax")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(path, [("", "expected a mapping at the top level", "start the file with `key: value` lines")])
    return data


def validate_model(path: Path | str, data: dict, model: type[M], context: dict | None = None) -> M:
    """Validate ``data`` as ``model``; raise ConfigError naming ``path`` and each bad field."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(path, problems_from_validation(exc)) from None


def load_yaml_model(path: Path, model: type[M]) -> M:
    return validate_model(path, read_yaml(path), model)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see either the old content or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
