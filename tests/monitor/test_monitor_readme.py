"""The README's "Add it to an app" snippet runs as printed (given a model), and records its request."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from monitor_helpers import query

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _python_block_after(heading: str) -> str:
    section = README[README.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_add_it_to_an_app_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its store is the relative "carbon.db"
    monkeypatch.delenv("CARBONSIM_ADMIN_TOKEN", raising=False)
    heard: list[tuple[bytes, str]] = []

    def run_whisper(audio: bytes, lang: str) -> tuple[str, float, int]:  # "your model"
        heard.append((audio, lang))
        return "bonjour", 2.5, 7

    namespace = {"run_whisper": run_whisper}
    exec(compile(_python_block_after("### Add it to an app"), "README.md", "exec"), namespace)
    with TestClient(namespace["app"]) as client:  # lifespan: the monitor starts and, at the end, flushes
        r = client.post("/transcribe", params={"lang": "fr"}, content=b"RIFF....")
        assert r.status_code == 200 and r.json() == {"text": "bonjour"}
        assert client.get("/carbon/report").status_code == 404  # no token in the environment: admin routes off
    assert heard == [(b"RIFF....", "fr")]
    assert query(tmp_path / "carbon.db", "SELECT service, language, units, status FROM requests") == [
        ("transcribe", "fr", '{"audio_second":2.5,"output_token":7.0}', 200)
    ]
