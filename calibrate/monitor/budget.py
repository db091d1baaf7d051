"""Monthly carbon budgets per service (optionally per language), and service switches.

Spending is kept in memory per calendar month (UTC), seeded from the store at start and
increased as request records complete. A month's spending resets by construction: the
next month is a new key. Checks on the request path are dictionary look-ups.

Budgets count emissions above idle that the meter has attributed so far: requests in
flight are counted when they complete, so a budget can be overshot by the requests
running when it is reached. Each process keeps its own tally: with several server
workers, give each its share of the budget.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from .config import BudgetSpec

ALL = "*"  # the language key of a whole-service budget


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
    """Tally of emissions per month, service and language, checked against the budgets."""

    def __init__(self, specs: list[BudgetSpec]):
        self.limits: dict[tuple[str, str], float] = {(b.service, b.language or ALL): b.monthly_g_co2e for b in specs}
        self._budgeted = {b.service for b in specs}
        self._spent: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def seed(self, month: str, spending: dict[tuple[str, str], float]) -> None:
        """Start from what the store already holds for ``month`` (gCO2e per service, language)."""
        for (service, language), g in spending.items():
            self.add(month, service, language, g)

    def add(self, month: str, service: str, language: str, grams: float) -> None:
        with self._lock:
            for key in ((month, service, language), (month, service, ALL)):
                self._spent[key] = self._spent.get(key, 0.0) + grams

    def spent(self, month: str, service: str, language: str = ALL) -> float:
        return self._spent.get((month, service, language), 0.0)

    def check(self, now: dt.datetime, service: str, language: str) -> Refusal | None:
        """A 429 refusal when the service's (or its language's) budget for this month is spent."""
        if service not in self._budgeted:
            return None
        month = month_of(now)
        for lang in (language, ALL):
            limit = self.limits.get((service, lang))
            if limit is None:
                continue
            spent = self._spent.get((month, service, lang), 0.0)
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


def disabled_refusal(service: str) -> Refusal:
    return Refusal(
        status=503,
        reason="disabled",
        body={"error": "service_disabled", "detail": f"service {service!r} is switched off by the operator", "service": service},
    )
