"""Turn a calibration run into a ``sim.config.profile.Profile`` and write it as YAML.

Describes the hardware (GPU name, driver and count from NVML; CPU; memory; the Azure VM
SKU when the user gives it), the measurement (method, tool versions, date, sample count,
uncertainty in words) and, per model, the fitted time and energy models with their fit
quality, the cold load, GPU memory and ``source: measured``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from sim.config.profile import AffineCost, Failure, FitQuality, GPUInfo, Hardware, LoadCost, Measurement, ModelProfile, Profile, dump_profile

from .fit import FitResult, fit_affine_detailed
from .meters import Meter
from .quality import EnergyCheck, check_energy, is_flat, significant_units
from .runner import CalibrationRun, ServiceRun
from .tokens import TokenRatio


def cpu_name() -> str | None:
    """CPU model from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} threads)"
    except OSError:
        pass
    return platform.processor() or None


def memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info(nvml: object | None = None) -> GPUInfo:
    """GPU name, count, driver and memory from NVML; ``GPUInfo()`` (none, 0) without one."""
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
    except Exception:
        return GPUInfo()
    try:
        n = nvml.nvmlDeviceGetCount()
        if n == 0:
            return GPUInfo()
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        name = nvml.nvmlDeviceGetName(h)
        driver = nvml.nvmlSystemGetDriverVersion()
        mem = nvml.nvmlDeviceGetMemoryInfo(h).total / 1e9
        dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
        return GPUInfo(model=dec(name), count=n, driver=dec(driver), memory_gb=round(mem, 1))
    finally:
        nvml.nvmlShutdown()


def describe_hardware(meter: Meter, idle_w: float, vm_sku: str | None = None, nvml: object | None = None) -> Hardware:
    """Hardware block; the measured idle power goes to the GPU (NVML) or the host (others)."""
    gpu = gpu_info(nvml) if meter.method == "nvml" else GPUInfo()
    on_gpu = meter.method == "nvml" and gpu.count
    return Hardware(gpu=gpu, cpu=cpu_name(), memory_gb=memory_gb(), vm_sku=vm_sku,
                    gpu_idle_power_w=round(idle_w / gpu.count, 2) if on_gpu else None,
                    host_idle_power_w=None if on_gpu else round(idle_w, 2),
                    source=f"detected on this machine; idle measured with {meter.method}")


def _fit_one(run: ServiceRun, target: str, failures: list[Failure]) -> tuple[AffineCost, FitQuality, FitResult | None]:
    recs = run.records
    units = {u: np.array([r.units.get(u, 0.0) for r in recs]) for u in run.units}
    y = np.array([getattr(r, target) for r in recs])
    try:
        res = fit_affine_detailed(units, y)
    except ValueError as exc:
        failures.append(Failure(model=run.spec.key, sample="", error=f"{target} fit failed: {exc}"))
        return AffineCost(), FitQuality(n=len(recs), notes=f"not fitted: {exc}"), None
    return res.cost, res.quality.model_copy(update={"sigma": res.cost.sigma}), res


def energy_check(run: ServiceRun, fit: FitResult | None, idle_w: float, idle_drift_w: float) -> EnergyCheck:
    """Does this service's measured energy respond to its work? (``calibrate.quality``)."""
    total = sum(r.energy_total_j for r in run.records)
    span = sum(r.time_s if r.span_s is None else r.span_s for r in run.records)
    flat, above = is_flat(total, span, idle_w, idle_drift_w)
    if fit is None:
        return check_energy(False, None, [], flat, above)
    return check_energy(True, fit.quality.r2, significant_units(fit.mean, fit.sd, run.units), flat, above)


def meter_resolution_j(run: ServiceRun) -> float | None:
    """Smallest nonzero change the meter showed in this service's windows (J)."""
    steps = [r.min_step_j for r in run.records if r.min_step_j]
    return min(steps) if steps else None


