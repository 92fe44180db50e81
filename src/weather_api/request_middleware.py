"""The outermost layer of every request: its id, security headers, metrics and access line.

- `X-Request-ID`: a sane incoming one is kept, otherwise one is made; it is echoed back, and
  kept in the scope for the layers inside this one.
- Every answer gets the security headers.
- The request's duration by route template and status, and the requests in flight
  (metrics.py), and one access log line (logs/ formats and writes it).

One middleware rather than four: each pure ASGI layer is one more call and one more `send`
wrapper on every request, the cache hit's included.
"""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any

from weather_api.logs.configure import log_access
from weather_api.metrics import IN_FLIGHT, REQUEST_DURATION

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_KEY = "weather_api.request_id"
"""Scope key of the request's id, for the layers inside this one."""
RESPONSE_STARTED_KEY = "weather_api.response_started"
"""Scope key set once the response has started, for the layers inside this one."""

# Clients choose the method string: anything unusual shares one label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Every answer: no content sniffing, no referrer, and no page of ours (/docs) inside a frame.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


class ObservabilityMiddleware:
    """Pure ASGI middleware: request id, security headers, metrics and the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Labelled children, looked up once: `.labels()` takes a lock and builds a key per call.
        self._durations: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = scope[REQUEST_ID_KEY] = _request_id(scope)
        status = 500
        cache = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                scope[RESPONSE_STARTED_KEY] = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                for name, value in headers:
                    if name == b"x-cache":
                        cache = value.decode()
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            template = _route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            key = (method, template, status)
            child = self._durations.get(key)
            if child is None:
                child = self._durations[key] = REQUEST_DURATION.labels(*key)
            child.observe(seconds)
            log_access(
                f"{method} {template} {status}",
                {
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "request_id": request_id,
                    "cache": cache,
                },
            )


def _route_template(scope: Scope) -> str:
    """The matched route's path template (FastAPI's, or the one set by the cache-hit layer)."""
    template = scope.get("weather_api.route")
    if template is None:
        template = getattr(scope.get("route"), "path", None)
    return template or "<unmatched>"


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # Unique, not secret: the seeded generator, not a system call per request.
    return f"{random.getrandbits(128):032x}"
