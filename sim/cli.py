"""The ``carbonsim`` command line."""

from __future__ import annotations

import atexit
import errno
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from sim.config.errors import ConfigError

DEFAULT_CONFIG = Path("configs/default.yaml")
DEFAULT_OPTIONS = Path("configs/options/default.yaml")


def _fail(exc: Exception) -> None:
    click.echo(f"error: {_message(exc)}", err=True)
    sys.exit(2)


#: What a command can fail on without it being a bug: a bad config or run folder, and the
#: file system (a folder that cannot be written, a full disk). One line each, no traceback.
_EXPECTED = (ConfigError, OSError)


def _message(exc: BaseException) -> str:
    """One clear line for an expected failure: for a file-system error, the path and why."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"file system: {where}{exc.strerror}" + (" (the disk is full)" if exc.errno == errno.ENOSPC else "")
    return str(exc)


class Terminated(SystemExit):
    """SIGTERM, turned into an exception so that a run cleans up as it does on Ctrl-C."""


@contextmanager
def _sigterm_cleans_up() -> Iterator[None]:
    """While a command writes: SIGTERM raises ``Terminated`` (exit status 143) in the main
    thread, so the partial run folder is removed and the worker processes are stopped."""

    def terminate(signum, frame):
        raise Terminated(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except Terminated:
        click.echo("error: terminated (SIGTERM); nothing was published", err=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _overrides(replications, months, seed) -> dict:
    return {"replications": replications, "horizon_months": months, "seed": seed}


def _forecast_options(f):
    f = click.option("--replications", "-n", type=click.IntRange(min=1), help="Replications (default: the config's).")(f)
    f = click.option("--months", type=click.IntRange(min=1), help="Horizon in months (default: the config's).")(f)
    f = click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the config's).")(f)
    f = click.option("--workers", "-w", default="auto", show_default=True, help="Local processes, or `auto` for one per core.")(f)
    f = click.option("--engine", type=click.Choice(["auto", "simpy", "fast"]), default="auto", show_default=True,
                     help="Simulation engine; `auto` picks the fast one where the scenario allows.")(f)
    f = click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: outputs/<time>_<scenario>).")(f)
    f = click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal only).")(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carbonsim")
def main() -> None:
    """carbonsim: forecast the carbon footprint of an AI API and decide what to keep."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path), default=DEFAULT_CONFIG)
@_forecast_options
@click.option("--scheduler", help="Address of a Dask scheduler (tcp://HOST:8786) to run replications on.")
@click.option("--dask-local", type=click.IntRange(min=1), help="Start a local Dask cluster with N workers.")
def simulate(config, replications, months, seed, workers, engine, out, progress, scheduler, dask_local):
    """Run the Monte Carlo forecast of CONFIG and write a run folder."""
    from .runner import forecast, open_run, resolve_workers

    with _sigterm_cleans_up():
        try:
            res, writer = open_run(config, _overrides(replications, months, seed), out)
        except _EXPECTED as exc:
            _fail(exc)
        try:
            ctx = forecast(res, writer, workers=resolve_workers(workers), engine=engine, progress=progress,
                           command="simulate", scheduler=scheduler, dask_local=dask_local)
            final = writer.commit(ctx.manifest)
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, _EXPECTED):
                _fail(exc)
            raise
    _report_done(final, ctx.headline, ctx.mc)


@main.command()
@click.argument("config", type=click.Path(path_type=Path), default=DEFAULT_CONFIG)
@_forecast_options
@click.option("--options", "options", type=click.Path(path_type=Path), default=DEFAULT_OPTIONS, show_default=True,
              help="Decision options to evaluate.")
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True, help="Report language.")
def run(config, replications, months, seed, workers, engine, out, progress, options, lang):
    """The main job: forecast CONFIG, evaluate the options, write the report."""
    from .runner import resolve_workers, run_main

    try:
        with _sigterm_cleans_up():
            final = run_main(config, options=options if options and Path(options).exists() else None,
                             overrides=_overrides(replications, months, seed), out=out, workers=resolve_workers(workers),
                             engine=engine, progress=progress, lang=lang, log=lambda m: click.echo(m, err=True))
    except _EXPECTED as exc:  # (run_main has removed its partial folder)
        _fail(exc)
    manifest = json.loads((final / "manifest.json").read_text())
    click.echo(f"run folder: {final}")
    click.echo(f"  {manifest['replications']} replications, engine {manifest['engine']}, "
               f"{manifest.get('total_wall_s', manifest['wall_s'])} s")
    summary = final / "summary.md"
    if summary.exists():
        click.echo(summary.read_text())


