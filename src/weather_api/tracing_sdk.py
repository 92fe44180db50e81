"""Tracing when it is on: the SDK's provider and the app's spans. Imported by `tracing.setup` only.

Spans of one request:

    GET /{city}/{country}/        SERVER: FastAPI's own OpenTelemetry support (`telemetry=`),
    |                             the client's `traceparent` its parent; no receive/send spans
    +- cache lookup               outcome: hit | miss | stale | coalesced | negative
       +- EVALSHA, GET, ...       CLIENT, the shared cache's Redis calls (--cache-url only):
       |                          opentelemetry-instrumentation-redis, arguments as `?`
       +- GET <provider>          CLIENT, one per upstream attempt: provider, attempt number,
                                  status, URL with `appid` redacted; sends `traceparent` upstream

FastAPI's support wraps its whole middleware stack, so the city fast path is inside the
request's span too; `RequestSpan` names that span after the fast path's route and redacts keys
a client put in its query. Why FastAPI's and not opentelemetry-instrumentation-asgi: the same
span for about half the CPU (measured: ~75 us a request, sampled or not, against ~35 us;
docs/operations.md, "Tracing"), and no receive/send spans to exclude.

The attempt spans are children of the lookup that started the fill (the fill's task inherits
its context); lookups that joined it (coalesced) have none. Why not the aiohttp-client
instrumentation: its newest release (0.66b1) pins opentelemetry-api 1.45.1, while FastAPI
needs the 1.45.2 that the rest of this family is at; and it would write each attempt's URL
with the key in it. The span here is the SDK's API, the header is the SDK's propagator.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from weather_api import __version__
from weather_api.cache import Cached, CacheStatus
from weather_api.locations import WeatherQuery
from weather_api.logs.formatting import set_context_fields
from weather_api.providers.base import WeatherProvider
from weather_api.service import WeatherCache, WeatherService
from weather_api.shared_cache import SharedCache

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_SERVICE_NAME = "weather-api"
"""service.name when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one."""
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes make no spans."""

CACHE_OUTCOME = "weather_api.cache.outcome"
PROVIDER = "weather_api.upstream.provider"
ATTEMPT = "weather_api.upstream.attempt"
_ATTEMPT_KEY = "weather_api.attempt"  # in httpx.Request.extensions: retries reuse the request

# Query parameters whose values never go into a span (OpenWeatherMap's key, ours or a client's).
_SECRET_VALUE = re.compile(r"((?:^|[?&])(?:appid|api_key|apikey|key)=)[^&#\s]*", re.IGNORECASE)


