"""Headers every answer carries, problems that no cache may keep, and CORS only when asked."""

from __future__ import annotations

import pytest
import respx
from pydantic import ValidationError

from tests.conftest import OWM_URL, make_settings, running_app
from weather_api.config import Settings

ORIGIN = "https://app.example.com"


async def test_every_answer_carries_the_security_headers() -> None:
    """Weather, problems, docs and unknown paths: nosniff, no referrer, no framing."""
    async with running_app(make_settings(provider="sample")) as client:
        for path in ("/", "/london/gb/", "/london/gb/", "/x1/gb/", "/docs", "/no/such/path"):
            headers = (await client.get(path)).headers
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_problems_are_never_stored_and_weather_is() -> None:
    """Every problem, the fast path's and FastAPI's, says no-store; weather says max-age."""
    owm = respx.Router(assert_all_called=False)
    owm.get(f"{OWM_URL}/data/2.5/weather").respond(503)
    settings = make_settings(provider="openweathermap", retry_attempts=1)
    async with running_app(settings, upstream=owm) as client:
        problems = [
            await client.get("/london/gb/"),  # 502 from the fast path
            await client.get("/london/gb/?lang=e1"),  # 422 from FastAPI's validation
            await client.get("/v1/weather"),  # 422: q missing
            await client.get("/no/such/path/at/all"),  # 404 from routing
            await client.post("/london/gb/"),  # 405
        ]
    assert [p.status_code for p in problems] == [502, 422, 422, 404, 405]
    for problem in problems:
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.headers["cache-control"] == "no-store"
    assert problems[-1].headers["allow"] == "GET"
    async with running_app(make_settings(provider="sample")) as client:
        weather = await client.get("/london/gb/")
    assert weather.headers["cache-control"].startswith("max-age=")


async def test_cors_is_off_unless_configured() -> None:
    """Without --cors-origins, no Access-Control-* header, and no preflight answer."""
    async with running_app(make_settings(provider="sample")) as client:
        simple = await client.get("/london/gb/", headers={"Origin": ORIGIN})
        preflight = await client.options(
            "/london/gb/", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
        )
    assert not [h for h in simple.headers if h.startswith("access-control-")]
    assert preflight.status_code == 405
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


async def test_cors_for_configured_origins_on_every_path() -> None:
    """Listed origins may read answers, fast-path hits included; others get nothing."""
    settings = make_settings(provider="sample", cors_origins=f"{ORIGIN}, https://b.example")
    async with running_app(settings) as client:
        miss = await client.get("/london/gb/", headers={"Origin": ORIGIN})
        hit = await client.get("/london/gb/", headers={"Origin": ORIGIN})
        batch = await client.get("/v1/weather?q=Paris,FR", headers={"Origin": ORIGIN})
        stranger = await client.get("/london/gb/", headers={"Origin": "https://evil.example"})
        preflight = await client.options(
            "/london/gb/",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-Request-ID",
            },
        )
        refused = await client.options(
            "/london/gb/",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert hit.headers["x-cache"] == "hit"
    for response in (miss, hit, batch):
        assert response.headers["access-control-allow-origin"] == ORIGIN
        exposed = response.headers["access-control-expose-headers"].lower()
        assert {"age", "retry-after", "x-cache", "x-request-id"} <= set(exposed.split(", "))
    assert "access-control-allow-origin" not in stranger.headers
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["x-content-type-options"] == "nosniff"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """WEATHER_API_CORS_ORIGINS is comma-separated; "*" is any origin; paths are refused."""
    monkeypatch.setenv("WEATHER_API_CORS_ORIGINS", "https://a.example, http://b.example:8080")
    assert Settings().cors_origins == ("https://a.example", "http://b.example:8080")
    monkeypatch.setenv("WEATHER_API_CORS_ORIGINS", "*")
    assert Settings().cors_origins == ("*",)
    assert Settings(cors_origins=["https://c.example"]).cors_origins == ("https://c.example",)
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins="https://a.example/")  # browsers send no path: it never matches
    monkeypatch.delenv("WEATHER_API_CORS_ORIGINS")
    assert Settings().cors_origins == ()
