"""Refusals before a run (CUDA, overwrite) and the entry names scenarios use."""

from __future__ import annotations

from pathlib import Path

import yaml

from calibrate.guards import cuda_problem, overwrite_problem
from calibrate.names import KNOWN_MODELS, SCENARIO_MODELS, TOKENIZER_OF, entry_name
from sim.config.profile import load_profile

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_cuda_is_refused_per_service_library():
    def n(k):
        return lambda: k

    def missing():
        raise ImportError("no module")

    probes = {"transcribe": ("ctranslate2", n(1)), "translate": ("torch", n(0)), "generate": ("nvidia-ml-py", missing)}
    assert cuda_problem(["transcribe"], probes) is None
    why = cuda_problem(["transcribe", "translate", "generate"], probes)
    assert "translate: torch sees no CUDA device" in why and "generate: nvidia-ml-py is not installed" in why
    assert "transcribe" not in why


def test_overwrite_is_refused_when_models_would_be_lost(tmp_path):
    out = tmp_path / "p.yaml"
    assert overwrite_problem(out, {"a"}) is None
    out.write_bytes((CONFIGS / "calibration" / "priors.yaml").read_bytes())
    everything = set(load_profile(out).models)
    assert overwrite_problem(out, everything) is None
    why = overwrite_problem(out, everything - {"nllb-200-1.3b"})
    assert "lacks ['nllb-200-1.3b']" in why
    (tmp_path / "junk.yaml").write_text("models: 3\n")
    assert "not a readable profile" in overwrite_problem(tmp_path / "junk.yaml", everything)


def test_default_names_are_the_shipped_scenario_and_priors_names():
    scenario = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert {s["task"]: s["model"] for s in scenario["services"].values()} == SCENARIO_MODELS
    priors = load_profile(CONFIGS / "calibration" / "priors.yaml")
    assert set(KNOWN_MODELS.values()) | set(TOKENIZER_OF) <= set(priors.models)
    for task, key in SCENARIO_MODELS.items():
        assert priors.models[key].service == task


def test_model_ids_map_to_entry_names():
    assert entry_name("faster-whisper", "large-v3") == ("whisper-large-v3", True)
    assert entry_name("transformers-nllb", "facebook/nllb-200-1.3B") == ("nllb-200-1.3b", True)
    assert entry_name("ollama", "mistral:7b") == ("mistral-7b-q4", True)
    assert entry_name("faster-whisper", "/models/tiny.en/") == ("whisper-tiny.en", False)
