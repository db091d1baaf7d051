"""Config files are read strictly: only regular UTF-8 files of bounded size and depth, no
duplicate keys, the expected kind; errors name the file and never print another file's content."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.config.errors import MAX_CONFIG_BYTES, MAX_DEPTH, ConfigError, read_yaml
from sim.config.profile import load_profile
from tests.helpers import scenario_dict


def _problem(path, reader=read_yaml) -> str:
    with pytest.raises(ConfigError) as exc:
        reader(path)
    assert str(path) in str(exc.value)
    assert len(exc.value.problems) == 1
    return exc.value.problems[0][1]


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("horizon_months: 36\nseed: 1\nhorizon_months: 2\n")
    msg = _problem(path)
    assert "duplicate key `horizon_months` at line 3 (first at line 1)" in msg


def test_nested_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("carbon:\n  pue: 1.2\n  pue: 1.5\n")
    assert "duplicate key `pue`" in _problem(path)


def test_a_merge_key_may_be_overridden(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: &b {a: 1, c: 2}\nother:\n  <<: *b\n  a: 3\n")
    assert read_yaml(path)["other"] == {"a": 3, "c": 2}


def test_a_folder_a_device_and_a_missing_path(tmp_path):
    assert "is a folder" in _problem(tmp_path)
    assert "not a regular file" in _problem("/dev/zero")  # would read until memory runs out
    assert "file not found" in _problem(tmp_path / "nope.yaml")


def test_size_cap(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * MAX_CONFIG_BYTES)
    assert "larger than" in _problem(path)


def test_invalid_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    assert "not UTF-8 text: byte 0xe9 at line 2" in _problem(path)


def test_deep_nesting_is_refused_without_recursion_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("a: " + "[" * 20000 + "]" * 20000)
    assert f"more than {MAX_DEPTH} levels" in _problem(path)


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcde", "bcdef"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    path = tmp_path / "s.yaml"
    path.write_text("\n".join(lines) + "\n")  # 10^6 values once expanded
    assert "aliases" in _problem(path)


def test_syntax_errors_do_not_quote_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("secret-value-42: [unclosed\n")
    msg = _problem(path)
    assert "line 2" in msg and "secret-value-42" not in msg


def test_the_wrong_kind_of_file_is_named_and_not_echoed(tmp_path):
    path = tmp_path / "shadow"
    path.write_text("root: $6$saltsalt$hashhashhash\ndaemon: '*'\n")
    msg = _problem(path, load_profile)
    assert msg.startswith("not a calibration profile: none of its 2 top-level keys is one (expected measurement, models")
    assert "root" not in msg and "hash" not in msg


def test_validate_never_prints_a_referenced_file(tmp_path, write_yaml):
    secret = tmp_path / "secret"
    secret.write_text("".join(f"user{i}: $6$topsecret{i}\n" for i in range(5)))
    data = scenario_dict("default")
    data["calibration"] = str(secret)
    result = CliRunner().invoke(main, ["validate", str(write_yaml(data))])
    assert result.exit_code == 1
    assert "not a calibration profile" in result.output
    assert "topsecret" not in result.output and "user0" not in result.output
