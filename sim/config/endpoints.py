"""Managed endpoints estimated with EcoLogits: a generation request's energy, emissions and
latency on the provider's shared fleet, as affine functions of its output tokens.

EcoLogits (genai-impact/ecologits) ships its model repository, electricity mixes and
provider data-centre figures with the package, so nothing here reaches the network. Its
formula (``compute_llm_impacts``) is affine in the output tokens for a fixed model and mix,
so two evaluations give a request's figures for any token count. Where EcoLogits gives a
range (a model whose size is not published, a PUE range), both ends are kept: the
replication draws where it stands inside (``sim.forecast.managed``).

EcoLogits is imported inside the functions: a scenario without managed services never
loads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import version

#: Output tokens of the second evaluation (any positive count gives the same slope).
_PROBE_TOKENS = 1000.0


@dataclass(frozen=True)
class Affine:
    """``intercept + slope * output_tokens``, at the low and the high end of EcoLogits' range."""

    low: tuple[float, float]
    high: tuple[float, float]


@dataclass(frozen=True)
class LlmFigures:
    """A generation request's figures on a managed endpoint, per EcoLogits.

    Energies in kWh (``energy_kwh`` includes the provider's PUE, ``it_energy_kwh`` does
    not), emissions in kgCO2e (``usage_kg``: the energy times the zone's mix; ``embodied_kg``:
    the request's share of the servers' manufacture), ``latency_s`` in s.
    """

    energy_kwh: Affine
    it_energy_kwh: Affine
    usage_kg: Affine
    embodied_kg: Affine
    latency_s: Affine
    provenance: dict


def known_providers() -> list[str]:
    from ecologits.model_repository import Providers

    return sorted(p.value for p in Providers)


def endpoint_problems(where: str, provider: str, model: str, zone: str, needs_model: bool) -> list[tuple[str, str, str]]:
    """What is wrong with a managed endpoint's EcoLogits references, as (field, message, fix)."""
    from ecologits.electricity_mix_repository import electricity_mixes
    from ecologits.model_repository import models

    out = []
    if electricity_mixes.find_electricity_mix(zone=zone) is None:
        out.append((f"{where}.electricity_mix_zone", f"EcoLogits {version('ecologits')} has no electricity mix `{zone}`",
                    "use an ISO 3166-1 alpha-3 country code (FRA, SWE, ...) or WOR"))
    if needs_model:
        if provider not in known_providers():
            out.append((f"{where}.provider", f"EcoLogits has no provider `{provider}`", f"use one of {known_providers()}"))
        elif models.find_model(provider=provider, model_name=model) is None:
            names = sorted(m.name for m in models.list_models() if m.provider.value == provider)
            out.append((f"{where}.model", f"EcoLogits {version('ecologits')} has no model `{model}` for `{provider}`",
                        f"use one of {names}"))
    return out


def zone_gwp_kg_per_kwh(zone: str) -> float:
    """EcoLogits' emission factor of the zone's electricity mix (kgCO2e/kWh)."""
    from ecologits.electricity_mix_repository import electricity_mixes

    return float(electricity_mixes.find_electricity_mix(zone=zone).gwp)


def llm_inputs(provider: str, model: str, zone: str) -> dict:
    """The keyword arguments EcoLogits' ``compute_llm_impacts`` takes for this endpoint,
    as its own ``llm_impacts`` builds them, less the output tokens."""
    from ecologits.electricity_mix_repository import electricity_mixes
    from ecologits.model_repository import ParametersMoE, models
    from ecologits.tracers.utils import PROVIDER_CONFIG_MAP

    entry = models.find_model(provider=provider, model_name=model)
    params = entry.architecture.parameters
    total, active = (params.total, params.active) if isinstance(params, ParametersMoE) else (params, params)
    mix = electricity_mixes.find_electricity_mix(zone=zone)
    centre = PROVIDER_CONFIG_MAP[provider]
    return {
        "model_active_parameter_count": active, "model_total_parameter_count": total,
        "if_electricity_mix_adpe": mix.adpe, "if_electricity_mix_pe": mix.pe, "if_electricity_mix_gwp": mix.gwp,
        "if_electricity_mix_wue": mix.wue, "datacenter_pue": centre.datacenter_pue, "datacenter_wue": centre.datacenter_wue,
        "tps": entry.deployment.tps if entry.deployment else None,
        "ttft": entry.deployment.ttft if entry.deployment else None,
    }


