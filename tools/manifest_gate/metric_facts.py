"""The metric names the running app exports, for the manifest gate (runs in the project's venv).

Starts `create_app()`'s lifespan with both cache tiers on (the Redis URL points at a closed
port: the start-up ping fails fast and is only logged), asks the app's own `/metrics` route,
and prints a JSON list of every series name Prometheus would store from that exposition:
a counter's `_total`, a histogram's `_bucket`/`_count`/`_sum`, and so on, also for labelled
families that have no sample yet. Nothing here lists a metric by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys

_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum"),
    "info": ("",),
    "stateset": ("",),
}
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")


def names(exposition: str) -> list[str]:
    """Series names from a text exposition's `# TYPE` lines."""
    found = set()
    for line in exposition.splitlines():
        match = _TYPE.match(line)
        if match:
            name, kind = match.groups()
            found.update(name + suffix for suffix in _SUFFIXES.get(kind, ("",)))
    return sorted(found)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _exposition() -> str:
    import httpx

    from weather_api.app import create_app
    from weather_api.config import Settings

    for key in [k for k in os.environ if k.startswith("WEATHER_API_")]:
        del os.environ[key]
    settings = Settings(
        provider="sample",
        cache_url=f"redis://127.0.0.1:{_closed_port()}/0",
        cache_redis_timeout=0.2,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
    ):
        response = await client.get("/metrics")
        response.raise_for_status()
        return response.text


def main() -> int:
    """Print the exported series names as JSON."""
    json.dump(names(asyncio.run(_exposition())), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
