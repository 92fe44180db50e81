"""Tracing with the shared cache: its Redis calls are spans under the lookup, without data."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import make_settings
from tests.shared_cache.conftest import RedisServer
from weather_api.app import create_app


async def test_redis_calls_are_children_of_the_cache_lookup_with_arguments_hidden(
    redis_server: RedisServer,
) -> None:
    """A miss through the shared cache shows its Redis commands under the cache lookup; each
    records the command, never the key (the city) nor the value (the weather)."""
    exporter = InMemorySpanExporter()
    settings = make_settings(provider="sample", cache_url=redis_server.url)
    app = create_app(settings, span_exporter=exporter)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://t"
        ) as client,
    ):
        response = await client.get("/Reykjavik/IS/")
        assert response.status_code == 200
        assert response.headers["x-cache"] == "miss"

    spans = exporter.get_finished_spans()
    (lookup,) = [s for s in spans if s.name == "cache lookup"]
    assert lookup.context is not None
    redis_spans = [s for s in spans if (s.attributes or {}).get("db.system") == "redis"]
    assert redis_spans, [s.name for s in spans]
    under_lookup = [
        s
        for s in redis_spans
        if s.parent is not None and s.parent.span_id == lookup.context.span_id
    ]
    assert under_lookup, "no Redis call was made for the lookup"
    assert all(s.kind is SpanKind.CLIENT for s in under_lookup)
    text = "\n".join(s.to_json() for s in redis_spans)
    assert "reykjavik" not in text.lower()  # the key names the city
    assert response.text not in text
