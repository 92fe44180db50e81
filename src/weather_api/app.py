"""create_app(settings) -> FastAPI; its lifespan builds what requests need, and closes it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weather_api import __version__, metrics, tracing
from weather_api.config import Settings
from weather_api.errors import PROBLEM_MEDIA_TYPE, InvalidQuery, WeatherApiError
from weather_api.lifecycle import Readiness
from weather_api.providers.aiohttp_transport import build_transport
from weather_api.providers.factory import build_provider
from weather_api.request_middleware import REQUEST_ID_KEY, ObservabilityMiddleware
from weather_api.routes import batch, docs, health, owm, problems, weather
from weather_api.routes import metrics as metrics_route
from weather_api.routes.city_fast_path import CityWeatherFastPath
from weather_api.routes.deps import AppState
from weather_api.routes.forward_proxy import ForwardProxyGate
from weather_api.routes.responses import NO_STORE, problem_response
from weather_api.service import WeatherService, build_cache, build_shared_cache

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from weather_api.tracing_sdk import Tracing

# Swagger UI shows tags in this order, and operations within a tag in the order of `paths`.
OPENAPI_TAGS = [
    {"name": "weather", "description": "Current weather: for one city, for many, and `/`."},
    {
        "name": owm.TAG,
        "description": "OpenWeatherMap's own API, for clients written against it "
        "(docs/owm-compatible.md): its parameters, Kelvin by default, errors in its shape.",
    },
    {"name": "health", "description": "Liveness and readiness probes; no upstream call."},
    {"name": "operations", "description": "Prometheus metrics."},
    {"name": "problems", "description": "What each problem `type` means, as a page."},
]
WEATHER_PATHS = (
    "/{city}/{country}/",
    "/v1/weather",
    "/",
    "/data/2.5/weather",
    "/data/2.5/forecast",
)

OuterLayer = Callable[[ASGIApp, Sequence[BaseRoute]], ASGIApp]
"""A pure ASGI layer around FastAPI's stack, built from what it wraps and the app's routes."""

log = logging.getLogger(__name__)


class WeatherApp(FastAPI):
    """FastAPI, with our own pure ASGI layers outside its stack (`outer_layers`).

    `add_middleware` would put them inside FastAPI's own error, telemetry and body-limit
    middleware, a cost on every cache hit (docs/benchmarks.md) for nothing on
    these paths. Outermost: the request id, metrics and access log, then `OuterErrors` (an
    exception below it is a problem+json 500 with the request id, not uvicorn's plain text),
    then Starlette's CORS layer when origins are configured (so that every answer carries its
    headers), then `outer_layers`. With tracing on, its span per request wraps all of it.
    """

    cors_origins: tuple[str, ...] = ()
    """Origins allowed to read answers from browser scripts; empty: no CORS layer at all."""
    tracing: Tracing | None = None
    """When tracing is on, its span per request wraps everything else."""
    outer_layers: Sequence[OuterLayer] = ()
    """Layers around FastAPI's stack, innermost first; `create_app` names them."""

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack, wrapped in ours; runs once, at start-up, when the routes are final."""
        app = super().build_middleware_stack()
        for layer in self.outer_layers:
            app = layer(app, self.routes)
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
        app = ObservabilityMiddleware(OuterErrors(app))
        return app if self.tracing is None else self.tracing.middleware(app)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's description, with the weather endpoints first and then by tag."""
        schema = self.openapi_schema
        if schema is None:
            schema = super().openapi()
            schema["paths"] = dict(sorted(schema["paths"].items(), key=_reading_order))
            # The greeting's text has no model to carry an example.
            greeting = schema["paths"].get("/", {}).get("get", {}).get("responses", {})
            text = greeting.get("200", {}).get("content", {}).get("text/plain")
            if text is not None:
                text.setdefault("example", "App Works!")
        return schema


def _reading_order(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
    """Sort key of an OpenAPI path: its first tag's place, then its place in WEATHER_PATHS."""
    path, operations = item
    names = [tag["name"] for tag in OPENAPI_TAGS]
    tag = next((t for operation in operations.values() for t in operation["tags"]), None)
    first = names.index(tag) if tag in names else len(names)
    return first, WEATHER_PATHS.index(path) if path in WEATHER_PATHS else len(WEATHER_PATHS)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    readiness: Readiness | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The ASGI app; `transport` replaces the production upstream client, `span_exporter`
    turns tracing on and receives its spans (tests inject both)."""
    readiness = readiness or Readiness()
    traces = tracing.setup(settings, exporter=span_exporter)  # None: tracing off

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[AppState]:
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

    app = WeatherApp(
        title="weather-api",
        version=__version__,
        summary="Current weather for a city, in OpenWeatherMap's JSON shape.",
        lifespan=lifespan,
        telemetry=tracing.fastapi_telemetry(traces),  # its request span, when tracing is on
        docs_url=None,  # routes/docs.py serves them with local assets
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
    )
    app.cors_origins = settings.cors_origins
    app.tracing = traces
    accepted_appids = settings.accepted_appids()  # reads a file: once
    app.outer_layers = [
        # The hot path: valid `GET /{city}/{country}/` answered from the cache before FastAPI
        # routes anything; it leaves alone every path another of the app's routes matches.
        CityWeatherFastPath,
        # Its twin for OpenWeatherMap's clients: fresh hits on `GET /data/2.5/weather`.
        lambda inner, _routes: owm.OwmWeatherFastPath(inner, accepted_appids=accepted_appids),
        # Absolute-form requests: OpenWeatherMap's host goes on, any other gets 403; CONNECT 405.
        lambda inner, _routes: ForwardProxyGate(inner),
    ]
    app.mount(docs.ASSETS_URL, docs.ASSETS, name="docs-assets")
    app.add_exception_handler(WeatherApiError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.include_router(health.router, tags=["health"])
    app.include_router(metrics_route.router, tags=["operations"])
    app.include_router(docs.router)
    app.include_router(problems.router, tags=["problems"])
    # The weather routers carry their tag themselves.
    app.include_router(batch.build_router(max_locations=settings.batch_max_locations))
    app.include_router(owm.build_router(accepted_appids=accepted_appids))
    app.include_router(weather.router)  # last: its paths catch almost all
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


class OuterErrors:
    """ASGI middleware: an exception from a layer inside it is a problem+json 500.

    FastAPI's own error middleware covers only its stack: without this, a bug in the layers
    outside it would reach uvicorn, whose answer is plain text with no request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started or scope["type"] != "http":
                raise  # too late for another answer: the server logs it and drops the connection
            log.exception("unhandled error outside FastAPI's stack")
            body = WeatherApiError("The service failed; report the X-Request-ID.").problem(
                instance=scope["path"]
            )
            body["request_id"] = scope.get(REQUEST_ID_KEY)
            response = JSONResponse(
                body, status_code=500, headers=NO_STORE, media_type=PROBLEM_MEDIA_TYPE
            )
            await response(scope, receive, send)
