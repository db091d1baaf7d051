"""ASGI middleware that meters, records and budgets the routes declared with ``carbon_route``.

    app.add_middleware(CarbonMiddleware, store="carbon.db", budgets=[...], admin_token="...")

It is a plain ASGI middleware (no per-request ``Request`` object, no body buffering), so
its cost on the request path is a route look-up, a budget check and two lock-protected
dictionary operations. It also serves ``/metrics`` and the admin routes, and starts and
stops the monitor with the application's lifespan (or on the first request when the
server runs without lifespan events).

Fails open: an error inside the monitor lets the request through unmetered and is counted
in ``carbon_internal_errors_total``; errors of the application itself propagate unchanged.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import anyio.to_thread

from .admin import handle_admin, send_json
from .attribution import Flight
from .metrics import CONTENT_TYPE
from .monitor import CarbonMonitor
from .routes import Usage, UsageError, enter_usage, exit_usage

log = logging.getLogger("carbonsim.monitor")

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class CarbonMiddleware:
    """Wraps an ASGI app. Give ``monitor=`` a ``CarbonMonitor``, or ``MonitorConfig`` fields
    (``store=``, ``budgets=``, ``admin_token=``, ...) and optionally ``meter=``/``clock=``.
    """

    def __init__(self, app: ASGIApp, monitor: CarbonMonitor | None = None, **settings: Any):
        self.app = app
        self.monitor = monitor if monitor is not None else CarbonMonitor(**settings)
        if monitor is not None and settings:
            raise TypeError(f"give either monitor= or settings, not both (got {sorted(settings)})")
        c = self.monitor.config
        self._active: bool | None = None  # None: not started; False: start failed, pass through
        self._metrics_path = c.metrics_path
        self._admin_prefix = c.admin_prefix if c.admin_token is not None else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        monitor = self.monitor
        if self._active is None:
            self._start()
        path = scope["path"]
        if path == self._metrics_path:
            await self._serve_metrics(send)
            return
        prefix = self._admin_prefix
        if prefix is not None and (path == prefix or path.startswith(prefix + "/")):
            await handle_admin(monitor, scope, send, path[len(prefix) :])
            return
        if not self._active:
            await self.app(scope, receive, send)
            return
        try:
            spec, route, params = monitor.resolver.resolve(scope)
            admitted = None if spec is None else monitor.admit(spec, scope, route, params)
        except Exception:
            self._internal_error("admit")
            admitted = None
        if admitted is None:
            await self.app(scope, receive, send)
            return
        if not isinstance(admitted, Flight):
            headers = [] if admitted.retry_after_s is None else [(b"retry-after", str(admitted.retry_after_s).encode())]
            await send_json(send, admitted.status, admitted.body, headers)
            return
        await self._metered(admitted, scope, receive, send)

    async def _metered(self, flight: Flight, scope: dict, receive: Callable, send: Callable) -> None:
        usage: Usage = flight.usage

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                flight.status = message["status"]
            await send(message)

        token = enter_usage(usage)
        try:
            await self.app(scope, receive, send_status)
        except UsageError as exc:
            if flight.status != 0:
                raise  # the response has begun: too late to answer 422
            flight.status = 422
            await send_json(send, 422, {"error": "invalid_usage", "detail": str(exc)})
        except BaseException:
            if flight.status == 0:
                flight.status = 500
            raise
        finally:
            exit_usage(token)
            self.monitor.finish(flight)

    async def _serve_metrics(self, send: Callable) -> None:
        body = self.monitor.metrics.render()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, scope: dict, receive: Callable, send: Callable) -> None:
        async def watch() -> dict:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
            elif message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self._close)
            return message

        await self.app(scope, watch, send)

    def _start(self) -> None:
        try:
            self.monitor.start()
            self._active = True
        except Exception:
            self._active = False  # do not retry on every request; serve unmonitored
            self._internal_error("start")

    def _close(self) -> None:
        try:
            self.monitor.close()
        except Exception:
            self._internal_error("close")

    def _internal_error(self, where: str) -> None:
        self.monitor.metrics.internal_errors.labels(where).inc()
        log.exception("carbon monitor: %s failed; serving on unmetered", where)
