"""`GET /data/2.5/weather` in process: OpenWeatherMap's parameters, cache and error shapes.

The upstream is a respx mock of OpenWeatherMap (our provider), so each test can see exactly
what the service sent upstream.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
from asgi_lifespan import LifespanManager

from tests.bodies import OWM_NOT_FOUND, owm_london
from tests.conftest import API_KEY, make_settings, running_app
from tests.routes.test_city_fast_path import fast_and_route
from tests.routes.test_outer_layers import layer_of
from weather_api.app import create_app
from weather_api.config import Settings
from weather_api.routes.city_fast_path import MEMO_ENTRIES
from weather_api.routes.owm import OwmWeatherFastPath

SENTINEL = "appid-sentinel-5f1e9c"
WEATHER = "/data/2.5/weather"


def owm_settings(**overrides: object) -> Settings:
    """OpenWeatherMap (mocked) behind the service, one attempt: no retry waits."""
    return make_settings(provider="openweathermap", retry_attempts=1, **overrides)


async def test_current_weather_by_q_is_kelvin_and_shares_the_city_routes_cache(
    owm: respx.Router,
) -> None:
    """`q=London,GB` answers OWM's JSON in Kelvin; with `/london/uk/` first, one upstream call."""
    route = owm.get(WEATHER).respond(json=owm_london())
    async with running_app(owm_settings(), upstream=owm) as client:
        ours = await client.get("/london/uk/")
        compat = await client.get(WEATHER, params={"q": "London,GB", "appid": SENTINEL})
    assert compat.status_code == 200
    assert compat.headers["content-type"] == "application/json"
    assert compat.headers["x-cache"] == "hit"
    assert compat.content == ours.content
    assert compat.json()["main"]["temp"] == 284.2
    assert route.call_count == 1
    assert route.calls[0].request.url.params["units"] == "standard"


@pytest.mark.parametrize(
    ("params", "upstream"),
    [
        ({"lat": "51.5085", "lon": "-0.1257"}, {"lat": "51.5085", "lon": "-0.1257"}),
        ({"lat": "51.50851234", "lon": "-0.1257"}, {"lat": "51.5085", "lon": "-0.1257"}),
        ({"id": "2643743"}, {"id": "2643743"}),
        ({"q": "New York,NY,us"}, {"q": "New York,US"}),
        ({"q": "London"}, {"q": "London"}),
    ],
)
async def test_coordinates_ids_and_places_are_asked_upstream_in_owms_terms(
    owm: respx.Router, params: dict[str, str], upstream: dict[str, str]
) -> None:
    """lat+lon (to 4 decimals), id, city,state,country and a bare city reach OWM as such."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = owm_london()  # about the country asked for: another would be a mismatch (502)
        body["sys"]["country"] = request.url.params.get("q", ",GB").rpartition(",")[2] or "GB"
        return httpx.Response(200, json=body)

    route = owm.get(WEATHER).mock(side_effect=answer)
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get(WEATHER, params={**params, "APPID": SENTINEL})
    assert response.status_code == 200, response.text
    sent = route.calls[0].request.url.params
    assert {name: sent[name] for name in upstream} == upstream


async def test_the_appid_is_never_sent_upstream_echoed_or_part_of_the_cache_key(
    owm: respx.Router,
) -> None:
    """Two clients with two appids share one entry; upstream sees our key; no body names it."""
    route = owm.get(WEATHER).respond(json=owm_london())
    async with running_app(owm_settings(), upstream=owm) as client:
        first = await client.get(WEATHER, params={"q": "London,GB", "appid": SENTINEL})
        second = await client.get(WEATHER, params={"q": "London,GB", "APPID": SENTINEL + "2"})
        refused = await client.get(WEATHER, params={"q": "L0ndon", "appid": SENTINEL})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.url.params["appid"] == API_KEY
    assert SENTINEL not in str(request.url)
    assert SENTINEL not in str(request.headers)
    for response in (first, second, refused):
        assert SENTINEL not in response.text
        assert SENTINEL not in str(response.headers)


async def test_compat_appids_refuse_others_with_owms_401(owm: respx.Router, tmp_path: Path) -> None:
    """With --compat-appids (list and file), a listed appid is served, others and none get 401."""
    owm.get(WEATHER).respond(json=owm_london())
    listed = tmp_path / "appids"
    listed.write_text("# one a line\nfrom-file\n\n", encoding="utf-8")
    settings = owm_settings(compat_appids="house-1, house-2", compat_appids_file=listed)
    async with running_app(settings, upstream=owm) as client:
        ok = [
            await client.get(WEATHER, params={"q": "London,GB", name: appid})
            for name, appid in (("appid", "house-1"), ("APPID", "house-2"), ("appid", "from-file"))
        ]
        wrong = await client.get(WEATHER, params={"q": "London,GB", "appid": "house-3"})
        missing = await client.get(WEATHER, params={"q": "London,GB"})
    assert [response.status_code for response in ok] == [200, 200, 200]
    for response in (wrong, missing):
        assert response.status_code == 401
        assert response.json() == {
            "cod": 401,
            "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 "
            "for more info.",
        }


async def test_without_compat_appids_any_appid_or_none_is_served(owm: respx.Router) -> None:
    """No list: a request with no appid at all is answered (README says so)."""
    owm.get(WEATHER).respond(json=owm_london())
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get(WEATHER, params={"q": "London,GB"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Nothing to geocode"),
        ({"lat": "51.5"}, "Nothing to geocode"),
        ({"q": ""}, "Nothing to geocode"),
        ({"q": "London,GB", "mode": "xml"}, "mode=xml is not served here: only json"),
        ({"q": "London,GB", "mode": "html"}, "mode=html is not served here: only json"),
        ({"q": "London,GB", "units": "kelvin"}, "units must be one of standard, metric, imperial"),
        ({"q": "London,XX"}, "country must be an ISO 3166-1 alpha-2 code such as GB or US"),
        ({"lat": "91", "lon": "0"}, "wrong latitude"),
        ({"lat": "0", "lon": "nan"}, "wrong longitude"),
        ({"q": "London,GB", "lat": "x"}, "wrong latitude"),
        ({"id": "-3"}, "'-3' is not a city ID"),
    ],
)
async def test_bad_parameters_get_owms_400(
    owm: respx.Router, params: dict[str, str], message: str
) -> None:
    """Malformed parameters: 400 `{"cod": "400", "message": ...}`, nothing asked upstream."""
    route = owm.get(WEATHER).respond(json=owm_london())
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get(WEATHER, params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"cod": "400", "message": message}
    assert not route.called


async def test_an_unknown_city_is_owms_404(owm: respx.Router) -> None:
    """Exactly OpenWeatherMap's body, which clients match on: "city not found"."""
    owm.get(WEATHER).respond(404, json=OWM_NOT_FOUND)
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get(WEATHER, params={"q": "Atlantis,GR"})
    assert response.status_code == 404
    assert response.json() == {"cod": "404", "message": "city not found"}


