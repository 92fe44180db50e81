"""Swagger UI's order and examples: the weather endpoints first, every answer with an example."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_settings, running_app


async def openapi() -> dict[str, Any]:
    """The app's /openapi.json."""
    async with running_app(make_settings(provider="sample")) as client:
        schema: dict[str, Any] = (await client.get("/openapi.json")).json()
    return schema


async def test_weather_endpoints_come_first_then_health_then_operations() -> None:
    """Tags and paths in reading order: city, batch, greeting; OpenWeatherMap's own API; probes;
    metrics; problem pages."""
    schema = await openapi()
    assert [tag["name"] for tag in schema["tags"]] == [
        "weather",
        "openweathermap",
        "health",
        "operations",
        "problems",
    ]
    paths = list(schema["paths"])
    assert paths[:5] == [
        "/{city}/{country}/",
        "/v1/weather",
        "/",
        "/data/2.5/weather",
        "/data/2.5/forecast",
    ]
    tags = [operation["tags"] for item in schema["paths"].values() for operation in item.values()]
    assert tags == [
        ["weather"], ["weather"], ["weather"],
        ["openweathermap"], ["openweathermap"],
        ["health"], ["health"],
        ["operations"],
        ["problems"],
    ]  # fmt: skip


async def test_every_success_answer_has_an_example() -> None:
    """Each operation's 200 shows an example, in its content or in the schema it refers to."""
    schema = await openapi()
    models = schema["components"]["schemas"]
    missing = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for media in operation["responses"]["200"]["content"].values():
                ref = media.get("schema", {}).get("$ref", "")
                model = models.get(ref.rsplit("/", 1)[-1], {})
                if "example" not in media and not model.get("examples"):
                    missing.append(f"{method.upper()} {path}")
    assert missing == []
    london = models["CurrentWeather"]["examples"][0]
    assert london["name"] == "London"
    assert models["Problem"]["examples"][0]["type"] == "/problems/upstream-timeout"
