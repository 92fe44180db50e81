"""Schemathesis against the app's own OpenAPI description, in process, upstream mocked.

Every request, generated or chosen, passes every check schemathesis has (`validate`): an answer the
description documents (status code, media type, a body of its schema, problem bodies
included), valid input accepted (positive data acceptance: the description says no more than
the parser takes) and invalid input refused with a 4xx (negative data rejection: no less). The
only 5xx allowed are the weather route's documented 502/503/504; a 500 never is. A second
property checks that the city route's fast path and FastAPI's route answer the same request
the same way.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import respx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode

from tests.bodies import owm_london
from tests.conftest import OWM_URL, make_settings, running_app
from tests.routes.test_city_fast_path import fast_and_route
from weather_api.config import Settings

SOAK = os.environ.get("HOSTILE_SOAK") == "1"
# Generated examples per operation (operations without parameters stop at one): valid ones,
# and invalid ones, which cost hypothesis three times as much to make. make soak draws four
# times as many, at random instead of from a fixed seed.
EXAMPLES = {
    GenerationMode.POSITIVE: 1600 if SOAK else 400,
    GenerationMode.NEGATIVE: 400 if SOAK else 100,
}
MIN_CASES = 1000
CITY_ROUTE = "GET /{city}/{country}/"
OWM_ROUTES = ("GET /data/2.5/weather", "GET /data/2.5/forecast")
UPSTREAM_ROUTES = (CITY_ROUTE, *OWM_ROUTES)
"""The routes whose documented 502/503/504 the mocked upstream's failures bring about."""

FATES = ["500", "429", "timeout", "refused", "404", "malformed", "200", "200"]
# Real names, ASCII and not, that between them meet every fate of `upstream`.
CITIES = [
    "Reykjavík", "Ōsaka", "Warsaw", "Kraków", "Québec", "मुंबई", "Paris", "Zürich",
    "N'Djamena", "Москва", "Athens", "Saint-Étienne", "Washington D.C.", "London",
    "São Paulo", "Kyiv", "Seoul", "東京", "Αθήνα", "Madrid",
]  # fmt: skip


def fate(city: str) -> str:
    """What the mocked upstream does for this city."""
    return FATES[zlib.crc32(city.casefold().encode()) % len(FATES)]


def upstream(request: httpx.Request) -> httpx.Response:
    """OpenWeatherMap, failing in every documented way, chosen by the city's name (by id or
    coordinates: as for London)."""
    outcome = fate(request.url.params.get("q", "London,GB").rpartition(",")[0])
    if outcome == "500":
        return httpx.Response(500, text="oops")
    if outcome == "429":
        return httpx.Response(429, headers={"Retry-After": "30"})
    if outcome == "timeout":
        raise httpx.ReadTimeout("too slow", request=request)
    if outcome == "refused":
        raise httpx.ConnectError("refused", request=request)
    if outcome == "404":
        return httpx.Response(404, json={"cod": "404", "message": "city not found"})
    if outcome == "malformed":
        return httpx.Response(200, content=b'{"cod":200,"main":{')
    if request.url.path.endswith("/forecast"):
        return httpx.Response(200, json=owm_london_forecast())
    body = owm_london()
    body["sys"]["country"] = request.url.params["q"].rpartition(",")[2]  # what was asked
    return httpx.Response(200, json=body)


def owm_london_forecast() -> dict[str, Any]:
    """OpenWeatherMap's /data/2.5/forecast for London, 40 steps of its current weather."""
    now = owm_london()
    steps = [
        {**{key: now[key] for key in ("main", "weather", "clouds", "wind")}, "dt": dt, "pop": 0.1}
        | {"dt_txt": "2024-11-28 09:00:00"}
        for dt in range(now["dt"], now["dt"] + 40 * 10800, 10800)
    ]
    city = {"id": now["id"], "name": now["name"], "coord": now["coord"], "country": "GB"}
    return {"cod": "200", "message": 0, "cnt": 40, "list": steps, "city": city}


