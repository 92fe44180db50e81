"""The app's lifespan: what every request needs is built at start-up and closed at shutdown.

One upstream client (its connection pool), the caches and the service, handed to requests
through the lifespan state (routes/deps.py's `AppState`); the cache collectors registered for
/metrics; readiness marked ready once all of it is up, and draining when it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI

from weather_api import metrics
from weather_api.config import Settings
from weather_api.lifecycle import Readiness
from weather_api.providers.aiohttp_transport import build_transport
from weather_api.providers.factory import build_provider
from weather_api.routes.deps import AppState
from weather_api.service import WeatherService, build_cache, build_shared_cache

if TYPE_CHECKING:
    from weather_api.tracing_sdk import Tracing


def lifespan(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None,
    readiness: Readiness,
    traces: Tracing | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[AppState]]:
    """The lifespan of an app with these settings; `transport` replaces the production upstream
    client, `traces` (None: tracing off) wraps the client and the service."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[AppState]:
        # One aiohttp session (its connection pool) per process, behind httpx's transport
        # interface; leaving the block closes it.
        async with transport or build_transport(settings) as upstream_transport:
            if traces is not None:
                upstream_transport = traces.transport(upstream_transport)
            cache = build_cache(
                ttl=settings.cache_ttl,
                max_entries=settings.cache_max_entries,
                stale_ttl=settings.cache_stale_ttl,
                negative_ttl=settings.cache_negative_ttl,
            )
            shared = build_shared_cache(
                url=None if settings.cache_url is None else str(settings.cache_url),
                ttl=settings.cache_ttl,
                stale_ttl=settings.cache_stale_ttl,
                lock_ttl=settings.cache_lock_ttl,
                wait_timeout=settings.cache_wait_timeout,
                timeout=settings.cache_redis_timeout,
                backoff=settings.cache_redis_backoff,
            )
            service = (WeatherService if traces is None else traces.service)(
                build_provider(settings, upstream_transport),
                cache=cache,
                batch_concurrency=settings.batch_concurrency,
                shared=shared,
                forecast_cache=build_cache(
                    ttl=settings.forecast_cache_ttl,
                    max_entries=settings.cache_max_entries,
                    stale_ttl=settings.cache_stale_ttl,
                    negative_ttl=settings.cache_negative_ttl,
                ),
            )
            collector = metrics.register_cache(cache)
            shared_collector = metrics.register_shared_cache(shared)
            if shared is not None:
                await shared.ping()  # bounded; a Redis that is not there yet is logged, not fatal
            readiness.mark_ready()
            try:
                yield {"settings": settings, "service": service, "readiness": readiness}
            finally:
                readiness.mark_draining()
                metrics.unregister(collector)
                metrics.unregister(shared_collector)
                if shared is not None:
                    await shared.aclose()
                if traces is not None:
                    await traces.aclose()

    return run
