"""A replication streamed block by block: jobs, simulation and accounting of a bounded
number of files at a time, with the same tables as the whole replication, bit for bit.

The files of the replication are drawn first (about 56 bytes a file); then, block after
block of files in order of arrival, their jobs are drawn (each language's streams going
on from where the previous block left them: ``job_streams``), simulated by the fast
engine from the state the previous blocks left (``FastStream``), and added up. Only a
block's jobs are held, plus the jobs of months whose statistics are still open.

What keeps the sums exact: the monthly cube adds jobs in job order whatever the blocks
(``cube_into``); a cell of the service statistics (service x month a job starts in) or
of the files' latencies (month of arrival) is computed once no later block can add to it
(a later block's jobs start after its first arrival, in its month or later), from its
values in job order, with the whole run's kernels; file counts are whole numbers.

A block ends cleanly only where none of its groups is released after the next block's
first arrival (the queue then carries nothing from one block to the next but the slots'
state): otherwise the two blocks are taken together. Where that goes on past
``MAX_MERGED`` blocks (a queue that never empties between blocks: high volume, or a
backlog), or where the fast engine meets a tie (which the event loop must settle on the
whole replication), ``run_streamed`` returns None and the caller runs the replication
whole, as before.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from sim.config.resolve import Resolved
from sim.config.scenario import CONTENT_TYPES, Scenario
from sim.engine.fast.stream import DONE, TIED, FastStream
from sim.engine.types import JobTable, Timings
from sim.kernels.rng import Streams

from .accounting import cube_into, monthly_table
from .epistemic import Draws, draw_epistemic
from .jobs import build_jobs, file_mask, job_streams
from .statistics import _file_cells, _service_cells, _value_cells, file_rows, service_rows
from .tables import Table
from .workload import FileStream, FileTable

BLOCK_FILES = 250_000  # files per block (about a million jobs in the default pipelines)
MAX_MERGED = 4  # blocks taken together, at most, before the replication runs whole instead


def streamable(res: Resolved) -> bool:
    """Whether a replication of ``res`` can be streamed: every pool always on (the FIFO recursion)."""
    return streamable_scenario(res.scenario)


def streamable_scenario(sc: Scenario) -> bool:
    """``streamable`` for a scenario alone."""
    return all(pool.provisioning.policy == "always_on" for pool in sc.pools.values())


class _Accounts:
    """The replication's sums and cells, block by block (see the module's docstring)."""

    def __init__(self, res: Resolved, n_services: int, languages: tuple[str, ...]):
        sc = res.scenario
        self.edges = np.asarray(sc.month_edges_s(), dtype=float)
        self.horizon = sc.horizon_months
        self.n_s, self.n_l = n_services, len(languages)
        size = self.horizon * n_services * self.n_l * len(CONTENT_TYPES)
        self.cube = (np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size))
        cells = n_services * self.horizon
        self.cells = [np.zeros(cells, np.int64), np.zeros(cells), np.zeros(cells, np.int64), np.zeros(cells),
                      np.full(cells, np.nan), np.zeros(cells), np.full(cells, np.nan)]
        self.file_cells = [np.zeros(self.horizon, np.int64), np.zeros(self.horizon), np.full(self.horizon, np.nan)]
        self.req = np.zeros(self.horizon * self.n_l * len(CONTENT_TYPES))
        self.srv = np.zeros_like(self.req)
        self.jobs_open: list[tuple] = []  # per block: its jobs whose month is open (service, start, ready, end, busy, cold)
        self.files_open: list[tuple] = []  # per block: its files' (month, latency) in open months
        self.closed = 0  # months before this one are final

    def add(self, block: FileTable, served: np.ndarray, jobs: JobTable, t: Timings, next_month: int) -> None:
        """Add a block; months before ``next_month`` (the next block's first file's) are then final."""
        cube_into(self.cube, t.start_s, self.edges, jobs.service, jobs.language, jobs.content, t.service_s, t.energy_j,
                  jobs.audio_s, self.n_s, self.n_l, len(CONTENT_TYPES))
        req, srv = _file_cells(block.month, block.language, block.content, served, self.horizon, self.n_l, len(CONTENT_TYPES))
        self.req += req  # whole numbers: exact in any order
        self.srv += srv
        self.jobs_open.append((jobs.service, t.start_s, t.ready_s, t.end_s, t.service_s, t.cold))
        self.files_open.append((block.month, t.file_end_s - block.arrival_s))
        if next_month > self.closed:
            self._close(next_month)

    def _close(self, upto: int) -> None:
        """Compute the cells of months [closed, upto) from their values, in job order."""
        lo = self.closed
        jobs = _joined(self.jobs_open)
        month = np.clip(np.searchsorted(self.edges, jobs[1], side="right") - 1, 0, self.horizon - 1)  # as month_step
        final, rest = _split(month < upto, jobs)
        self.jobs_open = [rest]
        cells = _service_cells(*final, self.edges, self.n_s, 95.0)
        idx = (np.arange(self.n_s)[:, None] * self.horizon + np.arange(lo, upto)[None, :]).ravel()
        for mine, got in zip(self.cells, cells):
            mine[idx] = got[idx]
        files = _joined(self.files_open)
        final, rest = _split(files[0] < upto, files)
        self.files_open = [rest]
        got = _value_cells(final[0], self.horizon, final[1], 95.0)
        for mine, cell in zip(self.file_cells, got):
            mine[lo:upto] = cell[lo:upto]
        self.closed = upto


def _joined(blocks: list[tuple]) -> tuple:
    """The blocks' columns end to end (the one block's own, without a copy)."""
    return blocks[0] if len(blocks) == 1 else tuple(np.concatenate(c) for c in zip(*blocks))


def _split(final: np.ndarray, columns: tuple) -> tuple[tuple, tuple]:
    """``columns``' rows where ``final``, and the others (no copy when all are final)."""
    if final.all():
        return columns, tuple(c[:0] for c in columns)
    return tuple(c[final] for c in columns), tuple(c[~final] for c in columns)


