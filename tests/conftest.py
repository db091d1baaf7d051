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


# Fixtures that load a real model (Whisper tiny.en, a tiny NLLB, Mistral's tokenizer): a test
# that uses one is marked ``models`` (the slowest part of the run: `-m "not models"` skips it).
MODEL_FIXTURES = frozenset({"whisper", "whisper_dir", "tiny_nllb", "mistral", "run_samples"})


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)
