"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def write_yaml(tmp_path):
    """Write a dict to ``tmp_path/name`` as YAML and return the path."""

    def _write(data: dict, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return _write
