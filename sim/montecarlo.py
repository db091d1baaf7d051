"""Monte Carlo: R replications, serial or on local processes, identical either way.

Each replication derives all its streams from (root seed, replication index), so where and
in which order it runs cannot change its numbers; results are sorted by replication.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import pandas as pd
from tqdm import tqdm

from .replication import ReplicationResult, run_replication
from .resolve import Resolved


@dataclass
class MonteCarloResult:
    """Tidy tables over all replications."""

    monthly: pd.DataFrame  # replication x month x pool x service x language x content x component
    service_stats: pd.DataFrame  # replication x month x service
    files: pd.DataFrame  # replication x month x language x content: requested, served
    replications: pd.DataFrame  # one row per replication: epistemic draws and totals
    engine: str
    wall_s: float
    jobs: int
    events: int
    meta: dict = field(default_factory=dict)


def _run_chunk(res: Resolved, reps: list[int], engine: str) -> list[ReplicationResult]:
    return [run_replication(res, r, engine) for r in reps]


def _chunks(reps: list[int], n: int) -> list[list[int]]:
    size = max(1, min(25, len(reps) // (n * 4) or 1))
    return [reps[i : i + size] for i in range(0, len(reps), size)]


def collect(results: list[ReplicationResult], engine: str, wall_s: float) -> MonteCarloResult:
    results = sorted(results, key=lambda r: r.summary["replication"])
    return MonteCarloResult(
        monthly=pd.concat([r.monthly for r in results], ignore_index=True),
        service_stats=pd.concat([r.service_stats for r in results], ignore_index=True),
        files=pd.concat([r.files for r in results], ignore_index=True),
        replications=pd.DataFrame([r.summary for r in results]),
        engine=engine,
        wall_s=wall_s,
        jobs=sum(r.jobs for r in results),
        events=sum(r.events for r in results),
    )


def run_monte_carlo(
    res: Resolved,
    replications: int | None = None,
    workers: int = 1,
    engine: str = "simpy",
    progress: bool | None = None,
) -> MonteCarloResult:
    """Run the scenario's replications; ``workers > 1`` uses local processes."""
    from .engines import choose_engine

    engine = choose_engine(engine, res.scenario)
    n = res.scenario.replications if replications is None else replications
    reps = list(range(n))
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    results: list[ReplicationResult] = []
    with tqdm(total=n, disable=not show, desc="replications", unit="rep") as bar:
        if workers <= 1:
            for r in reps:
                results.append(run_replication(res, r, engine))
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_run_chunk, res, chunk, engine) for chunk in _chunks(reps, workers)]
                for fut in futures:
                    chunk = fut.result()
                    results.extend(chunk)
                    bar.update(len(chunk))
    return collect(results, engine, time.perf_counter() - t0)
