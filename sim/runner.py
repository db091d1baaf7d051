"""The main job: forecast, then the later steps (decision, report), into one run folder."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sim.config.resolve import Resolved, load_and_check
from sim.engine.registry import choose_engine
from sim.forecast.epistemic import draw_epistemic
from sim.kernels.rng import Streams
from sim.montecarlo.estimate import HINTS, TooLarge, check_fits, estimate
from sim.montecarlo.output import (
    RunWriter,
    base_manifest,
    run_folder_name,
    write_forecast,
)
from sim.montecarlo.run import MonteCarloResult, RunExtras, run_monte_carlo


@dataclass
class RunContext:
    """What the steps of a run share."""

    res: Resolved
    writer: RunWriter
    mc: MonteCarloResult
    headline: dict
    options_path: Path | None = None
    workers: int = 1
    engine: str = "auto"
    progress: bool | None = None
    lang: str = "en"
    manifest: dict = field(default_factory=dict)
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class ForecastSettings:
    """How a forecast runs (the command line's options): where, on which engine, how many
    replications (``precision_pct``: until the bands are that tight), what else it writes."""

    workers: int = 1
    engine: str = "auto"
    progress: bool | None = None
    scheduler: str | None = None  # a Dask scheduler's address
    dask_local: int | None = None  # workers of a local Dask cluster
    force: bool = False  # run even where the estimate says this machine cannot
    precision_pct: float | None = None  # replications until the bands are this tight (%)
    keep_jobs: int = 0  # the first replications whose jobs' records go to jobs.parquet

    @property
    def dask(self) -> bool:
        return self.scheduler is not None or self.dask_local is not None


def resolve_workers(workers: int | str) -> int:
    if workers == "auto":
        return max(1, os.cpu_count() or 1)
    return max(1, int(workers))


def open_run(config: Path, overrides: dict | None, out: Path | None) -> tuple[Resolved, RunWriter]:
    res = load_and_check(config, overrides)
    # A profile whose time and energy no GPU can deliver fails here, before any worker starts.
    draw_epistemic(res, Streams(res.scenario.seed, 0))
    final = Path(out) if out else Path("outputs") / run_folder_name(res.scenario.name)
    return res, RunWriter(final)


def announce(res: Resolved, settings: ForecastSettings, log: Callable[[str], None]) -> None:
    """Print the run's estimate (jobs, time, memory) and refuse, before anything is
    allocated, a run this machine cannot hold (``TooLarge``), unless ``settings.force``."""
    workers = settings.dask_local or settings.workers
    est = estimate(res.scenario, workers=workers, engine=choose_engine(settings.engine, res.scenario))
    for line in est.lines():
        log(line)
    if not settings.force:
        check_fits(est, remote=settings.scheduler is not None)


def forecast(res: Resolved, writer: RunWriter, settings: ForecastSettings, command: str,
             log: Callable[[str], None] = print) -> RunContext:
    """The Monte Carlo of ``res`` into ``writer``'s folder, after its estimate (``announce``)."""
    announce(res, settings, log)
    kwargs = {"scheduler": settings.scheduler, "dask_local": settings.dask_local} if settings.dask else {}
    try:
        extras = RunExtras(settings.precision_pct, settings.keep_jobs,
                           writer.path("jobs.parquet") if settings.keep_jobs else None)
        mc = run_monte_carlo(res, workers=settings.workers, engine=settings.engine, progress=settings.progress,
                             extras=extras, **kwargs)
    except MemoryError as exc:
        raise TooLarge(f"the run ran out of memory ({exc or 'allocation failed'}); to fit: {HINTS}") from None
    except BrokenProcessPool:
        raise TooLarge(f"a worker process died (the system may have stopped it for want of memory); to fit: {HINTS}") from None
    except Exception as exc:  # Dask's KilledWorker: its workers kept dying on a chunk (distributed imported lazily)
        if type(exc).__name__ != "KilledWorker":
            raise
        raise TooLarge(f"Dask workers kept dying on a chunk ({exc}); they may lack the memory: {HINTS}") from None
    head = write_forecast(writer, res, mc)
    ctx = RunContext(res, writer, mc, head, workers=settings.workers, engine=settings.engine, progress=settings.progress)
    ctx.manifest = base_manifest(res, mc, command)
    return ctx


def later_steps() -> list[Callable[[RunContext], None]]:
    """Steps that follow the forecast in ``carbonsim run``; each takes the context.

    Order matters: the report reads the files the decision step writes.
    """
    return [decision_step, release_forecast_tables, report_step]


def decision_step(ctx: RunContext) -> None:
    """Evaluate the options file, if any, into the run folder.

    The decision is imported here, not at the top: it pulls in scipy.stats and pymcdm
    (seconds), which a forecast alone does not need.
    """
    if ctx.options_path is None:
        ctx.log("decision: no options file, step skipped")
        return
    from .decide.outputs import decide_into

    ctx.manifest["decision"] = decide_into(ctx.writer, ctx.res, ctx.mc, ctx.options_path, workers=ctx.workers,
                                           engine=ctx.engine, progress=ctx.progress, log=ctx.log)


def report_step(ctx: RunContext) -> None:
    """The report, in the run's language, after the decision (matplotlib is imported here)."""
    from .report import build_report, report_files

    path = build_report(ctx.writer.tmp, ctx.lang, manifest=ctx.manifest, summary=True)
    ctx.manifest["report"] = {"lang": ctx.lang, "files": report_files(ctx.lang)}
    ctx.log(f"report: {path.name} ({ctx.lang})")


def release_forecast_tables(ctx: RunContext) -> None:
    """Drop the forecast's tables held in memory, once the decision step (their last reader)
    is done: the report reads the run folder, and its own copy of the monthly rows would
    otherwise come on top of this one (1.5 GB at the peak of a 1,000-replication run,
    against about 0.8 GB)."""
    import pandas as pd

    empty = pd.DataFrame()
    ctx.mc.monthly, ctx.mc.service_stats, ctx.mc.files = empty, empty, empty


def run_main(config: Path, *, options: Path | None, overrides: dict | None, out: Path | None,
             settings: ForecastSettings, lang: str = "en", log: Callable[[str], None] = print) -> Path:
    """Forecast, then every later step, then publish the run folder atomically."""
    res, writer = open_run(config, overrides, out)
    for w in res.warnings:
        log(f"warning: {w}")
    try:
        t0 = time.perf_counter()
        ctx = forecast(res, writer, settings, command="run", log=log)
        ctx.options_path, ctx.lang, ctx.log = options, lang, log
        for step in later_steps():
            step(ctx)
        ctx.manifest["total_wall_s"] = round(time.perf_counter() - t0, 3)
        return writer.commit(ctx.manifest)
    except BaseException:
        writer.abort()
        raise
