"""Query parameters and documented error responses shared by the weather routes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from weather_api.cache import Cached
from weather_api.errors import PROBLEM_MEDIA_TYPE, WeatherApiError
from weather_api.locations import Units

LANG_PATTERN = r"^[A-Za-z]{2}([_-][A-Za-z]{2})?$"
"""What `lang` may look like before `parse_lang` normalises it (the OpenAPI pattern)."""
LANG_RE = re.compile(LANG_PATTERN)

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


def weather_response(cached: Cached[bytes]) -> Response:
    """The stored JSON body with its freshness headers; no validation, no encoding."""
    return Response(cached.value, media_type="application/json", headers=cache_headers(cached))


def problem_response(error: WeatherApiError, *, instance: str) -> JSONResponse:
    """The one place a domain error becomes an HTTP response; no cache may keep it."""
    return JSONResponse(
        error.problem(instance=instance),
        status_code=error.status,
        headers={**error.headers(), **NO_STORE},
        media_type=PROBLEM_MEDIA_TYPE,
    )


def cache_headers(cached: Cached[Any]) -> dict[str, str]:
    """Freshness headers: how long a client may reuse the answer, and how old it is."""
    return {
        "cache-control": f"max-age={int(cached.ttl)}",
        "age": str(int(cached.age)),
        "x-cache": cached.status.value,
    }
