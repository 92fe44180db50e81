"""Plausible, deterministic weather made up from the location: no network, no key.

It answers from the same synthetic world as the stub upstream (`weather_api.stub`), so a city
reads the same through `--provider sample` as through either real provider pointed at the stub.
"""

from __future__ import annotations

import time

from weather_api.errors import LocationNotFound
from weather_api.locations import WeatherQuery
from weather_api.schemas import CurrentWeather
from weather_api.stub.owm import current_weather


class SampleProvider:
    """Made-up weather; cities whose name starts with "Nowhere" do not exist."""

    name = "sample"

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """The synthetic world's weather at `query.location`, in `query.units`."""
        status, body = current_weather(
            {"q": str(query.location), "units": query.units.value, "appid": "sample"},
            now=int(time.time()),
        )
        if status == 404:
            raise LocationNotFound(f"There is no city {query.location}, not even in the samples.")
        return CurrentWeather.model_validate(body)
