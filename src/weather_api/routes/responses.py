"""Query parameters, documented error responses and the response builders of the weather routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from weather_api.cache import Cached, CacheStatus
from weather_api.errors import PROBLEM_MEDIA_TYPE, InvalidQuery, WeatherApiError
from weather_api.locations import LANG_PATTERN, Units, WeatherQuery

if TYPE_CHECKING:
    from weather_api.service import WeatherService

UnitsQuery = Annotated[
    Units,
    Query(description="standard: Kelvin, m/s; metric: Celsius, m/s; imperial: Fahrenheit, mph"),
]
LangQuery = Annotated[
    str,
    Query(
        pattern=LANG_PATTERN,
        description="Language of descriptions and names, e.g. en, de, pt_br",
    ),
]


# A cached 502 or 504 would outlive the outage it reports; a 404 may name a location that
# the upstream learns tomorrow (the service itself remembers it for cache_negative_ttl).
NO_STORE = {"cache-control": "no-store"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for RFC 9457 problem answers with the given statuses."""
    descriptions = {
        404: "Unknown location",
        422: "Malformed city, country, units or language",
        502: "The weather upstream failed, is unreachable or refused our key",
        503: "The weather upstream rate-limits us; see Retry-After",
        504: "The weather upstream did not answer in time",
    }
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": descriptions[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


class WeatherResponse(Response):
    """A stored JSON body with its freshness headers: no validation, no encoding.

    The headers are built straight into `raw_headers` rather than by `Response.__init__`,
    which normalises a header dict on every response (docs/benchmarks.md, its cost).
    """

    media_type = "application/json"

    def __init__(self, cached: Cached[bytes]) -> None:
        self.status_code = 200
        self.body = cached.value
        self.background = None
        self.raw_headers = [
            (b"content-length", b"%d" % len(cached.value)),
            (b"content-type", b"application/json"),
            # How long a client may reuse the answer, and how old it is.
            (b"cache-control", b"max-age=%d" % int(cached.ttl)),
            (b"age", b"%d" % int(cached.age)),
            (b"x-cache", _X_CACHE[cached.status]),
        ]


_X_CACHE = {status: status.value.encode() for status in CacheStatus}


async def weather_or_problem(
    service: WeatherService, parsed: WeatherQuery | InvalidQuery, *, instance: str
) -> Response:
    """The one answer to a city request: its weather, or the problem with it, as a response.

    `parsed` is what `parse_city_request` made of the request. A fresh cache hit is answered
    without an await: the cheapest answer there is.
    """
    if isinstance(parsed, InvalidQuery):
        return problem_response(parsed, instance=instance)
    try:
        return WeatherResponse(service.cached(parsed) or await service.current(parsed))
    except WeatherApiError as error:
        return problem_response(error, instance=instance)


def problem_response(error: WeatherApiError, *, instance: str) -> JSONResponse:
    """The one place a domain error becomes an HTTP response; no cache may keep it."""
    return JSONResponse(
        error.problem(instance=instance),
        status_code=error.status,
        headers={**error.headers(), **NO_STORE},
        media_type=PROBLEM_MEDIA_TYPE,
    )
