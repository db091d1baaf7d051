"""Hourly grid intensity in the accounting (``carbon.grid_profile``).

The engines give each job's start and service time; here each job's active energy is
split over the hours it spans, and each pool's idle and host energy over its provisioned
hours, and each is weighted by the hour's intensity. The result is one factor per monthly
row, multiplying the month's intensity: intensity(hour) = level x shape(hour) x trend(month),
with ``level`` the profile's largest value, so that shape = 1.0 exactly for a flat profile
and the factors are then exactly 1.0 (a flat profile gives the same numbers, bit for bit,
as a yearly figure equal to it).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.config.gridprofile import GridProfile
from sim.config.scenario import Scenario
from sim.engine.provisioning import HOUR_S, WEEK_H, Schedule


def horizon_shape(sc: Scenario, profile: GridProfile) -> tuple[float, np.ndarray]:
    """(level g/kWh, shape of each hour of the horizon): the hour's intensity is level x shape."""
    hours = int(math.ceil(sc.month_edges_s()[-1] / HOUR_S))
    values = profile.g_per_kwh[profile.hour_of_year(sc.month_starts()[0], hours)]
    level = float(profile.g_per_kwh.max())
    if level <= 0:
        return 0.0, np.ones(hours)
    return level, values / level


@njit(cache=True)
def job_weights(start_s, service_s, shape):
    """Each job's mean shape over [start, start + service): hours weighted by the seconds the
    job spends in them (sum of seconds x shape over sum of seconds, so exactly 1.0 when the
    shape is 1.0); a job of no duration takes its start hour's. Times past the horizon take
    its last hour."""
    last = len(shape) - 1
    out = np.empty(len(start_s))
    for i in range(len(start_s)):
        t0, d = start_s[i], service_s[i]
        h = min(max(int(t0 // 3600.0), 0), last)
        if not d > 0:
            out[i] = shape[h]
            continue
        t1 = t0 + d
        num, den = 0.0, 0.0
        t = t0
        while t < t1:
            edge = (math.floor(t / 3600.0) + 1.0) * 3600.0
            seg = min(edge, t1) - t
            num += seg * shape[min(int(t // 3600.0), last)]
            den += seg
            t = edge
        out[i] = num / den
    return out


class EnergySums:
    """Per monthly cell (month x service x language x content, flat): the jobs' energy
    weighted by their mean shape, and their energy (J), added in job order, block after
    block for a streamed replication: the same sums as the whole replication's, bit for bit."""

    def __init__(self, sc: Scenario, grid: GridProfile, n_cells: int):
        self.level, self.shape = horizon_shape(sc, grid)
        self.weighted, self.energy = np.zeros(n_cells), np.zeros(n_cells)

    def add(self, cell: np.ndarray, start_s: np.ndarray, service_s: np.ndarray, energy_j: np.ndarray) -> None:
        """Add jobs (their cells, starts and service times in s, energies in J), in order."""
        weight = job_weights(np.asarray(start_s, float), np.asarray(service_s, float), self.shape)
        _add_weighted(self.weighted, self.energy, cell.astype(np.int64), np.asarray(energy_j, float), weight)

    def cell_weights(self) -> np.ndarray:
        """Energy-weighted mean of the jobs' weights per cell (exactly 1.0 when every weight
        is 1.0; 1.0 in a cell without energy)."""
        out = np.ones(len(self.energy))
        used = self.energy > 0
        out[used] = self.weighted[used] / self.energy[used]
        return out


@njit(cache=True)
def _add_weighted(weighted, energy, cell, energy_j, weight):
    for i in range(len(cell)):
        k = cell[i]
        weighted[k] += energy_j[i] * weight[i]
        energy[k] += energy_j[i]


def on_hours(schedule: Schedule, hours: int) -> np.ndarray:
    """1.0 for each hour of the horizon the pool is on, else 0.0 (schedules switch on whole hours)."""
    if schedule.always:
        return np.ones(hours)
    return schedule.weekly_on[(schedule.offset_h + np.arange(hours)) % WEEK_H].astype(float)


def pool_month_weights(schedule: Schedule, edges: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Per month: the mean shape over the pool's provisioned hours (1.0 in a month it is off)."""
    on = on_hours(schedule, len(shape))
    out = np.ones(len(edges) - 1)
    for m in range(len(edges) - 1):
        h0, h1 = int(edges[m] // HOUR_S), int(math.ceil(edges[m + 1] / HOUR_S))
        den = on[h0:h1].sum()
        if den > 0:
            out[m] = float((on[h0:h1] * shape[h0:h1]).sum() / den)
    return out
