"""Config errors that name the file, the field and the fix; atomic file writes."""

from __future__ import annotations

import os
import re
import stat
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


_NUMBER_BRANCH = {"float_parsing", "float_type"}
_INNER_FIELD = re.compile(r"^([a-z_][\w]*(?:\.[\w-]+)*): (.+)$", re.S)


class ConfigError(Exception):
    """One or more problems in a config file; ``problems`` holds (field path, message, fix)."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        for loc, msg, fix in problems:
            lines.append(f"  - {loc or '(top level)'}: {msg}" + (f" -> fix: {fix}" if fix else ""))
        super().__init__("\n".join(lines))

    def __reduce__(self):  # rebuilt from its fields when it crosses a process boundary
        return (type(self), (self.path, self.problems))


def _loc(loc: tuple) -> str:
    # Drop pydantic's union branch names (float, function-after[...]) so the path stays the user's.
    parts = [_short(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in {"float", "int"}))]
    return ".".join(parts)


def problems_from_validation(err: ValidationError) -> list[tuple[str, str, str]]:
    """Turn a pydantic error into (field, message, fix) triples, one per field."""
    errors = [(_loc(e["loc"]), e) for e in err.errors()]
    seen: dict[str, tuple[str, str, str]] = {}
    for loc, e in errors:
        # A number-or-distribution field reports one error per branch of the union: the
        # number branch's ("not a number") is noise when the distribution branch said more.
        # At the same place, its "give a number, or a distribution" is the clearer of the two.
        number = e["type"] in _NUMBER_BRANCH
        if number and any(other.startswith(loc + ".") for other, _ in errors):
            continue
        if loc in seen and not number:
            continue
        msg = e["msg"].removeprefix("Value error, ")
        inner = _INNER_FIELD.match(msg) if e["type"] == "value_error" else None
        if inner:  # a check across fields names the one at fault first: "limits.0.languages: ..."
            loc, msg = ".".join(p for p in (loc, inner[1]) if p), inner[2]
        seen[loc] = (loc, msg, _FIXES.get(e["type"], ""))
    return list(seen.values())


#: Largest config file read (bytes): the shipped ones are a few KB; a profile with empirical
#: samples stays far below. Bounds what a path to a device or a huge file can cost.
MAX_CONFIG_BYTES = 8 * 1024 * 1024
#: Deepest nesting of mappings and lists: configs nest about 6 deep; the parser recurses.
MAX_DEPTH = 64
#: Values in a file once aliases are expanded: an alias repeats a subtree without copying it
#: in memory, but validation walks every repetition ("billion laughs").
MAX_VALUES = 1_000_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML says they are an error; PyYAML keeps the
    last silently) and nesting deeper than ``MAX_DEPTH``."""

    def compose_node(self, parent, index):
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first_line:
                        raise yaml.YAMLError(f"duplicate key `{_short(key)}` at line {line} "
                                             f"(first at line {first_line[key]}): keep one")
                    first_line[key] = line
                except TypeError:  # an unhashable key: SafeLoader refuses it below
                    continue
        return super().construct_mapping(node, deep=deep)


def _short(value, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(value, budget: int) -> int:
    """Values in ``value``, aliases expanded, stopping once past ``budget``."""
    stack, n = [value], 0
    while stack and n <= budget:
        v = stack.pop()
        n += 1
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def read_text_file(path: Path, what: str = "config", limit: int = MAX_CONFIG_BYTES) -> str:
    """A regular UTF-8 text file of at most ``limit`` bytes; anything else is a ConfigError
    that says what the path is instead (never the content of a file that is not one)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found", "check the path")]) from None
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read it: {exc.strerror}", "check the path and its permissions")]) from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(path, [("", f"is a folder, not a {what} file", "give the path of the YAML file")])
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(path, [("", f"is not a regular file (a device, pipe or socket), not a {what} file",
                                  "give the path of the YAML file")])
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read it: {exc.strerror}", "check the file's permissions")]) from None
    if len(raw) > limit:
        raise ConfigError(path, [("", f"larger than {limit // (1024 * 1024)} MiB: too large for a {what} file",
                                  "check the path")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, [("", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} cannot be decoded",
                                  f"save the {what} file as UTF-8")]) from None


def read_yaml(path: Path, what: str = "config") -> dict:
    """Read a YAML mapping from a regular UTF-8 file (``read_text_file``), refusing duplicate
    keys, deep nesting and alias bombs; every problem is a ConfigError naming the file."""
    path = Path(path)
    text = read_text_file(path, what)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its place: PyYAML's own message quotes the line, which for a
        # path given by mistake (a key file, /etc/shadow) would print its content.
        where = f" at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}" if exc.problem_mark else ""
        raise ConfigError(path, [("", f"not valid YAML{where}: {exc.problem or exc.context}", "fix the YAML syntax")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, [("", f"not valid YAML: {exc}", "fix the YAML")]) from None
    except RecursionError:
        raise ConfigError(path, [("", f"nested too deeply (more than {MAX_DEPTH} levels)", "flatten the file")]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, [("", f"not a {what} file: expected a mapping at the top level, found "
                                      f"{'nothing' if data is None else type(data).__name__}",
                                  "start the file with `key: value` lines")])
    if _count(data, MAX_VALUES) > MAX_VALUES:
        raise ConfigError(path, [("", f"more than {MAX_VALUES:,} values once its aliases are expanded",
                                  "write the values out, without repeating aliases")])
    return data


def check_kind(path: Path | str, data: dict, model: type[BaseModel], what: str) -> None:
    """Refuse a mapping none of whose top-level keys is a field of ``model``: a path to the
    wrong file. Its keys are not printed (they are another file's content)."""
    fields = {f.alias or name for name, f in model.model_fields.items()}
    if data and not set(map(str, data)) & fields:
        required = sorted(f.alias or name for name, f in model.model_fields.items() if f.is_required())
        raise ConfigError(path, [("", f"not a {what}: none of its {len(data)} top-level keys is one "
                                      f"(expected {', '.join(required) or ', '.join(sorted(fields))}, ...)",
                                  f"check that the path points to a {what}")])


def validate_model(path: Path | str, data: dict, model: type[M], context: dict | None = None, what: str | None = None) -> M:
    """Validate ``data`` as ``model``; raise ConfigError naming ``path`` and each bad field."""
    check_kind(path, data, model, what or model.__name__)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(path, problems_from_validation(exc)) from None


def load_yaml_model(path: Path, model: type[M], what: str | None = None) -> M:
    """Read ``path`` (``read_yaml``) and validate it as ``model`` (``what``: its name for people)."""
    what = what or model.__name__
    return validate_model(path, read_yaml(path, what), model, what=what)


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
