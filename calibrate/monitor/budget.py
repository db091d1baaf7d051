"""Monthly carbon budgets per service (optionally per language), and service switches.

The store is the source of truth: every batch of request records is committed together
with its emissions, added to the store's ``spending`` table (month, service, language) in
the same transaction, so every worker process of one store spends one budget. A process
sees the table through a snapshot that its store writer re-reads after each commit and
every ``flush_interval_s`` (0.2 s) when idle, plus the emissions of its own records not
yet committed. A check on the request path is therefore two dictionary look-ups per
budget, never a query.

A request is counted when its record is complete (the first meter sample after it ends),
and stays counted if its record is dropped (a full disk): the store keeps the emissions of
dropped records and adds them to ``spending`` with its next successful batch, so losing
rows never lifts a budget. A budget can be overshot by the requests in flight when it is reached, and by what
other workers spent in the last snapshot interval. A month's spending resets by
construction: the next month is a new key.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Callable

from .config import BudgetSpec

ALL = "*"  # the language key of a whole-service budget

Key = tuple[str, str, str]  # (month, service, language)


def month_of(t: dt.datetime) -> str:
    """``YYYY-MM`` of an aware datetime, in UTC."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m")


def seconds_to_next_month(t: dt.datetime) -> int:
    """Whole seconds from ``t`` to the first instant of the next UTC month (at least 1)."""
    u = t.astimezone(dt.timezone.utc)
    nxt = dt.datetime(u.year + (u.month == 12), u.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return max(1, int((nxt - u).total_seconds() + 0.999))


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, headers and JSON body."""

    status: int
    reason: str
    body: dict
    retry_after_s: int | None = None


class Budgets:
    """Spending per month, service and language, checked against the budgets (gCO2e).

    ``spent`` = the store's committed spending (last snapshot) + this process's records
    queued but not yet committed (``pending``). Both include the whole-service key ``*``.
    """

    def __init__(self, specs: list[BudgetSpec], clock: Callable[[], dt.datetime]):
        self.limits: dict[tuple[str, str], float] = {(b.service, b.language or ALL): b.monthly_g_co2e for b in specs}
        self._budgeted = {b.service for b in specs}
        self._clock = clock
        self._committed: dict[Key, float] = {}  # replaced whole, never mutated: readers need no lock
        self._pending: dict[Key, float] = {}
        self._lock = threading.Lock()

    def month(self) -> str:
        """The month whose committed spending the snapshot holds (this month, UTC)."""
        return month_of(self._clock())

    def refresh(self, rows: dict[tuple[str, str], float], month: str) -> None:
        """Replace the snapshot with the store's spending of ``month`` per (service, language)."""
        self._committed = _with_totals({(month, s, lang): g for (s, lang), g in rows.items()})

    def add_pending(self, month: str, service: str, language: str, grams: float) -> None:
        """Count a record handed to the store, until the store says its emissions are committed."""
        with self._lock:
            for key in ((month, service, language), (month, service, ALL)):
                self._pending[key] = self._pending.get(key, 0.0) + grams

    def settle(self, written: dict[Key, float], rows: dict[tuple[str, str], float] | None, month: str) -> None:
        """A batch's spending (``written``) is committed to the store: no longer pending.

        ``rows`` is the store's spending of ``month`` read after the commit (None when the
        read failed: the snapshot then waits for the next refresh). Swapping both under the
        lock never counts a committed record twice. (Dropped records stay pending until the
        store writes their emissions with a later batch.)
        """
        with self._lock:
            if rows is not None:
                self.refresh(rows, month)
            for key, g in _with_totals(written).items():
                left = self._pending.get(key, 0.0) - g
                if abs(left) <= 1e-12 * max(g, 1.0):
                    self._pending.pop(key, None)  # keep the dict small and free of rounding dust
                else:
                    self._pending[key] = left

    def committed_rows(self) -> dict[Key, float]:
        """The snapshot per language (no ``*`` totals), to carry into a new store file."""
        return {k: g for k, g in self._committed.items() if k[2] != ALL}

    def spent(self, month: str, service: str, language: str = ALL) -> float:
        key = (month, service, language)
        return self._committed.get(key, 0.0) + self._pending.get(key, 0.0)

    def check(self, now: dt.datetime, service: str, language: str) -> Refusal | None:
        """A 429 refusal when the service's (or its language's) budget for this month is spent."""
        if service not in self._budgeted:
            return None
        month = month_of(now)
        for lang in (language, ALL):
            limit = self.limits.get((service, lang))
            if limit is None:
                continue
            spent = self.spent(month, service, lang)
            if spent >= limit:
                wait = seconds_to_next_month(now)
                scope = f"service {service!r}" + ("" if lang == ALL else f" in language {lang!r}")
                return Refusal(
                    status=429,
                    reason="budget",
                    retry_after_s=wait,
                    body={
                        "error": "carbon_budget_exhausted",
                        "detail": f"the monthly carbon budget of {scope} is spent; it renews at the start of next month (UTC)",
                        "service": service,
                        "language": None if lang == ALL else lang,
                        "month": month,
                        "budget_g_co2e": limit,
                        "spent_g_co2e": spent,
                        "retry_after_s": wait,
                    },
                )
        return None

    def remaining(self, month: str) -> dict[tuple[str, str], float]:
        """gCO2e left per budget (service, language or '*') in ``month``; negative when overshot."""
        return {k: limit - self.spent(month, *k) for k, limit in self.limits.items()}


def _with_totals(spending: dict[Key, float]) -> dict[Key, float]:
    """``spending`` per language plus the whole-service totals under language ``*``."""
    out = dict(spending)
    for (month, service, language), g in spending.items():
        if language != ALL:
            out[(month, service, ALL)] = out.get((month, service, ALL), 0.0) + g
    return out


def disabled_refusal(service: str) -> Refusal:
    return Refusal(
        status=503,
        reason="disabled",
        body={"error": "service_disabled", "detail": f"service {service!r} is switched off by the operator", "service": service},
    )
