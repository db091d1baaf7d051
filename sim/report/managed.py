"""The report's note on managed endpoints: what each side of a buy-or-build comparison
includes, the dedicated VM's fixed and marginal emissions per job, and where the managed
figures come from (as the run's manifest records them).

Its strings live here, in both languages, beside the one function that uses them.
"""

from __future__ import annotations

import json

from .rundata import RunData

#: Output tokens of the illustrative response when the scenario gives no median.
_TOKENS = 300.0

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Managed endpoints: what the comparison compares",
        "sides": (
            "A managed endpoint's figures are the provider-side estimate of one request on a busy, shared fleet, "
            "not a measurement: for generation, EcoLogits' usage and embodied emissions per request (batch {batch}, "
            "servers fully used, hardware over {life:g} years, prompt tokens not counted); the provider's idle "
            "capacity, network and training are outside it. The dedicated VM is counted whole: idle GPU, host and "
            "embodied share over every provisioned hour, used or not."
        ),
        "vm": (
            "On the dedicated VM in this run, a {service} job costs {whole} gCO2e with the VM's fixed part shared "
            "over the jobs, of which {marginal} gCO2e is its own work (P50 over replications)."
        ),
        "llm": (
            "{option}: {service} on {provider} {model} (EcoLogits {version}, mix {zone} at {gwp:g} kgCO2e/kWh, "
            "PUE {pue}): a response of {tokens:g} output tokens takes about {energy} J and {co2} gCO2e."
        ),
        "unit": "{option}: {service} on {provider} {model}, figures per {unit} from: {source} (mix {zone}).",
    },
    "fr": {
        "title": "Points d'accès gérés : ce que la comparaison compare",
        "sides": (
            "Les chiffres d'un point d'accès géré sont l'estimation, côté fournisseur, d'une requête sur un parc "
            "partagé et chargé, pas une mesure : pour la génération, les émissions d'usage et intrinsèques par "
            "requête selon EcoLogits (lot de {batch}, serveurs pleinement utilisés, matériel sur {life:g} ans, "
            "jetons d'entrée non comptés) ; la capacité inutilisée du fournisseur, le réseau et l'entraînement en "
            "sont exclus. La VM dédiée est comptée entière : GPU au repos, hôte et part intrinsèque sur chaque "
            "heure provisionnée, utilisée ou non."
        ),
        "vm": (
            "Sur la VM dédiée de cette exécution, une tâche {service} coûte {whole} gCO2e en partageant la part "
            "fixe de la VM entre les tâches, dont {marginal} gCO2e pour son propre travail (P50 sur les réplications)."
        ),
        "llm": (
            "{option} : {service} sur {provider} {model} (EcoLogits {version}, mix {zone} à {gwp:g} kgCO2e/kWh, "
            "PUE {pue}) : une réponse de {tokens:g} jetons de sortie demande environ {energy} J et {co2} gCO2e."
        ),
        "unit": "{option} : {service} sur {provider} {model}, chiffres par {unit} selon : {source} (mix {zone}).",
    },
}


def managed_entries(run: RunData) -> dict[str, dict[str, dict]]:
    """Option -> managed service -> provenance, from the manifest (the scenario's own under ``baseline``)."""
    out: dict[str, dict[str, dict]] = {}
    if run.manifest.get("managed"):
        out["baseline"] = run.manifest["managed"]
    out.update((run.manifest.get("decision") or {}).get("managed") or {})
    return out


def managed_section(run: RunData, lang: str) -> tuple[str, list[str]]:
    """The section's title and paragraphs; no paragraph when no option uses a managed endpoint."""
    s = STRINGS[lang]
    entries = managed_entries(run)
    if not entries:
        return s["title"], []
    llm = [p for services in entries.values() for p in services.values() if "batch_size" in p]
    paragraphs = []
    if llm:
        paragraphs.append(s["sides"].format(batch=llm[0]["batch_size"], life=llm[0]["hardware_lifespan_years"]))
    vm = (run.manifest.get("decision") or {}).get("managed_vm_per_job_g") or {}
    for svc, g in sorted(vm.items()):
        paragraphs.append(s["vm"].format(service=svc, whole=_num(g["whole"]), marginal=_num(g["own"])))
    tokens = _median_tokens(run.config)
    # one line per endpoint, naming every option that uses it
    endpoints: dict[str, tuple[list[str], str, dict]] = {}
    for option, svcs in entries.items():
        for svc, p in svcs.items():
            endpoints.setdefault(json.dumps([svc, p], sort_keys=True), ([], svc, p))[0].append(option)
    for names, svc, p in endpoints.values():
        option = ", ".join(names)
        if "batch_size" in p:
            energy_j, co2e_g = p["per_request"]["energy_j"], p["per_request"]["co2e_g"]
            paragraphs.append(s["llm"].format(
                option=option, service=svc, provider=p["provider"], model=p["model"], version=p["ecologits_version"],
                zone=p["electricity_mix_zone"], gwp=p["mix_gwp_kg_per_kwh"], pue=p["datacenter_pue"], tokens=tokens,
                energy=_span(energy_j, tokens), co2=_span(co2e_g, tokens)))
        else:
            paragraphs.append(s["unit"].format(option=option, service=svc, provider=p["provider"], model=p["model"],
                                               unit=p["unit"], source=p["source"], zone=p["electricity_mix_zone"]))
    return s["title"], paragraphs


def _median_tokens(config: dict) -> float:
    """The median output tokens of the scenario's first generate stage that states one."""
    for stages in (config.get("pipelines") or {}).values():
        for st in stages:
            spec = st.get("output_tokens")
            if isinstance(spec, (int, float)):
                return float(spec)
            if isinstance(spec, dict) and isinstance(spec.get("median"), (int, float)):
                return float(spec["median"])
    return _TOKENS


def _span(line: dict, tokens: float) -> str:
    """``fixed + per_token * tokens`` at the low and high end of EcoLogits' range."""
    low = line["low"][0] + line["low"][1] * tokens
    high = line["high"][0] + line["high"][1] * tokens
    return _num(low) if high == low else f"{_num(low)}-{_num(high)}"


def _num(x: float) -> str:
    return f"{x:.3g}"