@functools.lru_cache(maxsize=32)
def llm_figures(provider: str, model: str, zone: str) -> LlmFigures:
    """The endpoint's per-request figures (see ``LlmFigures``), from EcoLogits' formula."""
    from ecologits.impacts.llm import compute_llm_impacts_dag

    inputs = llm_inputs(provider, model, zone)
    active, total = inputs.pop("model_active_parameter_count"), inputs.pop("model_total_parameter_count")
    # as compute_llm_impacts does: the low end from the smallest model, the high end from the largest
    ends = {"low": (_low(active), _low(total)), "high": (_high(active), _high(total))}
    fields = {"energy_kwh": "request_energy", "it_energy_kwh": "request_it_energy", "usage_kg": "request_usage_gwp",
              "embodied_kg": "request_embodied_gwp", "latency_s": "generation_latency"}
    lines: dict[str, dict[str, tuple[float, float]]] = {f: {} for f in fields}
    for end, (act, tot) in ends.items():
        pick = _low if end == "low" else _high
        at = [compute_llm_impacts_dag(model_active_parameter_count=act, model_total_parameter_count=tot,
                                      output_token_count=n, request_latency=float("inf"), **inputs)
              for n in (0.0, _PROBE_TOKENS)]
        for name, key in fields.items():
            y0, y1 = pick(at[0][key]), pick(at[1][key])
            lines[name][end] = (y0, (y1 - y0) / _PROBE_TOKENS)
    provenance = _provenance(provider, model, zone, inputs)
    provenance["per_request"] = _per_request(lines)
    return LlmFigures(**{name: Affine(v["low"], v["high"]) for name, v in lines.items()}, provenance=provenance)


def _per_request(lines: dict[str, dict[str, tuple[float, float]]]) -> dict:
    """[fixed, per output token] at each end of the range: energy (J, with PUE), usage and
    embodied emissions together (gCO2e), latency (s)."""
    def scaled(name: str, k: float) -> dict:
        return {end: [v * k for v in lines[name][end]] for end in ("low", "high")}

    co2e = {end: [(u + e) * 1000 for u, e in zip(lines["usage_kg"][end], lines["embodied_kg"][end])] for end in ("low", "high")}
    return {"energy_j": scaled("energy_kwh", 3.6e6), "co2e_g": co2e, "latency_s": scaled("latency_s", 1.0)}


def _low(x) -> float:
    return float(getattr(x, "min", x))


def _high(x) -> float:
    return float(getattr(x, "max", x))


def _provenance(provider: str, model: str, zone: str, inputs: dict) -> dict:
    """Where the figures come from and what EcoLogits assumes, for the run's manifest."""
    from ecologits.impacts import llm
    from ecologits.model_repository import models

    entry = models.find_model(provider=provider, model_name=model)
    return {
        "method": "EcoLogits compute_llm_impacts (usage + embodied per request on the provider's fleet)",
        "ecologits_version": version("ecologits"),
        "provider": provider,
        "model": model,
        "parameters_billion": entry.architecture.parameters.model_dump()
        if hasattr(entry.architecture.parameters, "model_dump") else entry.architecture.parameters,
        "architecture": entry.architecture.type.value,
        "tokens_per_s": inputs["tps"],
        "time_to_first_token_s": inputs["ttft"],
        "model_warnings": [w.code for w in entry.warnings],
        "electricity_mix_zone": zone,
        "mix_gwp_kg_per_kwh": inputs["if_electricity_mix_gwp"],
        "datacenter_pue": _plain(inputs["datacenter_pue"]),
        "batch_size": llm.BATCH_SIZE,
        "gpu": f"{llm.GPU_MEMORY} GB, embodied {llm.GPU_EMBODIED_IMPACT_GWP} kgCO2e",
        "server": f"{llm.SERVER_GPUS} GPUs, {llm.SERVER_POWER} kW, embodied {llm.SERVER_EMBODIED_IMPACT_GWP} kgCO2e",
        "hardware_lifespan_years": llm.HARDWARE_LIFESPAN / (365 * 24 * 3600),
        "prompt_tokens": "not counted (EcoLogits prices output tokens only)",
    }


def _plain(x):
    return {"min": x.min, "max": x.max} if hasattr(x, "min") else x
