"""A streamed replication's statistics, block by block: the service statistics, the files'
latencies and the capacity cells, equal to the whole replication's bit for bit.

A cell's count and sums are kept as the blocks come, each sum adding the values in job
(or file) order, block after block, as the whole replication's kernels add them in their
order. The values whose percentile a cell needs (waits, latencies) are kept per cell
only until the cell's month is final (no later block can add to it: see
``sim.forecast.stream``), then reduced to the percentile, which depends on the values
alone, not their order. So a streamed replication holds two floats per job of the months
still open, not the jobs' timings.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.config.gridprofile import GridProfile
from sim.config.scenario import CONTENT_TYPES, Scenario, pool_codes
from sim.engine.types import JobTable, Timings
from sim.kernels.indices import ix

from .accounting import PoolAccountingSpec, add_hourly, cube_into, hourly_sums
from .capacity import capacity_rows
from .statistics import FILE_ROWS, _file_cells, _percentiles, service_rows
from .tables import Table
from .workload import FileTable

PCT = 95.0  # the statistics' percentile


class Cells:
    """Per cell ``row * horizon + month``: a count, sums of some values (in the order
    added) and, until the cell's month is final, the values of others, for a percentile."""

    def __init__(self, rows: int, horizon: int, n_sums: int, n_kept: int):
        self.horizon = horizon
        self.count = np.zeros(rows * horizon, np.int64)
        self.sums = np.zeros((n_sums, rows * horizon))
        self.kept: list[dict[int, list[np.ndarray]]] = [{} for _ in range(n_kept)]  # cell -> pieces

    def add(self, cell: np.ndarray, sums: tuple[np.ndarray, ...], kept: tuple[np.ndarray, ...]) -> None:
        """Add items (their cells, the values summed, the values kept), in order."""
        order, bounds = _tally(cell.astype(np.int64, copy=False), np.vstack(sums) if sums else np.zeros((0, len(cell))),
                               self.count, self.sums)
        nonempty = np.flatnonzero(np.diff(bounds)).tolist()
        for values, pieces in zip(kept, self.kept):
            by_cell = values[order]  # (the pieces are views of it, freed with the last of them)
            for c in nonempty:
                pieces.setdefault(c, []).append(by_cell[bounds[c] : bounds[c + 1]])

    def values(self, which: int, cell: int) -> list[np.ndarray]:
        """The kept values ``which`` of ``cell`` (pieces)."""
        return self.kept[which].get(cell, [])

    def drop(self, months: range) -> None:
        """Forget the kept values of the cells of ``months``."""
        for pieces in self.kept:
            for c in [c for c in pieces if c % self.horizon in months]:
                del pieces[c]


def percentile(pieces: list[np.ndarray]) -> float:
    """``PCT`` percentile of the values in ``pieces``, by the statistics' kernel (NaN when none)."""
    if not pieces:
        return np.nan
    v = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return float(_percentiles(v, np.array([0, len(v)], dtype=np.int64), PCT)[0])


@njit(cache=True)
def _tally(cell, values, count, sums):
    """Add items to their cells: one to the count, and each row of ``values`` to the row of
    ``sums``, item after item. Returns the items in order of cell (stable), and each
    cell's bounds in that order."""
    n_cells = count.shape[0]
    bounds = np.zeros(n_cells + 1, np.int64)
    for i in range(cell.shape[0]):
        k = ix(cell[i])
        bounds[k + 1] += 1
        for r in range(values.shape[0]):
            sums[r, k] += values[r, i]
    for c in range(n_cells):
        count[c] += bounds[c + 1]
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    order = np.empty(cell.shape[0], np.int64)
    for i in range(cell.shape[0]):
        k = ix(cell[i])
        order[ix(fill[k])] = i
        fill[k] += 1
    return order, bounds


