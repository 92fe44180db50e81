"""Is an answer the documented one? Used by locustfile.py inside `catch_response=True`.

A request counts as a success only when its status is the expected one (the documented 422 and
404 included) and its body has the documented shape; every upstream failure (502/503/504) is a
failure. Failure messages name the status and the problem's title but no city, so that Locust
groups them into a few lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

# Wide enough for any weather on Earth, narrow enough to catch the wrong unit system.
TEMPERATURE_RANGE = {
    "standard": (180.0, 340.0),
    "metric": (-95.0, 65.0),
    "imperial": (-140.0, 150.0),
}

WEATHER_KEYS = frozenset(
    {"coord", "weather", "main", "wind", "clouds", "dt", "sys", "timezone", "id", "name"}
)
CONDITION_KEYS = frozenset({"id", "main", "description", "icon"})
MAIN_KEYS = frozenset({"temp", "feels_like", "temp_min", "temp_max", "pressure", "humidity"})
SYS_KEYS = frozenset({"country", "sunrise", "sunset"})
PROBLEM_KEYS = frozenset({"type", "title", "status", "detail"})
CACHE_STATES = frozenset({"hit", "miss", "stale"})

cache_states: Counter[str] = Counter()
"""X-Cache values of the weather answers this process saw (--cache-ttl 0: every one a miss)."""


def judge_response(
    response: Any,
    *,
    status: int,
    media_type: str,
    check: Callable[[Any], str | None],
) -> None:
    """Mark a caught response: success only with the expected status, media type and body."""
    if response.status_code != status:
        response.failure(unexpected_status(response, status))
        return
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip() != media_type:
        response.failure(f"content-type {content_type!r}, expected {media_type}")
        return
    try:
        body = response.json()
    except ValueError:
        response.failure("body is not JSON")
        return
    if error := check(body):
        response.failure(error)
    else:
        response.success()


def unexpected_status(response: Any, expected: int) -> str:
    """A failure message that groups well: the status and the problem's title, no city names."""
    if response.status_code == 0:
        return f"no response (expected {expected}): {type(response.error).__name__}"
    title = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            title = f": {body.get('title', '')}"
    except ValueError:
        pass
    return f"HTTP {response.status_code} (expected {expected}){title}"


def weather_error(body: Any, *, country: str, units: str) -> str | None:
    """Why `body` is not current weather in OpenWeatherMap's shape for `country`, or None."""
    if not isinstance(body, dict):
        return "weather: not a JSON object"
    if missing := WEATHER_KEYS - body.keys():
        return f"weather: missing {', '.join(sorted(missing))}"
    conditions = body["weather"]
    if not (
        isinstance(conditions, list)
        and conditions
        and all(isinstance(c, dict) and c.keys() >= CONDITION_KEYS for c in conditions)
    ):
        return "weather: weather[] empty or malformed"
    main, system = body["main"], body["sys"]
    if not (isinstance(main, dict) and main.keys() >= MAIN_KEYS):
        return "weather: main malformed"
    if not (isinstance(system, dict) and system.keys() >= SYS_KEYS):
        return "weather: sys malformed"
    if system["country"] != country:
        return "weather: sys.country is not the country asked for"
    low, high = TEMPERATURE_RANGE[units]
    temp = main["temp"]
    if not (isinstance(temp, int | float) and low <= temp <= high):
        return f"weather: main.temp is not a {units} temperature"
    if not (isinstance(body["name"], str) and body["name"]):
        return "weather: empty name"
    return None


def cache_header_error(response: Any) -> str | None:
    """Count the answer's X-Cache value; why it is not hit, miss or stale, or None."""
    cache = response.headers.get("x-cache")
    cache_states[cache or "absent"] += 1
    if cache not in CACHE_STATES:
        return f"X-Cache {cache!r} is not hit, miss or stale"
    return None


def problem_error(body: Any, *, status: int) -> str | None:
    """Why `body` is not an RFC 9457 problem for `status`, or None."""
    if not isinstance(body, dict):
        return "problem: not a JSON object"
    if missing := PROBLEM_KEYS - body.keys():
        return f"problem: missing {', '.join(sorted(missing))}"
    if body["status"] != status:
        return f"problem: status {body['status']!r} in a {status} answer"
    return None


def batch_error(body: Any, *, entries: list[tuple[str, int, str]], units: str) -> str | None:
    """Why `body` is not the batch answer for `entries` (q, status, country; in order), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return "batch: no results[]"
    results = body["results"]
    if len(results) != len(entries):
        return f"batch: {len(results)} results for {len(entries)} locations"
    for result, (q, status, country) in zip(results, entries, strict=True):
        if not isinstance(result, dict) or result.get("q") != q:
            return "batch: results out of order or without q"
        got = result.get("status")
        if got != status:
            title = (result.get("problem") or {}).get("title", "")
            return f"batch entry: status {got} (expected {status}): {title}"
        if status == 200:
            error = weather_error(result.get("weather"), country=country, units=units)
        else:
            error = problem_error(result.get("problem"), status=status)
        if error:
            return f"batch entry: {error}"
    return None
