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
Each `type` is a relative reference, `/problems/<slug>`, that this service answers with a page
made of the class's `title`, `meaning`, `advice` and `retry` (routes/problems.py).
This module knows no web framework; `error_handlers.py` wires `problem_response` into FastAPI.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"


class WeatherApiError(Exception):
    """Base of every error the service reports to its clients."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    # For the problem type's page: what happened, what a client should do, whether to retry.
    meaning: ClassVar[str] = "The service failed in a way it does not expect."
    advice: ClassVar[str] = "Nothing in the request needs to change; report the X-Request-ID."
    retry: ClassVar[str] = "Yes, after a few seconds; the fault is the service's, not yours."

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
    meaning = (
        "The city, country, units, language or a q value is malformed, or there are too many "
        "locations; the answer's detail says which."
    )
    advice = "Fix the request: see the parameters' patterns and limits in /openapi.json."
    retry = "Not as it is: the same request gets the same answer."


class LocationNotFound(WeatherApiError):
    """The upstream does not know the location."""

    status = 404
    slug = "location-not-found"
    title = "Location not found"
    meaning = "The weather upstream knows no such city in that country."
    advice = "Check the city's spelling and the two-letter ISO 3166-1 country code."
    retry = "No: the same name gets the same answer (and the service remembers it a while)."


class UpstreamError(WeatherApiError):
    """The weather upstream failed; the client may try again later."""

    status = 502
    slug = "upstream-error"
    title = "Weather upstream failed"
    meaning = "The weather upstream that the service asks failed to give a usable answer."
    advice = "Nothing in the request needs to change."
    retry = "Yes, after a few seconds, with backoff; failures are not cached."

    def __init__(self, detail: str, *, provider: str) -> None:
        super().__init__(detail)
        self.provider = provider


class UpstreamUnavailable(UpstreamError):
    """No connection to the upstream could be made, or it broke mid-answer."""

    slug = "upstream-unavailable"
    title = "Weather upstream unreachable"
    meaning = "The service could not connect to the weather upstream, or the connection broke."
    advice = "Nothing in the request needs to change; the upstream or the network is down."
    retry = "Yes, after a few seconds, with backoff."


class UpstreamBadResponse(UpstreamError):
    """The upstream answered with a server error or a body we cannot use."""

    slug = "upstream-bad-response"
    title = "Weather upstream sent a bad response"
    meaning = (
        "The weather upstream answered with a server error, or with a body the service cannot "
        "read (not JSON, not the expected fields, or too large)."
    )
    advice = "Nothing in the request needs to change."
    retry = "Yes, after a few seconds, with backoff; the service already retried once."


class UpstreamAuthFailed(UpstreamError):
    """The upstream refused our credentials."""

    slug = "upstream-auth-failed"
    title = "Weather upstream refused our credentials"
    meaning = "The weather upstream refused the service's API key (401 or 403)."
    advice = "Tell the service's operators: its key is missing, wrong or expired."
    retry = "Not until the operators fix the key; retrying changes nothing."


class UpstreamRateLimited(UpstreamError):
    """The upstream says we asked too often."""

    status = 503
    slug = "upstream-rate-limited"
    title = "Weather upstream rate limit reached"
    meaning = "The weather upstream says the service asked too often."
    advice = "Wait for the seconds in the Retry-After header (also retry_after in the body)."
    retry = "Yes, after Retry-After seconds, not before."

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
    meaning = "The weather upstream did not answer within the service's request deadline."
    advice = "Nothing in the request needs to change."
    retry = "Yes, after a few seconds, with backoff; the upstream is slow or overloaded."


def problem_types() -> list[type[WeatherApiError]]:
    """Every class in the tree above, base classes included, parents before children."""
    found: list[type[WeatherApiError]] = []
    pending: list[type[WeatherApiError]] = [WeatherApiError]
    while pending:
        kind = pending.pop(0)
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found
