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
_LONDON_FORECAST: dict[str, Any] = {
    "cod": "200",
    "message": 0,
    "cnt": 1,
    "list": [
        {
            "dt": 1732784400,
            "main": {"temp": 284.2, "temp_min": 283.15, "temp_max": 285.37, "humidity": 73},
            "weather": [{"id": 500, "main": "Rain", "description": "light rain", "icon": "10d"}],
            "clouds": {"all": 90},
            "wind": {"speed": 4.63, "deg": 250},
            "pop": 0.4,
            "dt_txt": "2024-11-28 09:00:00",
        }
    ],
    "city": {
        "id": 2643743,
        "name": "London",
        "coord": {"lat": 51.5085, "lon": -0.1257},
        "country": "GB",
        "timezone": 0,
    },
}
_TIMEOUT: dict[str, Any] = {
    "type": "/problems/upstream-timeout",
    "title": "Weather upstream timed out",
    "status": 504,
    "detail": "the weather upstream did not answer in time",
    "instance": "/paris/fr/",
}


class _Model(BaseModel):
    # Upstreams add fields over time and we pass on only ours: extras are ignored.
    model_config = ConfigDict(frozen=True, extra="ignore")


Number = int | float
"""A reading OpenWeatherMap has sent both as an integer and with a fraction (pressure, say)."""

# The response contract is lenient the way upstreams are: a body is refused (502) only when it
# lacks what no answer can do without (the place's name field and coordinates, one condition, a
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

    model_config = ConfigDict(json_schema_extra={"examples": [_LONDON]})

    coord: Coord
    weather: list[Condition] = Field(min_length=1)
    main: MainReadings
    wind: Wind | None = None
    clouds: Clouds | None = None
    dt: int | None = Field(default=None, description="Time of the reading, Unix time, UTC")
    sys: Sys | None = None
    timezone: int | None = Field(default=None, description="Shift from UTC in seconds")
    id: int | None = Field(default=None, description="City id at the provider")
    name: str = Field(
        description="City name; empty for coordinates with no named place, as OpenWeatherMap"
    )
    cod: int = Field(default=200, description="Always 200, as OpenWeatherMap sends it")


FORECAST_STEPS = 40
"""OpenWeatherMap's 5-day forecast: 40 steps of 3 hours."""
FORECAST_STEP_SECONDS = 3 * 3600


class ForecastStep(_Model):
    """Three hours of a forecast, from `dt` (Unix time, UTC, on a 3-hour boundary)."""

    dt: int
    main: MainReadings
    weather: list[Condition] = Field(min_length=1)
    clouds: Clouds | None = None
    wind: Wind | None = None
    visibility: int | None = None
    pop: float = Field(default=0, ge=0, le=1, description="Probability of precipitation, 0-1")
    dt_txt: str = Field(description="`dt` as YYYY-MM-DD HH:MM:SS, UTC")


class ForecastCity(_Model):
    """The place a forecast is for."""

    id: int | None = None
    name: str
    coord: Coord
    country: str | None = None
    population: int | None = None
    timezone: int | None = Field(default=None, description="Shift from UTC in seconds")
    sunrise: int | None = None
    sunset: int | None = None


class Forecast(_Model):
    """OpenWeatherMap's `/data/2.5/forecast`: 3-hour steps over 5 days, and the place."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LONDON_FORECAST]})

    cod: str = Field(default="200", description='"200", a string, as OpenWeatherMap sends it')
    message: int = 0
    cnt: int
    list: list[ForecastStep]
    city: ForecastCity


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
