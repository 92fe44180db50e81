"""Response models: the public contract, in OpenWeatherMap's current-weather shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    # Upstreams add fields over time and we pass on only ours: extras are ignored.
    model_config = ConfigDict(frozen=True, extra="ignore")


Number = int | float
"""A reading OpenWeatherMap has sent both as an integer and with a fraction (pressure, say)."""

# The response contract is lenient the way upstreams are: a body is refused (502) only when it
# lacks what no answer can do without (the place's name and coordinates, one condition, a
# temperature). Every other field is optional, and left out of our answer when the upstream
# left it out of its own.


class Coord(_Model):
    """Where the reading applies."""

    lon: float
    lat: float


class Condition(_Model):
    """One weather condition in OpenWeatherMap's terms (https://openweathermap.org/weather-conditions)."""

    id: int = Field(description="OpenWeatherMap condition code, e.g. 800 for a clear sky")
    main: str = Field(description="Group: Clear, Clouds, Rain, Snow, ...")
    description: str | None = None
    icon: str | None = Field(default=None, description="Icon name such as 01d")


class MainReadings(_Model):
    """Temperatures in the requested units; pressure in hPa; humidity in %."""

    temp: float
    feels_like: float | None = None
    temp_min: float | None = None
    temp_max: float | None = None
    pressure: Number | None = None
    humidity: Number | None = None


class Wind(_Model):
    """Speed in m/s (standard, metric) or mph (imperial); direction in degrees."""

    speed: float | None = None
    deg: Number | None = None
    gust: float | None = None


class Clouds(_Model):
    """Cloud cover in %."""

    all: Number | None = None


class Sys(_Model):
    """Country and the day's sunrise and sunset (Unix time, UTC); none of them at the poles."""

    country: str | None = None
    sunrise: int | None = None
    sunset: int | None = None


class CurrentWeather(_Model):
    """Current weather for one location, in OpenWeatherMap's `/data/2.5/weather` shape."""

    coord: Coord
    weather: list[Condition] = Field(min_length=1)
    main: MainReadings
    wind: Wind | None = None
    clouds: Clouds | None = None
    dt: int | None = Field(default=None, description="Time of the reading, Unix time, UTC")
    sys: Sys | None = None
    timezone: int | None = Field(default=None, description="Shift from UTC in seconds")
    id: int | None = Field(default=None, description="City id at the provider")
    name: str = Field(min_length=1)
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
