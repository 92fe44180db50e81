"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter()

_EXAMPLE = """\
# HELP weather_api_http_requests_in_flight HTTP requests being answered.
# TYPE weather_api_http_requests_in_flight gauge
weather_api_http_requests_in_flight 1.0
# HELP weather_api_log_lines_dropped_total Log lines dropped because stderr was not read fast \
enough (the log queue was full).
# TYPE weather_api_log_lines_dropped_total counter
weather_api_log_lines_dropped_total 0.0
"""


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"example": _EXAMPLE}},
            "description": "Text exposition",
        }
    },
)
async def metrics() -> Response:
    """Every metric of this process in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
