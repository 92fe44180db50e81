"""Response models: the public contract, in OpenWeatherMap's current-weather shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Example answers, shown by Swagger UI and ReDoc.
_LONDON: dict[str, Any] = {
    "coord": {"lon": -0.1257, "lat": 51.5085},
    "weather": [{"id": 803, "main": "Clouds", "description": "broken clouds", "icon": "04d"}],
    "main": {
        "temp": 284.2,
        "feels_like": 283.37,
        "temp_min": 283.15,
        "temp_max": 285.37,
        "pressure": 1012,
        "humidity": 73,
    },
    "wind": {"speed": 4.63, "deg": 250},
    "clouds": {"all": 75},
    "dt": 1732780800,
    "sys": {"country": "GB", "sunrise": 1732779436, "sunset": 1732809390},
    "timezone": 0,
    "id": 2643743,
    "name": "London",
    "cod": 200,
}
_TIMEOUT: dict[str, Any] = {
    "type": "/problems/upstream-timeout",
    "title": "Weather upstream timed out",
    "status": 504,
    "detail": "the weather upstream did not answer in time",
    "instance": "/paris/fr/",
}


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

    model_config = ConfigDict(json_schema_extra={"examples": [_LONDON]})

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
    """An RFC 9457 problem detail; `type` is a page on this service, /problems/<slug>."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TIMEOUT]})

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"q": "London,GB", "status": 200, "weather": _LONDON},
                        {"q": "Paris,FR", "status": 504, "problem": _TIMEOUT},
                    ]
                }
            ]
        }
    )

    results: list[BatchWeather | BatchProblem]


class Health(BaseModel):
    """Liveness and readiness answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok", "ready", "starting", "draining"]
