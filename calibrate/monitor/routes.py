"""Per-route declaration: which service a route is, in which language, and its units of work.

A route opts in with a decorator on its endpoint; the handler reports the work it did::

    @app.post("/transcribe")
    @carbon_route("transcribe", language_param="lang")
    async def transcribe(file: UploadFile, lang: str = "fr"):
        text, seconds = ...
        report_usage(audio_second=seconds)
        return {"text": text}

Routes without the decorator are not monitored. Only this metadata is ever recorded:
never the request body, the file, the query string or the path as sent (the route's
template, e.g. ``/items/{item_id}``, is recorded instead).
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qs

from sim.config.units import UNITS

F = TypeVar("F", bound=Callable[..., Any])

#: Most of one unit one request may report: a trillion tokens, or 31,700 years of audio. Far
#: above any real request, low enough that no sum of them overflows a float in a metric.
MAX_UNITS_PER_REQUEST = 1e12

#: Attribute set on a decorated endpoint.
ROUTE_ATTR = "__carbon_route__"


@dataclass(frozen=True)
class RouteSpec:
    """What a monitored route is.

    ``language`` fixes the language; otherwise ``language_param`` names a path or query
    parameter holding it (path first). Either way the handler may override it with
    ``report_usage(language=...)``, but only a language known before the handler runs can
    enforce a per-language budget.
    """

    service: str
    language: str | None = None
    language_param: str | None = None

    def language_of(self, scope: dict, path_params: dict[str, Any]) -> str | None:
        """The request's language from the declaration, or None when it does not say."""
        if self.language is not None:
            return self.language
        if self.language_param is None:
            return None
        value = path_params.get(self.language_param)
        if value is None and scope.get("query_string"):
            found = parse_qs(scope["query_string"].decode("latin-1")).get(self.language_param)
            value = found[0] if found else None
        return None if value is None else str(value)


def carbon_route(service: str, *, language: str | None = None, language_param: str | None = None) -> Callable[[F], F]:
    """Declare an endpoint as serving ``service``; returns the endpoint unchanged (same signature)."""
    if not service:
        raise ValueError("carbon_route: give the service name, e.g. carbon_route('transcribe')")
    if language is not None and language_param is not None:
        raise ValueError("carbon_route: give either `language` (fixed) or `language_param` (read per request), not both")
    spec = RouteSpec(service=service, language=language, language_param=language_param)

    def mark(endpoint: F) -> F:
        setattr(endpoint, ROUTE_ATTR, spec)
        return endpoint

    return mark


class UsageError(ValueError):
    """A handler reported units that cannot be recorded; the middleware answers 422 with the message."""


class Usage:
    """What the running handler reports about its request; mutated through ``report_usage``."""

    __slots__ = ("units", "language")

    def __init__(self) -> None:
        self.units: dict[str, float] = {}
        self.language: str | None = None


_CURRENT: contextvars.ContextVar[Usage | None] = contextvars.ContextVar("carbonsim_usage", default=None)


def report_usage(language: str | None = None, **units: float) -> bool:
    """Add units of work (e.g. ``audio_second=12.5, output_token=80``) to the current request.

    Units accumulate over calls. Unit names are those of the calibration profile
    (``sim.config.units.UNITS``). Returns False, and records nothing, outside a monitored request;
    works from async handlers and from sync handlers run in the thread pool.

    Raises ``UsageError`` (a ValueError) for an unknown unit or an amount that is not a
    finite, non-negative number (inf, nan, negative), or a request total over
    ``MAX_UNITS_PER_REQUEST``; nothing of that call is recorded, and the monitored request
    is answered 422.
    """
    unknown = sorted(set(units) - set(UNITS))
    if unknown:
        raise UsageError(f"report_usage: unknown unit(s) {unknown}; use one of {sorted(UNITS)}")
    try:
        amounts = {name: float(amount) for name, amount in units.items()}
    except (TypeError, ValueError) as exc:
        raise UsageError(f"report_usage: amounts must be numbers ({exc})") from None
    bad = sorted(f"{n}={a}" for n, a in amounts.items() if not (math.isfinite(a) and a >= 0))
    if bad:
        raise UsageError(f"report_usage: {bad} must be finite, non-negative numbers")
    usage = _CURRENT.get()
    if usage is None:
        return False
    totals = {name: usage.units.get(name, 0.0) + amount for name, amount in amounts.items()}
    over = sorted(f"{n}={t:g}" for n, t in totals.items() if t > MAX_UNITS_PER_REQUEST)
    if over:
        raise UsageError(f"report_usage: {over} exceed {MAX_UNITS_PER_REQUEST:g} per request; check the handler's units")
    usage.units.update(totals)
    if language is not None:
        usage.language = str(language)
    return True


def enter_usage(usage: Usage) -> contextvars.Token:
    """Make ``usage`` the current request's (the middleware calls this)."""
    return _CURRENT.set(usage)


def exit_usage(token: contextvars.Token) -> None:
    _CURRENT.reset(token)


class RouteResolver:
    """Finds the ``RouteSpec`` and route template of a request, cached per method and path."""

    def __init__(self, max_cache: int = 4096):
        self._cache: dict[tuple[str, str], tuple[RouteSpec | None, str, dict[str, Any]]] = {}
        self._max = max_cache

    def resolve(self, scope: dict) -> tuple[RouteSpec | None, str, dict[str, Any]]:
        """(spec or None, route template, path params) of an HTTP scope."""
        key = (scope["method"], scope["path"])
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found: tuple[RouteSpec | None, str, dict[str, Any]] = (None, "", {})
        app = scope.get("app")
        for route in getattr(app, "routes", ()):
            match, child = route.matches(scope)
            if match.name == "FULL":
                spec = getattr(getattr(route, "endpoint", None), ROUTE_ATTR, None)
                found = (spec, getattr(route, "path", ""), dict(child.get("path_params", {})))
                break
        if len(self._cache) >= self._max:
            self._cache.clear()  # paths with parameters can be unbounded
        self._cache[key] = found
        return found


def declared_services(app: Any) -> set[str]:
    """Services declared by the routes of a Starlette/FastAPI app."""
    out = set()
    for route in getattr(app, "routes", ()):
        spec = getattr(getattr(route, "endpoint", None), ROUTE_ATTR, None)
        if spec is not None:
            out.add(spec.service)
    return out
