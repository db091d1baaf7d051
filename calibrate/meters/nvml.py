"""GPU energy from NVML (NVIDIA's cumulative energy counter, or integrated power samples)."""

from __future__ import annotations

import contextlib

from .base import Meter, MeterUnavailable, PowerIntegrator, WrappingCounter


class NvmlMeter(Meter):
    """GPU energy from NVML's cumulative counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ).

    Sums the selected GPUs (all by default). A GPU without the counter (pre-Volta, many
    vGPUs) is integrated from ``nvmlDeviceGetPowerUsage`` samples instead, and the meter
    says so in ``uncertainty``. ``nvml`` may be any object with the pynvml API (tests pass a
    fake); the real module is imported and initialised on the first reading.
    """

    method = "nvml"
    update_period_s = 0.1  # the counter refreshes every 20-100 ms depending on the GPU
    # NVML returns an unsigned 64-bit millijoule count.
    COUNTER_MODULUS_MJ = 2**64  # an int: floats cannot hold 2**64 to the millijoule

    def __init__(self, indices: list[int] | None = None, nvml: object | None = None, sample_period_s: float = 0.05):
        self._nvml = nvml
        self._indices = indices
        self._sample_period_s = sample_period_s
        self._handles: list = []
        self._counters: list[WrappingCounter | None] = []
        self._integrators: list[PowerIntegrator | None] = []
        self._ready = False
        self.uncertainty = "NVML energy counter: about +-5% of board energy (NVIDIA spec); GPU only, host excluded"

    def _init(self) -> None:
        if self._ready:
            return
        if self._nvml is None:
            try:
                import pynvml  # provided by nvidia-ml-py
            except ImportError as exc:
                raise MeterUnavailable("NVML needs `pip install nvidia-ml-py` and an NVIDIA driver") from exc
            self._nvml = pynvml
        nv = self._nvml
        try:
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
        except Exception as exc:  # NVMLError and its subclasses, or a missing libnvidia-ml
            raise MeterUnavailable(f"NVML could not start ({exc}); is an NVIDIA driver installed?") from exc
        if count == 0:
            raise MeterUnavailable("NVML sees no GPU")
        indices = self._indices if self._indices is not None else list(range(count))
        self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in indices]
        no_counter = 0
        for h in self._handles:
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(h)
                self._counters.append(WrappingCounter(self.COUNTER_MODULUS_MJ))
                self._integrators.append(None)
            except Exception:
                no_counter += 1
                self._counters.append(None)
                integ = PowerIntegrator(lambda h=h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0, self._sample_period_s)
                integ.start()
                self._integrators.append(integ)
        if no_counter:
            self.uncertainty = (
                f"{no_counter} of {len(self._handles)} GPU(s) have no energy counter: energy integrated from "
                f"power samples every {self._sample_period_s * 1000:.0f} ms (about +-10%, spikes shorter than that missed)"
            )
        self._ready = True

    @property
    def gpu_count(self) -> int:
        self._init()
        return len(self._handles)

    @property
    def steps(self) -> bool:
        """One GPU with a counter: windows are aligned on its steps. Summed over several
        GPUs, each counter steps at its own times, so no alignment holds for all."""
        self._init()
        return len(self._counters) == 1 and self._counters[0] is not None

    @property
    def has_counter(self) -> list[bool]:
        """Per selected GPU: does it expose the cumulative energy counter?"""
        self._init()
        return [c is not None for c in self._counters]

    def read_energy_j(self) -> float:
        self._init()
        total = 0.0
        for h, counter, integ in zip(self._handles, self._counters, self._integrators):
            if counter is not None:
                total += counter.update(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h))) / 1000.0
            else:
                total += integ.sample()
        return total

    def read_power_w(self) -> float | None:
        self._init()
        try:
            return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0
        except Exception:
            return None

    def describe(self) -> dict[str, str]:
        self._init()
        tools = {"nvml-driver": _decode(self._nvml.nvmlSystemGetDriverVersion())}
        with contextlib.suppress(ImportError, AttributeError):
            from importlib.metadata import version

            tools["nvidia-ml-py"] = version("nvidia-ml-py")
        return tools

    def close(self) -> None:
        for integ in self._integrators:
            if integ is not None:
                integ.stop()
        if self._ready:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._ready = False
        self._handles, self._counters, self._integrators = [], [], []


def _decode(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
