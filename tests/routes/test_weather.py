"""The old app's endpoints, end to end in process, with upstreams mocked by respx."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import respx

from tests.bodies import OWM_NOT_FOUND, owm_london
from tests.conftest import API_KEY, make_settings, running_app
from weather_api.locations import CITY_PATTERN, COUNTRY_PATTERN, LANG_PATTERN


async def test_root_says_app_works() -> None:
    """`GET /` is plain text `App Works!`, as the old app answered."""
    async with running_app(make_settings(provider="sample")) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "App Works!"


@pytest.mark.parametrize("path", ["/london/uk/", "/london/uk", "/London/GB/"])
async def test_city_weather_in_owm_shape(owm: respx.Router, path: str) -> None:
    """With or without the slash, any case, `uk` as GB: OpenWeatherMap's JSON comes back."""
    route = owm.get("/data/2.5/weather").respond(json=owm_london())
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "London"
    assert body["main"]["temp"] == 284.2
    assert body["weather"][0] == {
        "id": 803,
        "main": "Clouds",
        "description": "broken clouds",
        "icon": "04d",
    }
    assert set(body) >= {"coord", "weather", "main", "wind", "clouds", "dt", "sys", "timezone"}
    sent = route.calls.last.request.url.params
    assert sent["q"] == ("London,GB" if path.startswith("/London") else "london,GB")
    assert sent["appid"] == API_KEY


async def test_units_and_lang_reach_the_upstream(owm: respx.Router) -> None:
    """`units` and `lang` are passed on as OpenWeatherMap's parameters."""
    route = owm.get("/data/2.5/weather").respond(json=owm_london(temp=11.05))
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get("/london/gb/", params={"units": "metric", "lang": "de"})
    assert response.status_code == 200
    assert route.calls.last.request.url.params["units"] == "metric"
    assert route.calls.last.request.url.params["lang"] == "de"


async def test_owm_cod_as_string_is_accepted(owm: respx.Router) -> None:
    """OpenWeatherMap sometimes sends `cod` as a string; the answer still validates."""
    owm.get("/data/2.5/weather").respond(json=owm_london(cod="200"))
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get("/london/gb/")
    assert response.status_code == 200
    assert response.json()["cod"] == 200


async def test_city_is_sent_as_an_encoded_parameter(owm: respx.Router) -> None:
    """A city with spaces and an apostrophe reaches the upstream only inside `q`."""
    body = owm_london()
    body["sys"]["country"] = "CA"
    route = owm.get("/data/2.5/weather").respond(json=body)
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get("/St. John's/ca/")
    assert response.status_code == 200
    url = route.calls.last.request.url
    assert url.path == "/data/2.5/weather"
    assert url.params["q"] == "St. John's,CA"


@pytest.mark.parametrize(
    "path",
    [
        "/london&appid=x/gb/",
        "/x1/gb/",
        "/london/xx/",
        "/london/gbr/",
        "/" + "x" * 10_000 + "/gb/",
        "/london/gb/?units=kelvin",
        "/london/gb/?lang=english",
    ],
)
async def test_bad_input_is_a_422_problem_and_never_reaches_upstream(
    owm: respx.Router, path: str
) -> None:
    """Malformed cities, countries, units or languages get a 422 problem; no upstream call."""
    route = owm.get("/data/2.5/weather").respond(json=owm_london())
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"] == "Invalid query"
    assert not route.called


async def test_unknown_location_is_404(owm: respx.Router) -> None:
    """OpenWeatherMap's 404 becomes our 404 problem naming the place."""
    owm.get("/data/2.5/weather").respond(404, json=OWM_NOT_FOUND)
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        response = await client.get("/atlantis/gr/")
    assert response.status_code == 404
    assert response.json()["detail"] == "OpenWeatherMap knows no city atlantis,GR."


