"""A replication streamed block by block: jobs, simulation and accounting of a bounded
number of files at a time, with the same tables as the whole replication, bit for bit.

Its files are drawn month by month (``FileStream``: each stream read on from where the
last month left it); then, block after block of files in order of arrival, their jobs
are drawn (each language's streams going on from where the previous block left them:
``job_streams``), simulated by the fast engine from the state the previous blocks left
(``FastStream``, ``LoopStream``), and added up (``blockstats.Accounts``). Only a block's jobs are held
(and those of a block waiting for its carried jobs), plus a month's files and, for the
months whose statistics are still open, each job's wait and latency.

A block's files whose next stages are released only after the next block's first
arrival are carried into the next block, their remaining jobs in front of its own (the
engine takes their groups in order of release, as in the whole run); their timings go
back to the block they came from, which is added up once they are all known.

What keeps the sums exact: the monthly cube and every cell's sums add jobs in job
order, block after block (``cube_into``, ``blockstats``); a cell's percentile (service or
pool x month a job starts in; month a file arrives in) is computed once no later block
can add to it (a later block's jobs start after its first arrival, in its month or
later), from its values, with the whole run's kernel; file counts are whole numbers.

Where every pool is always on, the engine is the FIFO recursion (``FastStream``), which
settles ties between events at the same time as SimPy settles them
(``sim.engine.fast.fifo``); where it cannot (ends at the same time, in different pools,
of jobs started together; a job that ends as it starts), the replication is streamed
again on the event loop. Scheduled and autoscaled pools stream on the event loop
(``LoopStream``): each block runs until the arrival process is about to wake for the next
block's first file, and the files not ended then (jobs queued, running, waiting for a
pool to switch on, stages not released) are carried on with the loop's state (the slots,
the models' residency, the timeouts pending, the autoscalers' instances). Only files of
two blocks arriving at one instant stop a stream (``run_streamed`` returns None: the
replication runs whole); sampled arrivals, continuous, never do.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, NamedTuple, Protocol

import numpy as np

from sim.config.resolve import Resolved
from sim.config.scenario import Scenario
from sim.engine.fast import SUPPORTED_POLICIES, fifo_suits
from sim.engine.fast.stream import PENDING, TIED, Carried, FastStream, LoopCarried, LoopStream
from sim.engine.types import JobTable, Timings
from sim.kernels.rng import Streams

from .accounting import monthly_table
from .blockstats import Accounts
from .epistemic import Draws, draw_epistemic
from .jobs import build_jobs, file_mask, job_streams
from .statistics import file_rows
from .tables import Table
from .workload import FileStream, FileTable

BLOCK_FILES = 100_000  # files per block (about 400,000 jobs in the default pipelines)
BACKLOG_BLOCKS = 1  # a replication carrying more jobs into a block than this many blocks' own runs whole


def streamable(res: Resolved) -> bool:
    """Whether a replication of ``res`` can be streamed: every pool's policy one the fast
    engine runs, and no managed service (its jobs leave the pools' table whole)."""
    return streamable_scenario(res.scenario)


def streamable_scenario(sc: Scenario) -> bool:
    """``streamable`` for a scenario alone."""
    return (all(pool.provisioning.policy in SUPPORTED_POLICIES for pool in sc.pools.values())
            and all(svc.managed is None for svc in sc.services.values()))


class Records(Protocol):
    """Where ``run_streamed`` hands each complete block's jobs."""

    def add(self, jobs: JobTable, timings: Timings, first_job: int, first_file: int) -> None:
        """A block's jobs and timings, with the replication's index of its first job and file."""

    def restart(self) -> None:
        """Forget the blocks handed so far (the replication is streamed again from its start)."""


class Streamed(NamedTuple):
    """A streamed replication's tables and counts."""

    monthly: Table
    stats: Table
    files: Table
    capacity: Table
    draws: Draws
    n_files: int
    n_jobs: int
    events: int
    blocks: int  # blocks simulated
    carried: int  # blocks that carried files into the next (groups released after its first arrival)


def run_streamed(res: Resolved, replication: int, block_files: int | None = None, loop: bool = False,
                 backlog_blocks: float = BACKLOG_BLOCKS, records: Records | None = None) -> Streamed | None:
    """Replication ``replication`` streamed (fast engine): its tables and counts; None
    where it has no more than a block's files (the whole replication is then the same
    work, with less overhead), where two blocks' files arrive at one instant (it must
    then run whole), or where its queue does not empty (more jobs carried into a block
    than ``backlog_blocks`` times its own: the queue holds them anyway, and the whole run
    copies them less).

    Where the FIFO recursion suits the pools (``fifo_suits``: always on, few slots), it
    runs (``FastStream``), unless it meets a tie it cannot settle, or ``loop``: then the
    event loop (``LoopStream``), as for scheduled and autoscaled pools and many slots.

    ``block_files``: files a block (``BLOCK_FILES``); ``records``, where given, takes each
    block's jobs and their timings, in order, as they are complete (with the replication's
    index of its first job and first file)."""
    from .replication import _pool_specs, services_of

    sc = res.scenario
    block_files = BLOCK_FILES if block_files is None else block_files
    streams = Streams(sc.seed, replication)
    draws = draw_epistemic(res, streams)
    files = FileStream(sc, draws.growth_rate, streams)
    if files.total <= block_files:
        return None  # one block: the whole replication's code is the same work, with less overhead
    pools, accounting = _pool_specs(res)
    fifo = not loop and fifo_suits(pools)
    stream = FastStream if fifo else functools.partial(LoopStream, pool_names=tuple(res.scenario.pools))
    carried = job_streams(res, files.languages, streams)
    accounts: Accounts | None = None  # (made with the first block's job codes)
    engine = BlockEngine(stream(list(pools), services_of(res, draws)))
    n_files = n_jobs = 0
    for block, served, t_next, next_month in _blocks(res, files, block_files):
        own = build_jobs(res, block, served, draws, streams, details=False, carried=carried)
        if accounts is None:
            accounts = Accounts(sc, list(accounting), own.services, own.pools, files.languages, res.grid_profile())
        complete = engine.add(own, block.arrival_s, t_next, (block, served, next_month, n_jobs, n_files))
        if complete is None:  # a tie: the FIFO recursion hands over to the event loop
            if not fifo:
                return None
            if records is not None:
                records.restart()
            return run_streamed(res, replication, block_files, True, backlog_blocks, records)
        if engine.carry is not None and engine.carry.n_jobs > backlog_blocks * max(len(own), 1):
            return None  # a queue that does not empty: it holds the jobs itself, and the whole run copies them less
        for done in complete:
            done_files, done_served, done_next, first_job, first_file = done.payload
            accounts.add(done_files, done_served, done.jobs, done.timings, done_next)
            if records is not None:
                records.add(done.jobs, done.timings, first_job, first_file)
        n_files, n_jobs = n_files + len(block), n_jobs + len(own)
    spans = None if fifo else _spans(engine.engine.intervals)
    monthly = monthly_table(sc, own, spans, draws, list(accounting), replication, res.grid_profile(), accounts.cube,
                            accounts.hourly)
    stats = accounts.service_table(res, own.services, own.pools, replication, spans)
    capacity = accounts.capacity_table(stats, own.services, own.pools, replication, spans)
    file_tab = file_rows(res, files.languages, accounts.req, accounts.srv, replication)
    return Streamed(monthly, stats, file_tab, capacity, draws, n_files, n_jobs, engine.events, engine.done, engine.carried)


def _spans(intervals) -> Timings | None:
    """The autoscaled pools' instance intervals as the accounting reads them (``Timings``
    with no job), None when no pool autoscales."""
    if intervals is None:
        return None
    empty = np.zeros(0)
    return Timings(empty, empty, empty, np.zeros(0, bool), empty, empty, empty, 0, instance_intervals=intervals)


_TIMED = ("ready_s", "start_s", "end_s", "cold", "service_s", "energy_j", "gpu")


class BlockEngine:
    """The fast engine over a replication's blocks of files, in order: each block's jobs,
    after those of the files carried into it, simulated from the state the blocks before
    it left (``FastStream``), and handed back with their timings once none of them is
    still carried on (see the module's docstring)."""

    def __init__(self, engine: FastStream):
        self.engine = engine
        self.waiting: list[_Waiting] = []  # blocks whose carried jobs are not all simulated yet, in order
        self.carry: _Carry | None = None
        self.events = 0  # SimPy's count
        self.done = 0  # blocks complete
        self.carried = 0  # blocks that carried files into the next

    def add(self, own: JobTable, arrival: np.ndarray, t_next: float, payload: Any = None) -> list[_Waiting] | None:
        """Simulate a block: its own jobs (files indexed from 0), its files' arrivals (s),
        the next block's first arrival (s; inf after the last), and what to hand back with
        it. Returns the blocks now complete, in order (``_Waiting``: payload, jobs,
        timings); None at a tie the engine cannot settle (the replication must run whole)."""
        carry = self.carry
        table, times = (own, arrival) if carry is None else carry.before(own, arrival)
        step = self.engine.block(table, times, t_next, carry.engine if carry is not None else None)
        if step.status == TIED:
            return None
        k_jobs, k_files = (0, 0) if carry is None else (carry.n_jobs, carry.n_files)
        here = _Waiting(payload, own, _own_timings(step.timings, k_jobs, k_files), len(self.waiting) + self.done)
        untimed = _chains(table, step.heads)
        if carry is not None:
            carry.settle(step.timings, untimed, self.waiting)
        here.outstanding = int(untimed[k_jobs:].sum())
        self.waiting.append(here)
        self.carry = (_Carry.of(self.engine, table, step, k_jobs, k_files, carry, here.index) if step.status == PENDING
                      else None)
        self.carried += self.carry is not None
        self.events += step.timings.events
        complete = []
        while self.waiting and self.waiting[0].outstanding == 0:
            complete.append(self.waiting.pop(0))
        self.done += len(complete)
        return complete


class _Waiting:
    """A block simulated, its timings complete once its carried jobs are simulated."""

    def __init__(self, payload: Any, jobs: JobTable, timings: Timings, index: int):
        self.payload, self.jobs, self.timings, self.index = payload, jobs, timings, index
        self.outstanding = 0  # jobs still to simulate in later blocks


def _own_timings(t: Timings, k_jobs: int, k_files: int) -> Timings:
    """The timings of a block's own jobs and files (after the ``k_jobs`` carried into it), as copies."""
    return Timings(**{name: getattr(t, name)[k_jobs:].copy() for name in _TIMED},
                   file_end_s=t.file_end_s[k_files:].copy(), events=0)


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

    def __init__(self, jobs: JobTable, arrival: np.ndarray, engine: Carried | LoopCarried, block: np.ndarray, row: np.ndarray,
                 file_block: np.ndarray, file_row: np.ndarray):
        self.jobs, self.arrival, self.engine = jobs, arrival, engine
        self.block, self.row, self.file_block, self.file_row = block, row, file_block, file_row
        self.n_jobs, self.n_files = len(jobs), len(arrival)

    @staticmethod
    def of(engine, table: JobTable, step, k_jobs: int, k_files: int, before: _Carry | None, index: int) -> _Carry:
        """The carry out of a block whose ``step`` left its unfinished files to go on from
        the groups ``step.heads``; ``engine`` (its stream) says what else goes with them."""
        order = np.argsort(table.group_file[step.heads], kind="stable")  # files in table order
        groups = step.heads[order]
        rows, group_first, group_file, heads, old_groups = [], [0], [], [], []
        for f, g in enumerate(groups.tolist()):
            heads.append(len(group_first) - 1)
            while g >= 0:
                lo, hi = int(table.group_first_job[g]), int(table.group_first_job[g + 1])
                rows.append(np.arange(lo, hi))
                group_first.append(group_first[-1] + hi - lo)
                group_file.append(f)
                old_groups.append(g)
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
        block = _origin(before and before.block, job_in, rows, index)
        row = _origin(before and before.row, job_in, rows, rows - k_jobs)
        file_block = _origin(before and before.file_block, in_carry, files, index)
        file_row = _origin(before and before.file_row, in_carry, files, files - k_files)
        arrival = np.zeros(len(groups))  # (carried files do not arrive again)
        carried = engine.carried(step, order, np.asarray(heads, dtype=np.int64), rows,
                                 np.asarray(old_groups, dtype=np.int64))
        return _Carry(jobs, arrival, carried, block.astype(np.int64), row.astype(np.int64), file_block.astype(np.int64),
                      file_row.astype(np.int64))

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
            # (in the own table's dtype: a kernel compiles once per combination of dtypes)
            group_file=np.concatenate([c.group_file, own.group_file + self.n_files]).astype(own.group_file.dtype),
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


def _origin(before: np.ndarray | None, inside: np.ndarray, at: np.ndarray, here) -> np.ndarray:
    """Per item at row ``at`` of a block's table: where it is one of those carried into the
    block (``inside``), ``before`` at that row (where the carry had it from), else ``here``."""
    out = np.broadcast_to(np.asarray(here, dtype=np.int64), at.shape)
    if before is None or not len(before):
        return out.copy()
    return np.where(inside, before[np.minimum(at, len(before) - 1)], out)


_COLUMNS = ("arrival_s", "month", "language", "content", "duration_s", "text_chars", "keep_u")


def _blocks(res: Resolved, files: FileStream, block_files: int) -> Iterator[tuple[FileTable, np.ndarray, float, int]]:
    """``_file_blocks``, each with the next block's first arrival the engines see (s: its
    first file served) and month (inf and the horizon after the last block): the next
    block's files are drawn first. A block with no file served joins the one before."""
    blocks = _file_blocks(res, files, block_files)
    upcoming = next(blocks)
    while upcoming is not None:
        (block, served), upcoming = upcoming, next(blocks, None)
        while upcoming is not None and not upcoming[1].any():
            block, served = _joined_files(block, upcoming[0]), np.concatenate([served, upcoming[1]])
            upcoming = next(blocks, None)
        if upcoming is None:
            yield block, served, np.inf, res.scenario.horizon_months
        else:
            first = int(np.argmax(upcoming[1]))
            yield block, served, float(upcoming[0].arrival_s[first]), int(upcoming[0].month[0])


def _file_blocks(res: Resolved, files: FileStream, block_files: int) -> Iterator[tuple[FileTable, np.ndarray]]:
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
