"""``carbonsim calibrate run``: benchmark the models, fit, write the profile, loudly.

The run refuses ``--device cuda`` without a CUDA device, refuses up front to replace a
profile holding models it will not measure, exits non-zero when a requested model fails
(a partial profile is written only with ``--allow-partial``, and says so), and warns when
a model's energy does not respond to its work.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from .names import entry_name, tokenizer_for

#: Per service: the backend and the model measured by default (the shipped scenario's models).
DEFAULT_MODELS = {
    "transcribe": ("faster-whisper", "large-v3"),
    "translate": ("transformers-nllb", "facebook/nllb-200-1.3B"),
    "generate": ("ollama", "mistral:7b"),
}


@dataclass
class RunOptions:
    """What to measure and how (the command's options that shape the specs)."""

    services: list[str]
    models: dict[str, str]
    keys: dict[str, str]
    ollama_host: str
    ollama_num_predict: str
    nllb_max_new_tokens: int


def parse_keys(keys: tuple[str, ...], services: list[str]) -> dict[str, str]:
    """``--key service=name`` pairs; a malformed pair or an unknown service is a usage error."""
    out = {}
    for pair in keys:
        svc, sep, name = pair.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--key {pair!r}: write it as service=profile-entry, e.g. transcribe=whisper-large-v3")
        if svc not in DEFAULT_MODELS:
            raise click.UsageError(f"--key {pair!r}: unknown service {svc!r}; use one of {sorted(DEFAULT_MODELS)}")
        out[svc] = name.strip()
    return out


def build_specs(opts: RunOptions) -> list:
    """One ``ServiceSpec`` per requested service, under the entry name scenarios use."""
    from .runner import ServiceSpec

    specs = []
    for svc in opts.services:
        backend = DEFAULT_MODELS[svc][0]
        model = opts.models[svc]
        key, known = (opts.keys[svc], True) if svc in opts.keys else entry_name(backend, model)
        if not known:
            click.echo(f"note: {model} is written as `{key}`, a name no shipped scenario uses: point "
                       f"`services.<name>.model` at it, or choose the name with --key {svc}=NAME", err=True)
        extra = {
            "generate": {"host": opts.ollama_host, "num_predict": [int(n) for n in opts.ollama_num_predict.split(",")]},
            "translate": {"max_new_tokens": opts.nllb_max_new_tokens},
        }.get(svc, {})
        specs.append(ServiceSpec(backend, model, key, extra))
    return specs


def token_ratios(specs: list) -> dict:
    """Characters per token on the shipped articles, for each text model whose own tokenizer is known."""
    from .texts import shipped_texts
    from .tokens import chars_per_token, make_tokenizer

    out = {}
    for s in specs:
        spec = tokenizer_for(s.key, s.backend, s.model)
        if spec is None or s.backend == "faster-whisper":
            continue
        try:
            out[s.key] = chars_per_token(shipped_texts(), make_tokenizer(spec))
        except RuntimeError as exc:  # the tokenizer is not available offline: the ratios stay the priors'
            click.echo(f"note: no chars/token for {s.key}: {exc}", err=True)
    return out


@click.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="profile YAML to write")
@click.option("--samples", "samples_dir", type=click.Path(path_type=Path), help="samples folder (default: generate them)")
@click.option("--services", default="transcribe,translate,generate", show_default=True)
@click.option("--whisper-model", default=DEFAULT_MODELS["transcribe"][1], show_default=True, help="name or CTranslate2 folder")
@click.option("--nllb-model", default=DEFAULT_MODELS["translate"][1], show_default=True, help="name or folder")
@click.option("--ollama-model", default=DEFAULT_MODELS["generate"][1], show_default=True, help="Ollama model tag")
@click.option("--ollama-host", default="http://127.0.0.1:11434", show_default=True)
@click.option("--nllb-max-new-tokens", type=int, default=256, show_default=True, help="cap per translated sentence")
@click.option("--ollama-num-predict", default="32,128,256", show_default=True, help="output caps, cycled over samples")
@click.option("--key", "keys", multiple=True, help="profile entry name per service, as service=name")
@click.option("--repeats", type=int, default=3, show_default=True)
@click.option("--warmup", type=int, default=1, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cuda", show_default=True)
@click.option("--meter", "meter_name", default="auto", show_default=True, help="auto, nvml, rapl, codecarbon-cpu-load")
@click.option("--idle-s", type=float, default=10.0, show_default=True, help="idle baseline before and after (s)")
@click.option("--vm-sku", help="Azure VM size, e.g. Standard_NC24ads_A100_v4")
@click.option("--name", default="calibrated", show_default=True)
@click.option("--allow-partial", is_flag=True, help="write the models that worked when others fail (exit 0, `partial: true`)")
@click.option("--force", is_flag=True, help="replace --out even if it holds models this run does not write")
def run(out, samples_dir, services, whisper_model, nllb_model, ollama_model, ollama_host, nllb_max_new_tokens,
        ollama_num_predict, keys, repeats, warmup, device, meter_name, idle_s, vm_sku, name, allow_partial, force) -> None:
    """Benchmark each service on the samples, fit time and energy, write the profile."""
    from .guards import cuda_problem, overwrite_problem

    wanted = [s.strip() for s in services.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(DEFAULT_MODELS))
    if unknown:
        raise click.UsageError(f"--services: unknown {unknown}; use {sorted(DEFAULT_MODELS)}")
    opts = RunOptions(wanted, {"transcribe": whisper_model, "translate": nllb_model, "generate": ollama_model},
                      parse_keys(keys, wanted), ollama_host, ollama_num_predict, nllb_max_new_tokens)
    if device == "cuda" and (why := cuda_problem(wanted)):
        raise click.ClickException(why)
    specs = build_specs(opts)
    if not force and (why := overwrite_problem(out, {s.key for s in specs})):
        raise click.ClickException(why)
    profile, wall_s, idle_w = _measure(specs, samples_dir, device, meter_name, repeats, warmup, idle_s, vm_sku, name)
    for f in profile.failures:
        click.echo(f"failed: {f.model} {f.sample}: {f.error}", err=True)
    _warn_flagged(profile)
    missing = [s.key for s in specs if s.key not in profile.models]
    if missing and not allow_partial:
        raise click.ClickException(f"{', '.join(missing)} failed (see above): nothing written to {out}; fix the cause, "
                                   "or pass --allow-partial to write the models that worked")
    profile = profile.model_copy(update={"partial": bool(missing)})
    if not force and (why := overwrite_problem(out, set(profile.models))):
        raise click.ClickException(why)
    from .profile_writer import write_profile

    write_profile(profile, out)
    click.echo(f"{out}: {len(profile.models)} model(s) {sorted(profile.models)}, {profile.measurement.samples} measured calls, "
               f"idle {idle_w:.1f} W, {wall_s:.0f} s" + (f"; partial, without {missing}" if missing else ""))


def _measure(specs, samples_dir, device, meter_name, repeats, warmup, idle_s, vm_sku, name):
    """Run the benchmark and build the profile; returns (profile, wall time s, idle power W)."""
    from .meters import MeterUnavailable, detect_meter, make_meter
    from .profile_writer import build_profile
    from .runner import run_calibration
    from .samples import ToolMissing, load_samples, make_samples

    try:
        meter = detect_meter(device) if meter_name == "auto" else make_meter(meter_name)
    except (MeterUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"meter: {meter.method} ({meter.uncertainty})")
    for why in getattr(meter, "skipped", []):
        click.echo(f"  not available: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            samples = load_samples(samples_dir) if samples_dir else make_samples(Path(tmp) / "samples")
        except (ToolMissing, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None
        result = run_calibration(specs, samples, meter, device=device, repeats=repeats, warmup=warmup, idle_s=idle_s,
                                 progress=sys.stderr.isatty())
    profile = build_profile(result, meter, name=name, vm_sku=vm_sku, token_ratios=token_ratios(specs))
    meter.close()
    return profile, result.wall_s, result.idle_power_w


def _warn_flagged(profile) -> None:
    """Say, on stderr, which models' energy does not respond to work."""
    for key, m in profile.models.items():
        q = m.fit.get("energy_j")
        if q is not None and q.flags:
            click.echo(f"WARNING: {key}: energy flagged ({', '.join(q.flags)}): {q.notes}. A forecast on this entry "
                       "is not a measurement; use a meter that sees the device (--meter nvml on a GPU).", err=True)
