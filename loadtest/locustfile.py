"""weather-api's users: mostly single cities, some batches, `/`, and a little bad input.

Beside it: traffic.py (what they ask for, think time), checks.py (is the answer the documented
one), verdict.py (thresholds and exit code) and reporting.py (progress lines, summary JSON).
By hand, from this directory: `../.venv/bin/locust --config profiles/ci.conf --host URL`.
"""

from __future__ import annotations

import random
from urllib.parse import quote

import checks
import reporting  # noqa: F401 - events plugin: progress lines, --summary-file
import traffic
import verdict  # noqa: F401 - events plugin: thresholds, exit code
from locust import FastHttpUser, between, task


class WeatherApiUser(FastHttpUser):
    """A person looking up the weather now and then (profiles: --wait-min/--wait-max)."""

    wait_time = between(5, 15)

    @task(12)
    def city_weather(self) -> None:
        """`/{city}/{country}/`, popular cities more often, in some units and language."""
        city, country = traffic.pick_city()
        units, lang = traffic.pick_variant()
        path = f"/{quote(city, safe='')}/{country}/?{traffic.query_string(units=units, lang=lang)}"
        with self.client.get(path, name="/{city}/{country}/", catch_response=True) as response:
            checks.judge_response(
                response,
                status=200,
                media_type="application/json",
                check=lambda body: (
                    checks.cache_header_error(response)
                    or checks.weather_error(body, country=traffic.iso_country(country), units=units)
                ),
            )

    @task(3)
    def batch_weather(self) -> None:
        """`/v1/weather` for 2-6 cities; now and then one that does not exist or is malformed."""
        entries = traffic.pick_batch()
        units, lang = traffic.pick_variant()
        query = traffic.query_string(q=[q for q, _, _ in entries], units=units, lang=lang)
        with self.client.get(
            f"/v1/weather?{query}", name="/v1/weather?q=[2-7]", catch_response=True
        ) as response:
            checks.judge_response(
                response,
                status=200,
                media_type="application/json",
                check=lambda body: checks.batch_error(body, entries=entries, units=units),
            )

    @task(2)
    def root(self) -> None:
        """`/` says the app works, as the old app did."""
        with self.client.get("/", name="/", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(checks.unexpected_status(response, 200))
            elif response.text != "App Works!":
                response.failure("/ did not say App Works!")
            else:
                response.success()

    @task(1)
    def invalid_input(self) -> None:
        """Malformed or unknown input gets its documented 4xx as a problem document."""
        name, path, status = random.choice(traffic.INVALID_REQUESTS)
        with self.client.get(path, name=name, catch_response=True) as response:
            checks.judge_response(
                response,
                status=status,
                media_type="application/problem+json",
                check=lambda body: checks.problem_error(body, status=status),
            )
