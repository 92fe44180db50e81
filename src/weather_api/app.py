"""create_app(settings) -> FastAPI: its layers, error handlers and routes, and its lifespan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from weather_api import __version__, tracing
from weather_api.config import Settings
from weather_api.error_handlers import OuterErrors, add_problem_handlers
from weather_api.lifecycle import Readiness
from weather_api.lifespan import lifespan
from weather_api.openapi import OPENAPI_TAGS, in_reading_order
from weather_api.request_middleware import ObservabilityMiddleware
from weather_api.routes import batch, docs, health, metrics, owm, problems, weather
from weather_api.routes.city_fast_path import CityWeatherFastPath
from weather_api.routes.forward_proxy import ForwardProxyGate

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from weather_api.tracing_sdk import Tracing

OuterLayer = Callable[[ASGIApp, Sequence[BaseRoute]], ASGIApp]
"""A pure ASGI layer around FastAPI's stack, built from what it wraps and the app's routes."""


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
        """FastAPI's description, with the weather endpoints first and then by tag (openapi.py)."""
        schema = self.openapi_schema
        if schema is None:
            schema = in_reading_order(super().openapi())
        return schema


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

    app = WeatherApp(
        title="weather-api",
        version=__version__,
        summary="Current weather for a city, in OpenWeatherMap's JSON shape.",
        lifespan=lifespan(settings, transport=transport, readiness=readiness, traces=traces),
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
    add_problem_handlers(app)
    app.include_router(health.router, tags=["health"])
    app.include_router(metrics.router, tags=["operations"])
    app.include_router(docs.router)
    app.include_router(problems.router, tags=["problems"])
    # The weather routers carry their tag themselves.
    app.include_router(batch.build_router(max_locations=settings.batch_max_locations))
    app.include_router(owm.build_router(accepted_appids=accepted_appids))
    app.include_router(weather.router)  # last: its paths catch almost all
    return app
