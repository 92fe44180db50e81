"""`/v1/weather`: many locations in one request, fetched concurrently."""

# No `from __future__ import annotations`: the handler is defined in `build_router`, and FastAPI
# resolves string annotations in the module's globals, where the per-app `q` alias is not.

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response

from weather_api.cache import Cached
from weather_api.errors import InvalidQuery, WeatherApiError
from weather_api.locations import Units, WeatherQuery, parse_lang, parse_q
from weather_api.routes.deps import ServiceDep
from weather_api.routes.responses import LangQuery, UnitsQuery, problem_responses
from weather_api.schemas import BatchResponse
from weather_api.service import WeatherService

_COMPACT = (",", ":")  # as the spliced weather bodies are


def build_router(*, max_locations: int) -> APIRouter:
    """The batch route for an app that takes at most `max_locations` (`--batch-max-locations`).

    The bound is part of the route's OpenAPI description (`maxItems`), so it is built per app.
    """
    router = APIRouter(prefix="/v1", tags=["weather"])
    locations = Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=max_locations,
            description=f"City,CC; repeat for up to {max_locations} locations",
            examples=[["London,GB", "Paris,FR"]],
        ),
    ]

    @router.get(
        "/weather",
        response_model=BatchResponse,
        summary="Current weather for many cities at once",
        responses=problem_responses(422),
    )
    async def batch_weather(
        q: locations,  # an alias built per app
        service: ServiceDep,
        units: UnitsQuery = Units.STANDARD,
        lang: LangQuery = "en",
    ) -> Response:
        """One result per `q`, in request order: its weather, or the problem that stopped it.

        One location failing does not fail the others; the response is 200 unless the request
        itself is malformed.
        """
        return await _answer(q, service, units=units, lang=lang)

    return router


async def _answer(q: list[str], service: WeatherService, *, units: Units, lang: str) -> Response:
    """The batch body for checked parameters: each location's weather or problem, in order."""
    language = parse_lang(lang)
    queries: list[WeatherQuery | WeatherApiError] = []
    for raw in q:
        try:
            queries.append(WeatherQuery(parse_q(raw), units=units, lang=language))
        except InvalidQuery as exc:
            queries.append(exc)
    results = await service.many(queries)
    # Cached bodies are already JSON: splice them in rather than decode and encode again.
    parts = [_entry(raw, result) for raw, result in zip(q, results, strict=True)]
    body = b'{"results":[' + b",".join(parts) + b"]}"
    fresh_for = min((r.ttl for r in results if isinstance(r, Cached)), default=0.0)
    if any(isinstance(r, WeatherApiError) for r in results):
        fresh_for = 0.0
    return Response(
        body, media_type="application/json", headers={"cache-control": f"max-age={int(fresh_for)}"}
    )


def _entry(raw: str, result: Cached[bytes] | WeatherApiError) -> bytes:
    q = json.dumps(raw, ensure_ascii=False, separators=_COMPACT).encode()
    if isinstance(result, Cached):
        return b'{"q":' + q + b',"status":200,"weather":' + result.value + b"}"
    problem = {"q": raw, "status": result.status, "problem": result.problem()}
    return json.dumps(problem, ensure_ascii=False, separators=_COMPACT).encode()
