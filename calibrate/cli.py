"""``carbonsim calibrate``: samples, tokens, workload, run, show, growth (and telemetry, when installed).

Heavy libraries load inside the commands, so ``carbonsim --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_run import run


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
        _write_ratios(profile_path, model_keys, tokenizers[0], results[tokenizers[0]])


def _write_ratios(profile_path: Path, model_keys: tuple[str, ...], spec: str, ratios: dict) -> None:
    """Write chars/token into the profile's text models whose own tokenizer is ``spec``.

    A model that does not take text, or whose known tokenizer is another, is refused: its
    ratios would price its tokens with someone else's vocabulary.
    """
    from sim.config.errors import ConfigError
    from sim.config.profile import dump_profile, load_profile

    from .names import TEXT_TASKS, tokenizer_for

    try:
        prof = load_profile(profile_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    def own(key: str) -> str | None:
        return tokenizer_for(key, *_backend_and_model(prof.models[key].source))

    if model_keys:
        for k in model_keys:
            if k not in prof.models:
                raise click.ClickException(f"{profile_path}: no model {k!r}; entries are {sorted(prof.models)}")
            if prof.models[k].service not in TEXT_TASKS:
                raise click.ClickException(f"{k} serves {prof.models[k].service!r}, which takes no text: "
                                           f"chars/token apply to {', '.join(TEXT_TASKS)} models only")
            if own(k) is not None and own(k) != spec:
                raise click.ClickException(f"{k} reads text with `{own(k)}`, not `{spec}`: "
                                           f"run `carbonsim calibrate tokens --tokenizer {own(k)} --model {k} ...`")
        keys = list(model_keys)
    else:
        keys = [k for k, m in prof.models.items() if m.service in TEXT_TASKS and own(k) == spec]
        if not keys:
            raise click.ClickException(f"{profile_path}: no text model uses the tokenizer `{spec}`; name one with --model")
    cpt = {lang: r.as_uncertain() for lang, r in ratios.items()}
    models = {k: m.model_copy(update={"chars_per_token": cpt}) if k in keys else m for k, m in prof.models.items()}
    dump_profile(prof.model_copy(update={"models": models}), profile_path)
    click.echo(f"{profile_path}: chars_per_token written for {keys}")


def _backend_and_model(source: str) -> tuple[str, str]:
    """Backend and model from a measured entry's source (``measured: <backend> <model>, ...``)."""
    if not source.startswith("measured: "):
        return "", ""
    backend, _, rest = source.removeprefix("measured: ").partition(" ")
    return backend, rest.split(",", 1)[0]


@calibrate.command()
@click.option("--flores", type=click.Path(path_type=Path), help="FLORES-200 folder (default: $CARBONSIM_FLORES_DIR or ../shared/data/flores200)")
@click.option("--splits", default="dev,devtest", show_default=True, help="which splits to pool")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), help="write the ratios into this profile")
def lengths(flores, splits, profile_path) -> None:
    """Characters of translation per character of source, per language pair, on parallel text."""
    from .lengths import pair_ratios, read_parallel
    from .texts import flores_dir

    root = flores or flores_dir(Path.cwd())
    if root is None:
        raise click.ClickException("no FLORES-200 folder: pass --flores DIR (files <flores_code>.dev/.devtest) or set CARBONSIM_FLORES_DIR")
    try:
        sentences, counts = read_parallel(root, tuple(x.strip() for x in splits.split(",") if x.strip()))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    ratios = pair_ratios(sentences)
    for r in ratios.values():
        click.echo(f"  {r.key}: {r.mean:.3f} chars/char (sd {r.sd:.3f} over {r.chunks} chunks)")
    if profile_path:
        from sim.config.errors import ConfigError
        from sim.config.profile import TranslationLength, dump_profile, load_profile

        try:
            prof = load_profile(profile_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        split_text = " + ".join(f"{k} ({n:,} sentences)" for k, n in counts.items())
        lengths = TranslationLength(
            ratios={k: r.as_uncertain() for k, r in ratios.items()},
            source=f"FLORES-200 (NLLB Team 2022, CC-BY-SA 4.0) {split_text}: target/source characters, "
                   "sd between ~4,000-character chunks; carbonsim calibrate lengths",
        )
        dump_profile(prof.model_copy(update={"translation_length": lengths}), profile_path)
        click.echo(f"{profile_path}: translation_length written for {len(ratios)} pairs")


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
@click.argument("path", type=click.Path(path_type=Path))
def show(path: Path) -> None:
    """Summarise a calibration profile, or a scenario's merged profiles with each entry's file."""
    from sim.config.errors import ConfigError, read_yaml
    from sim.config.layers import load_layered
    from sim.config.resolve import load_and_check

    try:
        if "calibration" in read_yaml(path):  # a scenario: its profiles, merged
            layers = load_and_check(path).layers
        else:
            layers = load_layered([path])
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _show_layers(layers)


def _show_layers(layers) -> None:
    from sim.config.distributions import mean_of

    prof = layers.profile
    several = len(layers.paths) > 1

    def src(p: Path) -> str:
        return f"  [{p}]" if several else ""

    m, hw = prof.measurement, prof.hardware
    if several:
        click.echo("files, later override earlier: " + ", ".join(str(p) for p in layers.paths))
    click.echo(f"{prof.name}: method {m.method}, {m.samples} samples, {m.date}; {m.uncertainty}" + (" (PARTIAL)" if prof.partial else ""))
    hw_files = sorted({str(p) for p in layers.hardware_sources.values()})
    click.echo(f"hardware: GPU {hw.gpu.model} x{hw.gpu.count}, CPU {hw.cpu}, VM {hw.vm_sku or '-'}"
               + (f"  [{', '.join(hw_files)}]" if several else ""))
    for key, mp in prof.models.items():
        click.echo(f"{key} ({mp.service}), {mp.source}{src(layers.model_sources[key])}")
        for what in ("time_s", "energy_j"):
            cost = getattr(mp, what)
            terms = " + ".join(f"{mean_of(v):.4g}*{u}" for u, v in cost.coef.items())
            click.echo(f"  {what} = {mean_of(cost.intercept):.4g} + {terms or '0'}  (sigma {cost.sigma:.3f}{_fit_text(mp.fit.get(what))})")
        if mp.chars_per_token:
            click.echo("  chars/token: " + ", ".join(f"{k} {mean_of(v):.2f}" for k, v in mp.chars_per_token.items()))
    if prof.translation_length is not None:
        tl = prof.translation_length
        click.echo("translation length (target/source chars): "
                   + ", ".join(f"{k} {mean_of(v):.2f}" for k, v in tl.ratios.items()) + f"; {tl.source}")
    for f in prof.failures:
        click.echo(f"failed: {f.model} {f.sample}: {f.error}")


def _fit_text(q) -> str:
    """A fit's quality in one clause: n, r2, outliers, and whether energy responds."""
    if q is None:
        return ""
    text = f", n={q.n} r2={q.r2 if q.r2 is None else round(q.r2, 3)} outliers={q.outliers}"
    if q.meter_resolution_j is not None:
        text += f" resolution={q.meter_resolution_j:.3g} J"
    if q.flags:
        text += f"; FLAGGED: {', '.join(q.flags)}"
    elif q.responds:
        text += "; responds to work"
    return text


calibrate.add_command(run)


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
