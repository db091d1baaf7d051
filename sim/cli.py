"""The ``carbonsim`` command line."""

from __future__ import annotations

import errno
import json
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from sim.config.errors import ConfigError

DEFAULT_CONFIG = Path("configs/default.yaml")
#: The options file used when none is given: ``options/default.yaml`` beside the scenario.
DEFAULT_OPTIONS = Path("options/default.yaml")


def options_path(config: Path, given: Path | None) -> Path:
    """The options file to evaluate: the one given, else ``options/default.yaml`` in the
    scenario's folder (not the current directory's), so that a scenario elsewhere finds its own."""
    return given if given is not None else Path(config).parent / DEFAULT_OPTIONS


def _missing_options(path: Path) -> ConfigError:
    return ConfigError(path, [("(file)", "the options file does not exist",
                               "give an existing file with --options, or put one at options/default.yaml beside the scenario")])


def _fail(exc: Exception) -> None:
    click.echo(f"error: {_message(exc)}", err=True)
    sys.exit(2)


#: What a command can fail on without it being a bug: a bad config or run folder, and the
#: file system (a folder that cannot be written, a full disk). One line each, no traceback.
_EXPECTED = (ConfigError, OSError)


def _abandon(writer, exc: BaseException) -> None:
    """Remove a failed command's partial run folder; a failure the user can mend (a config or
    file-system error, a run too large) becomes one line and exit status 2."""
    from sim.montecarlo.estimate import TooLarge

    writer.abort()
    if isinstance(exc, (TooLarge, MemoryError)):
        _too_large(exc)
    if isinstance(exc, _EXPECTED):
        _fail(exc)


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
    f = click.option("--precision", "precision", type=click.FloatRange(min=0, min_open=True), metavar="PCT",
                     help="Replications in batches until the 95% intervals of the horizon emissions' mean, P5 and P95 "
                          "are within PCT% (from 100 up to the scenario's count).")(f)
    f = click.option("--keep-jobs", type=click.IntRange(min=0), default=0, metavar="N",
                     help="Write jobs.parquet: every job of the first N replications.")(f)
    f = click.option("--force", is_flag=True, help="Run even where the estimate says this machine lacks the memory.")(f)
    return f


def _settings(workers, engine, progress, force, precision, keep_jobs, scheduler=None, dask_local=None):
    from .runner import ForecastSettings, resolve_workers

    return ForecastSettings(workers=resolve_workers(workers), engine=engine, progress=progress, scheduler=scheduler,
                            dask_local=dask_local, force=force, precision_pct=precision, keep_jobs=keep_jobs)


def _log(message: str) -> None:
    click.echo(message, err=True)


def _too_large(exc: BaseException) -> None:
    """A run that does not fit (refused, or out of memory): the message and its fixes, no traceback."""
    from sim.montecarlo.estimate import HINTS, TooLarge

    _fail(exc if isinstance(exc, TooLarge) else f"out of memory ({exc or 'allocation failed'}); to fit: {HINTS}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carbonsim")
