"""Problem types resolve: each `type` is a page of this service, and OpenAPI lists them."""

from __future__ import annotations

import httpx
import respx

from tests.conftest import make_settings, running_app
from weather_api.errors import problem_types

WEATHER = "/data/2.5/weather"
EVERY_TYPE = [f"/problems/{kind.slug}" for kind in problem_types()]


def upstream(request: httpx.Request) -> httpx.Response:
    """OpenWeatherMap failing a different way for each city."""
    city = request.url.params["q"].partition(",")[0].lower()
    if city == "slow":
        raise httpx.ReadTimeout("too slow", request=request)
    if city == "refused":
        raise httpx.ConnectError("refused", request=request)
    answers = {"nowhere": 404, "locked": 401, "busy": 429, "broken": 500}
    return httpx.Response(answers.get(city, 500), headers={"Retry-After": "60"}, json={})


async def test_every_problem_type_answers_a_page_saying_what_to_do() -> None:
    """GET on each `type` a problem can carry: 200, an HTML page with its title and advice."""
    assert "/problems/upstream-timeout" in EVERY_TYPE
    async with running_app(make_settings(provider="sample")) as client:
        pages = {uri: await client.get(uri) for uri in EVERY_TYPE}
    for uri, page in pages.items():
        assert page.status_code == 200, uri
        assert page.headers["content-type"].startswith("text/html"), uri
        for heading in ("What happened", "What to do", "Retry?"):
            assert f"<h2>{heading}</h2>" in page.text, uri
    assert "Retry-After" in pages["/problems/upstream-rate-limited"].text


async def test_types_in_real_answers_resolve_against_the_answer() -> None:
    """The `type` of answers to failing requests, resolved as a client would, answers 200."""
    upstream_mock = respx.Router(base_url="https://owm.test", assert_all_called=False)
    upstream_mock.get(WEATHER).mock(side_effect=upstream)
    settings = make_settings(provider="openweathermap", retry_attempts=1)
    paths = [
        "/nowhere/gb/", "/locked/gb/", "/busy/gb/", "/broken/gb/", "/slow/gb/", "/refused/gb/",
        "/london/gb/?units=kelvin", "/v1/weather?q=Broken,GB&q=nonsense",
    ]  # fmt: skip
    async with running_app(settings, upstream=upstream_mock) as client:
        answers = [await client.get(path) for path in paths]
        types = {a.json()["type"] for a in answers if a.status_code != 200}
        types |= {r["problem"]["type"] for r in answers[-1].json()["results"]}
        resolved = {t: await client.get(str(answers[0].url.join(t))) for t in types}
    assert len(types) == 7, types  # not found, auth, rate limit, bad response, timeout, ...
    assert {t: r.status_code for t, r in resolved.items()} == dict.fromkeys(types, 200)
    assert all(t.startswith("/problems/") for t in types)


async def test_openapi_lists_every_problem_type() -> None:
    """/openapi.json offers the page route with every slug, and nothing else than those."""
    async with running_app(make_settings(provider="sample")) as client:
        schema = (await client.get("/openapi.json")).json()
        unknown = await client.get("/problems/no-such-thing")
    (parameter,) = schema["paths"]["/problems/{slug}"]["get"]["parameters"]
    assert ["/problems/" + slug for slug in parameter["schema"]["enum"]] == EVERY_TYPE
    assert unknown.status_code == 404
    assert "weather-api.dev" not in str(schema)


async def test_an_unknown_two_letter_problem_is_a_404_not_a_city() -> None:
    """`/problems/CN` is an unknown problem page (404), not the weather in a city "Problems"."""
    async with running_app(make_settings(provider="sample")) as client:
        page = await client.get("/problems/CN")
        city = await client.get("/problems/CN/")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("application/problem+json")
    assert city.status_code == 200  # with the slash only the city route matches
    assert city.json()["name"] == "Problems"


async def test_the_docs_assets_are_not_read_as_a_city() -> None:
    """`/static-offline-docs/de` is the docs' static mount (404), not weather for a city."""
    async with running_app(make_settings(provider="sample")) as client:
        asset = await client.get("/static-offline-docs/de")
    assert asset.status_code == 404
