"""Routing: which handler answers a path, and the stub's own `/_stub/*` control endpoints.

Nothing here knows about sockets or faults in transit; `http.py` feeds parsed requests in
and writes the `Response` out, bending it first when a fault was drawn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from weather_api.stub import openmeteo, owm
from weather_api.stub.config import FaultConfig
from weather_api.stub.stats import StubStats

OWM_WEATHER = "/data/2.5/weather"
OWM_FORECAST = "/data/2.5/forecast"
OM_SEARCH = "/v1/search"
OM_FORECAST = "/v1/forecast"
API_PATHS = (OWM_WEATHER, OWM_FORECAST, OM_SEARCH, OM_FORECAST)
CONTROL_PREFIX = "/_stub/"
UNKNOWN_PATH_KEY = "other"
"""The `requests_by_path` key for paths the stub does not serve (bounds the dict)."""

_Handler = Callable[[Mapping[str, str], int], tuple[int, dict[str, Any]]]
_API: dict[str, _Handler] = {
    OWM_WEATHER: lambda params, now: owm.current_weather(params, now=now),
    OWM_FORECAST: lambda params, now: owm.forecast(params, now=now),
    OM_SEARCH: lambda params, now: openmeteo.search(params),
    OM_FORECAST: lambda params, now: openmeteo.forecast(params, now=now),
}
_READ_ONLY = ("GET", "HEAD")
_CONTROL_METHODS: dict[str, tuple[str, ...]] = {
    "/_stub/stats": _READ_ONLY,
    "/_stub/healthz": _READ_ONLY,
    "/_stub/config": (*_READ_ONLY, "PUT"),
    "/_stub/reset": ("POST",),
}


@dataclass(frozen=True, slots=True)
class Response:
    """A response before it meets the wire: status, JSON body and any extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(document: object) -> bytes:
    """Compact UTF-8 JSON, as the real APIs send it."""
    return _ENCODER.encode(document).encode()


def json_response(status: int, document: object, *headers: tuple[str, str]) -> Response:
    """A `Response` with `document` as its JSON body."""
    return Response(status, encode(document), headers)


def reason_phrase(status: int) -> str:
    """The reason phrase of a status, also for the ones `http.HTTPStatus` does not list."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def stats_key(path: str) -> str | None:
    """The `requests_by_path` key of a path, or None for the uncounted control endpoints."""
    if path.startswith(CONTROL_PREFIX):
        return None
    return path if path in _API else UNKNOWN_PATH_KEY


def _problem(status: int, *headers: tuple[str, str]) -> Response:
    return json_response(status, {"error": True, "reason": HTTPStatus(status).phrase}, *headers)


class StubApp:
    """Answers one parsed request; shared by every connection of a stub server."""

    def __init__(
        self,
        *,
        faults: FaultConfig,
        stats: StubStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = faults
        self.stats = stats
        self._clock = clock
        # Answers depend only on the path, the query and the clock's second, so a load test
        # that repeats a few URLs is served from here. Cleared every second, so it holds at
        # most one second's worth of distinct URLs.
        self._memo: dict[tuple[str, str], Response] = {}
        self._memo_second = -1

    def handle(self, method: str, path: str, query: str, body: bytes) -> Response:
        """The response to a request (for HEAD, the GET response; the caller drops the body)."""
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path, body)
        handler = _API.get(path)
        if handler is None:
            return _problem(404)
        if method not in _READ_ONLY:
            return _problem(405, ("Allow", "GET, HEAD"))
        now = int(self._clock())
        if now != self._memo_second:
            self._memo.clear()
            self._memo_second = now
        key = (path, query)
        response = self._memo.get(key)
        if response is None:
            # The last value wins for a repeated parameter; no endpoint takes a list.
            params = dict(parse_qsl(query, keep_blank_values=True))
            status, document = handler(params, now)
            response = self._memo[key] = json_response(status, document)
        return response

    def injected_error(self, path: str) -> Response:
        """The error response a fault puts in place of the real one, shaped like the API's own."""
        status = self.faults.error_status
        phrase = reason_phrase(status)
        document: dict[str, Any]
        if path in (OWM_WEATHER, OWM_FORECAST):
            document = {"cod": status, "message": f"stub: injected {status} {phrase}"}
        else:
            document = {"error": True, "reason": f"stub: injected {status} {phrase}"}
        retry_after = self.faults.retry_after
        if retry_after is None:
            return json_response(status, document)
        return json_response(status, document, ("Retry-After", str(retry_after)))

    def _control(self, method: str, path: str, body: bytes) -> Response:
        allowed = _CONTROL_METHODS.get(path)
        if allowed is None:
            return _problem(404)
        if method not in allowed:
            return _problem(405, ("Allow", ", ".join(allowed)))
        if path == "/_stub/healthz":
            return json_response(200, {"status": "ok"})
        if path == "/_stub/stats":
            return json_response(200, self.stats.snapshot())
        if path == "/_stub/reset":
            self.stats.reset()
            return json_response(200, self.stats.snapshot())
        if method == "PUT":
            try:
                changes = json.loads(body)
            except ValueError:
                return json_response(400, {"error": True, "reason": "body is not valid JSON"})
            if not isinstance(changes, dict):
                return json_response(400, {"error": True, "reason": "body must be a JSON object"})
            try:
                self.faults.update(changes)
            except ValueError as exc:
                return json_response(400, {"error": True, "reason": str(exc)})
        return json_response(200, self.faults.as_dict())
