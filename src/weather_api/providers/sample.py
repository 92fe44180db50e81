"""Plausible, deterministic weather made up from the location: no network, no key.

It reads the synthetic world (`weather_api.synthetic`) that the stub upstream also answers
from, so a city reads the same through `--provider sample` as through either real provider
pointed at the stub. It shares no code with the stub: the world is all they have in common.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from weather_api.errors import LocationNotFound
from weather_api.locations import CityId, Coordinates, Units, WeatherQuery
from weather_api.providers.wmo import owm_condition
from weather_api.schemas import (
    FORECAST_STEP_SECONDS,
    FORECAST_STEPS,
    Clouds,
    Condition,
    Coord,
    CurrentWeather,
    Forecast,
    ForecastCity,
    ForecastStep,
    MainReadings,
    Sys,
    Wind,
)
from weather_api.synthetic import (
    SpeedUnit,
    TemperatureUnit,
    conditions_at,
    convert_speed,
    convert_temperature,
    geocode,
    local_day,
    sun_times,
)

_UNITS: dict[Units, tuple[TemperatureUnit, SpeedUnit]] = {
    Units.STANDARD: ("kelvin", "ms"),
    Units.METRIC: ("celsius", "ms"),
    Units.IMPERIAL: ("fahrenheit", "mph"),
}


class SampleProvider:
    """Made-up weather; cities whose name starts with "Nowhere" do not exist."""

    name = "sample"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """The synthetic world's weather at `query.location`, in `query.units`."""
        location = query.location
        if isinstance(location, CityId):
            raise LocationNotFound(
                "The samples have no city ids: id lookups need --provider openweathermap."
            )
        if isinstance(location, Coordinates):
            latitude, longitude, name, country, city_id = location.lat, location.lon, "", "", None
        else:
            place = geocode(location.city, location.country or None)
            if place is None:
                raise LocationNotFound(f"There is no city {location}, not even in the samples.")
            latitude, longitude, name = place.latitude, place.longitude, place.name
            country, city_id = place.country_code, place.id
        now = int(self._clock())
        weather = conditions_at(latitude, longitude)
        site = weather.site
        sunrise, sunset = sun_times(
            site.latitude, site.longitude, day=local_day(now, site.utc_offset_seconds)
        )
        temperature, speed = _UNITS[query.units]
        return CurrentWeather(
            coord=Coord(lon=site.longitude, lat=site.latitude),
            weather=[
                Condition.model_validate(
                    owm_condition(weather.weather_code, is_day=sunrise <= now < sunset)
                )
            ],
            main=MainReadings(
                temp=convert_temperature(weather.temperature_c, temperature),
                feels_like=convert_temperature(weather.apparent_temperature_c, temperature),
                temp_min=convert_temperature(weather.temperature_min_c, temperature),
                temp_max=convert_temperature(weather.temperature_max_c, temperature),
                pressure=weather.pressure_msl,
                humidity=weather.relative_humidity,
            ),
            wind=Wind(
                speed=convert_speed(weather.wind_speed_ms, speed),
                deg=weather.wind_direction,
                gust=convert_speed(weather.wind_gusts_ms, speed),
            ),
            clouds=Clouds(all=weather.cloud_cover),
            dt=now,
            sys=Sys(country=country or None, sunrise=sunrise, sunset=sunset),
            timezone=site.utc_offset_seconds,
            id=city_id,
            name=name,
        )

    async def forecast(self, query: WeatherQuery) -> Forecast:
        """The synthetic world's weather, which does not change, for the next 40 steps."""
        now = await self.current(query)
        first = (int(self._clock()) // FORECAST_STEP_SECONDS + 1) * FORECAST_STEP_SECONDS
        steps = [
            ForecastStep(
                dt=moment,
                main=now.main,
                weather=now.weather,
                clouds=now.clouds,
                wind=now.wind,
                pop=0,
                dt_txt=datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
            )
            for moment in range(
                first, first + FORECAST_STEPS * FORECAST_STEP_SECONDS, FORECAST_STEP_SECONDS
            )
        ]
        sys = now.sys or Sys()
        return Forecast(
            cnt=len(steps),
            list=steps,
            city=ForecastCity(
                id=now.id,
                name=now.name,
                coord=now.coord,
                country=sys.country,
                timezone=now.timezone,
                sunrise=sys.sunrise,
                sunset=sys.sunset,
            ),
        )
