"""Model backend interface and registry.

A backend wraps one serving library for one service. The runner calls ``check`` (is the
library, model or server there?), ``load`` (cold load, measured), then ``run`` once per
sample (measured), and reads the work done from the returned ``RunResult.units``. A new
endpoint is a new class registered under its config name; nothing else changes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..samples import Sample


class BackendUnavailable(RuntimeError):
    """The backend's library, model or server is missing; the message says what to install or start."""


class SampleError(RuntimeError):
    """One sample could not be processed (corrupt file, empty text); the run goes on."""


@dataclass
class RunResult:
    """Work done on one sample, in profile units (sim.config.units.UNITS), and the output text."""

    units: dict[str, float]
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Backend:
    """One model served by one library. Subclasses set the class variables and methods."""

    name: ClassVar[str] = ""
    service: ClassVar[str] = ""  # transcribe | translate | generate
    units: ClassVar[list[str]] = []
    kinds: ClassVar[tuple[str, ...]] = ()  # sample kinds it consumes
    library: ClassVar[str] = ""  # the pip package that provides it

    def __init__(self, model: str, device: str = "cpu", **options: Any):
        self.model = model
        self.device = device
        self.options = options

    def check(self) -> None:
        """Raise BackendUnavailable if the library, model or server is missing."""

    def load(self) -> None:
        """Load the model (the cold load the runner measures)."""

    def run(self, sample: Sample) -> RunResult:
        """Process one sample; raise SampleError for a bad input."""
        raise NotImplementedError

    def gpu_memory_gb(self) -> float | None:
        """GPU memory the loaded model holds (GB), or None when not measurable here."""
        return None

    def versions(self) -> dict[str, str]:
        """Versions of the libraries used, for the profile."""
        from importlib.metadata import PackageNotFoundError, version

        with contextlib.suppress(PackageNotFoundError):
            return {self.library: version(self.library)}
        return {}

    def close(self) -> None:
        """Free the model."""

    def accepts(self, sample: Sample) -> bool:
        return sample.kind in self.kinds


BACKENDS: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available under ``cls.name``."""
    BACKENDS[cls.name] = cls
    return cls


def make_backend(name: str, model: str, device: str = "cpu", **options: Any) -> Backend:
    """Build a registered backend; unknown names list the known ones."""
    from . import _load_all

    _load_all()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; use one of {sorted(BACKENDS)}")
    return BACKENDS[name](model, device=device, **options)


def nvml_memory_used_gb() -> float | None:
    """GPU memory in use over all GPUs (GB) from NVML, None when NVML is not available."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        used = sum(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).used for i in range(pynvml.nvmlDeviceGetCount()))
        return used / 1e9
    finally:
        pynvml.nvmlShutdown()
