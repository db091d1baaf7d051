"""A replication's statistics tables: per service and month (jobs, busy time, waits and
latencies with their P95) and per month, language and content type (files requested and
served), by compiled passes: NumPy's percentiles bit for bit, its sums and means to rounding."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from sim.config.resolve import Resolved
from sim.config.scenario import CONTENT_TYPES, pool_codes
from sim.engine.types import JobTable, Timings
from sim.kernels.indices import ix

from .accounting import PoolAccountingSpec, month_step, pool_capacity_s
from .tables import Table
from .workload import FileTable

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (see sim.forecast.tables)
    import pandas as pd


def service_stats(res: Resolved, jobs: JobTable, files: FileTable, accounting: list[PoolAccountingSpec], t: Timings,
                  replication: int) -> pd.DataFrame:
    """Per month and service: jobs, busy time, utilisation, waits and latencies (s).

    Rows run service by service, month by month, then the files' end-to-end latencies
    (from arrival to the end of their last job) under service ``(file)``, by arrival month,
    then those of each content type's files (``(file) audio`` ...: ``FILE_ROWS``).
    """
    return service_table(res, jobs, files, accounting, t, replication).frame()


def service_table(res: Resolved, jobs: JobTable, files: FileTable, accounting: list[PoolAccountingSpec], t: Timings,
                  replication: int) -> Table:
    """``service_stats``' rows as a ``Table`` (the service as a code)."""
    edges = np.asarray(res.scenario.month_edges_s(), dtype=float)
    cells = _service_cells(jobs.service, t.start_s, t.ready_s, t.end_s, t.service_s, t.cold, edges, len(jobs.services), 95.0)
    file_cells = file_latency_cells(files.month, files.content, t.file_end_s - files.arrival_s, res.scenario.horizon_months)
    return service_rows(res, jobs.services, jobs.pools, accounting, cells, file_cells, replication, t)


#: ``service_stats`` rows after the services': every file's end-to-end latency, then each content type's.
FILE_ROWS = ("(file)", *(f"(file) {c}" for c in CONTENT_TYPES))


def file_latency_cells(month: np.ndarray, content: np.ndarray, latency_s: np.ndarray, horizon: int) -> tuple:
    """Count, sum and P95 of the files' latencies (s; NaN: not served, left out) per cell of
    ``FILE_ROWS`` x month (flat, in that order): all files by arrival month, then each
    content type's."""
    every = _value_cells(month, horizon, latency_s, 95.0)
    by_content = _value_cells(content.astype(np.int64) * horizon + month, len(CONTENT_TYPES) * horizon, latency_s, 95.0)
    return tuple(np.concatenate([a, b]) for a, b in zip(every, by_content))


