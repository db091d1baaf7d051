"""Admin routes: an emissions report and a switch per service, behind a bearer token.

Off unless ``admin_token`` is configured. Under ``admin_prefix`` (default ``/carbon``):

- ``GET  {prefix}/report?month=YYYY-MM`` (default: this month; ``all`` for all time):
  requests, units, duration, energy (J) and emissions (gCO2e) per service and language,
  plus idle and unattributed energy and dropped records;
- ``GET  {prefix}/services``: each service's switch and budgets;
- ``POST {prefix}/services/{service}/enable`` and ``.../disable``.

Without the token, or with a wrong one, every admin route answers 401. The token is
compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

import anyio.to_thread

from .budget import month_of
from .monitor import CarbonMonitor
from .routes import declared_services
from .schema import StoreError

Send = Callable[[dict], Awaitable[None]]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SWITCH = re.compile(r"^/services/([^/]+)/(enable|disable)$")


async def send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": data})


def authorised(scope: dict, token: bytes) -> bool:
    """True when the request carries ``Authorization: Bearer <token>`` (constant-time check).

    An empty token authorises nothing (``compare_digest(b"", b"")`` is true); the config
    already refuses tokens under 16 characters, this guards any other caller.
    """
    if not token:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            # compare_digest on equal-typed bytes; the scheme check leaks nothing about the token
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False


async def handle_admin(monitor: CarbonMonitor, scope: dict, send: Send, subpath: str) -> None:
    """Serve one admin request (``subpath`` is the path below the prefix)."""
    token = monitor.config.admin_token
    assert token is not None
    if not authorised(scope, token.get_secret_value().encode()):
        await send_json(
            send, 401, {"error": "unauthorized", "detail": "admin routes need `Authorization: Bearer <admin_token>`"},
            [(b"www-authenticate", b'Bearer realm="carbon"')],
        )  # fmt: skip
        return
    method = scope["method"]
    services = declared_services(scope.get("app")) | set(monitor.enabled) | {k[0] for k in monitor.budgets.limits}
    if subpath == "/report" and method == "GET":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        month = query.get("month", [month_of(monitor.clock())])[0]
        if month != "all" and not _MONTH.match(month):
            await send_json(send, 400, {"error": "bad_month", "detail": f"month={month!r}: use YYYY-MM or 'all'"})
            return
        try:
            rep = await anyio.to_thread.run_sync(monitor.report, None if month == "all" else month)
        except StoreError as exc:  # e.g. the file vanished and the writer has not reopened it yet
            await send_json(send, 503, {"error": "store_unavailable", "detail": str(exc)})
            return
        await send_json(send, 200, rep)
        return
    if subpath == "/services" and method == "GET":
        await send_json(send, 200, {"services": monitor.service_status(services)})
        return
    switch = _SWITCH.match(subpath)
    if switch and method == "POST":
        service, action = switch.groups()
        if service not in services:
            await send_json(send, 404, {"error": "unknown_service", "detail": f"no service {service!r}; known: {sorted(services)}"})
            return
        await anyio.to_thread.run_sync(monitor.set_enabled, service, action == "enable")
        await send_json(send, 200, {"service": service, "enabled": action == "enable"})
        return
    await send_json(send, 404, {"error": "not_found", "detail": f"no admin route {method} {subpath}"})
