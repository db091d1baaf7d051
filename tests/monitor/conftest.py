"""Fixtures for the live monitor tests (helpers live in monitor_helpers.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from monitor_helpers import Clock  # noqa: E402


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "carbon.db"


@pytest.fixture
def july() -> Clock:
    return Clock(dt.datetime(2025, 7, 30, 12, 0, tzinfo=dt.timezone.utc))
