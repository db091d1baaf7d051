"""Profile entry names: a measured model is written under the name scenarios use for it.

Scenarios refer to calibration entries by name (``services.<name>.model``); the shipped
priors and ``configs/default.yaml`` use the names in ``KNOWN_MODELS``. A model measured by
``calibrate run`` or fitted by ``calibrate telemetry`` gets the same name, so a measured
profile layered on the priors replaces the matching prior entry.
"""

from __future__ import annotations

import re

#: The model each task uses in the shipped scenario (configs/default.yaml).
SCENARIO_MODELS: dict[str, str] = {
    "transcribe": "whisper-large-v3",
    "translate": "nllb-200-1.3b",
    "generate": "mistral-7b-q4",
}

#: Model ids (faster-whisper sizes, Hugging Face names, Ollama tags), lower case -> entry name.
KNOWN_MODELS: dict[str, str] = {
    "large-v3": "whisper-large-v3",
    "systran/faster-whisper-large-v3": "whisper-large-v3",
    "large-v3-turbo": "whisper-large-v3-turbo",
    "turbo": "whisper-large-v3-turbo",
    "mobiuslabsgmbh/faster-whisper-large-v3-turbo": "whisper-large-v3-turbo",
    "deepdml/faster-whisper-large-v3-turbo-ct2": "whisper-large-v3-turbo",
    "facebook/nllb-200-1.3b": "nllb-200-1.3b",
    "facebook/nllb-200-distilled-600m": "nllb-200-distilled-600m",
    "mistral": "mistral-7b-q4",
    "mistral:latest": "mistral-7b-q4",
    "mistral:7b": "mistral-7b-q4",
    "mistral:7b-instruct": "mistral-7b-q4",
    "mistral:7b-instruct-q4_0": "mistral-7b-q4",
}

#: The tokenizer each text-taking entry really uses (``calibrate.tokens.make_tokenizer`` specs).
TOKENIZER_OF: dict[str, str] = {
    "mistral-7b-q4": "mistral",
    "nllb-200-1.3b": "hf:facebook/nllb-200-1.3B",
    "nllb-200-distilled-600m": "hf:facebook/nllb-200-distilled-600M",
}

#: Tasks whose models read text (and so have characters per token).
TEXT_TASKS = ("translate", "generate")


def derived_key(backend: str, model: str) -> str:
    """An entry name from a model id or folder: ``tiny.en`` -> ``whisper-tiny.en``, ``mistral:7b`` -> ``mistral-7b``."""
    base = model.rstrip("/").split("/")[-1].lower()
    base = re.sub(r"[^a-z0-9.]+", "-", base).strip("-")
    if backend == "faster-whisper" and "whisper" not in base:
        base = f"whisper-{base}"
    return base


def entry_name(backend: str, model: str) -> tuple[str, bool]:
    """The entry name for a model, and whether it is one the shipped scenarios use."""
    known = KNOWN_MODELS.get(model.strip().lower())
    return (known, True) if known else (derived_key(backend, model), False)


def tokenizer_for(key: str, backend: str = "", model: str = "") -> str | None:
    """The tokenizer spec of an entry (by name, else by its backend and model), or None when unknown."""
    if key in TOKENIZER_OF:
        return TOKENIZER_OF[key]
    if backend == "ollama" and "mistral" in model.lower():
        return "mistral"
    if backend == "transformers-nllb" and model:
        return f"hf:{model}"
    return None