async def test_unknown_path_is_a_problem_too() -> None:
    """Even routing errors answer in problem+json."""
    async with running_app(make_settings(provider="sample")) as client:
        response = await client.get("/a/b/c")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_sample_provider_needs_no_network() -> None:
    """`--provider sample` answers deterministic OWM-shaped weather with no upstream at all."""
    async with running_app(make_settings(provider="sample")) as client:
        first = await client.get("/london/uk/")
        again = await client.get("/London/GB/", params={"units": "metric"})
        missing = await client.get("/Nowhere/GB/")
    assert first.status_code == 200
    body = first.json()
    assert body["sys"]["country"] == "GB"
    assert 180 < body["main"]["temp"] < 330  # Kelvin
    assert again.json()["main"]["temp"] == pytest.approx(body["main"]["temp"] - 273.15, abs=0.02)
    assert missing.status_code == 404


async def test_docs_and_openapi_are_served_locally() -> None:
    """/docs and /redoc load their assets from this app, not a CDN; /openapi.json documents it."""
    async with running_app(make_settings(provider="sample")) as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        schema = (await client.get("/openapi.json")).json()
        assets = [
            await client.get(f"/static-offline-docs/{name}")
            for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
        ]
    assert docs.status_code == redoc.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "cdn" not in redoc.text.lower()
    assert all(asset.status_code == 200 and len(asset.content) > 10_000 for asset in assets)
    weather = schema["paths"]["/{city}/{country}/"]["get"]["responses"]
    assert weather["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "CurrentWeather"
    )
    assert set(weather) >= {"200", "404", "422", "502", "503", "504"}


async def test_health_probes_do_not_touch_upstreams(owm: respx.Router) -> None:
    """/healthz and /readyz answer without any upstream call."""
    route = owm.route().respond(500)
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert not route.called


async def test_openweathermap_without_a_key_refuses_to_start() -> None:
    """Selecting openweathermap with no key fails at settings time with a clear message."""
    with pytest.raises(ValueError, match="needs an API key"):
        make_settings(provider="openweathermap", openweathermap_api_key=None)


async def test_key_can_come_from_a_mounted_file(owm: respx.Router, tmp_path: Path) -> None:
    """WEATHER_API_OPENWEATHERMAP_API_KEY_FILE is read when the key itself is unset."""
    key_file = tmp_path / "key"
    key_file.write_text("from-file-key\n")
    route = owm.get("/data/2.5/weather").respond(json=owm_london())
    settings = make_settings(
        provider="openweathermap", openweathermap_api_key=None, openweathermap_api_key_file=key_file
    )
    async with running_app(settings, upstream=owm) as client:
        assert (await client.get("/london/gb/")).status_code == 200
    assert route.calls.last.request.url.params["appid"] == "from-file-key"


async def test_openapi_says_what_the_parser_takes() -> None:
    """The city route's parameters carry the parser's patterns; q's maxItems is the setting."""
    settings = make_settings(provider="sample", batch_max_locations=7)
    async with running_app(settings) as client:
        schema = (await client.get("/openapi.json")).json()
        zeros = await client.get("/" + "0" * 84 + "/gb/")
        too_many = await client.get("/v1/weather", params=[("q", "Paris,FR")] * 8)
    city_route = schema["paths"]["/{city}/{country}/"]["get"]
    parameters = {p["name"]: p["schema"] for p in city_route["parameters"]}
    assert parameters["city"]["pattern"] == CITY_PATTERN
    assert parameters["city"]["maxLength"] == 85
    assert parameters["country"]["pattern"] == COUNTRY_PATTERN
    assert parameters["units"]["enum"] == ["standard", "metric", "imperial"]
    assert parameters["lang"]["pattern"] == LANG_PATTERN
    assert not re.fullmatch(CITY_PATTERN, "0" * 84)
    assert zeros.status_code == 422
    batch = schema["paths"]["/v1/weather"]["get"]["parameters"]
    q = next(p for p in batch if p["name"] == "q")
    assert (q["schema"]["minItems"], q["schema"]["maxItems"]) == (1, 7)
    assert too_many.status_code == 422