class Accounts:
    """A streamed replication's sums and cells, block by block (see the module's docstring)."""

    def __init__(self, sc: Scenario, accounting: list[PoolAccountingSpec], services: tuple[str, ...],
                 pools: tuple[str, ...], languages: tuple[str, ...], grid: GridProfile | None = None):
        self.sc, self.accounting = sc, accounting
        self.hourly = hourly_sums(sc, grid) if grid is not None else None  # an hourly profile's sums
        self.edges = np.asarray(sc.month_edges_s(), dtype=float)
        self.horizon = h = sc.horizon_months
        self.n_s, self.n_l, self.n_p = len(services), len(languages), len(accounting)
        size = h * self.n_s * self.n_l * len(CONTENT_TYPES)
        self.cube = (np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size))
        self.req = np.zeros(h * self.n_l * len(CONTENT_TYPES))
        self.srv = np.zeros_like(self.req)
        # pool code (the jobs' tables) -> row here (the accounting's order), and each service's
        self.pool_row = np.zeros(len(pools), np.int64)
        self.pool_row[[pools.index(p.name) for p in accounting]] = np.arange(self.n_p)
        codes = np.array(pool_codes(sc, services, pools), dtype=np.int64)
        self.service_pool = np.where(codes >= 0, self.pool_row[np.maximum(codes, 0)], -1)
        self.jobs = Cells(self.n_s, h, 4, 2)  # by service and month started: busy, cold, wait, latency; waits, latencies
        self.files = Cells(len(FILE_ROWS), h, 1, 1)  # by ``FILE_ROWS`` and month of arrival: latency (files that ended)
        self.offered = Cells(self.n_p, h, 1, 0)  # by pool and month ready: service time
        self.pool_files = Cells(self.n_p, h, 0, 1) if self.n_p > 1 else None  # latencies of the files using a pool
        self.wait_p95 = np.full((2, self.n_s * h), np.nan)  # waits', latencies' percentiles per service x month
        self.file_p95 = np.full(len(FILE_ROWS) * h, np.nan)
        self.pool_wait_p95 = np.full(self.n_p * h, np.nan)
        self.pool_lat_p95 = np.full(self.n_p * h, np.nan)
        self.closed = 0  # months before this one are final

    def _month(self, t: np.ndarray) -> np.ndarray:
        """Month index of times ``t`` (s), as ``month_step``: clipped to the horizon, NaN in the last."""
        return np.clip(np.searchsorted(self.edges, t, side="right") - 1, 0, self.horizon - 1)

    def add(self, block: FileTable, served: np.ndarray, jobs: JobTable, t: Timings, next_month: int) -> None:
        """Add a block; months before ``next_month`` (the next block's first file's) are then final."""
        h = self.horizon
        cube_into(self.cube, t.start_s, self.edges, jobs.service, jobs.language, jobs.content, t.service_s, t.energy_j,
                  jobs.audio_s, self.n_s, self.n_l, len(CONTENT_TYPES))
        if self.hourly is not None:
            add_hourly(self.hourly, self.sc, jobs, t)
        req, srv = _file_cells(block.month, block.language, block.content, served, h, self.n_l, len(CONTENT_TYPES))
        self.req += req  # whole numbers: exact in any order
        self.srv += srv
        wait, latency = t.start_s - t.ready_s, t.end_s - t.ready_s
        self.jobs.add(jobs.service.astype(np.int64) * h + self._month(t.start_s),
                      (t.service_s, t.cold.astype(float), wait, latency), (wait, latency))
        job_pool = self.pool_row[jobs.pool]
        self.offered.add(job_pool * h + self._month(t.ready_s), (t.service_s,), ())
        file_latency = t.file_end_s - block.arrival_s
        ended = ~np.isnan(file_latency)
        month, lat = block.month[ended].astype(np.int64), file_latency[ended]
        self.files.add(month, (lat,), (lat,))  # every file, then by content type
        self.files.add((1 + block.content[ended].astype(np.int64)) * h + month, (lat,), (lat,))
        if self.pool_files is not None:
            used = np.zeros((len(block), self.n_p), dtype=bool)
            used[jobs.file, job_pool] = True
            for p in range(self.n_p):
                sel = used[:, p] & ended
                self.pool_files.add(p * h + block.month[sel].astype(np.int64), (), (file_latency[sel],))
        if next_month > self.closed:
            self._close(min(next_month, h))

    def _close(self, upto: int) -> None:
        """Reduce the kept values of months [closed, upto) to their percentiles."""
        h, months = self.horizon, range(self.closed, upto)
        for m in months:
            for s in range(self.n_s):
                for v in range(2):
                    self.wait_p95[v, s * h + m] = percentile(self.jobs.values(v, s * h + m))
            for r in range(len(FILE_ROWS)):
                self.file_p95[r * h + m] = percentile(self.files.values(0, r * h + m))
            for p in range(self.n_p):
                on_p = np.flatnonzero(self.service_pool == p).tolist()
                self.pool_wait_p95[p * h + m] = percentile([x for s in on_p for x in self.jobs.values(0, s * h + m)])
                if self.pool_files is not None:
                    self.pool_lat_p95[p * h + m] = percentile(self.pool_files.values(0, p * h + m))
        for cells in (self.jobs, self.files, self.pool_files):
            if cells is not None:
                cells.drop(months)
        self.closed = upto

    def service_table(self, res, services: tuple[str, ...], pools: tuple[str, ...], replication: int,
                      spans: Timings | None = None) -> Table:
        """The replication's ``service_table`` (every month final), ``spans`` as in ``capacity_table``."""
        busy, cold, wait, latency = self.jobs.sums
        cells = (self.jobs.count, busy, cold.astype(np.int64), wait, self.wait_p95[0], latency, self.wait_p95[1])
        file_cells = (self.files.count, self.files.sums[0], self.file_p95)
        return service_rows(res, services, pools, self.accounting, cells, file_cells, replication, spans)

    def capacity_table(self, stats: Table, services: tuple[str, ...], pools: tuple[str, ...], replication: int,
                       spans: Timings | None = None) -> Table:
        """The replication's ``capacity_table`` (every month final), ``stats`` its service
        table, ``spans`` the autoscaled pools' instance intervals (``Timings.instance_intervals``)."""
        h = self.horizon
        lat_p95 = stats.columns["latency_p95_s"][self.n_s * h : (self.n_s + 1) * h] if self.n_p == 1 else self.pool_lat_p95
        return capacity_rows(self.sc, services, pools, self.accounting, stats, self.pool_wait_p95, self.offered.sums[0],
                             lat_p95, spans, replication)