def main() -> None:
    """carbonsim: forecast the carbon footprint of an AI API and decide what to keep."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path), default=DEFAULT_CONFIG)
@_forecast_options
@click.option("--scheduler", help="Address of a Dask scheduler (tcp://HOST:8786) to run replications on.")
@click.option("--dask-local", type=click.IntRange(min=1), help="Start a local Dask cluster with N workers.")
def simulate(config, replications, months, seed, workers, engine, out, progress, force, precision, keep_jobs, scheduler, dask_local):
    """Run the Monte Carlo forecast of CONFIG and write a run folder."""

    from .runner import forecast, open_run

    with _sigterm_cleans_up():
        try:
            res, writer = open_run(config, _overrides(replications, months, seed), out)
        except _EXPECTED as exc:
            _fail(exc)
        _warn(res)
        try:
            ctx = forecast(res, writer, _settings(workers, engine, progress, force, precision, keep_jobs, scheduler, dask_local),
                           "simulate", _log)
            final = writer.commit(ctx.manifest)
        except BaseException as exc:
            _abandon(writer, exc)
            raise
    _report_done(final, ctx.headline, ctx.mc)


@main.command()
@click.argument("config", type=click.Path(path_type=Path), default=DEFAULT_CONFIG)
@_forecast_options
@click.option("--options", "options", type=click.Path(path_type=Path),
              help="Decision options to evaluate (default: options/default.yaml beside the scenario).")
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True, help="Report language.")
def run(config, replications, months, seed, workers, engine, out, progress, force, precision, keep_jobs, options, lang):
    """The main job: forecast CONFIG, evaluate the options, write the report."""
    from sim.montecarlo.estimate import TooLarge

    from .runner import run_main

    path = options_path(config, options)
    if options is not None and not path.is_file():
        _fail(_missing_options(path))
    try:
        with _sigterm_cleans_up():
            final = run_main(config, options=path if path.is_file() else None,
                             overrides=_overrides(replications, months, seed), out=out,
                             settings=_settings(workers, engine, progress, force, precision, keep_jobs), lang=lang, log=_log)
    except _EXPECTED as exc:  # (run_main has removed its partial folder)
        _fail(exc)
    except (TooLarge, MemoryError) as exc:
        _too_large(exc)
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
@click.option("--options", "options", type=click.Path(path_type=Path),
              help="Decision options to evaluate (default: options/default.yaml beside the scenario).")
def decide(config, replications, months, seed, workers, engine, out, progress, force, precision, keep_jobs, options):
    """Forecast CONFIG, run every option of OPTIONS on the same seeds, rank them and recommend."""
    from sim.decide.loading import load_options

    from .runner import decision_step, forecast, open_run

    options = options_path(config, options)
    if not options.is_file():
        _fail(_missing_options(options))
    with _sigterm_cleans_up():
        try:
            res, writer = open_run(config, _overrides(replications, months, seed), out)
        except _EXPECTED as exc:
            _fail(exc)
        _warn(res)
        try:
            load_options(options, res)  # fail on a bad options file before any simulation
            ctx = forecast(res, writer, _settings(workers, engine, progress, force, precision, keep_jobs), "decide", _log)
            ctx.options_path, ctx.log = options, _log
            decision_step(ctx)
            final = writer.commit(ctx.manifest)
        except BaseException as exc:
            _abandon(writer, exc)
            raise
    _report_done(final, ctx.headline, ctx.mc)
    click.echo((final / "recommendation.md").read_text())


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True, help="Report language.")
def report(run_dir, lang):
    """Rebuild report.html, report.md and figures/ of RUN_DIR from its files, without simulating
    (report.fr.html and report.fr.md in French, beside the English ones)."""
    from .report import RunFolderError, build_report

    try:
        with _sigterm_cleans_up():
            path = build_report(run_dir, lang)
    except (RunFolderError, OSError) as exc:
        _fail(exc)
    click.echo(f"report: {path}")
    click.echo(f"  markdown summary: {path.with_suffix('.md')}; figures: {path.parent / 'figures'}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--azure", "azure", required=True, metavar="REPORT",
              help="Azure's carbon report: a portal export (.csv), recorded API answers (.json), "
                   "or carbonopt:<subscription id>[/resourceGroups/<name>] to ask the API.")
@click.option("--basis", type=click.Choice(["location", "market"]), default="location", show_default=True,
              help="Which of carbonsim's bands flags a month.")
@click.option("--save-azure", type=click.Path(dir_okay=False, path_type=Path), help="Record the API's answers here (JSON).")
def reconcile(run_dir, azure, basis, save_azure):
    """Compare RUN_DIR's monthly forecast with Azure's reported emissions: reconcile.csv, reconcile.md."""
    from calibrate.reconcile import ERRORS, reconcile_run

    try:
        table, csv_path, md_path = reconcile_run(run_dir, azure, basis, save_azure)
    except ERRORS as exc:
        _fail(exc)
    flagged = table[table["flag"] != ""]
    click.echo(f"{csv_path}: {len(table)} month(s) compared, {len(flagged)} outside the P5-P95 band")
    for _, r in flagged.iterrows():
        click.echo(f"  {r['month']}: Azure {r['azure_total_kg']:,.1f} kg, ratio {r['ratio']:.2f} ({r['flag']})")
    click.echo(f"{md_path}: method differences and likeliest causes")

def _warn(res) -> None:
    """Print the scenario's warnings (flagged or partial calibrations) on stderr."""
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)