async def test_ids_need_the_openweathermap_provider() -> None:
    """Elsewhere an id is an OWM-style 404 that says which provider can resolve it."""
    async with running_app(make_settings(provider="sample")) as client:
        response = await client.get(WEATHER, params={"id": "2643743"})
        zipped = await client.get(WEATHER, params={"zip": "94040,us"})
    assert response.status_code == 404
    assert response.json()["cod"] == "404"
    assert "--provider openweathermap" in response.json()["message"]
    assert zipped.status_code == 404
    assert zipped.json()["cod"] == "404"


@pytest.mark.parametrize(
    ("upstream", "status", "headers"),
    [
        (httpx.Response(429, headers={"Retry-After": "30"}), 429, {"retry-after": "30"}),
        (httpx.Response(500, text="oops"), 502, {}),
        (httpx.Response(401, json={"cod": 401, "message": "bad key"}), 502, {}),
        (httpx.ReadTimeout("slow"), 504, {}),
        (httpx.ConnectError("refused"), 502, {}),
    ],
)
async def test_upstream_trouble_keeps_owms_shape(
    owm: respx.Router,
    upstream: httpx.Response | Exception,
    status: int,
    headers: dict[str, str],
) -> None:
    """429 with Retry-After, 502 and 504: status as documented, body `cod` + `message`."""
    owm.get(WEATHER).mock(side_effect=[upstream])
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get(WEATHER, params={"q": "London,GB"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"cod", "message"}
    assert body["cod"] == status
    assert API_KEY not in response.text
    for name, value in headers.items():
        assert response.headers[name] == value


async def test_the_city_routes_keep_problem_json(owm: respx.Router) -> None:
    """OWM's shape is for /data/2.5/* only: our own routes still answer RFC 9457 problems."""
    owm.get(WEATHER).respond(404, json=OWM_NOT_FOUND)
    async with running_app(owm_settings(), upstream=owm) as client:
        response = await client.get("/atlantis/gr/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_hits_from_the_fast_layer_equal_the_routes() -> None:
    """A hit answered before FastAPI (OwmWeatherFastPath) equals the route's, headers too."""
    async with fast_and_route(make_settings(provider="sample")) as (client, route):
        miss = await client.get(WEATHER, params={"q": "Paris,FR", "appid": "a"})
        hit = await client.get(WEATHER, params={"q": "paris,fr", "APPID": "b"})
        via_route = await route.get(WEATHER, params={"q": "Paris,FR"})
    assert miss.headers["x-cache"] == "miss"
    assert hit.headers["x-cache"] == via_route.headers["x-cache"] == "hit"
    assert hit.content == via_route.content == miss.content
    for name in ("content-type", "content-length", "cache-control"):
        assert hit.headers[name] == via_route.headers[name]


async def test_the_fast_layer_remembers_queries_but_no_appid() -> None:
    """Many appids for one place: one remembered query, keyed without the appid; bounded."""
    app = create_app(make_settings(provider="sample"))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://testserver"
        ) as client,
    ):
        for number in range(50):
            name = "appid" if number % 2 else "APPID"
            response = await client.get(f"{WEATHER}?q=Oslo,NO&{name}={SENTINEL}{number}")
            assert response.status_code == 200
        layer = layer_of(app, OwmWeatherFastPath)
        assert layer.remembered == 1
        assert all(SENTINEL.encode() not in key for key in layer._memo)
        for number in range(MEMO_ENTRIES + 10):
            await client.get(f"{WEATHER}?q=Oslo,NO&units=metric&n={number}&APPID=x")
        assert layer.remembered == MEMO_ENTRIES


def test_an_unreadable_appids_file_stops_serve_at_once(tmp_path: Path) -> None:
    """`serve` with a missing WEATHER_API_COMPAT_APPIDS_FILE says so and exits 2."""
    missing = tmp_path / "no-such-file"
    result = subprocess.run(
        [sys.executable, "-m", "weather_api", "serve", "--port", "1"],
        env={**os.environ, "WEATHER_API_COMPAT_APPIDS_FILE": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("weather-api: cannot start: compat_appids_file: cannot read")
