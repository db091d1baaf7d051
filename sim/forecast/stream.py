"""A replication streamed block by block: jobs, simulation and accounting of a bounded
number of files at a time, with the same tables as the whole replication, bit for bit.

Its files are drawn month by month (``FileStream``: each stream read on from where the
last month left it); then, block after block of files in order of arrival, their jobs
are drawn (each language's streams going on from where the previous block left them:
``job_streams``), simulated by the fast engine from the state the previous blocks left
(``FastStream``), and added up. Only a block's jobs are held (and those of a block
waiting for its carried jobs), plus a month's files and the jobs of months whose
statistics are still open.

A block's files whose next stages are released only after the next block's first
arrival are carried into the next block, their remaining jobs in front of its own (the
engine takes their groups in order of release, as in the whole run); their timings go
back to the block they came from, which is added up once they are all known.

What keeps the sums exact: the monthly cube adds jobs in job order, block after block
(``cube_into``); a cell of the service statistics (service x month a job starts in) or
of the files' latencies (month of arrival) is computed once no later block can add to it
(a later block's jobs start after its first arrival, in its month or later), from its
values in job order, with the whole run's kernels; file counts are whole numbers.

Where the fast engine meets a tie, the event loop must settle it on the whole
replication: ``run_streamed`` then returns None and the caller runs it whole.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from sim.config.resolve import Resolved
from sim.config.scenario import CONTENT_TYPES, Scenario
from sim.engine.fast.stream import PENDING, TIED, Carried, FastStream
from sim.engine.types import JobTable, Timings
from sim.kernels.rng import Streams

from .accounting import cube_into, monthly_table
from .epistemic import Draws, draw_epistemic
from .jobs import build_jobs, file_mask, job_streams
from .statistics import (
    FILE_ROWS,
    _file_cells,
    _service_cells,
    file_latency_cells,
    file_rows,
    service_rows,
)
from .tables import Table
from .workload import FileStream, FileTable

BLOCK_FILES = 100_000  # files per block (about 400,000 jobs in the default pipelines)


def streamable(res: Resolved) -> bool:
    """Whether a replication of ``res`` can be streamed: every pool always on (the FIFO
    recursion), no hourly grid profile (its accounting needs every job's hours) and no
    managed service (its jobs leave the pools' table whole)."""
    return streamable_scenario(res.scenario)


def streamable_scenario(sc: Scenario) -> bool:
    """``streamable`` for a scenario alone."""
    return (all(pool.provisioning.policy == "always_on" for pool in sc.pools.values())
            and sc.carbon.grid_profile is None
            and all(svc.managed is None for svc in sc.services.values()))


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
        rows = len(FILE_ROWS) * self.horizon  # every file's latency, then each content type's
        self.file_cells = [np.zeros(rows, np.int64), np.zeros(rows), np.full(rows, np.nan)]
        self.req = np.zeros(self.horizon * self.n_l * len(CONTENT_TYPES))
        self.srv = np.zeros_like(self.req)
        self.jobs_open: list[tuple] = []  # per block: its jobs whose month is open (service, start, ready, end, busy, cold)
        self.files_open: list[tuple] = []  # per block: its files' (month, latency, content) in open months
        self.closed = 0  # months before this one are final

    def add(self, block: FileTable, served: np.ndarray, jobs: JobTable, t: Timings, next_month: int) -> None:
        """Add a block; months before ``next_month`` (the next block's first file's) are then final."""
        cube_into(self.cube, t.start_s, self.edges, jobs.service, jobs.language, jobs.content, t.service_s, t.energy_j,
                  jobs.audio_s, self.n_s, self.n_l, len(CONTENT_TYPES))
        req, srv = _file_cells(block.month, block.language, block.content, served, self.horizon, self.n_l, len(CONTENT_TYPES))
        self.req += req  # whole numbers: exact in any order
        self.srv += srv
        self.jobs_open.append((jobs.service, t.start_s, t.ready_s, t.end_s, t.service_s, t.cold))
        self.files_open.append((block.month, t.file_end_s - block.arrival_s, block.content))
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
        got = file_latency_cells(final[0], final[2], final[1], self.horizon)
        rows = (np.arange(len(FILE_ROWS))[:, None] * self.horizon + np.arange(lo, upto)[None, :]).ravel()
        for mine, cell in zip(self.file_cells, got):
            mine[rows] = cell[rows]
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
    carried: int  # blocks that carried files into the next (groups released after its first arrival)


def run_streamed(res: Resolved, replication: int, block_files: int = BLOCK_FILES) -> Streamed | None:
    """Replication ``replication`` streamed (fast engine, always-on pools): its tables and
    counts; None where it has no more than a block's files (the whole replication is then
    the same work, with less overhead) or where the engine meets a tie (the whole
    replication must then run the event loop)."""
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
    upcoming = next(blocks)
    waiting: list[_Waiting] = []  # blocks whose carried jobs are not all simulated yet, in order
    carry: _Carry | None = None
    n_files = n_jobs = events = n_blocks = carries = 0
    while upcoming is not None:
        (block, served), upcoming = upcoming, next(blocks, None)
        own = build_jobs(res, block, served, draws, streams, details=False, carried=carried)
        table, arrival = (own, block.arrival_s) if carry is None else carry.before(own, block.arrival_s)
        step = engine.block(table, arrival, upcoming[0].arrival_s[0] if upcoming else np.inf,
                            carry.engine if carry is not None else None)
        if step.status == TIED:
            return None
        k_jobs, k_files = (0, 0) if carry is None else (carry.n_jobs, carry.n_files)
        here = _Waiting(block, served, own, _own_timings(step.timings, k_jobs, k_files),
                        int(upcoming[0].month[0]) if upcoming else sc.horizon_months, len(waiting) + n_blocks)
        untimed = _chains(table, step.groups)
        if carry is not None:
            carry.settle(step.timings, untimed, waiting)
        here.outstanding = int(untimed[k_jobs:].sum())
        waiting.append(here)
        carry = _Carry.of(table, step, untimed, k_jobs, k_files, carry, here.index) if step.status == PENDING else None
        carries += carry is not None
        while waiting and waiting[0].outstanding == 0:
            done = waiting.pop(0)
            accounts.add(done.files, done.served, done.jobs, done.timings, done.next_month)
            n_blocks += 1
        n_files, n_jobs, events = n_files + len(block), n_jobs + len(own), events + step.timings.events
    monthly = monthly_table(sc, own, None, draws, list(accounting), replication, cube=accounts.cube)
    stats = service_rows(res, own.services, own.pools, list(accounting), tuple(accounts.cells),
                         tuple(accounts.file_cells), replication)
    file_tab = file_rows(res, files.languages, accounts.req, accounts.srv, replication)
    return Streamed(monthly, stats, file_tab, draws, n_files, n_jobs, events, n_blocks, carries)


_TIMED = ("ready_s", "start_s", "end_s", "cold", "service_s", "energy_j")


class _Waiting:
    """A block simulated, its timings complete once its carried jobs are simulated."""

    def __init__(self, files: FileTable, served: np.ndarray, jobs: JobTable, timings: Timings, next_month: int,
                 index: int):
        self.files, self.served, self.jobs, self.timings = files, served, jobs, timings
        self.next_month, self.index = next_month, index
        self.outstanding = 0  # jobs still to simulate in later blocks


def _own_timings(t: Timings, k_jobs: int, k_files: int) -> Timings:
    """The timings of a block's own jobs and files (after the ``k_jobs`` carried into it), as copies."""
    return Timings(**{name: getattr(t, name)[k_jobs:].copy() for name in _TIMED},
                   file_end_s=t.file_end_s[k_files:].copy(), events=0, gpu=None)


def _chains(jobs: JobTable, groups: np.ndarray) -> np.ndarray:
    """Per job: whether it belongs to one of ``groups`` or a group after it in its file."""
    out = np.zeros(len(jobs), dtype=bool)
    for g in groups.tolist():
        while g >= 0:
            out[jobs.group_first_job[g] : jobs.group_first_job[g + 1]] = True
            g = int(jobs.group_next[g])
    return out


class _Carry:
    """Jobs of unfinished files carried into the next block (in front of its own), with
    where each came from (the block waiting for it, and its row there)."""

    def __init__(self, jobs: JobTable, arrival: np.ndarray, engine: Carried, block: np.ndarray, row: np.ndarray,
                 file_block: np.ndarray, file_row: np.ndarray):
        self.jobs, self.arrival, self.engine = jobs, arrival, engine
        self.block, self.row, self.file_block, self.file_row = block, row, file_block, file_row
        self.n_jobs, self.n_files = len(jobs), len(arrival)

    @staticmethod
    def of(table: JobTable, step, untimed: np.ndarray, k_jobs: int, k_files: int, before: _Carry | None,
           index: int) -> _Carry:
        """The carry out of a block whose ``step`` left ``step.groups`` to release."""
        order = np.argsort(table.group_file[step.groups], kind="stable")  # files in table order
        groups, times = step.groups[order], step.times[order]
        rows, group_first, group_file, heads = [], [0], [], []
        for f, g in enumerate(groups.tolist()):
            heads.append(len(group_first) - 1)
            while g >= 0:
                lo, hi = int(table.group_first_job[g]), int(table.group_first_job[g + 1])
                rows.append(np.arange(lo, hi))
                group_first.append(group_first[-1] + hi - lo)
                group_file.append(f)
                g = int(table.group_next[g])
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        n_groups = len(group_file)
        group_file = np.asarray(group_file, dtype=np.int64)
        group_next = np.where(np.r_[group_file[1:] == group_file[:-1], False], np.arange(1, n_groups + 1), -1)
        sizes = np.diff(group_first)
        jobs = JobTable(
            file=np.repeat(group_file, sizes).astype(table.file.dtype), group=np.repeat(np.arange(n_groups), sizes).astype(table.group.dtype),
            service=table.service[rows], pool=table.pool[rows], language=table.language[rows], content=table.content[rows],
            target=None, time_s=table.time_s[rows], energy_j=table.energy_j[rows], audio_s=table.audio_s[rows],
            tokens_in=None, tokens_out=None, group_first_job=np.asarray(group_first, dtype=np.int64),
            group_next=group_next.astype(np.int64), group_file=group_file, services=table.services, pools=table.pools)
        files = table.group_file[groups]  # their rows in the block's table
        in_carry = files < k_files
        job_in = rows < k_jobs
        block = np.where(job_in, before.block[np.minimum(rows, max(k_jobs - 1, 0))] if before else index, index)
        row = np.where(job_in, before.row[np.minimum(rows, max(k_jobs - 1, 0))] if before else 0, rows - k_jobs)
        file_block = np.where(in_carry, before.file_block[np.minimum(files, max(k_files - 1, 0))] if before else index, index)
        file_row = np.where(in_carry, before.file_row[np.minimum(files, max(k_files - 1, 0))] if before else 0, files - k_files)
        arrival = np.zeros(len(groups))  # (carried files do not arrive again)
        return _Carry(jobs, arrival, Carried(len(groups), times, np.asarray(heads, dtype=np.int64)),
                      block.astype(np.int64), row.astype(np.int64), file_block.astype(np.int64), file_row.astype(np.int64))

    def before(self, own: JobTable, arrival: np.ndarray) -> tuple[JobTable, np.ndarray]:
        """The carried jobs, then the block's own (indices moved on)."""
        c, k = self.jobs, len(self.jobs)
        g = len(c.group_file)
        table = JobTable(
            file=np.concatenate([c.file, own.file + self.n_files]).astype(own.file.dtype),
            group=np.concatenate([c.group, own.group + g]).astype(own.group.dtype),
            service=np.concatenate([c.service, own.service]), pool=np.concatenate([c.pool, own.pool]),
            language=np.concatenate([c.language, own.language]), content=np.concatenate([c.content, own.content]),
            target=None, time_s=np.concatenate([c.time_s, own.time_s]), energy_j=np.concatenate([c.energy_j, own.energy_j]),
            audio_s=np.concatenate([c.audio_s, own.audio_s]), tokens_in=None, tokens_out=None,
            group_first_job=np.concatenate([c.group_first_job[:-1], own.group_first_job + k]),
            group_next=np.concatenate([c.group_next, np.where(own.group_next >= 0, own.group_next + g, -1)]),
            group_file=np.concatenate([c.group_file, own.group_file + self.n_files]),
            services=own.services, pools=own.pools)
        return table, np.concatenate([self.arrival, arrival])

    def settle(self, t: Timings, untimed: np.ndarray, waiting: list[_Waiting]) -> None:
        """Give the carried jobs simulated in this block (and their files' ends) to the blocks they came from."""
        by_index = {w.index: w for w in waiting}
        done = ~untimed[: self.n_jobs]
        for b in np.unique(self.block[done]).tolist():
            sel = done & (self.block == b)
            w = by_index[b]
            for name in _TIMED:
                getattr(w.timings, name)[self.row[sel]] = getattr(t, name)[: self.n_jobs][sel]
            w.outstanding -= int(sel.sum())
        ended = ~np.isnan(t.file_end_s[: self.n_files])
        for f in np.flatnonzero(ended).tolist():
            by_index[int(self.file_block[f])].timings.file_end_s[self.file_row[f]] = t.file_end_s[f]


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
