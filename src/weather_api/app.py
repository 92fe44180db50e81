"""create_app(settings) -> FastAPI; its lifespan builds what requests need, and closes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from weather_api import __version__, observability
from weather_api.config import Settings
from weather_api.errors import PROBLEM_MEDIA_TYPE, InvalidQuery, WeatherApiError
from weather_api.lifecycle import Readiness
from weather_api.providers.factory import build_provider
from weather_api.routes import batch, docs, health, metrics, weather
from weather_api.routes.city_fast_path import CityWeatherFastPath
from weather_api.routes.common import NO_STORE, problem_response
from weather_api.routes.deps import AppState
from weather_api.service import WeatherService, build_cache, build_shared_cache
from weather_api.transport import build_transport


class WeatherApp(FastAPI):
    """FastAPI, with the observability and city fast-path layers outermost.

    `add_middleware` would put them inside FastAPI's own error, telemetry and body-limit
    middleware, which cost a cache hit ~30 us (a fifth of it) for nothing on these paths.
    Starlette's CORS layer, when origins are configured, sits between the two, so that the
    fast path's answers carry its headers too.
    """

    cors_origins: tuple[str, ...] = ()
    """Origins allowed to read answers from browser scripts; empty: no CORS layer at all."""

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack, wrapped in ours."""
        app: ASGIApp = CityWeatherFastPath(super().build_middleware_stack())
        if self.cors_origins:
            app = CORSMiddleware(
                app,
                allow_origins=self.cors_origins,
                allow_methods=["GET"],
                allow_headers=["X-Request-ID"],
                # Browsers hide all but a few response headers from scripts unless told.
                expose_headers=["Age", "Retry-After", "X-Cache", "X-Request-ID"],
                max_age=600,
            )
        return observability.ObservabilityMiddleware(app)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    readiness: Readiness | None = None,
) -> FastAPI:
    """The ASGI app; `transport` replaces the production upstream transport (tests inject one)."""
    readiness = readiness or Readiness()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[AppState]:
        # One pooled transport per process, closed when the app stops.
        async with transport or build_transport(settings) as upstream_transport:
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
            service = WeatherService(
                build_provider(settings, upstream_transport),
                cache=cache,
                batch_concurrency=settings.batch_concurrency,
                shared=shared,
            )
            collector = observability.register_cache(cache)
            shared_collector = observability.register_shared_cache(shared)
            if shared is not None:
                await shared.ping()  # bounded; a Redis that is not there yet is logged, not fatal
            readiness.mark_ready()
            try:
                yield {"settings": settings, "service": service, "readiness": readiness}
            finally:
                readiness.mark_draining()
                observability.unregister(collector)
                observability.unregister(shared_collector)
                if shared is not None:
                    await shared.aclose()

    app = WeatherApp(
        title="weather-api",
        version=__version__,
        summary="Current weather for a city, in OpenWeatherMap's JSON shape.",
        lifespan=lifespan,
        # No OpenTelemetry provider is configured; /metrics is the metrics interface. Off,
        # FastAPI skips a per-request check of the global providers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # routes/docs.py serves them with local assets
        redoc_url=None,
    )
    app.cors_origins = settings.cors_origins
    app.mount(docs.ASSETS_URL, docs.ASSETS, name="docs-assets")
    app.add_exception_handler(WeatherApiError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    for module in (health, metrics, docs, batch, weather):  # weather last: catch-all paths
        app.include_router(module.router)
    return app


async def _domain_error(request: Request, exc: WeatherApiError) -> JSONResponse:
    return problem_response(exc, instance=request.url.path)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    reasons = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return problem_response(InvalidQuery(reasons), instance=request.url.path)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": exc.detail if isinstance(exc.detail, str) else "HTTP error",
        "status": exc.status_code,
        "detail": exc.detail if isinstance(exc.detail, str) else "HTTP error",
        "instance": request.url.path,
    }
    return JSONResponse(
        body,
        status_code=exc.status_code,
        headers={**(exc.headers or {}), **NO_STORE},
        media_type=PROBLEM_MEDIA_TYPE,
    )