class Tracing:
    """A tracer provider configured from OTEL_*, and the app's hooks into it."""

    def __init__(
        self, *, provider: str, redis: bool = False, exporter: SpanExporter | None = None
    ) -> None:
        # The sampler comes from OTEL_TRACES_SAMPLER/_ARG (default: parentbased_always_on).
        self.provider = TracerProvider(resource=_resource())
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("weather_api", __version__)
        self._upstream = provider
        self._redis: Any = None
        if redis:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            # Patches redis-py's client classes for the process (undone by aclose); it records
            # each command with its arguments as `?`, so neither keys nor values are kept.
            self._redis = RedisInstrumentor()
            self._redis.instrument(tracer_provider=self.provider)
        set_context_fields(trace_fields)

    def fastapi_telemetry(self) -> TelemetryConfig:
        """FastAPI's `telemetry=`: its request span, from our provider, and nothing else."""
        return {
            "tracing": True,
            "tracer_provider": self.provider,
            "operation_spans": False,  # one span per request, not one per dependency too
            "metrics": False,  # /metrics is the metrics interface
            "logs": False,
            "auto_configure": False,  # the exporter is ours; no second one from FastAPI
            "exclude": _untraced,
        }

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """`app`, its request spans named and redacted (see RequestSpan)."""
        return RequestSpan(app)

    def transport(self, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """The upstream transport, with a span per attempt and `traceparent` sent upstream."""
        return TracedTransport(inner, tracer=self.tracer, provider=self._upstream)

    def service(
        self,
        provider: WeatherProvider,
        *,
        cache: WeatherCache | None,
        batch_concurrency: int,
        shared: SharedCache | None = None,
        forecast_cache: WeatherCache | None = None,
    ) -> WeatherService:
        """A WeatherService whose cache lookups are spans."""
        return TracedWeatherService(
            provider,
            tracer=self.tracer,
            cache=cache,
            batch_concurrency=batch_concurrency,
            shared=shared,
            forecast_cache=forecast_cache,
        )

    async def aclose(self) -> None:
        """Export what is left (off the event loop: it may wait on the receiver) and stop."""
        set_context_fields(None)
        if self._redis is not None:
            self._redis.uninstrument()
        await asyncio.to_thread(self.provider.shutdown)


def trace_fields() -> dict[str, Any]:
    """`trace_id` and `span_id` of the current span, for log lines; empty outside a trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def redact(url: str) -> str:
    """`url` with the values of key parameters (appid, ...) replaced by REDACTED."""
    return _SECRET_VALUE.sub(r"\1REDACTED", url) if "=" in url else url


def _resource() -> Resource:
    resource = Resource.create({SERVICE_VERSION: __version__})  # reads OTEL_SERVICE_NAME etc.
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


class RequestSpan:
    """Inside FastAPI's request span: names it after the city fast path's route, which FastAPI
    does not see, and takes keys out of the query it recorded.

    Clients of an OpenWeatherMap-shaped API may well send their OpenWeatherMap key (`appid`);
    FastAPI redacts only the cloud providers' signatures.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if scope["type"] != "http" or not span.is_recording():
            await self.app(scope, receive, send)
            return
        if scope["query_string"]:
            query = (getattr(span, "attributes", None) or {}).get("url.query")
            if isinstance(query, str):
                span.set_attribute("url.query", redact(query))

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = scope.get("weather_api.route")  # set by the fast path only
                if template:
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attribute("http.route", template)
            await send(message)

        await self.app(scope, receive, send_named)


class TracedWeatherService(WeatherService):
    """WeatherService with a `cache lookup` span around each lookup, its outcome an attribute."""

    def __init__(
        self,
        provider: WeatherProvider,
        *,
        tracer: trace.Tracer,
        cache: WeatherCache | None,
        batch_concurrency: int,
        shared: SharedCache | None = None,
        forecast_cache: WeatherCache | None = None,
    ) -> None:
        super().__init__(
            provider,
            cache=cache,
            batch_concurrency=batch_concurrency,
            shared=shared,
            forecast_cache=forecast_cache,
        )
        self._tracer = tracer

    def cached(self, query: WeatherQuery) -> Cached[bytes] | None:
        """As WeatherService.cached, with a span for a hit (a miss goes on to `current`)."""
        if not trace.get_current_span().is_recording():
            # The request was not sampled: with the parent-based samplers its children are
            # not either, and the SDK would take ~10 us to make that decision on every hit.
            return super().cached(query)
        started = time.time_ns()
        found = super().cached(query)
        if found is not None:
            span = self._tracer.start_span(
                "cache lookup", start_time=started, attributes={CACHE_OUTCOME: "hit"}
            )
            span.end()
        return found

    async def current(self, query: WeatherQuery) -> Cached[bytes]:
        """As WeatherService.current, inside a span saying how the cache answered."""
        outcome = self.lookup_outcome(query)
        with self._tracer.start_as_current_span(
            "cache lookup", attributes={CACHE_OUTCOME: outcome}
        ) as span:
            found = await super().current(query)
            if found.status is CacheStatus.STALE:
                span.set_attribute(CACHE_OUTCOME, "stale")
            return found


class TracedTransport(httpx.AsyncBaseTransport):
    """Wraps the upstream transport: each request it sends (one attempt) is a CLIENT span."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, tracer: trace.Tracer, provider: str
    ) -> None:
        self._inner = inner
        self._tracer = tracer
        self._provider = provider

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` inside its attempt's span, with the span's `traceparent`."""
        extensions = request.extensions
        attempt = extensions[_ATTEMPT_KEY] = extensions.get(_ATTEMPT_KEY, 0) + 1
        url = request.url
        attributes: dict[str, Any] = {
            PROVIDER: self._provider,
            ATTEMPT: attempt,
            "http.request.method": request.method,
            "url.full": redact(str(url.copy_with(username=None, password=None))),
            "server.address": url.host,
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        with self._tracer.start_as_current_span(
            f"{request.method} {self._provider}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            propagate.inject(request.headers)  # W3C traceparent (OTEL_PROPAGATORS)
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                raise
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
