"""OpenTelemetry traces: off unless OTEL_SERVICE_NAME is set or `--otel` is given (podinfo's way).

This module imports nothing of OpenTelemetry, so that with tracing off the request path pays
nothing for it and the SDK is never loaded; `setup` imports `tracing_sdk` (which does) only when
tracing is on. Every other knob is the standard OTEL_* environment, read by the SDK itself:
OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT), OTEL_TRACES_SAMPLER and _ARG,
OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*. docs/operations.md, "Tracing", says how to use them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from weather_api.config import ConfigurationError

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.sdk.trace.export import SpanExporter

    from weather_api.config import Settings
    from weather_api.tracing_sdk import Tracing

SWITCH = "OTEL_SERVICE_NAME"
"""Setting this variable turns tracing on, as `--otel` (WEATHER_API_OTEL) does."""

PROTOCOL = "http/protobuf"
"""The one OTLP protocol this build exports with (OTLP/HTTP, port 4318 by default)."""


def wanted(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether traces are to be exported: `settings.otel`, or OTEL_SERVICE_NAME set."""
    return settings.otel or bool(environ.get(SWITCH, "").strip())


def check(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """Raise ConfigurationError when tracing is on with an OTEL_* choice this build cannot honour.

    gRPC would need grpcio (a large native wheel) in every image; collectors and Jaeger take
    OTLP over HTTP too. Other exporters than otlp are for debugging, which the in-memory and
    console tools of the SDK cover in tests.
    """
    if not wanted(settings, environ):
        return
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or PROTOCOL
    ).strip()
    if protocol != PROTOCOL:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: traces are exported with {PROTOCOL} "
            "only (a collector's or Jaeger's port 4318); unset it or set it to that"
        )
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip()
    if exporter != "otlp":
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER={exporter!r}: only 'otlp' is supported; to turn tracing "
            f"off, unset {SWITCH} and WEATHER_API_OTEL"
        )


OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
"""FastAPI's own OpenTelemetry support, all off: /metrics is the metrics interface, and off,
FastAPI skips a per-request check of the global providers."""


def fastapi_telemetry(traces: Tracing | None) -> TelemetryConfig:
    """FastAPI's `telemetry=` argument: its request span when tracing is on, else nothing."""
    return OFF if traces is None else traces.fastapi_telemetry()


def setup(settings: Settings, *, exporter: SpanExporter | None = None) -> Tracing | None:
    """The app's tracing when it is on, else None (and nothing of OpenTelemetry imported).

    An `exporter` (tests hand in the SDK's in-memory one) turns tracing on and receives each
    span as it ends, instead of the OTLP exporter's batches.
    """
    if exporter is None:
        if not wanted(settings):
            return None
        check(settings)
    from weather_api.tracing_sdk import Tracing

    return Tracing(
        provider=settings.provider.value, redis=settings.cache_url is not None, exporter=exporter
    )
