"""Tracing: spans read from the SDK's in-memory exporter, a real OTLP export, and tracing off."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.bodies import OWM_NOT_FOUND, owm_london
from tests.conftest import API_KEY, free_port, make_settings, scrape
from tests.processes import weather_api_process
from weather_api import tracing
from weather_api.app import create_app
from weather_api.cli import main
from weather_api.config import ConfigurationError, Settings
from weather_api.logs.formatting import JsonFormatter

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
CLIENT_KEY = "client-sentinel-fedcba9876543210"  # an OpenWeatherMap key a client sends us


@pytest.fixture(autouse=True)
def _no_ambient_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the OTEL_* variables they set: none from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@dataclass
class Upstream:
    """An OpenWeatherMap stand-in on 127.0.0.1 that records each request's headers."""

    url: str = ""
    answers: list[tuple[int, Any]] = field(default_factory=list)
    """(status, body) per request, in order; the last one repeats."""
    seen: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append({**request.headers, "url": str(request.url)})
        await self.release.wait()
        status, body = self.answers[min(len(self.seen), len(self.answers)) - 1]
        return web.json_response(body, status=status)


@asynccontextmanager
async def upstream(*answers: tuple[int, Any]) -> AsyncIterator[Upstream]:
    """A running `Upstream` that answers with `answers`, released at once."""
    fake = Upstream(answers=list(answers))
    fake.release.set()
    server = web.Application()
    server.router.add_get("/{tail:.*}", fake.handle)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@asynccontextmanager
