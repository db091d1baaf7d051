"""What a run will cost, from the scenario alone: jobs per replication, time and peak memory.

Computed before anything is allocated, from the expected files per month at the growth
rate's P50 and P95 and the expected jobs per file of each pipeline. The per-job time and
bytes are measured figures of this machine (see README, "Speed and scale"); a run whose
memory the machine does not have is refused before it starts (``check_fits``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.distributions import draw
from sim.config.scenario import CONTENT_TYPES, Scenario, stage_requires
from sim.forecast.workload import expected_counts

# Measured on this machine (whole replications, fast engine, one core): nanoseconds per job
# against jobs per replication. A replication's arrays grow with its jobs, and past a few
# million jobs they no longer fit any cache: each job then costs up to ten times more.
_NS_PER_JOB = ((2.5e5, 100.0), (2.2e6, 200.0), (6.0e6, 250.0), (5.7e7, 1000.0))
_STREAMED_NS_PER_JOB = 400.0  # at most, streamed: a block's arrays, whatever the horizon (measured 250-420, 2 to 57 million jobs)
_SIMPY_NS_PER_JOB = 12_000.0  # the reference engine: about 85,000-150,000 jobs/s
_REPLICATION_FIXED_S = 0.002  # tables and glue per replication, whatever its jobs
STARTUP_S = 1.8  # the command's imports, loading the compiled kernels, writing the tables
_BYTES_PER_JOB = 150.0  # peak resident bytes a job adds while its replication runs (measured: 104-149)
_SIMPY_BYTES_PER_JOB = 320.0  # the reference engine keeps Python lists per job besides (measured: about 310)
BASE_BYTES = 280e6  # a process with carbonsim, NumPy, numba and the kernels loaded (measured: `simulate` of 1 month, 1 replication peaks at 279 MB)
_BYTES_PER_ROW = 100.0  # the collected tables per monthly cell, as held and written (measured: about 100)
_ROWS_PER_CELL = 4  # components per (month, service, language, content type) row group
_FILE_BYTES = 150.0  # a month's files while they are drawn and put in order (streamed replications)
_OPEN_JOB_BYTES = 16.0  # a job's wait and latency, kept until its month's statistics are computed (streamed)


@dataclass(frozen=True)
class Estimate:
    """The expected cost of a run (from the scenario alone: see ``estimate``)."""

    growth_p50: float
    growth_p95: float
    files_per_month_p50: np.ndarray  # per month, all languages, at the growth rate's P50
    files_per_month_p95: np.ndarray
    jobs_p50: float  # jobs per replication
    jobs_p95: float
    replications: int
    workers: int
    time_s: float  # wall seconds of the Monte Carlo on this machine
    replication_bytes: float  # peak bytes of one replication in flight (at the P95 growth)
    peak_bytes: float  # the largest process's peak: a replication, or the collected tables
    total_bytes: float  # all processes together: what the machine must have

    def lines(self) -> list[str]:
        """The estimate as printed before a run."""
        return [
            f"estimate: {self.jobs_p50:,.0f} jobs per replication at the growth rate's P50 ({self.growth_p50:.3f}/month), "
            f"{self.jobs_p95:,.0f} at its P95 ({self.growth_p95:.3f}/month); "
            f"last month {self.files_per_month_p50[-1]:,.0f} files (P95 {self.files_per_month_p95[-1]:,.0f})",
            f"estimate: {self.replications} replications on {self.workers} worker(s): about {_duration(self.time_s)}, "
            f"peak memory {_size(self.peak_bytes)} per process, {_size(self.total_bytes)} in all",
        ]


class TooLarge(Exception):
    """The run needs more memory than this machine has (the message names the fixes)."""


HINTS = (
    "cap the demand (`workload.growth.cap_files_per_month`), forecast fewer months (`--months`), "
    "run fewer replications (`-n`), or send the replications to a Dask cluster (`--scheduler tcp://HOST:8786`)"
)


def growth_quantiles(sc: Scenario, q: tuple[float, ...] = (50.0, 95.0)) -> tuple[float, ...]:
    """Quantiles of the monthly growth rate (from 20,000 draws of a fixed generator: any
    distribution the schema allows, no closed form needed)."""
    values = np.atleast_1d(draw(sc.workload.growth.monthly_rate, np.random.default_rng(0), 20_000))
    return tuple(float(v) for v in np.percentile(values, q))


def jobs_per_file(sc: Scenario) -> np.ndarray:
    """Expected jobs per file, per month, language and content type (months x languages x
    types): each stage runs with its probability times the chance that the services it
    requires ran (taken as independent), once per target offered that month."""
    langs = list(sc.workload.languages)
    out = np.zeros((sc.horizon_months, len(langs), len(CONTENT_TYPES)))
    months = np.arange(sc.horizon_months)
    for li, code in enumerate(langs):
        for ci, ctype in enumerate(CONTENT_TYPES):
            stages = sc.pipelines.get(ctype, [])
            ran: dict[str, np.ndarray] = {}  # per service: chance it ran for the file, per month
            for k, st in enumerate(stages):
                svc = sc.services[st.service]
                if not svc.enabled or code in svc.disabled_languages:
                    continue
                p = np.full(sc.horizon_months, float(st.probability))
                for req in stage_requires(stages, k, sc.services):
                    p = p * ran.get(req, 0.0)
                targets = _target_starts(sc, st.targets, code) if svc.task == "translate" else [0]
                offered = sum((months >= start).astype(float) for start in targets) if targets else np.zeros(sc.horizon_months)
                out[:, li, ci] += p * offered
                ran[st.service] = np.maximum(ran.get(st.service, 0.0), p * (offered > 0))
    return out


def _target_starts(sc: Scenario, targets, code: str) -> list[int]:
    """First month of each target language of a translate stage for files in ``code``."""
    langs = sc.workload.languages
    if targets is None:
        return []
    names = [t for t in langs if t != code] if targets == "others" else [t for t in targets if t != code and t in langs]
    return [langs[t].start_month for t in names]


def _served_share(sc: Scenario, files: np.ndarray) -> np.ndarray:
    """``files`` (months x languages x types) once the volume limits have taken their share
    and their caps (the caps spread over the files they select, in proportion)."""
    langs = list(sc.workload.languages)
    served = files.copy()
    for lim in sc.workload.limits:
        sel = np.zeros(files.shape[1:], dtype=bool)
        for li, code in enumerate(langs):
            for ci, ctype in enumerate(CONTENT_TYPES):
                sel[li, ci] = (lim.languages is None or code in lim.languages) and (
                    lim.content_types is None or ctype in lim.content_types)
        served[:, sel] *= 1.0 - lim.reduce_share
        if lim.cap_files_per_month is not None:
            total = served[:, sel].sum(axis=1)
            scale = np.divide(lim.cap_files_per_month, total, out=np.ones_like(total), where=total > lim.cap_files_per_month)
            served[:, sel] *= scale[:, None]
    return served


def expected_files(sc: Scenario, growth: float) -> np.ndarray:
    """Expected files per month, language and content type at ``growth`` (months x languages x types)."""
    by_lang = expected_counts(sc.workload, sc.horizon_months, growth)
    out = np.zeros((sc.horizon_months, len(by_lang), len(CONTENT_TYPES)))
    for li, (code, lang) in enumerate(sc.workload.languages.items()):
        mix = np.array([lang.content_mix.get(c, 0.0) for c in CONTENT_TYPES])
        out[:, li, :] = by_lang[code][:, None] * mix / mix.sum()
    return out


def ns_per_job(jobs: float, engine: str = "fast", streamed: bool = False) -> float:
    """Measured nanoseconds per job of a replication of ``jobs`` jobs (interpolated in log
    jobs); ``streamed``, block by block (``sim.forecast.stream``), it stops growing."""
    if engine == "simpy":
        return _SIMPY_NS_PER_JOB
    x, y = np.log([p[0] for p in _NS_PER_JOB]), [p[1] for p in _NS_PER_JOB]
    ns = float(np.interp(np.log(max(jobs, 1.0)), x, y))
    return min(ns, _STREAMED_NS_PER_JOB) if streamed else ns


def _streams(sc: Scenario, engine: str) -> bool:
    """Whether a replication of ``sc`` can be streamed (then it is, when large)."""
    from sim.forecast.stream import streamable_scenario

    return engine != "simpy" and streamable_scenario(sc)


def estimate(sc: Scenario, replications: int | None = None, workers: int = 1, engine: str = "fast") -> Estimate:
    """The expected jobs, time and peak memory of a run of ``sc``, from the scenario alone."""
    g50, g95 = growth_quantiles(sc)
    per_file = jobs_per_file(sc)
    files50, files95 = expected_files(sc, g50), expected_files(sc, g95)
    jobs50 = float((_served_share(sc, files50) * per_file).sum())
    jobs95 = float((_served_share(sc, files95) * per_file).sum())
    n = sc.replications if replications is None else replications
    workers = max(1, min(workers, n))
    rep_s = _REPLICATION_FIXED_S + jobs50 * ns_per_job(jobs50, engine, _streams(sc, engine)) * 1e-9
    time_s = STARTUP_S + n * rep_s / workers
    rep_bytes = _replication_bytes(sc, engine, jobs95, files95)
    cells = sc.horizon_months * len(sc.services) * len(sc.workload.languages) * len(CONTENT_TYPES) * _ROWS_PER_CELL
    table_bytes = n * cells * _BYTES_PER_ROW
    peak = BASE_BYTES + max(rep_bytes, table_bytes) if workers > 1 else BASE_BYTES + rep_bytes + table_bytes
    total = BASE_BYTES + table_bytes + (workers * rep_bytes if workers > 1 else rep_bytes)
    return Estimate(g50, g95, files50.sum(axis=(1, 2)), files95.sum(axis=(1, 2)), jobs50, jobs95, n, workers, time_s,
                    rep_bytes, peak, total)


def _replication_bytes(sc: Scenario, engine: str, jobs95: float, files95: np.ndarray) -> float:
    """Peak bytes of one replication at the growth rate's P95: all its jobs at once, or,
    streamed (``sim.forecast.stream``), a block's jobs (up to two blocks of files, when
    months are joined), the largest month's files while drawn, and its jobs' values until
    its statistics are computed. (A queue that never empties between blocks makes a
    streamed replication run whole: the estimate is then too low.)"""
    from sim.forecast.stream import BLOCK_FILES, streamable_scenario

    if engine == "simpy":
        return jobs95 * _SIMPY_BYTES_PER_JOB
    whole = jobs95 * _BYTES_PER_JOB
    if not streamable_scenario(sc):
        return whole
    per_file = jobs95 / max(files95.sum(), 1.0)
    month = float(files95.sum(axis=(1, 2)).max(initial=0.0))
    block = min(jobs95, 2 * BLOCK_FILES * per_file) * _BYTES_PER_JOB
    return min(whole, block + month * (_FILE_BYTES + per_file * _OPEN_JOB_BYTES))


def available_bytes() -> float:
    """Memory this machine can give a run now (psutil's ``available``)."""
    import psutil

    return float(psutil.virtual_memory().available)


def check_fits(est: Estimate, available: float | None = None, remote: bool = False) -> None:
    """Raise ``TooLarge`` when the run needs more memory than ``available`` (default: this
    machine's). With ``remote`` (a Dask scheduler elsewhere) only this process's tables count
    here: the replications run on the cluster's workers."""
    available = available_bytes() if available is None else available
    need = est.total_bytes - (est.workers * est.replication_bytes if remote else 0.0)
    if need > available:
        raise TooLarge(
            f"this run needs about {_size(need)} of memory and this machine has {_size(available)} available "
            f"({est.jobs_p95:,.0f} jobs per replication at the growth rate's P95, {_size(est.replication_bytes)} each "
            f"while it runs, on {est.workers} worker(s)); to fit: {HINTS}; or pass --force to run anyway")


def _size(b: float) -> str:
    if b >= 1e12:
        return f"{b / 1e12:,.0f} TB"
    return f"{b / 1e9:,.1f} GB" if b >= 1e9 else f"{b / 1e6:,.0f} MB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:,.0f} s"
    return f"{s / 60:,.0f} min" if s < 7200 else f"{s / 3600:,.1f} h"
