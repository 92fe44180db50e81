"""The server stack's ceiling: a raw ASGI app with a fixed body, under the same uvicorn flags."""

from __future__ import annotations

from typing import Any

BODY = b"App Works!"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"10")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with BODY; ignore lifespan events."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
