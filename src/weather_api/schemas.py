"""Response models: the public contract, in OpenWeatherMap's current-weather shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Coord(_Model):
    """Where the reading applies."""

    lon: float
    lat: float


class Condition(_Model):
    """One weather condition in OpenWeatherMap's terms (https://openweathermap.org/weather-conditions)."""

    id: int = Field(description="OpenWeatherMap condition code, e.g. 800 for a clear sky")
    main: str = Field(description="Group: Clear, Clouds, Rain, Snow, ...")
    description: str
    icon: str = Field(description="Icon name such as 01d")


class MainReadings(_Model):
    """Temperatures in the requested units; pressure in hPa; humidity in %."""

    temp: float
    feels_like: float
    temp_min: float
    temp_max: float
    pressure: int
    humidity: int


class Wind(_Model):
    """Speed in m/s (standard, metric) or mph (imperial); direction in degrees."""

    speed: float
    deg: int
    gust: float | None = None


class Clouds(_Model):
    """Cloud cover in %."""

    all: int


class Sys(_Model):
    """Country and the day's sunrise and sunset (Unix time, UTC)."""

    country: str
    sunrise: int
    sunset: int


class CurrentWeather(_Model):
    """Current weather for one location, in OpenWeatherMap's `/data/2.5/weather` shape."""

    coord: Coord
    weather: list[Condition]
    main: MainReadings
    wind: Wind
    clouds: Clouds
    dt: int = Field(description="Time of the reading, Unix time, UTC")
    sys: Sys
    timezone: int = Field(description="Shift from UTC in seconds")
    id: int = Field(description="City id at the provider")
    name: str
    cod: int = Field(default=200, description="Always 200, as OpenWeatherMap sends it")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    retry_after: int | None = Field(default=None, description="Seconds; with status 503")


class BatchWeather(BaseModel):
    """One location of a batch request that succeeded."""

    q: str
    status: Literal[200] = 200
    weather: CurrentWeather


class BatchProblem(BaseModel):
    """One location of a batch request that failed."""

    q: str
    status: int
    problem: Problem


class BatchResponse(BaseModel):
    """A batch answer: one entry per requested location, in request order."""

    results: list[BatchWeather | BatchProblem]


class Health(BaseModel):
    """Liveness and readiness answers."""

    status: Literal["ok", "ready", "starting", "draining"]