class BlockingApp:
    """The app in process behind a blocking facade, for hypothesis' synchronous tests.

    One event loop and one lifespan for every example: cheaper by far than schemathesis'
    own ASGI client, which hops to a thread and back through `requests` for each call.
    With `both_ways`, `request(..., via_route=True)` skips the city fast path.
    """

    def __init__(
        self, settings: Settings, *, upstream: respx.Router | None = None, both_ways: bool = False
    ) -> None:
        self._runner = asyncio.Runner()
        self._app: Any = (
            fast_and_route(settings) if both_ways else running_app(settings, upstream=upstream)
        )
        self._clients: tuple[httpx.AsyncClient, ...] = ()

    def __enter__(self) -> BlockingApp:
        clients = self._runner.run(self._app.__aenter__())
        self._clients = clients if isinstance(clients, tuple) else (clients,)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._runner.run(self._app.__aexit__(kind, exc, tb))
        finally:
            self._runner.close()

    def request(
        self, method: str, url: str, *, via_route: bool = False, **options: Any
    ) -> httpx.Response:
        """One request, answered in full."""
        assert self._clients, "use BlockingApp in a with block"
        client = self._clients[1] if via_route else self._clients[0]
        return self._runner.run(client.request(method, url, **options))

    def send(self, case: schemathesis.Case) -> httpx.Response:
        """A schemathesis case, sent as its own transport would send it."""
        request = case.as_transport_kwargs(base_url="http://testserver")
        return self.request(
            request["method"],
            request["url"],
            params=request.get("params"),
            headers=request["headers"],
        )


@pytest.fixture
def app() -> Iterator[BlockingApp]:
    """OpenWeatherMap as the provider, mocked; one attempt, so no retry waits."""
    owm = respx.Router(assert_all_called=False)
    owm.get(f"{OWM_URL}/data/2.5/weather", name="owm").mock(side_effect=upstream)
    owm.get(f"{OWM_URL}/data/2.5/forecast", name="owm-forecast").mock(side_effect=upstream)
    with BlockingApp(
        make_settings(provider="openweathermap", retry_attempts=1), upstream=owm
    ) as blocking:
        yield blocking


@pytest.fixture
def api_schema(app: BlockingApp) -> schemathesis.BaseSchema:
    """What the app itself publishes at /openapi.json."""
    return schemathesis.openapi.from_dict(app.request("GET", "/openapi.json").json())


load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # what `st run --checks all` runs


def validate(case: schemathesis.Case, response: httpx.Response) -> None:
    """Every check on the answer; a documented 502/503/504 of the city route is no error here.

    The mocked upstream fails on purpose (`fate`), so `not_a_server_error` is left out for those
    answers only; `status_code_conformance` still requires them documented.
    """
    upstream_failed = case.operation.label in UPSTREAM_ROUTES and response.status_code in (
        502,
        503,
        504,
    )
    excluded = [CHECKS.get_one("not_a_server_error")] if upstream_failed else []
    if case.operation.label in OWM_ROUTES and not names_a_place(case.query or {}):
        # The one rule OpenAPI 3 cannot state: one of q, id or lat+lon (each optional alone),
        # which the operation's parameters say in words. Without them: OWM's 400, checked below.
        excluded.append(CHECKS.get_one("positive_data_acceptance"))
        assert response.status_code == 400, response.text
    case.validate_response(response, checks=ALL_CHECKS, excluded_checks=excluded)


def names_a_place(query: dict[str, Any]) -> bool:
    """Whether an OpenWeatherMap-style query has q, id, or lat with lon."""
    return "q" in query or "id" in query or {"lat", "lon"} <= query.keys()


