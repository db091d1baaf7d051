"""``carbonsim calibrate``: samples, tokens, workload, run, show, growth (and telemetry, when installed).

Heavy libraries load inside the commands, so ``carbonsim --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

DEFAULT_MODELS = {
    "transcribe": ("faster-whisper", "large-v3", "whisper-large-v3"),
    "translate": ("transformers-nllb", "facebook/nllb-200-distilled-600M", "nllb-200-distilled-600m"),
    "generate": ("ollama", "mistral:7b", "mistral-7b-q4"),
}


@click.group("calibrate")
def calibrate() -> None:
    """Measure the real models on this machine and write a calibration profile."""


@calibrate.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder to write audio/, video/, text/ into")
@click.option("--langs", default="en,fr,es,ar", show_default=True)
@click.option("--durations", default="5,15,40,75", show_default=True, help="target speech durations (s)")
def samples(out: Path, langs: str, durations: str) -> None:
    """Write speech (espeak-ng), video (ffmpeg) and text samples in each language."""
    from .samples import ToolMissing, make_samples

    try:
        made = make_samples(out, tuple(langs.split(",")), tuple(float(d) for d in durations.split(",")), progress=sys.stderr.isatty())
    except ToolMissing as exc:
        raise click.ClickException(str(exc)) from None
    kinds = {k: sum(s.kind == k for s in made) for k in ("audio", "video", "text")}
    click.echo(f"{out}: {kinds['audio']} audio, {kinds['video']} video, {kinds['text']} text samples")


@calibrate.command()
@click.option("--tokenizer", "tokenizers", multiple=True, default=["mistral"], show_default=True,
              help="`mistral`, `mistral:v3` or `hf:<name or folder>`; repeatable")
@click.option("--corpus", type=click.Path(path_type=Path), help="folder <lang>/*.txt (default: the shipped articles)")
@click.option("--flores", type=click.Path(path_type=Path), help="FLORES-200 folder to use as the corpus")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), help="write the ratios into this profile")
@click.option("--model", "model_keys", multiple=True, help="profile entries to update (default: all `generate` models)")
def tokens(tokenizers, corpus, flores, profile_path, model_keys) -> None:
    """Characters per token per language, with the real tokenizers."""
    from .texts import read_corpus, read_flores, shipped_texts
    from .tokens import chars_per_token, make_tokenizer

    texts = read_flores(flores) if flores else read_corpus(corpus) if corpus else shipped_texts()
    results = {}
    for spec in tokenizers:
        try:
            tok = make_tokenizer(spec)
        except (RuntimeError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        results[spec] = chars_per_token(texts, tok)
        click.echo(f"{tok.name}")
        for r in results[spec].values():
            click.echo(f"  {r.lang}: {r.mean:.3f} chars/token (sd {r.sd:.3f}, {r.chunks} chunks, {r.tokens} tokens)")
    if profile_path:
        from sim.config.profile import dump_profile, load_profile

        prof = load_profile(profile_path)
        keys = list(model_keys) or [k for k, m in prof.models.items() if m.service == "generate"]
        ratios = results[tokenizers[0]]
        for k in keys:
            if k not in prof.models:
                raise click.ClickException(f"{profile_path}: no model {k!r}; entries are {sorted(prof.models)}")
            prof.models[k].chars_per_token = {lang: r.as_uncertain() for lang, r in ratios.items()}
        dump_profile(prof, profile_path)
        click.echo(f"{profile_path}: chars_per_token written for {keys}")


@calibrate.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), help="CSV with columns path,lang (paths relative to FOLDER)")
@click.option("--out", type=click.Path(path_type=Path), help="write the workload YAML fragment here")
@click.option("--max-files", type=int, help="measure a random sample of this many files")
@click.option("--files-per-month", type=float, help="base volume (default: the number of files read)")
@click.option("--tokenizer", default=None, help="also count tokens of texts (`mistral`, `hf:...`)")
@click.option("--seed", type=int, default=0, show_default=True)
def workload(folder, manifest, out, max_files, files_per_month, tokenizer, seed) -> None:
    """Measure the user's files and write the scenario's `workload` section."""
    import numpy as np
    import yaml

    from sim.config.errors import atomic_write_text

    from .tokens import make_tokenizer
    from .workload import scan, summary_rows, workload_fragment

    tok = make_tokenizer(tokenizer) if tokenizer else None
    try:
        res = scan(folder, manifest, max_files, np.random.default_rng(seed), tok)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for row in summary_rows(res):
        click.echo("  " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    for path, why in res.unreadable:
        click.echo(f"unreadable, skipped: {path}: {why}", err=True)
    try:
        frag = {"workload": workload_fragment(res, files_per_month)}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    text = f"# measured from {len(res.files)} files in {folder}; counts {res.counts()}\n" + yaml.safe_dump(frag, sort_keys=False)
    if out:
        atomic_write_text(Path(out), text)
        click.echo(f"{out}: workload written")
    else:
        click.echo(text)


@calibrate.command()
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
def run(out, samples_dir, services, whisper_model, nllb_model, ollama_model, ollama_host, nllb_max_new_tokens,
        ollama_num_predict, keys, repeats, warmup,
        device, meter_name, idle_s, vm_sku, name) -> None:
    """Benchmark each service on the samples, fit time and energy, write the profile."""
    import tempfile

    from .meters import MeterUnavailable, detect_meter, make_meter
    from .profile_writer import build_profile, write_profile
    from .runner import ServiceSpec, run_calibration
    from .samples import ToolMissing, load_samples, make_samples
    from .texts import shipped_texts
    from .tokens import chars_per_token, make_tokenizer

    wanted = [s.strip() for s in services.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(DEFAULT_MODELS))
    if unknown:
        raise click.UsageError(f"--services: unknown {unknown}; use {sorted(DEFAULT_MODELS)}")
    if device == "cuda":
        try:
            import torch

            cuda_ok = torch.cuda.is_available()
        except ImportError:
            cuda_ok = False
        if not cuda_ok:
            click.echo("no CUDA device here: measuring on the CPU (--device cpu)", err=True)
            device = "cpu"
    key_of = dict(k.split("=", 1) for k in keys)
    models = {"transcribe": whisper_model, "translate": nllb_model, "generate": ollama_model}
    specs = []
    for svc in wanted:
        backend, _, default_key = DEFAULT_MODELS[svc]
        opts = {
            "generate": {"host": ollama_host, "num_predict": [int(n) for n in ollama_num_predict.split(",")]},
            "translate": {"max_new_tokens": nllb_max_new_tokens},
        }.get(svc, {})
        is_default = models[svc] == DEFAULT_MODELS[svc][1]
        specs.append(ServiceSpec(backend, models[svc], key_of.get(svc, default_key if is_default else ""), opts))
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
        result = run_calibration(specs, samples, meter, device=device, repeats=repeats, warmup=warmup, idle_s=idle_s, progress=sys.stderr.isatty())
    ratios = {}
    gen = [s.key for s in specs if s.backend == "ollama"]
    if gen:
        ratios = {k: chars_per_token(shipped_texts(), make_tokenizer("mistral")) for k in gen}
    profile = build_profile(result, meter, name=name, vm_sku=vm_sku, token_ratios=ratios)
    meter.close()
    write_profile(profile, out)
    for f in profile.failures:
        click.echo(f"failed: {f.model} {f.sample}: {f.error}", err=True)
    click.echo(f"{out}: {len(profile.models)} model(s), {profile.measurement.samples} measured calls, "
               f"idle {result.idle_power_w:.1f} W, {result.wall_s:.0f} s")


@calibrate.command()
@click.argument("profile_path", type=click.Path(path_type=Path))
def show(profile_path: Path) -> None:
    """Summarise a calibration profile: method, hardware, per-model costs and fit quality."""
    from sim.config.distributions import mean_of
    from sim.config.errors import ConfigError
    from sim.config.profile import load_profile

    try:
        prof = load_profile(profile_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    m, hw = prof.measurement, prof.hardware
    click.echo(f"{prof.name}: method {m.method}, {m.samples} samples, {m.date}; {m.uncertainty}")
    click.echo(f"hardware: GPU {hw.gpu.model} x{hw.gpu.count}, CPU {hw.cpu}, VM {hw.vm_sku or '-'}")
    for key, mp in prof.models.items():
        click.echo(f"{key} ({mp.service}), {mp.source}")
        for what in ("time_s", "energy_j"):
            cost = getattr(mp, what)
            terms = " + ".join(f"{mean_of(v):.4g}*{u}" for u, v in cost.coef.items())
            q = mp.fit.get(what)
            fitq = f", n={q.n} r2={q.r2 if q.r2 is None else round(q.r2, 3)} outliers={q.outliers}" if q else ""
            click.echo(f"  {what} = {mean_of(cost.intercept):.4g} + {terms or '0'}  (sigma {cost.sigma:.3f}{fitq})")
        if mp.chars_per_token:
            click.echo("  chars/token: " + ", ".join(f"{k} {mean_of(v):.2f}" for k, v in mp.chars_per_token.items()))
    for f in prof.failures:
        click.echo(f"failed: {f.model} {f.sample}: {f.error}")


def _attach_telemetry() -> None:
    try:
        from .monitor.cli import telemetry
    except ImportError:  # the live monitor is optional
        return
    calibrate.add_command(telemetry)


_attach_telemetry()


def _attach_growth() -> None:
    from .history.cli import growth

    calibrate.add_command(growth)


_attach_growth()