class Streamed(NamedTuple):
    """A streamed replication's tables and counts."""

    monthly: Table
    stats: Table
    files: Table
    draws: Draws
    n_files: int
    n_jobs: int
    events: int
    blocks: int  # blocks simulated
    merged: int  # times a block was taken with the next (a group released after its first arrival)


def run_streamed(res: Resolved, replication: int, block_files: int = BLOCK_FILES) -> Streamed | None:
    """Replication ``replication`` streamed (fast engine, always-on pools): its tables and
    counts; None where it has no more than a block's files (the whole replication is then
    the same work, with less overhead), where the engine meets a tie (the whole
    replication must then run the event loop), or where blocks would not end cleanly."""
    from .replication import _pool_specs, services_of

    sc = res.scenario
    streams = Streams(sc.seed, replication)
    draws = draw_epistemic(res, streams)
    files = FileStream(sc, draws.growth_rate, streams)
    if files.total <= block_files:
        return None  # one block: the whole replication's code is the same work, with less overhead
    pools, accounting = _pool_specs(res)
    engine = FastStream(list(pools), services_of(res, draws))
    carried = job_streams(res, files.languages, streams)
    accounts = _Accounts(res, len(sc.services), files.languages)
    blocks = _blocks(res, files, block_files)
    block, served = next(blocks)
    upcoming = next(blocks, None)
    n_files = n_jobs = events = n_blocks = merged = 0
    while True:
        positions = [c.snapshot() for c in carried]
        jobs = build_jobs(res, block, served, draws, streams, details=False, carried=carried)
        status, t = engine.block(jobs, block.arrival_s, upcoming[0].arrival_s[0] if upcoming else np.inf)
        if status != DONE:
            for c, pos in zip(carried, positions):
                c.restore(pos)
            if status == TIED or len(block) > MAX_MERGED * block_files:
                return None  # a tie, or a queue that does not empty: the replication runs whole
            # a group released after the next block's first arrival: take the two blocks together
            block, served = _joined_files(block, upcoming[0]), np.concatenate([served, upcoming[1]])
            upcoming = next(blocks, None)
            merged += 1
            continue
        accounts.add(block, served, jobs, t, int(upcoming[0].month[0]) if upcoming else sc.horizon_months)
        n_files, n_jobs, events, n_blocks = n_files + len(block), n_jobs + len(jobs), events + t.events, n_blocks + 1
        if upcoming is None:
            break
        (block, served), upcoming = upcoming, next(blocks, None)
    monthly = monthly_table(sc, jobs, None, draws, list(accounting), replication, cube=accounts.cube)
    stats = service_rows(res, jobs.services, jobs.pools, list(accounting), tuple(accounts.cells),
                         tuple(accounts.file_cells), replication)
    file_tab = file_rows(res, files.languages, accounts.req, accounts.srv, replication)
    return Streamed(monthly, stats, file_tab, draws, n_files, n_jobs, events, n_blocks, merged)


_COLUMNS = ("arrival_s", "month", "language", "content", "duration_s", "text_chars", "keep_u")


def _blocks(res: Resolved, files: FileStream, block_files: int) -> Iterator[tuple[FileTable, np.ndarray]]:
    """The replication's files in blocks of about ``block_files`` (months together, or a
    month in pieces), in order, each with its files served (``file_mask``, month by month:
    a cap ranks the files of a month). Always at least one block, empty when no file comes."""
    pending: list[tuple[FileTable, np.ndarray]] = []
    size = 0
    yielded = False
    for m in range(res.scenario.horizon_months):
        month = files.month(m)
        served = file_mask(res, month)
        for lo in range(0, len(month), block_files):
            hi = min(len(month), lo + block_files)
            pending.append((_piece(month, lo, hi), served[lo:hi]))
            size += hi - lo
            if size >= block_files:
                yield _joined_files(*(p[0] for p in pending)), np.concatenate([p[1] for p in pending])
                yielded = True
                pending, size = [], 0
    if not pending and not yielded:  # no file at all: one empty block
        pending = [(month, served)]
    if pending:
        yield _joined_files(*(p[0] for p in pending)), np.concatenate([p[1] for p in pending])


def _piece(files: FileTable, lo: int, hi: int) -> FileTable:
    """Files ``lo`` to ``hi - 1`` (views)."""
    return FileTable(**{c: getattr(files, c)[lo:hi] for c in _COLUMNS}, languages=files.languages)


def _joined_files(*parts: FileTable) -> FileTable:
    """The files of ``parts`` end to end."""
    if len(parts) == 1:
        return parts[0]
    return FileTable(**{c: np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS}, languages=parts[0].languages)