def model_profile(
    run: ServiceRun, method: str, failures: list[Failure], chars_per_token: dict[str, TokenRatio] | None = None,
    idle_w: float = 0.0, idle_drift_w: float = 0.0,
) -> ModelProfile:
    """Fit time and energy for one service and package them as a ``ModelProfile``.

    The energy fit's quality says whether energy responds to work, with the meter's
    resolution; a flagged fit is kept (it is what was measured) and marked.
    """
    time_cost, time_q, _ = _fit_one(run, "time_s", failures)
    energy_cost, energy_q, energy_fit = _fit_one(run, "energy_j", failures)
    n_est = sum(r.estimated for r in run.records)
    notes = [energy_q.notes]
    if n_est:
        notes.append(f"{n_est} window(s) from power x time (counter too coarse)")
    check = energy_check(run, energy_fit, idle_w, idle_drift_w)
    if check.flags:
        above = "" if check.power_above_idle_w is None else f" (power during calls {check.power_above_idle_w:+.2f} W from idle)"
        notes.append(f"flagged: {check.describe()}{above}")
    energy_q = energy_q.model_copy(update={
        "responds": check.responds, "flags": check.flags, "meter_resolution_j": meter_resolution_j(run),
        "notes": "; ".join(filter(None, notes)),
    })
    return ModelProfile(
        service=run.service,
        units=run.units,
        time_s=time_cost,
        energy_j=energy_cost,
        load=LoadCost(time_s=run.load_time_s or 0.0, energy_j=run.load_energy_j or 0.0),
        gpu_memory_gb=run.gpu_memory_gb,
        chars_per_token={k: v.as_uncertain() for k, v in (chars_per_token or {}).items()},
        fit={"time_s": time_q, "energy_j": energy_q},
        source=f"measured: {run.spec.backend} {run.spec.model}, {len(run.records)} calls, meter {method}",
    )


def _tool_versions(meter: Meter, runs: list[ServiceRun]) -> dict[str, str]:
    tools: dict[str, str] = {}
    try:
        tools["carbonsim"] = version("carbonsim")
    except PackageNotFoundError:
        pass
    try:
        tools.update(meter.describe())
    except Exception:  # a meter that cannot describe itself does not invalidate the run
        pass
    for r in runs:
        tools.update(r.versions)
    return tools


def build_profile(
    run: CalibrationRun,
    meter: Meter,
    *,
    name: str = "calibrated",
    vm_sku: str | None = None,
    token_ratios: dict[str, dict[str, TokenRatio]] | None = None,
    nvml: object | None = None,
) -> Profile:
    """Profile from a calibration run; ``token_ratios`` maps a profile model key to its ratios."""
    failures = list(run.failures)
    models = {}
    for r in run.services:
        if not r.records:
            # Every measured call failed (e.g. a CUDA library missing at the first call): an entry
            # with no fit would be priced at 0 s and 0 J by the simulator, so leave it out.
            failures.append(Failure(model=r.spec.key, error="no measured call succeeded (see the errors above): model left out of the profile"))
            continue
        models[r.spec.key] = model_profile(r, meter.method, failures, (token_ratios or {}).get(r.spec.key),
                                           idle_w=run.idle_power_w, idle_drift_w=run.idle_drift_w)
    skipped = getattr(meter, "skipped", [])
    uncertainty = meter.uncertainty + (f"; better meters unavailable: {'; '.join(skipped)}" if skipped else "")
    measurement = Measurement(
        method=meter.method,
        tools=_tool_versions(meter, run.services),
        date=dt.date.today(),
        samples=sum(len(r.records) for r in run.services),
        uncertainty=uncertainty,
        source=f"carbonsim calibrate run; idle {run.idle_before_w:.1f} W before, {run.idle_after_w:.1f} W after",
    )
    return Profile(
        name=name,
        hardware=describe_hardware(meter, run.idle_power_w, vm_sku, nvml),
        measurement=measurement,
        models=models,
        failures=failures,
    )


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write atomically with the simulator's own writer; returns the path."""
    dump_profile(profile, path)
    return Path(path)
