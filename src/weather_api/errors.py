"""The service's domain errors, and the one place that says what each means over HTTP.

    WeatherApiError
    ├── InvalidQuery ............ 422  the client asked for something malformed
    ├── LocationNotFound ........ 404  the upstream knows no such place
    └── UpstreamError ........... 502  the upstream failed us
        ├── UpstreamUnavailable . 502  could not connect, or the connection broke
        ├── UpstreamBadResponse . 502  5xx, or a body we cannot read
        ├── UpstreamAuthFailed .. 502  401/403: our key is wrong (never echoed)
        ├── UpstreamRateLimited . 503  429: come back after `retry_after` seconds
        └── UpstreamTimeout ..... 504  no answer within the deadline

Bodies are RFC 9457 problem details (`application/problem+json`). Messages are written for
clients: they never carry upstream URLs (which may hold an API key) or upstream bodies.
This module knows no web framework; `app.py` wires `problem_response` into FastAPI.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://weather-api.dev/problems/"


class WeatherApiError(Exception):
    """Base of every error the service reports to its clients."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for."""
        return {}

    def problem(self, *, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        return body


class InvalidQuery(WeatherApiError):
    """The client's city, country, units or language is malformed."""

    status = 422
    slug = "invalid-query"
    title = "Invalid query"


class LocationNotFound(WeatherApiError):
    """The upstream does not know the location."""

    status = 404
    slug = "location-not-found"
    title = "Location not found"


class UpstreamError(WeatherApiError):
    """The weather upstream failed; the client may try again later."""

    status = 502
    slug = "upstream-error"
    title = "Weather upstream failed"

    def __init__(self, detail: str, *, provider: str) -> None:
        super().__init__(detail)
        self.provider = provider


class UpstreamUnavailable(UpstreamError):
    """No connection to the upstream could be made, or it broke mid-answer."""

    slug = "upstream-unavailable"
    title = "Weather upstream unreachable"


class UpstreamBadResponse(UpstreamError):
    """The upstream answered with a server error or a body we cannot use."""

    slug = "upstream-bad-response"
    title = "Weather upstream sent a bad response"


class UpstreamAuthFailed(UpstreamError):
    """The upstream refused our credentials."""

    slug = "upstream-auth-failed"
    title = "Weather upstream refused our credentials"


class UpstreamRateLimited(UpstreamError):
    """The upstream says we asked too often."""

    status = 503
    slug = "upstream-rate-limited"
    title = "Weather upstream rate limit reached"

    def __init__(self, detail: str, *, provider: str, retry_after: int) -> None:
        super().__init__(detail, provider=provider)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def problem(self, *, instance: str | None = None) -> dict[str, Any]:
        return {**super().problem(instance=instance), "retry_after": self.retry_after}


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the request's deadline."""

    status = 504
    slug = "upstream-timeout"
    title = "Weather upstream timed out"
