"""The HTTP listener: `/metrics`, `/healthz`, `/readyz`, `/api/v1/...` and the console at `/`.

Built on aiohttp's server rather than a hand-rolled HTTP/1.1 parser: this port faces browsers
and scrapers, and request parsing (limits, keep-alive, pipelining, malformed input) is exactly
the part worth not writing again; aiohttp's parser is C (llhttp) and runs on the broker's own
event loop (uvloop included), so handlers read broker state on the thread that changes it.

Errors: an unknown path is 404 (JSON under `/api/`, text elsewhere); the API answers bad
parameters with 400 and `{"error": "..."}`. Writes through the API need `console.allow_writes`
and a JSON body (so a cross-site form post cannot reach them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from rafka.broker import Partition
from rafka.console import STATIC_DIR
from rafka.observability.collector import Exporter
from rafka.observability.exposition import CONTENT_TYPE
from rafka.observability.sources import Observed
from rafka.server.http import api

logger = logging.getLogger("rafka.server.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The console loads only its own files; nothing inline, nothing from elsewhere.
_CONSOLE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class HttpListener:
    def __init__(self, observed: Observed, host: str, port: int) -> None:
        self.observed = observed
        self.host = host
        self.port = port
        self.exporter = Exporter(observed)
        self._runner: web.AppRunner | None = None
        self._warm_up: asyncio.Task[None] | None = None

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[_errors_middleware])
        app[api.OBSERVED] = self.observed
        app[api.COLLECTOR] = self.exporter.collector
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        api.add_routes(app.router)
        app.router.add_get("/", _console_index)
        app.router.add_get("/index.html", _console_index)
        app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
        app.on_response_prepare.append(_console_headers)
        return app

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (useful when asked for port 0)."""
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=128)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return self.port

    def warm_up(self) -> None:
        """Call once the logs are loaded: reads every partition's oldest-message timestamp in
        the background, so the first scrape after a restart is as fast as the next ones. It
        does not hold up readiness; until it is done scrapes leave unread timestamps out."""
        broker = self.observed.broker
        if broker.settings.engine != "disk" or self._warm_up is not None:
            return  # an in-memory log starts empty and has no indexes to load
        partitions = [p for topic in broker.topics.values() for p in topic.partitions]
        self._warm_up = asyncio.get_running_loop().create_task(
            self._warm(partitions), name="rafka-metrics-warm-up"
        )

    async def _warm(self, partitions: list[Partition]) -> None:
        started = time.perf_counter()
        oldest = self.exporter.collector.oldest
        try:
            cached = await oldest.warm_up(partitions, lambda: self.observed.loaded)
        except Exception:
            logger.exception("reading oldest-message timestamps at start-up failed")
            return
        logger.info(
            "read the oldest-message timestamps of %d of %d partitions in %.2f s",
            cached,
            len(partitions),
            time.perf_counter() - started,
        )

    async def close(self) -> None:
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ---------------------------------------------------------------- metrics and health

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.exporter.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        """The process is alive and its event loop answers."""
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        """Logs loaded and listeners accepting; 503 while starting and once shutdown began."""
        if self.observed.ready:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready"}, status=503)


async def _console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def _console_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith(("/api/", "/metrics")):
        for name, value in _CONSOLE_HEADERS.items():
            response.headers.setdefault(name, value)
    else:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API errors as JSON; any other failure logged and answered 500 without details."""
    try:
        if request.path.startswith("/api/") and not request.app[api.OBSERVED].loaded:
            raise api.ApiError(503, "the broker is starting or shutting down")
        return await handler(request)
    except api.ApiError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            return web.json_response({"error": exc.reason}, status=exc.status)
        raise
    except Exception:
        logger.exception("HTTP %s %s failed", request.method, request.path)
        return web.Response(
            status=500,
            text=json.dumps({"error": "internal error; see the broker log"}),
            content_type="application/json",
        )