def _report_done(final: Path, head: dict, mc) -> None:
    h = head["horizon_co2e_kg"]
    click.echo(f"run folder: {final}")
    click.echo(f"  {head['replications']} replications, engine {mc.engine}, {mc.wall_s:.1f} s, "
               f"{mc.jobs / max(mc.wall_s, 1e-9):,.0f} jobs/s")
    click.echo(f"  emissions over the horizon: P50 {h['p50']:,.0f} kgCO2e, P90 {h['p90']:,.0f} kgCO2e")
    if head["p_exceed_budget"] is not None:
        click.echo(f"  probability of exceeding the budget: {head['p_exceed_budget']:.0%}")


def is_options_file(path: Path) -> bool:
    """An options file lists ``options`` and has no ``services`` (a scenario has them)."""
    from sim.config.errors import read_yaml

    try:
        data = read_yaml(path)
    except ConfigError:
        return False
    return isinstance(data, dict) and "options" in data and "services" not in data


def _options_base(options: Path):
    """The scenario an options file is checked against when none precedes it: ``../default.yaml``."""
    from sim.config.resolve import load_and_check

    guess = options.parent.parent / "default.yaml"
    if not guess.is_file():
        raise ConfigError(options, [("(file)", "an options file is checked against a scenario, and none was given",
                                     "name the scenario first: carbonsim validate SCENARIO OPTIONS")])
    return load_and_check(guess)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files):
    """Check scenario and options files: every problem, with file, field and fix.

    An options file (top-level `options`, no `services`) is checked against the scenario
    given before it on the command line (`validate SCENARIO OPTIONS`), else against
    `../default.yaml` from its folder (an options file in configs/options/ checks against
    configs/default.yaml)."""
    from sim.config.resolve import load_and_check
    from sim.decide.loading import load_options

    failed = False
    scenario = None
    for path in files:
        try:
            if is_options_file(path):
                base = scenario or _options_base(path)
                spec = load_options(path, base)
                click.echo(f"{path}: ok (options, {len(spec.options)} options, checked against {base.path})")
                continue
            scenario = load_and_check(path)
        except ConfigError as exc:
            failed = True
            click.echo(str(exc), err=True)
            continue
        files = ", ".join(str(p) for p in scenario.profile_paths)
        click.echo(f"{path}: ok ({scenario.scenario.name}, {len(scenario.scenario.services)} services, profile {files})")
        _warn(scenario)
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


@main.group()
def grid() -> None:
    """Hourly grid intensity profiles (carbon.grid_profile)."""


@grid.command("fetch")
@click.option("--zone", required=True, help="ENTSO-E area code, e.g. FR, DE_LU, SE_3.")
@click.option("--year", required=True, type=click.IntRange(2015, 2100), help="Calendar year (UTC).")
@click.option("--token", envvar="ENTSOE_API_TOKEN", required=True,
              help="ENTSO-E Transparency Platform token (default: $ENTSOE_API_TOKEN).")
@click.option("--out", type=click.Path(path_type=Path), help="CSV to write (default: grid/<zone>_<year>_hourly.csv).")
def grid_fetch(zone, year, token, out):
    """Fetch a year of generation per production type from ENTSO-E and write the hourly
    life-cycle intensity (IPCC AR5 medians per type) as a profile CSV."""
    from sim.config.gridfetch import GridFetchError, fetch_profile, write_profile

    out = out or Path("grid") / f"{zone}_{year}_hourly.csv"
    try:
        df = fetch_profile(zone, year, token)
    except GridFetchError as exc:
        _fail(exc)
    write_profile(df, out)
    g = df["carbon_intensity_g_per_kwh"]
    click.echo(f"{out}: {len(df)} hours, mean {g.mean():,.1f} gCO2e/kWh (min {g.min():,.1f}, max {g.max():,.1f})")
    click.echo(f"  use it with: carbon: {{grid_profile: {out}}}")


def console_main() -> None:
    """The ``carbonsim`` console command."""
    main()


def _attach_calibrate() -> None:
    try:
        from calibrate.cli import calibrate
    except ImportError:  # the calibrate package is part of this distribution; keep the CLI usable regardless
        return
    main.add_command(calibrate)


_attach_calibrate()
