"""Schemathesis against the app's own OpenAPI description, in process, upstream mocked.

Every request, generated or chosen, must get an answer the description documents: its status
code, its media type and a body of its schema, problem bodies included; invalid input must be
refused with a 4xx. The only 5xx allowed are the weather route's documented 502/503/504; a 500
never is. A second property checks that the city route's fast path and FastAPI's route answer
the same request the same way.
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
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.bodies import owm_london
from tests.conftest import OWM_URL, make_settings, running_app
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
    """OpenWeatherMap, failing in every documented way, chosen by the city's name."""
    outcome = fate(request.url.params["q"].rpartition(",")[0])
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
    return httpx.Response(200, json=owm_london())


class BlockingApp:
    """The app in process behind a blocking facade, for hypothesis' synchronous tests.

    One event loop and one lifespan for every example: cheaper by far than schemathesis'
    own ASGI client, which hops to a thread and back through `requests` for each call.
    """

    def __init__(self, settings: Settings, *, upstream: respx.Router | None = None) -> None:
        self._runner = asyncio.Runner()
        self._app = running_app(settings, upstream=upstream)
        self._client: httpx.AsyncClient | None = None

    def __enter__(self) -> BlockingApp:
        self._client = self._runner.run(self._app.__aenter__())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._runner.run(self._app.__aexit__(kind, exc, tb))
        finally:
            self._runner.close()

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request, answered in full."""
        assert self._client is not None, "use BlockingApp in a with block"
        return self._runner.run(self._client.request(method, url, **options))

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
    with BlockingApp(
        make_settings(provider="openweathermap", retry_attempts=1), upstream=owm
    ) as blocking:
        yield blocking


@pytest.fixture
def api_schema(app: BlockingApp) -> schemathesis.BaseSchema:
    """What the app itself publishes at /openapi.json."""
    return schemathesis.openapi.from_dict(app.request("GET", "/openapi.json").json())


CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(
    app: BlockingApp,
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    statuses: Counter[tuple[str, int]],
) -> None:
    """Up to EXAMPLES[mode] generated cases for one operation; raises at the first misfit."""
    checks = [*CHECKS, negative_data_rejection] if mode.is_negative else CHECKS

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
        case.validate_response(response, checks=checks)

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
        case.validate_response(response, checks=CHECKS)
    total = sum(statuses.values())
    server_errors = sum(n for (_, status), n in statuses.items() if status >= 500)
    table = "\n".join(f"  {op:24} {status}: {n}" for (op, status), n in sorted(statuses.items()))
    summary = (
        f"fuzz: {total} cases ({generated} generated, {total - generated} chosen), "
        f"{server_errors} documented 5xx (502/503/504 of {CITY_ROUTE}), 0 undocumented"
    )
    print(f"\n{table}\n{summary}")
    assert generated >= MIN_CASES, f"{summary}\n{table}"
    # Every 5xx passed status_code_conformance; only the city route documents any.
    assert all(op == CITY_ROUTE for (op, status) in statuses if status >= 500), table
    assert {s for (op, s) in statuses if op == CITY_ROUTE} >= {200, 404, 422, 502, 503, 504}


lang = st.one_of(
    st.sampled_from(["en", "EN", "pt_br", "pt-BR", "zh_cn", "", " en", "en ", "e1", "en\n"]),
    st.text(max_size=6),
)
units = st.sampled_from(["standard", "metric", "imperial", "", "Metric", "kelvin"])


@pytest.fixture
def sample_app() -> Iterator[BlockingApp]:
    """The app with made-up weather: every well-formed city exists but Nowhere*."""
    with BlockingApp(make_settings(provider="sample")) as blocking:
        yield blocking


@pytest.mark.no_cover
def test_fast_path_and_fastapi_agree(sample_app: BlockingApp) -> None:
    """The same request answered by the fast path and by FastAPI's route: the same answer."""

    # Mostly real places, so that the query and the spelling decide, not the place.
    @given(
        city=st.one_of(
            st.sampled_from(CITIES),
            st.sampled_from(CITIES).map(lambda city: f" {city}  "),
            st.text(alphabet=" ab", min_size=80, max_size=100),  # over 85 until spaces fold
            st.text(max_size=100),
        ),
        country=st.one_of(st.sampled_from(["gb", "GB", "uk", "Fr"]), st.text(max_size=3)),
        query=st.lists(
            st.one_of(st.tuples(st.just("units"), units), st.tuples(st.just("lang"), lang)),
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
        fast_url = path + ("?" + urlencode(query) if query else "")
        # Any other parameter makes the fast path pass the request on to FastAPI's route.
        slow_url = path + "?" + urlencode([*query, ("via", "fastapi")])
        fast = sample_app.request("GET", fast_url)
        slow = sample_app.request("GET", slow_url)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content), fast_url

    agree()