async def traced_app(
    settings: Settings, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process with tracing on, its real aiohttp upstream client, spans to `exporter`."""
    app = create_app(settings, span_exporter=exporter)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://testserver"
        ) as client,
    ):
        yield client


def owm_settings(url: str, **overrides: Any) -> Settings:
    """OpenWeatherMap at `url`, with the sentinel key."""
    return make_settings(provider="openweathermap", openweathermap_url=url, **overrides)


def hex_id(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def trace_of(spans: Sequence[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return [
        s for s in spans if s.context is not None and hex_id(s.context.trace_id, 32) == trace_id
    ]


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else hex_id(span.parent.span_id, 16)


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return hex_id(span.context.span_id, 16)


def everything_in(spans: Sequence[ReadableSpan]) -> str:
    """Every name, attribute and event of the spans, as one text to search for secrets."""
    return "\n".join(s.to_json() for s in spans)


async def test_a_miss_is_a_tree_from_the_clients_trace_to_each_upstream_attempt() -> None:
    """Route, cache lookup and each upstream attempt are spans of the client's trace, the
    attempts carry provider, number, status and a URL without the key, and the upstream
    receives a traceparent naming its attempt's span."""
    exporter = InMemorySpanExporter()
    async with (
        upstream((500, {"cod": 500}), (200, owm_london())) as fake,
        traced_app(owm_settings(fake.url), exporter) as client,
    ):
        response = await client.get("/London/GB/", headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200, response.text

    spans = trace_of(exporter.get_finished_spans(), TRACE_ID)
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    # One span per request (no receive/send children), one lookup, two attempts.
    assert sorted(by_name) == ["GET /{city}/{country}/", "GET openweathermap", "cache lookup"]
    (request,) = by_name["GET /{city}/{country}/"]
    (lookup,) = by_name["cache lookup"]
    attempts = sorted(by_name["GET openweathermap"], key=lambda s: s.start_time or 0)
    assert request.kind is SpanKind.SERVER
    assert parent_of(request) == CLIENT_SPAN_ID
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/{city}/{country}/"
    assert parent_of(lookup) == span_id(request)
    assert lookup.attributes == {"weather_api.cache.outcome": "miss"}
    assert [parent_of(a) for a in attempts] == [span_id(lookup)] * 2
    attributes = [dict(a.attributes or {}) for a in attempts]
    urls = [str(a.pop("url.full")) for a in attributes]
    assert urls == [fake.seen[0]["url"].replace(API_KEY, "REDACTED")] * 2
    assert "appid=REDACTED" in urls[0]
    assert attributes == [
        {
            "weather_api.upstream.provider": "openweathermap",
            "weather_api.upstream.attempt": number,
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": int(fake.url.rsplit(":", 1)[1]),
            "http.response.status_code": status,
            **({"error.type": "500"} if status == 500 else {}),
        }
        for number, status in ((1, 500), (2, 200))
    ]
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    # What the upstream was told: this trace, and each attempt's own span as the parent.
    assert [h.get("traceparent") for h in fake.seen] == [
        f"00-{TRACE_ID}-{span_id(a)}-01" for a in attempts
    ]
    assert API_KEY in fake.seen[0]["url"]  # the key was sent (the check below means something)
    assert API_KEY not in everything_in(exporter.get_finished_spans())


async def test_an_attempt_that_fails_on_the_wire_is_an_error_span_without_the_key() -> None:
    """An upstream that refuses connections: the attempt's span says how it failed, as an
    error, and its exception event does not quote the URL's key."""
    exporter = InMemorySpanExporter()
    closed = f"http://127.0.0.1:{free_port()}"
    async with traced_app(owm_settings(closed, retry_attempts=1), exporter) as client:
        assert (await client.get("/London/GB/")).status_code == 502  # unreachable upstream
    (attempt,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert (attempt.attributes or {})["error.type"] == "ConnectError"
    assert attempt.status.status_code is StatusCode.ERROR
    assert [event.name for event in attempt.events] == ["exception"]
    assert API_KEY not in everything_in(exporter.get_finished_spans())


async def test_an_unsampled_request_makes_no_spans_and_still_passes_its_trace_on() -> None:
    """A client's traceparent that is not sampled (flags 00) is honoured: no span is
    recorded for it, hit or miss, and the upstream still learns the trace, unsampled."""
    exporter = InMemorySpanExporter()
    unsampled = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-00"
    async with (
        upstream((200, owm_london())) as fake,
        traced_app(owm_settings(fake.url), exporter) as client,
    ):
        for cache in ("miss", "hit"):
            response = await client.get("/London/GB/", headers={"traceparent": unsampled})
            assert response.headers["x-cache"] == cache
        # Another cache entry, sampled: the exporter does receive spans.
        sampled = await client.get("/London/GB/", params={"units": "metric"})
        assert sampled.status_code == 200
    assert trace_of(exporter.get_finished_spans(), TRACE_ID) == []
    assert len(exporter.get_finished_spans()) == 3  # request, lookup, attempt
    (header, _) = (h["traceparent"] for h in fake.seen)
    assert header.startswith(f"00-{TRACE_ID}-")
    assert header.endswith("-00")


async def test_cache_lookup_outcomes_hit_miss_coalesced_stale_negative() -> None:
    """Each lookup's span says how the cache answered it."""
    exporter = InMemorySpanExporter()
    async with upstream((200, owm_london()), (500, {"cod": 500})) as fake:
        settings = owm_settings(fake.url, cache_ttl=0.5, retry_attempts=1)
        async with traced_app(settings, exporter) as client:
            fake.release.clear()  # hold the upstream: the second request joins the first's fill
            before = await scrape(client)
            first = asyncio.create_task(client.get("/London/GB/"))
            second = asyncio.create_task(client.get("/London/GB/"))
            deadline = time.monotonic() + 30
            while (await scrape(client)).since(
                before, "weather_api_cache_events_total", event="coalesced"
            ) < 1:
                assert time.monotonic() < deadline, "the second request never joined the fill"
                await asyncio.sleep(0.01)
            fake.release.set()
            assert [(await t).headers["x-cache"] for t in (first, second)] == ["miss", "miss"]
            assert (await client.get("/London/GB/")).headers["x-cache"] == "hit"
            await asyncio.sleep(0.7)  # past the TTL; the upstream now fails: stale is served
            assert (await client.get("/London/GB/")).headers["x-cache"] == "stale"

    # Shutting the app down shut its exporter down: a new one for a new app.
    negative = InMemorySpanExporter()
    async with (
        upstream((404, OWM_NOT_FOUND)) as fake,
        traced_app(owm_settings(fake.url), negative) as client,
    ):
        for _ in range(2):
            assert (await client.get("/Nowhere/GB/")).status_code == 404

    outcomes = [
        (s.attributes or {})["weather_api.cache.outcome"]
        for spans in (exporter.get_finished_spans(), negative.get_finished_spans())
        for s in sorted(spans, key=lambda s: s.start_time or 0)
        if s.name == "cache lookup"
    ]
    assert outcomes == ["miss", "coalesced", "hit", "stale", "miss", "negative"]


async def test_a_key_in_the_clients_query_stays_out_of_the_spans() -> None:
    """An OpenWeatherMap key a client sends in its query string is not written to any span."""
    exporter = InMemorySpanExporter()
    async with traced_app(make_settings(provider="sample"), exporter) as client:
        for url in (f"/London/GB/?appid={CLIENT_KEY}", f"/v1/weather?q=London&APPID={CLIENT_KEY}"):
            await client.get(url)
    spans = exporter.get_finished_spans()
    assert len([s for s in spans if s.kind is SpanKind.SERVER]) == 2
    assert "appid=REDACTED" in everything_in(spans)
    assert CLIENT_KEY not in everything_in(spans)


async def test_probes_and_scrapes_make_no_spans() -> None:
    """/healthz, /readyz and /metrics are not traced; the weather routes are."""
    exporter = InMemorySpanExporter()
    async with traced_app(make_settings(provider="sample"), exporter) as client:
        for path in ("/healthz", "/readyz", "/metrics", "/metrics/GB/"):
            await client.get(path)
    assert [s.name for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER] == [
        "GET /{city}/{country}/"
    ]


async def test_log_lines_carry_the_ids_of_the_span_they_were_written_in() -> None:
    """With tracing on, a line logged inside a request's span names its trace and span."""
    exporter = InMemorySpanExporter()
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("weather_api.tests.tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with traced_app(make_settings(provider="sample"), exporter):
            tracer = exporter_tracer(exporter)
            with tracer.start_as_current_span("work") as span:
                logger.info("inside")
            logger.info("outside")
        logger.info("after shutdown")
    finally:
        logger.removeHandler(handler)
    inside, outside, after = (json.loads(line) for line in lines.getvalue().splitlines())
    context = span.get_span_context()
    assert (inside["trace_id"], inside["span_id"]) == (
        hex_id(context.trace_id, 32),
        hex_id(context.span_id, 16),
    )
    assert "trace_id" not in outside
    assert "trace_id" not in after


def exporter_tracer(exporter: InMemorySpanExporter) -> Any:
    """A tracer of a provider of its own: log ids come from the current span, whoever made it."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests")


# --- switches -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("otel", "environ", "on"),
    [
        (False, {}, False),
        (True, {}, True),
        (False, {"OTEL_SERVICE_NAME": "weather"}, True),
        (False, {"OTEL_SERVICE_NAME": " "}, False),
        (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_on_with_otel_or_a_service_name(
    otel: bool, environ: dict[str, str], on: bool
) -> None:
    """--otel or OTEL_SERVICE_NAME turns tracing on; other OTEL_* variables alone do not."""
    assert tracing.wanted(make_settings(otel=otel), environ) is on


@pytest.mark.parametrize(
    ("environ", "name"),
    [({}, "weather-api"), ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes"}, None)],
)
def test_otel_alone_names_the_service_weather_api(
    environ: dict[str, str], name: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--otel without OTEL_SERVICE_NAME exports as `weather-api`, unless the resource
    attributes name the service."""
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    traces = tracing.setup(make_settings(otel=True), exporter=InMemorySpanExporter())
    assert traces is not None
    try:
        service = traces.provider.resource.attributes["service.name"]
        assert service == (name or "from-attributes")
    finally:
        asyncio.run(traces.aclose())


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {"OTEL_TRACES_EXPORTER": "zipkin"},
    ],
)
def test_serve_refuses_an_otel_choice_it_cannot_honour(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --otel` with a protocol or exporter we do not ship stops with exit 2 and says so."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError):
        tracing.check(make_settings(otel=True))
    assert main(["serve", "--otel", "--provider", "sample"]) == 2
    assert "cannot start: OTEL_" in capsys.readouterr().err
    tracing.check(make_settings(otel=False))  # off: nothing to refuse


OFF_SCRIPT = f"""
import sys
# redis-py (8.x) imports the SDK's metrics package by itself whenever the SDK is installed
# (for its own metrics, off unless an app turns them on): not ours to count.
import redis.asyncio
baseline = set(sys.modules)

import asyncio
import httpx
from asgi_lifespan import LifespanManager
from weather_api.app import create_app
from weather_api.config import Settings

async def serve() -> None:
    app = create_app(Settings(provider="sample", otel=sys.argv[1] == "on"))
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(manager.app), base_url="http://t"
    ) as client:
        for url in ("/London/GB/", "/London/GB/", "/v1/weather?q=Paris,FR", "/nowhere"):
            await client.get(url, headers={{"traceparent": "{TRACEPARENT}"}})

asyncio.run(serve())
print("\\n".join(sorted(set(sys.modules) - baseline)))
"""


@pytest.mark.parametrize("switch", ["off", "on"])
def test_tracing_off_loads_nothing_of_the_sdk(switch: str) -> None:
    """After serving hits, misses, a batch and a 404 with tracing off, no module of the SDK,
    its instrumentations or exporters is loaded beyond what redis-py loads by itself (and
    with it on, they are: the check can fail)."""
    # On, its spans go nowhere fast: a closed port, a one-second export timeout.
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    modules = subprocess.run(
        [sys.executable, "-c", OFF_SCRIPT, switch],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env, "NO_PROXY": "*"},
    ).stdout.split()
    sdk = [
        name
        for name in modules
        if name.startswith(
            (
                "opentelemetry.sdk",
                "opentelemetry.instrumentation",
                "opentelemetry.exporter",
                "weather_api.tracing_sdk",
            )
        )
    ]
    if switch == "off":
        assert sdk == []
    else:
        assert {"opentelemetry.sdk.trace", "weather_api.tracing_sdk"} <= set(sdk)


# --- a real export ------------------------------------------------------------------------


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: what each export carried, decoded."""

    url: str
    requests: list[ExportTraceServiceRequest]

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received so far."""
        found = []
        for request in list(self.requests):
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A receiver in a thread, answering each POST /v1/traces as a collector does."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                received.append(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
            else:
                answer = b""
                self.send_response(404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_service_exports_the_clients_trace_over_otlp_http() -> None:
    """`weather-api serve` with OTEL_SERVICE_NAME sends its spans to an OTLP/HTTP receiver:
    the client's trace id and span as parent, the service's name, and the id in its log line."""
    port = free_port()
    with (
        otlp_receiver() as receiver,
        weather_api_process(
            "serve",
            "--provider",
            "sample",
            "--port",
            str(port),
            "--log-format",
            "json",
            env={
                "OTEL_SERVICE_NAME": "weather-api-e2e",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "NO_PROXY": "*",
            },
            port=port,
        ) as running,
    ):
        response = httpx.get(
            f"http://127.0.0.1:{port}/London/GB/", headers={"traceparent": TRACEPARENT}
        )
        assert response.status_code == 200
        deadline = time.monotonic() + 60
        while not [s for _, s in receiver.spans() if s.trace_id.hex() == TRACE_ID]:
            assert time.monotonic() < deadline, f"no span exported:\n{running.output()}"
            time.sleep(0.05)
        ours = [(r, s) for r, s in receiver.spans() if s.trace_id.hex() == TRACE_ID]
        (resource, request) = next(
            (r, s) for r, s in ours if s.parent_span_id.hex() == CLIENT_SPAN_ID
        )
        assert request.name == "GET /{city}/{country}/"
        assert resource["service.name"] == "weather-api-e2e"
        # The access line, flushed by the time the answer is out, names the same trace.
        deadline = time.monotonic() + 30
        while '"trace_id":"' + TRACE_ID not in running.output():
            assert time.monotonic() < deadline, running.output()
            time.sleep(0.05)