@main.command()
@click.argument("config", type=click.Path(path_type=Path), default=DEFAULT_CONFIG)
@_forecast_options
@click.option("--options", "options", type=click.Path(path_type=Path), default=DEFAULT_OPTIONS, show_default=True,
              help="Decision options to evaluate.")
def decide(config, replications, months, seed, workers, engine, out, progress, options):
    """Forecast CONFIG, run every option of OPTIONS on the same seeds, rank them and recommend."""
    from sim.decide.loading import load_options

    from .runner import decision_step, forecast, open_run, resolve_workers

    with _sigterm_cleans_up():
        try:
            res, writer = open_run(config, _overrides(replications, months, seed), out)
        except _EXPECTED as exc:
            _fail(exc)
        try:
            load_options(options, res)  # fail on a bad options file before any simulation
            ctx = forecast(res, writer, workers=resolve_workers(workers), engine=engine, progress=progress, command="decide")
            ctx.options_path, ctx.log = options, (lambda m: click.echo(m, err=True))
            decision_step(ctx)
            final = writer.commit(ctx.manifest)
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, _EXPECTED):
                _fail(exc)
            raise
    _report_done(final, ctx.headline, ctx.mc)
    click.echo((final / "recommendation.md").read_text())


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True, help="Report language.")
def report(run_dir, lang):
    """Rebuild report.html, report.md and figures/ of RUN_DIR from its files, without simulating."""
    from .report import RunFolderError, build_report

    try:
        with _sigterm_cleans_up():
            path = build_report(run_dir, lang)
    except (RunFolderError, OSError) as exc:
        _fail(exc)
    click.echo(f"report: {path}")
    click.echo(f"  markdown summary: {path.with_name('report.md')}; figures: {path.parent / 'figures'}")


def _report_done(final: Path, head: dict, mc) -> None:
    h = head["horizon_co2e_kg"]
    click.echo(f"run folder: {final}")
    click.echo(f"  {head['replications']} replications, engine {mc.engine}, {mc.wall_s:.1f} s, "
               f"{mc.jobs / max(mc.wall_s, 1e-9):,.0f} jobs/s")
    click.echo(f"  emissions over the horizon: P50 {h['p50']:,.0f} kgCO2e, P90 {h['p90']:,.0f} kgCO2e")
    if head["p_exceed_budget"] is not None:
        click.echo(f"  probability of exceeding the budget: {head['p_exceed_budget']:.0%}")


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(configs):
    """Check scenario files: every problem, with file, field and fix."""
    from sim.config.resolve import load_and_check

    failed = False
    for path in configs:
        try:
            res = load_and_check(path)
        except ConfigError as exc:
            failed = True
            click.echo(str(exc), err=True)
            continue
        click.echo(f"{path}: ok ({res.scenario.name}, {len(res.scenario.services)} services, profile {res.profile_path})")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--kind", type=click.Choice(["scenario", "profile", "skus", "regions", "options"]), default="scenario", show_default=True)
def schema(kind):
    """Print the JSON Schema of a config file kind."""
    from sim.config.catalogues import RegionCatalogue, SkuCatalogue
    from sim.config.profile import Profile
    from sim.config.scenario import Scenario
    from sim.decide.options import OptionsFile

    model = {"scenario": Scenario, "profile": Profile, "skus": SkuCatalogue, "regions": RegionCatalogue, "options": OptionsFile}[kind]
    click.echo(json.dumps(model.model_json_schema(by_alias=True), indent=2))


def console_main() -> None:
    """The ``carbonsim`` console command: ``main``, then an exit that skips tearing the
    interpreter down.

    After a forecast that teardown (freeing every module's objects one by one: numba's
    compiled code, pandas, the tables) took about 0.4 s, for nothing: the process ends
    anyway. What an ordinary exit does first is kept: other threads are waited for, the
    ``atexit`` functions run and the output streams are flushed. An uncaught exception
    takes the ordinary way out, traceback included. (Tests call ``main`` directly.)
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # as the interpreter treats sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _attach_calibrate() -> None:
    try:
        from calibrate.cli import calibrate
    except ImportError:  # the calibrate package is part of this distribution; keep the CLI usable regardless
        return
    main.add_command(calibrate)


_attach_calibrate()
