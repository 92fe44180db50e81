"""The service as an HTTP proxy for OpenWeatherMap clients, and never an open one.

Clients configured with an HTTP proxy (pyowm's `proxies`, `HTTP_PROXY`) send the absolute form,
`GET http://api.openweathermap.org/data/2.5/weather?... HTTP/1.1`. This layer answers such a
request by its path when the host is `api.openweathermap.org`, and refuses any other host with
403: the service never fetches a URL a client names. `CONNECT` (a tunnel, for https) gets 405.

uvicorn's httptools protocol drops the scheme and host of an absolute-form target before the app
sees it; http_protocol.py's protocol keeps the target under `ABSOLUTE_TARGET` in the scope.
Servers that pass the target through as the path (uvicorn's h11 protocol) are read here too, so
the decision is this layer's whichever parser ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from weather_api.routes.owm import OWM_HOST

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

ABSOLUTE_TARGET = "weather_api.absolute_target"
"""Scope key: the request target as sent (bytes), when it was in absolute form."""

NOT_A_TUNNEL = (
    b"This service is not a tunnel: talk plain HTTP to it as a proxy "
    b"(http://api.openweathermap.org/...; pyowm: use_ssl=False).\n"
)
NOT_AN_OPEN_PROXY = b"This service answers only for api.openweathermap.org; it fetches no URL.\n"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ForwardProxyGate:
    """ASGI middleware: absolute-form requests for OpenWeatherMap go on, others are refused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "CONNECT":
                await _plain(send, 405, NOT_A_TUNNEL, allow=True)
                return
            target: bytes | None = scope.get(ABSOLUTE_TARGET)
            if target is None and scope["path"].startswith(("http://", "https://")):
                target = scope["raw_path"]  # h11: the target is the path, query apart
            if target is not None:
                path = _owm_path(target)
                if path is None:
                    await _plain(send, 403, NOT_AN_OPEN_PROXY)
                    return
                # In place, not a copy: the layers outside read the route FastAPI sets in it.
                scope["path"] = unquote(path)
                scope["raw_path"] = path.encode("latin-1")
        await self.app(scope, receive, send)


def _owm_path(target: bytes) -> str | None:
    """The path of an absolute-form target for OpenWeatherMap's host, else None."""
    try:
        url = urlsplit(target.decode("latin-1"))
        port = url.port
    except ValueError:
        return None
    host = (url.hostname or "").rstrip(".")
    if host != OWM_HOST or url.scheme not in _DEFAULT_PORTS:
        return None
    if port is not None and port != _DEFAULT_PORTS[url.scheme]:
        return None
    if url.username is not None or url.password is not None:
        return None
    return url.path or "/"


async def _plain(send: Send, status: int, body: bytes, *, allow: bool = False) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
    ]
    if allow:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
