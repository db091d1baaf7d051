"""Model backends behind a registry keyed by name (see ``base``)."""

from __future__ import annotations

from .base import BACKENDS, Backend, BackendUnavailable, RunResult, SampleError, make_backend, register


def _load_all() -> None:
    # Modules register themselves on import; their heavy libraries load only when used.
    from . import nllb, ollama_backend, whisper  # noqa: F401


__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "RunResult", "SampleError", "make_backend", "register"]
