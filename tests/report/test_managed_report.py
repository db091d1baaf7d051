"""The report's managed-endpoints section: what each side includes, the VM's fixed and
marginal part per job (as the decision recorded it), and the provenance of the managed figures."""

from __future__ import annotations

import re
from importlib.metadata import version
from types import SimpleNamespace

from sim.config.endpoints import llm_figures
from sim.report.managed import STRINGS, managed_section


def test_the_section_states_both_sides_and_the_provenance():
    fig = llm_figures("mistralai", "ministral-8b-2512", "SWE")
    prov = dict(fig.provenance, price_usd_per_million={})
    decision = {"managed": {"a": {"generation": prov}, "b": {"generation": prov}},
                "managed_vm_per_job_g": {"generation": {"whole": 1.0, "own": 0.15}}}
    run = SimpleNamespace(manifest={"decision": decision},
                          config={"pipelines": {"text": [{"service": "generation", "output_tokens": {"median": 250}}]}})
    title, paragraphs = managed_section(run, "en")
    assert title == STRINGS["en"]["title"]
    text = "\n".join(paragraphs)
    assert "not a measurement" in text and "batch 64" in text and "counted whole" in text
    assert f"EcoLogits {version('ecologits')}" in text and "ministral-8b-2512" in text and "mix SWE" in text
    line = next(p for p in paragraphs if p.startswith("a, b:"))  # one line for the endpoint both options use
    energy = fig.energy_kwh.low[0] * 3.6e6 + fig.energy_kwh.low[1] * 3.6e6 * 250
    assert f"{energy:.3g} J" in line and "250 output tokens" in line
    assert "1 gCO2e" in text and "0.15 gCO2e" in text


def test_no_section_without_managed_endpoints():
    run = SimpleNamespace(manifest={}, config={})
    assert managed_section(run, "fr")[1] == []


def test_both_languages_have_the_same_strings_and_placeholders():
    assert STRINGS["en"].keys() == STRINGS["fr"].keys()
    for key in STRINGS["en"]:
        assert set(re.findall(r"{(\w+)", STRINGS["en"][key])) == set(re.findall(r"{(\w+)", STRINGS["fr"][key])), key
