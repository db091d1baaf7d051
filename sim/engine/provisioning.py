"""Provisioning policies: when a pool's instances are on (and so draw idle power).

Each policy is a small class behind ``POLICIES``, keyed by the config's ``policy``. A policy
gives a weekly on/off mask at hourly resolution, aligned to the simulation clock (``t = 0``
is midnight UTC on the first day of the first month), and, for ``autoscale``, the rule the
engine follows to add and remove instances with the load (``AutoscaleRule``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.config.serving import Provisioning

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


@dataclass(frozen=True)
class AutoscaleRule:
    """What the engine needs of an autoscale policy (times in s; see ``Provisioning``)."""

    min_instances: int
    max_instances: int
    start_instances: int
    gpus_per_instance: int
    metric: str  # "queue_per_slot" | "utilisation"
    threshold: float
    time_window_s: float
    scale_out_by: int
    boot_s: float
    cooldown_s: float


class AlwaysOn:
    """``instances`` on all the time."""

    def mask(self, p: Provisioning) -> np.ndarray:
        return np.ones(WEEK_H, dtype=bool)

    def rule(self, p: Provisioning, instances: int, gpus_per_instance: int) -> AutoscaleRule | None:
        return None


class Scheduled(AlwaysOn):
    """``instances`` on from ``hours[0]`` to ``hours[1]`` (UTC) every day, or on weekdays only."""

    def mask(self, p: Provisioning) -> np.ndarray:
        a, b = p.hours
        length = (b - a) % 24 or 24
        mask = np.zeros(WEEK_H, dtype=bool)
        for day in range(7):
            if p.weekdays_only and day >= 5:
                continue
            for k in range(length):
                mask[(day * 24 + a + k) % WEEK_H] = True
        return mask


class Autoscale(AlwaysOn):
    """Instances come and go with the load (the engine follows ``rule``); the pool itself is
    always available."""

    def rule(self, p: Provisioning, instances: int, gpus_per_instance: int) -> AutoscaleRule | None:
        assert p.min_instances is not None and p.max_instances is not None  # checked by Provisioning
        return AutoscaleRule(
            min_instances=p.min_instances, max_instances=p.max_instances, start_instances=instances,
            gpus_per_instance=gpus_per_instance, metric=p.metric, threshold=p.threshold,
            time_window_s=p.time_window_s, scale_out_by=p.scale_out_by, boot_s=p.boot_s, cooldown_s=p.cooldown_s,
        )


POLICIES: dict[str, AlwaysOn] = {"always_on": AlwaysOn(), "scheduled": Scheduled(), "autoscale": Autoscale()}


def weekly_mask(p: Provisioning) -> np.ndarray:
    """The 168-hour on/off mask of a provisioning policy."""
    return POLICIES[p.policy].mask(p)


def schedule_for(p: Provisioning, weekday0: int) -> Schedule:
    return Schedule(weekly_mask(p), weekday0)


def autoscale_rule(p: Provisioning, instances: int, gpus_per_instance: int) -> AutoscaleRule | None:
    """The autoscale rule of a pool, None when its instances do not follow the load."""
    return POLICIES[p.policy].rule(p, instances, gpus_per_instance)
