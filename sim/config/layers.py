"""Layered calibration profiles: later files override earlier ones, model by model.

A scenario's ``calibration`` may list several profiles, e.g. the shipped priors then a
profile measured on one model: the merged profile holds every model of every file, each
from the last file that has it. Hardware fields override field by field (only the fields
a file sets), translation length ratios pair by pair; the measurement block is the last
file's, failures are all kept. Each entry remembers the file it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .profile import Hardware, Profile, TranslationLength, load_profile


@dataclass(frozen=True)
class LayeredProfile:
    """The merged profile and where each model, hardware field and pair ratio came from."""

    profile: Profile
    paths: tuple[Path, ...]
    model_sources: dict[str, Path] = field(default_factory=dict)
    hardware_sources: dict[str, Path] = field(default_factory=dict)
    pair_sources: dict[str, Path] = field(default_factory=dict)
    model_meters: dict[str, str] = field(default_factory=dict)  # how each model's energy was measured (``meter_of``)

    def gpu_energy(self, model: str) -> bool:
        """Whether the model's energy is the GPU's (NVML, or GPU figures from the literature),
        so that the card's power limit bounds it; host meters (RAPL, codecarbon) are not."""
        return self.model_meters.get(model, "literature") in ("nvml", "literature")


def meter_of(profile: Profile) -> str:
    """The meter behind a profile's energies: its method, or for telemetry the monitor's meter."""
    m = profile.measurement
    if m.method == "telemetry":
        return m.tools.get("meter", "telemetry").split(",")[0]
    return m.method


def _merge_hardware(layers: list[tuple[Path, Profile]]) -> tuple[Hardware, dict[str, Path]]:
    values: dict = {}
    sources: dict[str, Path] = {}
    for path, prof in layers:
        for name in prof.hardware.model_fields_set:
            value = getattr(prof.hardware, name)
            if value is not None:  # an explicit null says nothing: the earlier file's value stands
                values[name] = value
                sources[name] = path
    return Hardware.model_validate({k: v for k, v in values.items()}), sources


def _merge_lengths(layers: list[tuple[Path, Profile]]) -> tuple[TranslationLength | None, dict[str, Path]]:
    ratios: dict = {}
    sources: dict[str, Path] = {}
    texts: list[str] = []
    for path, prof in layers:
        tl = prof.translation_length
        if tl is None:
            continue
        ratios.update(tl.ratios)
        sources.update({pair: path for pair in tl.ratios})
        texts.append(tl.source)
    if not ratios:
        return None, {}
    return TranslationLength(ratios=ratios, source="; ".join(dict.fromkeys(texts))), sources


def merge_profiles(layers: list[tuple[Path, Profile]]) -> LayeredProfile:
    """Merge ``(path, profile)`` layers in order; one layer comes back as it is."""
    if not layers:
        raise ValueError("no calibration profile to merge")
    if len(layers) == 1:
        path, prof = layers[0]
        hw_set = {name: path for name in prof.hardware.model_fields_set}
        pairs = {p: path for p in (prof.translation_length.ratios if prof.translation_length else {})}
        return LayeredProfile(prof, (path,), {k: path for k in prof.models}, hw_set, pairs, {k: meter_of(prof) for k in prof.models})
    models: dict = {}
    model_sources: dict[str, Path] = {}
    model_meters: dict[str, str] = {}
    for path, prof in layers:
        for key, entry in prof.models.items():
            models[key] = entry
            model_sources[key] = path
            model_meters[key] = meter_of(prof)
    hardware, hw_sources = _merge_hardware(layers)
    lengths, pair_sources = _merge_lengths(layers)
    last = layers[-1][1]
    merged = Profile(
        name=" + ".join(p.name for _, p in layers),
        hardware=hardware,
        measurement=last.measurement,
        models=models,
        failures=[f for _, p in layers for f in p.failures],
        partial=any(p.partial for _, p in layers),
        translation_length=lengths,
    )
    return LayeredProfile(merged, tuple(p for p, _ in layers), model_sources, hw_sources, pair_sources, model_meters)


def load_layered(paths: list[Path]) -> LayeredProfile:
    """Read and merge profile files in order; errors name the file (see ``load_profile``)."""
    return merge_profiles([(Path(p), load_profile(p)) for p in paths])
