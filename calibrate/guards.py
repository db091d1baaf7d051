"""Checks that stop a calibration run before it writes something wrong.

``cuda_problem`` refuses ``--device cuda`` when a requested service's library sees no CUDA
device (a broken driver would otherwise give a CPU profile labelled as GPU).
``overwrite_problem`` refuses to replace a profile with one that holds fewer models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sim.config.errors import ConfigError
from sim.config.profile import Profile, load_profile


def _torch_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _ctranslate2_devices() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def _nvml_devices() -> int:
    import pynvml

    pynvml.nvmlInit()
    try:
        return pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()


#: Per service: the library that runs it on the GPU (as pip names it) and how it counts CUDA devices.
#: Ollama runs in its own server, so for generation only the driver (NVML) can be asked.
CUDA_PROBES: dict[str, tuple[str, Callable[[], int]]] = {
    "transcribe": ("ctranslate2", _ctranslate2_devices),
    "translate": ("torch", _torch_devices),
    "generate": ("nvidia-ml-py", _nvml_devices),
}


def cuda_problem(services: list[str], probes: dict[str, tuple[str, Callable[[], int]]] | None = None) -> str | None:
    """Why ``--device cuda`` cannot run these services here, or None when every one sees a GPU."""
    probes = CUDA_PROBES if probes is None else probes
    problems = []
    for svc in services:
        library, count = probes[svc]
        try:
            n = count()
        except ImportError:
            problems.append(f"{svc}: {library} is not installed")
            continue
        except Exception as exc:  # a driver error (NVMLError, a CUDA runtime error) means no usable device
            problems.append(f"{svc}: {library} cannot reach a GPU ({type(exc).__name__}: {exc})")
            continue
        if n < 1:
            problems.append(f"{svc}: {library} sees no CUDA device")
    if not problems:
        return None
    return ("--device cuda refused: " + "; ".join(problems) + ". Check `nvidia-smi`, install the CUDA builds "
            "(README, Calibrate on your Azure VM), or measure the CPU with --device cpu")


def overwrite_problem(out: Path, models: set[str]) -> str | None:
    """Why writing a profile with ``models`` over ``out`` would lose something, or None.

    An existing profile is replaced only by one that holds every model it holds: a run that
    measured fewer models goes to another file (layered on this one in the scenario).
    """
    if not out.exists():
        return None
    try:
        old: Profile = load_profile(out)
    except ConfigError as exc:
        return f"{out} exists and is not a readable profile ({exc.__class__.__name__}); choose another --out or pass --force"
    lost = sorted(set(old.models) - models)
    if not lost:
        return None
    return (f"{out} holds {sorted(old.models)}; the new profile lacks {lost}, so writing it would lose them. "
            "Write to another --out and list both files under the scenario's `calibration`, or pass --force")
