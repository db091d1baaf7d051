"""The engines' contract: what an engine is given (jobs, pools, services) and what it returns.

Every engine turns the same ``JobTable``, file arrival times, ``PoolSpec`` and
``ServiceSpec`` lists into the same ``Timings``, job by job; the SimPy model is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .provisioning import AutoscaleRule, Schedule


@dataclass
class JobTable:
    """Jobs sorted by (file, stage, target); groups are a file's stage, in order.

    ``target``, ``tokens_in`` and ``tokens_out`` describe the jobs but neither engine nor
    the accounting reads them: they are None when ``build_jobs`` was asked for no details,
    as the Monte Carlo does (less memory written per job).
    """

    file: np.ndarray
    group: np.ndarray
    service: np.ndarray  # index into ``services``
    pool: np.ndarray  # index into ``pools``
    language: np.ndarray  # source language index
    content: np.ndarray
    target: np.ndarray | None  # target language index, -1 when none (None: no details)
    time_s: np.ndarray  # service time before any cold load (s)
    energy_j: np.ndarray  # energy above idle before any cold load (J)
    audio_s: np.ndarray  # media seconds the job transcribes (0 for other jobs)
    tokens_in: np.ndarray | None  # input tokens (None: no details)
    tokens_out: np.ndarray | None  # output tokens (None: no details)
    group_first_job: np.ndarray  # index of the first job of each group, plus a sentinel
    group_next: np.ndarray  # next group of the same file, -1 at the end
    group_file: np.ndarray
    services: tuple[str, ...]
    pools: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.file)


@dataclass(frozen=True)
class PoolSpec:
    """What the model needs of a pool."""

    gpus: int  # GPUs over all instances (autoscale: at the start)
    slots_per_gpu: int
    schedule: Schedule
    autoscale: AutoscaleRule | None = None  # instances follow the load


@dataclass(frozen=True)
class ServiceSpec:
    keep_alive_s: float | None
    load_time_s: float
    load_energy_j: float


@dataclass
class Timings:
    """Per job: when it was released, started and ended (s), and whether it was cold."""

    ready_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    cold: np.ndarray
    service_s: np.ndarray  # end - start, cold load included
    energy_j: np.ndarray  # above idle, cold load included
    file_end_s: np.ndarray  # per file: end of its last job (nan when it has none)
    events: int  # SimPy events processed (for benchmarks)
    gpu: np.ndarray | None = None  # per job: the GPU it ran on, counted within its pool
    # Per pool: each instance's provisioned interval [start, end) (s, k x 2; end inf when
    # still provisioned at the end of the run), None for a pool whose instances follow its
    # schedule. None altogether when no pool autoscales.
    instance_intervals: tuple[np.ndarray | None, ...] | None = None




@dataclass(frozen=True)
class EngineInputs:
    """What any engine is given for one replication: the jobs, the files' arrival times (s)
    and the pools and services the jobs name by index."""

    jobs: JobTable
    file_arrival_s: np.ndarray
    pools: list[PoolSpec]
    services: list[ServiceSpec]
