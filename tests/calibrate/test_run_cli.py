"""`carbonsim calibrate` end to end on tiny models: the profile loads in the simulator,
and failures (missing model, unreachable Ollama, corrupt audio, empty text) are recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from calibrate.cli import calibrate
from sim.config.profile import load_profile


@pytest.fixture(scope="module")
def run_samples(samples_dir, tmp_path_factory):
    """The English samples, plus a corrupt audio file and an empty text."""
    root = tmp_path_factory.mktemp("run-samples")
    for kind in ("audio", "video", "text"):
        shutil.copytree(samples_dir / kind / "en", root / kind / "en")
    (root / "audio" / "en" / "zz-corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    (root / "text" / "en" / "empty.txt").write_text("")
    return root


@pytest.mark.slow
def test_calibrate_run_writes_a_profile_the_simulator_loads(run_samples, whisper_dir, tiny_nllb, fake_ollama, tmp_path):
    out = tmp_path / "cal.yaml"
    args = ["run", "--out", str(out), "--samples", str(run_samples), "--device", "cpu", "--repeats", "2", "--warmup", "1",
            "--idle-s", "1", "--whisper-model", str(whisper_dir), "--nllb-model", str(tiny_nllb),
            "--ollama-model", "tiny-mistral:latest", "--ollama-host", fake_ollama, "--vm-sku", "laptop",
            "--nllb-max-new-tokens", "16", "--ollama-num-predict", "4,16"]
    res = CliRunner().invoke(calibrate, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    prof = load_profile(out)
    assert prof.measurement.method.startswith("codecarbon") or prof.measurement.method == "rapl"
    assert prof.hardware.vm_sku == "laptop" and prof.hardware.host_idle_power_w > 0
    services = {m.service for m in prof.models.values()}
    assert services == {"transcribe", "translate", "generate"}
    whisper = next(m for m in prof.models.values() if m.service == "transcribe")
    assert whisper.fit["time_s"].n >= 6 and whisper.load.time_s > 0
    gen = next(m for m in prof.models.values() if m.service == "generate")
    assert set(gen.chars_per_token) == {"en", "fr", "es", "ar"}
    failed = {(f.sample, f.model) for f in prof.failures}
    assert any(s.endswith("zz-corrupt.wav") for s, _ in failed)
    assert sum(s.endswith("empty.txt") for s, _ in failed) == 2  # translate and generate both report it
    shown = CliRunner().invoke(calibrate, ["show", str(out)])
    assert shown.exit_code == 0 and "transcribe" in shown.output


def test_missing_model_and_unreachable_ollama_are_recorded_and_the_rest_runs(run_samples, tmp_path, tiny_nllb):
    out = tmp_path / "partial.yaml"
    args = ["run", "--out", str(out), "--samples", str(run_samples), "--device", "cpu", "--repeats", "1", "--warmup", "0",
            "--idle-s", "0.5", "--services", "transcribe,translate,generate", "--whisper-model", str(tmp_path / "missing-model"),
            "--nllb-model", str(tiny_nllb), "--ollama-host", "http://127.0.0.1:9", "--meter", "codecarbon-cpu-load",
            "--nllb-max-new-tokens", "8", "--allow-partial"]
    res = CliRunner().invoke(calibrate, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    prof = load_profile(out)
    assert [m.service for m in prof.models.values()] == ["translate"]
    assert prof.partial
    errors = " ".join(f.error for f in prof.failures)
    assert "missing-model" in errors and "ollama serve" in errors


def test_unknown_service_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(calibrate, ["run", "--out", str(tmp_path / "x.yaml"), "--services", "dance"])
    assert res.exit_code == 2 and "dance" in res.output


def test_tokens_command_prints_ratios():
    res = CliRunner().invoke(calibrate, ["tokens"])
    assert res.exit_code == 0 and "ar:" in res.output


def test_a_calibrated_profile_runs_in_the_simulator(run_samples, whisper_dir, tiny_nllb, fake_ollama, tmp_path):
    """Round trip: calibrate (transcription and generation), then one replication on the profile."""
    import yaml

    from sim.config.resolve import load_and_check
    from sim.forecast.replication import run_replication

    out = tmp_path / "cal.yaml"
    args = ["run", "--out", str(out), "--samples", str(run_samples), "--device", "cpu", "--repeats", "1", "--warmup", "0",
            "--idle-s", "1", "--services", "transcribe,generate", "--whisper-model", str(whisper_dir),
            "--ollama-model", "tiny-mistral:latest", "--ollama-host", fake_ollama, "--ollama-num-predict", "4,16"]
    res = CliRunner().invoke(calibrate, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    prof = load_profile(out)
    keys = {m.service: k for k, m in prof.models.items()}
    configs = Path(__file__).resolve().parents[2] / "configs"
    scenario = {
        "name": "calibrated", "horizon_months": 2, "start_month": "2027-01", "seed": 1, "replications": 1,
        "region": "francecentral", "regions_file": str(configs / "azure/regions.yaml"),
        "skus_file": str(configs / "azure/skus.yaml"), "calibration": str(out),
        "workload": {
            "base_files_per_month": 50, "growth": {"monthly_rate": 0.0},
            "languages": {"en": {"share": 1.0, "content_mix": {"audio": 1.0}}},
            "content": {"audio": {"duration_s": {"dist": "lognormal", "median": 60, "p90": 180}}},
        },
        "pipelines": {"audio": [{"service": "stt"}, {"service": "llm", "output_tokens": 200}]},
        "services": {
            "stt": {"task": "transcribe", "model": keys["transcribe"], "pool": "vm"},
            "llm": {"task": "generate", "model": keys["generate"], "pool": "vm", "keep_alive_s": 300},
        },
        "pools": {"vm": {"sku": "Standard_NC4as_T4_v3", "instances": 1}},
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    rr = run_replication(load_and_check(path), 0)
    active = rr.monthly[rr.monthly.component == "active"]
    assert set(active.service) == {"stt", "llm"}
    assert rr.summary["jobs"] == 2 * rr.summary["files"] > 0
    assert active.energy_kwh.sum() > 0


def _partial_args(out, run_samples, tmp_path, tiny_nllb):
    return ["run", "--out", str(out), "--samples", str(run_samples), "--device", "cpu", "--repeats", "1", "--warmup", "0",
            "--idle-s", "0.2", "--services", "transcribe,translate", "--whisper-model", str(tmp_path / "missing-model"),
            "--nllb-model", str(tiny_nllb), "--meter", "codecarbon-cpu-load", "--nllb-max-new-tokens", "8"]


def test_a_model_that_cannot_load_exits_nonzero_and_leaves_the_profile_untouched(run_samples, tmp_path, tiny_nllb):
    import yaml

    out = tmp_path / "good.yaml"
    priors = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "calibration" / "priors.yaml").read_text())
    priors["models"] = {k: priors["models"][k] for k in ("whisper-large-v3", "nllb-200-1.3b")}
    out.write_text(yaml.safe_dump(priors))
    before = out.read_bytes()
    keys = ["--key", "transcribe=whisper-large-v3", "--key", "translate=nllb-200-1.3b"]
    res = CliRunner().invoke(calibrate, _partial_args(out, run_samples, tmp_path, tiny_nllb) + keys)
    assert res.exit_code == 1 and "missing-model" in res.output and "--allow-partial" in res.output
    assert out.read_bytes() == before
    # with --allow-partial the run measures NLLB, but the file also holds Whisper: refused, untouched
    res = CliRunner().invoke(calibrate, _partial_args(out, run_samples, tmp_path, tiny_nllb) + keys + ["--allow-partial"])
    assert res.exit_code == 1 and "lacks ['whisper-large-v3']" in res.output
    assert out.read_bytes() == before
    # a file holding a model this run will not measure is refused before anything runs
    res = CliRunner().invoke(calibrate, _partial_args(out, run_samples, tmp_path, tiny_nllb) + keys[:2])
    assert res.exit_code == 1 and "lacks ['nllb-200-1.3b']" in res.output and "meter:" not in res.output


def test_without_allow_partial_a_failed_model_writes_nothing(run_samples, tmp_path, tiny_nllb):
    out = tmp_path / "new.yaml"
    res = CliRunner().invoke(calibrate, _partial_args(out, run_samples, tmp_path, tiny_nllb))
    assert res.exit_code == 1 and not out.exists()


def test_device_cuda_without_cuda_is_refused(tmp_path, monkeypatch):
    from calibrate import guards

    def none() -> int:
        return 0

    monkeypatch.setattr(guards, "CUDA_PROBES", {svc: (lib, none) for svc, (lib, _) in guards.CUDA_PROBES.items()})
    out = tmp_path / "cuda.yaml"
    res = CliRunner().invoke(calibrate, ["run", "--out", str(out), "--device", "cuda", "--services", "translate"])
    assert res.exit_code == 1 and "--device cuda refused" in res.output and "torch sees no CUDA device" in res.output
    assert not out.exists()


def test_tokens_refuses_a_model_that_takes_no_text_or_another_tokenizer(tmp_path):
    prof = tmp_path / "p.yaml"
    prof.write_bytes((Path(__file__).resolve().parents[2] / "configs" / "calibration" / "priors.yaml").read_bytes())
    res = CliRunner().invoke(calibrate, ["tokens", "--profile", str(prof), "--model", "whisper-large-v3"])
    assert res.exit_code == 1 and "takes no text" in res.output
    res = CliRunner().invoke(calibrate, ["tokens", "--profile", str(prof), "--model", "nllb-200-1.3b"])
    assert res.exit_code == 1 and "hf:facebook/nllb-200-1.3B" in res.output
    before = load_profile(prof).models["nllb-200-1.3b"].chars_per_token
    res = CliRunner().invoke(calibrate, ["tokens", "--profile", str(prof)])
    assert res.exit_code == 0 and "['mistral-7b-q4']" in res.output
    after = load_profile(prof)
    assert after.models["nllb-200-1.3b"].chars_per_token == before
    assert after.models["mistral-7b-q4"].chars_per_token["en"].mean() == pytest.approx(4.79, abs=0.01)  # shipped articles