def service_rows(res: Resolved, services: tuple[str, ...], pools: tuple[str, ...], accounting: list[PoolAccountingSpec],
                 cells: tuple, file_cells: tuple, replication: int, timings: Timings | None = None) -> Table:
    """``service_table`` from its cells: ``_service_cells``' (per service x month) and
    ``file_latency_cells``' (per ``FILE_ROWS`` x month)."""
    sc = res.scenario
    horizon = sc.horizon_months
    n_s = len(services)
    n, busy, cold, wait_sum, wait_p95, lat_sum, lat_p95 = cells
    f_n, f_sum, f_p95 = file_cells
    pool_of_service = pool_codes(sc, services, pools)  # -1: managed, no pool's capacity
    capacity = np.vstack([pool_capacity_s(sc, accounting, timings), np.full((1, horizon), np.nan)])
    cap = capacity[pool_of_service].ravel()  # same (service, month) order
    rows = n_s + len(FILE_ROWS)
    none = np.full(len(FILE_ROWS) * horizon, np.nan)
    return Table({
        "replication": np.full(rows * horizon, replication, dtype=np.int64),
        "month": np.tile(np.arange(horizon, dtype=np.int64), rows),
        "service": np.repeat(np.arange(rows, dtype=np.int16), horizon),
        "jobs": np.concatenate([n, f_n]),
        "busy_s": np.concatenate([busy, none]),
        "utilisation": np.concatenate([_ratio(busy, cap), none]),
        "cold_starts": np.concatenate([cold, np.zeros(len(none), dtype=np.int64)]),
        "wait_mean_s": np.concatenate([_ratio(wait_sum, n), none]),
        "wait_p95_s": np.concatenate([wait_p95, none]),
        "latency_mean_s": _ratio(np.concatenate([lat_sum, f_sum]), np.concatenate([n, f_n])),
        "latency_p95_s": np.concatenate([lat_p95, f_p95]),
    }, {"service": (*services, *FILE_ROWS)})


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, NaN where ``b`` is 0 (an empty cell's mean, an unprovisioned month's utilisation)."""
    return np.divide(a, b, out=np.full(len(a), np.nan), where=b != 0)


def _p(a: np.ndarray, pct: float) -> float:
    """``np.percentile(a, pct)`` (linear interpolation), by the kernel the statistics use;
    NaN for an empty array."""
    a = np.ascontiguousarray(a, dtype=float)
    return float(_percentiles(a, np.array([0, len(a)]), float(pct))[0])


# -- compiled cell statistics ---------------------------------------------------------------------
# The kernels lay each cell's values out contiguously in their original order (a counting sort),
# and sums them in that order (NumPy's pairwise order would differ only in the last bits).

_SMALL = 64  # values in play from which the rest is sorted outright
_SAMPLE = 15  # values sampled to pick a pivot (measured: larger samples cost more than they save)
_MARGIN = 2  # sample ranks between pivot and target: at p95 the pivot passes the target 4% of the time


@njit(cache=True)
def _service_cells(service, start_s, ready_s, end_s, service_s, cold, edges, n_services, pct):
    """Per cell service x month (flat, in that order; jobs count in the month they start):
    jobs, busy time (s), cold starts, and the sum and ``pct`` percentile of waits (start -
    ready) and of latencies (end - ready), in s; percentiles are NaN for an empty cell."""
    horizon = len(edges) - 1
    n_cells = n_services * horizon
    n = len(service)
    key = np.empty(n, dtype=np.int32)
    bounds = np.zeros(n_cells + 1, dtype=np.int64)
    cold_n = np.zeros(n_cells, dtype=np.int64)
    m = 0
    for i in range(n):
        m = month_step(start_s[i], edges, m)
        k = ix(service[i] * horizon + m)
        key[i] = k
        bounds[k + 1] += 1
        cold_n[k] += cold[i]
    for c in range(n_cells):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    busy, wait, latency = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        k = ix(key[i])
        p = ix(fill[k])
        fill[k] = p + 1
        busy[p] = service_s[i]
        wait[p] = start_s[i] - ready_s[i]
        latency[p] = end_s[i] - ready_s[i]
    return (bounds[1:] - bounds[:-1], _sums(busy, bounds), cold_n, _sums(wait, bounds), _percentiles(wait, bounds, pct),
            _sums(latency, bounds), _percentiles(latency, bounds, pct))


@njit(cache=True)
def _value_cells(cell, n_cells, values, pct):
    """Count, sum and ``pct`` percentile of ``values`` per ``cell`` (NaN values are left out)."""
    bounds = np.zeros(n_cells + 1, dtype=np.int64)
    for i in range(len(cell)):
        if values[i] == values[i]:
            bounds[ix(cell[i]) + 1] += 1
    for c in range(n_cells):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    v = np.empty(bounds[n_cells])
    for i in range(len(cell)):
        if values[i] == values[i]:
            k = ix(cell[i])
            v[ix(fill[k])] = values[i]
            fill[k] += 1
    return bounds[1:] - bounds[:-1], _sums(v, bounds), _percentiles(v, bounds, pct)


@njit(cache=True)
def _sums(v, bounds):
    """Sum of each cell of ``v`` (in order: equal to ``np.sum``'s pairwise sum to rounding)."""
    out = np.empty(len(bounds) - 1)
    for c in range(len(out)):
        s = 0.0
        for i in range(bounds[c], bounds[c + 1]):
            s += v[i]
        out[c] = s
    return out


@njit(cache=True)
def _percentiles(v, bounds, pct):
    """``np.percentile(cell, pct)`` (linear interpolation) of each cell of ``v``; NaN when empty."""
    widest = 0
    for c in range(len(bounds) - 1):
        widest = max(widest, bounds[c + 1] - bounds[c])
    buf_a, buf_b = np.empty(widest), np.empty(widest)
    out = np.empty(len(bounds) - 1)
    for c in range(len(out)):
        a, b = bounds[c], bounds[c + 1]
        n = b - a
        if n <= 1:
            out[c] = v[a] if n == 1 else np.nan
            continue
        vi = (n - 1) * (pct / 100)
        lo = min(int(np.floor(vi)), n - 2)  # at 100%, interpolate from the last two, wholly to the last
        x, y = _ranks(v[a:b], lo, buf_a, buf_b)
        gamma = vi - lo
        diff = y - x
        # numpy's lerp: from the nearer end, so the result stays between x and y
        out[c] = y - diff * (1 - gamma) if gamma >= 0.5 else x + diff * gamma
    return out


@njit(cache=True)
def _ranks(values, k, buf_a, buf_b):
    """The k-th and (k + 1)-th smallest of ``values`` (0-based, k + 1 < len; not NaN).

    Quickselect that leaves ``values`` as they are: each round splits the values in play
    around a pivot into below / equal / above, writing below and above to the two ends of a
    buffer, and goes on with the side holding rank k (so at least the pivot drops out). The
    pivot is a sampled value a few ranks from k on the side of the nearer end, so the side
    kept is small: about 1.3 passes over the values in all, half of what ``np.partition``
    costs. ``above`` is the smallest value ranked above those in play: the (k + 1)-th when
    k ends up last.
    """
    cur, nxt, spare = values, buf_a, buf_b
    n = len(values)
    above = np.inf
    sample = np.empty(_SAMPLE)
    while n > _SMALL:
        step = n // _SAMPLE
        for j in range(_SAMPLE):
            sample[j] = cur[j * step + step // 2]
        _insertion_sort(sample, _SAMPLE)
        r = k * _SAMPLE // n
        pivot = sample[min(r + 1 + _MARGIN, _SAMPLE - 1)] if 2 * k < n else sample[max(r - _MARGIN, 0)]
        lt, gt_at = 0, n - 1  # below fills nxt from the front, above from the back
        for i in range(n):  # branch-free: the comparisons go either way unpredictably
            x = cur[i]
            nxt[ix(lt)] = x
            nxt[ix(gt_at)] = x
            lt += x < pivot
            gt_at -= x > pivot
        gt = n - 1 - gt_at
        if k < lt:
            cur, n, above = nxt[:lt], lt, pivot
        elif k < n - gt:
            if k + 1 < n - gt:
                return pivot, pivot
            for i in range(gt_at + 1, n):  # the (k + 1)-th is the smallest above the pivot
                above = min(above, nxt[i])
            return pivot, above
        else:
            cur, k, n = nxt[gt_at + 1 : n], k - (n - gt), gt
        nxt, spare = spare, nxt
    for i in range(n):  # (explicit loops: numba's slice assignment takes seconds to compile)
        nxt[i] = cur[i]
    _insertion_sort(nxt, n)
    return nxt[k], (nxt[k + 1] if k + 1 < n else above)


@njit(cache=True)
def _insertion_sort(a, n):
    """Sort ``a[:n]`` in place: for the few values (up to ``_SMALL``) left to sort, where it
    is as fast as numba's quicksort, which takes seconds to compile."""
    for i in range(1, n):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


def file_counts(res: Resolved, files: FileTable, served: np.ndarray, replication: int) -> pd.DataFrame:
    """Files requested and served per month, language and content type."""
    return file_table(res, files, served, replication).frame()


def file_table(res: Resolved, files: FileTable, served: np.ndarray, replication: int) -> Table:
    """``file_counts``' rows as a ``Table`` (language and content type as codes)."""
    n_l, n_c = len(files.languages), len(CONTENT_TYPES)
    req, srv = _file_cells(files.month, files.language, files.content, served, res.scenario.horizon_months, n_l, n_c)
    return file_rows(res, files.languages, req, srv, replication)


def file_rows(res: Resolved, languages: tuple[str, ...], req: np.ndarray, srv: np.ndarray, replication: int) -> Table:
    """``file_table`` from its cells (``_file_cells``: files requested and served)."""
    m, l, c = _file_labels(res.scenario.horizon_months, len(languages), len(CONTENT_TYPES))
    return Table({
        "replication": np.full(len(req), replication, dtype=np.int64), "month": m.copy(), "language": l.copy(),
        "content_type": c.copy(), "requested": req, "served": srv,
    }, {"language": tuple(languages), "content_type": tuple(CONTENT_TYPES)})


@functools.lru_cache(maxsize=16)
def _file_labels(horizon: int, n_l: int, n_c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month, language and content type of each cell of ``_file_cells`` (the same every replication)."""
    m, l, c = np.unravel_index(np.arange(horizon * n_l * n_c), (horizon, n_l, n_c))
    return m, l.astype(np.int16), c.astype(np.int16)


@njit(cache=True)
def _file_cells(month, language, content, served, horizon, n_l, n_c):
    """Files requested and served per cell month x language x content type (flat, in that
    order), as floats: one pass instead of a key array and two bincounts."""
    req, srv = np.zeros(horizon * n_l * n_c), np.zeros(horizon * n_l * n_c)
    for i in range(len(month)):
        k = ix((month[i] * n_l + language[i]) * n_c + content[i])
        req[k] += 1.0
        srv[k] += served[i]
    return req, srv
