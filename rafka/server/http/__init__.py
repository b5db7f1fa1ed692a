"""The HTTP front door: Prometheus metrics, health probes, the JSON API and the web console.

- `listener`: `HttpListener`, the aiohttp server (start, bound port, close) and its routes;
- `api`: the JSON API under `/api/v1/` that the console draws (documented in
  `docs/observability.md`);
- `messages`: reading the last messages of a partition for the API, with value previews.
"""

from rafka.server.http.listener import HttpListener

__all__ = ["HttpListener"]