def fuzz(
    app: BlockingApp,
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    statuses: Counter[tuple[str, int]],
) -> None:
    """Up to EXAMPLES[mode] generated cases for one operation; raises at the first misfit."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        database=None,
        deadline=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        response = app.send(case)
        statuses[(case.operation.label, response.status_code)] += 1
        validate(case, response)

    call()


def chosen(operations: dict[str, schemathesis.APIOperation]) -> list[schemathesis.Case]:
    """Requests that reach every upstream fate, which random strings seldom do."""
    city = operations[CITY_ROUTE]
    cases = [
        city.Case(path_parameters={"city": name, "country": country}, query=query)
        for name in CITIES
        for country in ("gb", "UK")
        for query in ({}, {"units": "metric", "lang": "pt_br"})
    ]
    batch = operations["GET /v1/weather"]
    cases.append(batch.Case(query={"q": [f"{name},GB" for name in CITIES]}))
    cases.append(batch.Case(query={"q": [f"{name},GB" for name in CITIES] * 2}))  # too many
    return cases


# Coverage tracing triples hypothesis' own cost here, and the suite covers these paths anyway.
@pytest.mark.no_cover
def test_requests_get_documented_answers(
    app: BlockingApp, api_schema: schemathesis.BaseSchema
) -> None:
    """1000+ requests, generated valid and invalid, plus chosen ones: all documented, no 500."""
    assert {fate(name) for name in CITIES} == set(FATES)
    statuses: Counter[tuple[str, int]] = Counter()
    operations = {}
    for result in api_schema.get_all_operations():
        operation = operations.setdefault(result.ok().label, result.ok())
        fuzz(app, operation, GenerationMode.POSITIVE, statuses)
        if operation.path_parameters or operation.query:  # nothing to get wrong otherwise
            fuzz(app, operation, GenerationMode.NEGATIVE, statuses)
    generated = sum(statuses.values())
    for case in chosen(operations):
        response = app.send(case)
        statuses[(case.operation.label, response.status_code)] += 1
        validate(case, response)
    total = sum(statuses.values())
    server_errors = sum(n for (_, status), n in statuses.items() if status >= 500)
    table = "\n".join(f"  {op:24} {status}: {n}" for (op, status), n in sorted(statuses.items()))
    summary = (
        f"fuzz: {total} cases ({generated} generated, {total - generated} chosen), "
        f"{server_errors} documented 5xx (502/503/504 of {' and '.join(UPSTREAM_ROUTES)}), "
        "0 undocumented"
    )
    print(f"\n{table}\n{summary}")
    assert generated >= MIN_CASES, f"{summary}\n{table}"
    # Every 5xx passed status_code_conformance; only the upstream routes document any.
    assert all(op in UPSTREAM_ROUTES for (op, status) in statuses if status >= 500), table
    assert {s for (op, s) in statuses if op == CITY_ROUTE} >= {200, 404, 422, 502, 503, 504}


lang = st.one_of(
    st.sampled_from(["en", "EN", "pt_br", "pt-BR", "zh_cn", "", " en", "en ", "e1", "en\n"]),
    st.text(max_size=6),
)
units = st.sampled_from(["standard", "metric", "imperial", "", "Metric", "kelvin"])


@pytest.fixture
def both_ways() -> Iterator[BlockingApp]:
    """The app with made-up weather (every well-formed city exists but Nowhere*), two ways in."""
    with BlockingApp(make_settings(provider="sample"), both_ways=True) as blocking:
        yield blocking


@pytest.mark.no_cover
def test_fast_path_and_fastapi_agree(both_ways: BlockingApp) -> None:
    """The same request through the fast path and straight to FastAPI's route: the same answer."""
    seen: Counter[int] = Counter()

    # Mostly real places, so that the query and the spelling decide, not the place.
    @given(
        city=st.one_of(
            st.sampled_from(CITIES),
            st.sampled_from(CITIES).map(lambda city: f" {city}  "),
            st.text(alphabet=" ab", min_size=80, max_size=100),  # around the 85-character bound
            st.text(alphabet=" .'-a\u0301\t1", max_size=6),  # punctuation, marks, no letter
            st.text(max_size=100),
        ),
        country=st.one_of(
            st.sampled_from(["gb", "GB", "uk", "Fr", " gb", "xx"]), st.text(max_size=3)
        ),
        query=st.lists(
            st.one_of(
                st.tuples(st.just("units"), units),
                st.tuples(st.just("lang"), lang),
                st.tuples(st.sampled_from(["appid", "q", "x"]), st.text(max_size=5)),
            ),
            max_size=3,
        ),
        slash=st.booleans(),
    )
    @settings(
        max_examples=300 * (4 if SOAK else 1),
        database=None,
        deadline=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    def agree(city: str, country: str, query: list[tuple[str, str]], slash: bool) -> None:
        path = f"/{quote(city, safe='')}/{quote(country, safe='')}" + ("/" if slash else "")
        url = path + ("?" + urlencode(query) if query else "")
        fast = both_ways.request("GET", url)
        route = both_ways.request("GET", url, via_route=True)
        seen[fast.status_code] += 1
        assert (fast.status_code, fast.content) == (route.status_code, route.content), url

    agree()
    assert {200, 404, 422} <= set(seen), seen
