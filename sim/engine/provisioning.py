"""Provisioning policies: when a pool's instances are on (and so draw idle power).

A policy is a weekly on/off mask at hourly resolution, aligned to the simulation clock
(``t = 0`` is midnight UTC on the first day of the first month).
"""

from __future__ import annotations

import math

import numpy as np

from sim.config.scenario import Provisioning

HOUR_S = 3600.0
WEEK_H = 168


class Schedule:
    """Hourly on/off mask repeating every week."""

    def __init__(self, weekly_on: np.ndarray, weekday0: int):
        self.weekly_on = np.asarray(weekly_on, dtype=bool)
        self.always = bool(self.weekly_on.all())
        self.offset_h = weekday0 * 24  # hour of week at t = 0 (Monday 00:00 is hour 0)
        # hours from each hour of the week to the next on-hour (0 when on): wait_h
        on = np.flatnonzero(self.weekly_on)
        if len(on) == 0:
            raise ValueError("a schedule must be on for at least one hour a week")
        ahead = np.concatenate([on, on + WEEK_H])
        hours = np.arange(WEEK_H)
        self.wait_h = ahead[np.searchsorted(ahead, hours)] - hours
        # switch-ons (off -> on) up to each hour of the week: starts_cum[h + 1] counts hours 0..h
        starts = self.weekly_on & ~np.roll(self.weekly_on, 1)
        self.starts_cum = np.concatenate([[0], np.cumsum(starts)])

    def is_on(self, t: float) -> bool:
        if self.always:
            return True
        return bool(self.weekly_on[(self.offset_h + int(t // HOUR_S)) % WEEK_H])

    def next_on(self, t: float) -> float:
        """Earliest time >= t at which the pool is on (s)."""
        if self.always:
            return t
        h = int(t // HOUR_S)
        wait = int(self.wait_h[(self.offset_h + h) % WEEK_H])
        return t if wait == 0 else (h + wait) * HOUR_S

    def on_seconds(self, t0: float, t1: float) -> float:
        """Seconds on inside [t0, t1); month edges fall on whole hours."""
        if self.always:
            return t1 - t0
        h0, h1 = int(math.floor(t0 / HOUR_S)), int(math.ceil(t1 / HOUR_S))
        hours = (self.offset_h + np.arange(h0, h1)) % WEEK_H
        return float(self.weekly_on[hours].sum()) * HOUR_S

    def on_period(self, t: float) -> int:
        """Index of the on-period containing t (changes each time the pool switches on)."""
        if self.always:
            return 0
        h = self.offset_h + int(t // HOUR_S)
        week, hw = divmod(h, WEEK_H)  # count off->on switches up to hour h
        return int(week * self.starts_cum[WEEK_H] + self.starts_cum[hw + 1])


def weekly_mask(p: Provisioning) -> np.ndarray:
    """The 168-hour on/off mask of a provisioning policy."""
    if p.policy == "always_on":
        return np.ones(WEEK_H, dtype=bool)
    a, b = p.hours
    length = (b - a) % 24 or 24
    mask = np.zeros(WEEK_H, dtype=bool)
    for day in range(7):
        if p.weekdays_only and day >= 5:
            continue
        for k in range(length):
            mask[(day * 24 + a + k) % WEEK_H] = True
    return mask


def schedule_for(p: Provisioning, weekday0: int) -> Schedule:
    return Schedule(weekly_mask(p), weekday0)
