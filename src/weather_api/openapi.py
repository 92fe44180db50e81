"""How the OpenAPI description reads: tags in order, the weather endpoints first.

Swagger UI shows tags in the order of `OPENAPI_TAGS`, and operations within a tag in the order
of `paths`, which FastAPI writes in the order the routes were added (the catch-all weather route
last): `in_reading_order` sorts them for a reader.
"""

from __future__ import annotations

from typing import Any

from weather_api.routes import owm

OPENAPI_TAGS = [
    {"name": "weather", "description": "Current weather: for one city, for many, and `/`."},
    {
        "name": owm.TAG,
        "description": "OpenWeatherMap's own API, for clients written against it "
        "(docs/owm-compatible.md): its parameters, Kelvin by default, errors in its shape.",
    },
    {"name": "health", "description": "Liveness and readiness probes; no upstream call."},
    {"name": "operations", "description": "Prometheus metrics."},
    {"name": "problems", "description": "What each problem `type` means, as a page."},
]
WEATHER_PATHS = (
    "/{city}/{country}/",
    "/v1/weather",
    "/",
    "/data/2.5/weather",
    "/data/2.5/forecast",
)


def in_reading_order(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's description with its paths sorted by tag, then weather path; an example for
    the greeting's text, which has no model to carry one."""
    schema["paths"] = dict(sorted(schema["paths"].items(), key=_reading_order))
    greeting = schema["paths"].get("/", {}).get("get", {}).get("responses", {})
    text = greeting.get("200", {}).get("content", {}).get("text/plain")
    if text is not None:
        text.setdefault("example", "App Works!")
    return schema


def _reading_order(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
    """Sort key of an OpenAPI path: its first tag's place, then its place in WEATHER_PATHS."""
    path, operations = item
    names = [tag["name"] for tag in OPENAPI_TAGS]
    tag = next((t for operation in operations.values() for t in operation["tags"]), None)
    first = names.index(tag) if tag in names else len(names)
    return first, WEATHER_PATHS.index(path) if path in WEATHER_PATHS else len(WEATHER_PATHS)
