"""The one interface every upstream implements."""

from __future__ import annotations

from typing import Protocol

from weather_api.locations import WeatherQuery
from weather_api.schemas import CurrentWeather, Forecast


class WeatherProvider(Protocol):
    """Current weather from one upstream, mapped into OpenWeatherMap's shape.

    Implementations raise only `weather_api.errors` exceptions.
    """

    name: str

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """The weather now at `query.location`, in `query.units`."""
        ...

    async def forecast(self, query: WeatherQuery) -> Forecast:
        """The next 5 days in 3-hour steps (schemas.FORECAST_STEPS) at `query.location`."""
        ...
