"""A deterministic synthetic world: where a city is, and what its weather is.

Both fakes read it and neither owns it: the stub upstream (`weather_api.stub`) writes the
answers of its fake OpenWeatherMap and Open-Meteo from it, and `--provider sample` answers
from it with no network. So it imports neither of them, nor anything else of the service.

The weather is told in WMO weather interpretation codes (WMO 4677, the present-weather
table), a public standard that belongs to no provider: each reader says it in its own terms.

Everything here is a pure function of its arguments, built on SHA-512 so that it is stable
across runs, machines and Python versions (`hash()` is salted per process):

* `geocode(city, country)` places a city within about 2 degrees of its country's centre (or
  anywhere, for a country code not in the table) on a 0.01 degree grid. Without a country,
  the country is picked from the table by the city's name, the same way for both APIs.
* `conditions_at(latitude, longitude)` derives the weather from the coordinates rounded to
  0.01 degree, so the OpenWeatherMap endpoint for "London,GB" and the Open-Meteo forecast for
  the coordinates the geocoder gives for London, GB describe the same weather.

Base values are metric, rounded so that unit conversions stay exact where they can: the
temperature has one decimal in degrees Celsius (so Kelvin and Fahrenheit have at most two)
and the wind one decimal in m/s. Every converted value is rounded to two decimals by the same
functions for both APIs, so the same unit asked of either API gives the same number.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

TemperatureUnit = Literal["celsius", "fahrenheit", "kelvin"]
SpeedUnit = Literal["ms", "kmh", "mph", "kn"]

_SPEED_FACTORS: dict[str, float] = {
    "ms": 1.0,
    "kmh": 3.6,
    "mph": 1 / 0.44704,  # a mile is 1609.344 m exactly
    "kn": 3600 / 1852,  # a nautical mile is 1852 m exactly
}

# code -> (name, latitude, longitude) of a rough centre of where people live.
COUNTRIES: dict[str, tuple[str, float, float]] = {
    "AR": ("Argentina", -34.0, -63.0),
    "AT": ("Austria", 47.6, 14.1),
    "AU": ("Australia", -30.0, 145.0),
    "BR": ("Brazil", -15.0, -47.0),
    "CA": ("Canada", 46.0, -79.0),
    "CH": ("Switzerland", 46.8, 8.2),
    "CN": ("China", 32.0, 114.0),
    "DE": ("Germany", 51.0, 10.0),
    "EG": ("Egypt", 28.0, 31.0),
    "ES": ("Spain", 40.0, -3.7),
    "FI": ("Finland", 62.0, 25.0),
    "FR": ("France", 46.5, 2.5),
    "GB": ("United Kingdom", 52.5, -1.5),
    "IE": ("Ireland", 53.2, -7.7),
    "IN": ("India", 22.0, 79.0),
    "IT": ("Italy", 42.8, 12.5),
    "JP": ("Japan", 36.0, 138.0),
    "KE": ("Kenya", -0.5, 37.0),
    "KR": ("South Korea", 36.5, 127.8),
    "MX": ("Mexico", 21.0, -101.0),
    "NG": ("Nigeria", 8.5, 7.5),
    "NL": ("Netherlands", 52.2, 5.3),
    "NO": ("Norway", 60.5, 9.0),
    "NZ": ("New Zealand", -40.0, 174.0),
    "PL": ("Poland", 52.0, 19.0),
    "PT": ("Portugal", 39.6, -8.2),
    "SE": ("Sweden", 59.5, 16.0),
    "TR": ("Turkey", 39.0, 33.0),
    "UA": ("Ukraine", 49.0, 31.0),
    "US": ("United States", 39.0, -95.0),
    "ZA": ("South Africa", -28.0, 26.0),
}
_DEFAULT_COUNTRY_ORDER = tuple(sorted(COUNTRIES))
_SPREAD_DEGREES = 2.0
_REGIONS = ("Northern", "Southern", "Eastern", "Western", "Central")


# The WMO codes the world can show, as the WMO names them.
WEATHER_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    51: "light drizzle",
    53: "moderate drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    71: "slight snowfall",
    73: "moderate snowfall",
    75: "heavy snowfall",
    80: "slight rain showers",
    81: "moderate rain showers",
    85: "slight snow showers",
    95: "thunderstorm",
}
# The codes the world draws from when a place has precipitation, above and below freezing.
_WET_CODES = (45, 51, 53, 61, 63, 65, 80, 81, 95)
_FROZEN_CODES = (45, 71, 73, 75, 85)


@dataclass(frozen=True, slots=True)
class Place:
    """A city as the geocoder sees it."""

    id: int
    name: str
    country_code: str
    country: str
    admin1: str
    latitude: float
    longitude: float
    elevation: float
    timezone: str
    population: int


@dataclass(frozen=True, slots=True)
class Site:
    """What is fixed about a spot on the 0.01 degree grid."""

    latitude: float
    longitude: float
    elevation: float
    utc_offset_seconds: int
    timezone: str
    timezone_abbreviation: str


@dataclass(frozen=True, slots=True)
class Conditions:
    """The current weather at a spot, in metric units."""

    site: Site
    temperature_c: float
    apparent_temperature_c: float
    temperature_min_c: float
    temperature_max_c: float
    relative_humidity: int
    pressure_msl: int
    """hPa at sea level; OpenWeatherMap's `pressure` and `sea_level`."""
    surface_pressure: int
    """hPa at the ground; OpenWeatherMap's `grnd_level`."""
    wind_speed_ms: float
    wind_gusts_ms: float
    wind_direction: int
    cloud_cover: int
    weather_code: int
    """A key of `WEATHER_CODES`."""
    visibility: int
    """Metres, capped at 10 km as OpenWeatherMap does."""
    station_id: int


def _uniforms(key: str) -> tuple[float, ...]:
    """Sixteen numbers in [0, 1) that depend only on `key`."""
    digest = hashlib.sha512(key.encode()).digest()
    return tuple(word / 2**32 for word in struct.unpack(">16I", digest))


def is_unknown_city(city: str) -> bool:
    """Whether the world pretends not to know a city: any name starting with "Nowhere"."""
    return city.strip().casefold().startswith("nowhere")


def normalise_city(city: str) -> str:
    """The display name of a city: spaces collapsed, each word capitalised."""
    return " ".join(word[:1].upper() + word[1:] for word in city.split())


def default_country(city: str) -> str:
    """The country code given to a city asked for without one."""
    (u, *_) = _uniforms(f"country:{normalise_city(city).casefold()}")
    return _DEFAULT_COUNTRY_ORDER[int(u * len(_DEFAULT_COUNTRY_ORDER))]


def _grid(value: float) -> float:
    return round(value, 2)


def _wrap_longitude(value: float) -> float:
    return (value + 180.0) % 360.0 - 180.0


@lru_cache(maxsize=4096)
def geocode(city: str, country: str | None = None) -> Place | None:
    """Where a city is, or None for an unknown city or a country code that is not two letters."""
    name = normalise_city(city)
    if not name or is_unknown_city(name):
        return None
    code = country.strip().upper() if country and country.strip() else default_country(name)
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        return None
    if code in COUNTRIES:
        country_name, centre_lat, centre_lon = COUNTRIES[code]
    else:
        # Somewhere stable for the countries the table leaves out, named by their code.
        c = _uniforms(f"centre:{code}")
        country_name, centre_lat, centre_lon = code, -45 + 105 * c[0], -180 + 360 * c[1]
    u = _uniforms(f"place:{name.casefold()}:{code}")
    latitude = _grid(max(-80.0, min(80.0, centre_lat + (2 * u[0] - 1) * _SPREAD_DEGREES)))
    longitude = _grid(_wrap_longitude(centre_lon + (2 * u[1] - 1) * _SPREAD_DEGREES))
    site = site_at(latitude, longitude)
    return Place(
        id=2_000_000 + int(u[2] * 8_000_000),
        name=name,
        country_code=code,
        country=country_name,
        admin1=f"{_REGIONS[int(u[3] * len(_REGIONS))]} {country_name}",
        latitude=site.latitude,
        longitude=site.longitude,
        elevation=site.elevation,
        timezone=site.timezone,
        population=int(10 ** (4 + 3 * u[4])),
    )


def _grid_key(latitude: float, longitude: float) -> tuple[int, int]:
    return round(latitude * 100), round(_wrap_longitude(longitude) * 100)


def site_at(latitude: float, longitude: float) -> Site:
    """The fixed facts of the grid point nearest to the coordinates."""
    return _site(*_grid_key(latitude, longitude))


@lru_cache(maxsize=16384)
def _site(lat100: int, lon100: int) -> Site:
    u = _uniforms(f"site:{lat100}:{lon100}")
    # Whole hours east of Greenwich, from the longitude alone, as ships keep time.
    hours = max(-12, min(14, round(lon100 / 1500)))
    if hours == 0:
        timezone, abbreviation = "GMT", "GMT"
    else:
        # The IANA Etc/ zones count the other way round: Etc/GMT-1 is one hour east.
        timezone, abbreviation = f"Etc/GMT{-hours:+d}", f"GMT{hours:+d}"
    return Site(
        latitude=lat100 / 100,
        longitude=lon100 / 100,
        elevation=float(round(u[0] * u[1] * 900)),
        utc_offset_seconds=hours * 3600,
        timezone=timezone,
        timezone_abbreviation=abbreviation,
    )


def conditions_at(latitude: float, longitude: float) -> Conditions:
    """The current weather at the grid point nearest to the coordinates."""
    return _conditions(*_grid_key(latitude, longitude))


@lru_cache(maxsize=16384)
def _conditions(lat100: int, lon100: int) -> Conditions:
    site = _site(lat100, lon100)
    u = _uniforms(f"weather:{lat100}:{lon100}")
    # Warmer towards the equator and cooler with height, plus the luck of the day.
    temperature = round(
        30 - 0.4 * abs(site.latitude) - 6.5 * site.elevation / 1000 + (u[0] - 0.5) * 12, 1
    )
    humidity = 35 + int(u[1] * 66)
    wind = round(u[2] * 12, 1)
    wet = u[3] < 0.35
    if wet:
        codes = _FROZEN_CODES if temperature <= 0.5 else _WET_CODES
        code = codes[int(u[4] * len(codes))]
        cloud_cover = 85 + int(u[5] * 16)
        humidity = max(humidity, 80)
        visibility = 800 if code == 45 else 4000 + int(u[6] * 5000)
    else:
        cloud_cover = int(u[5] * 101)
        code = 0 if cloud_cover < 11 else 1 if cloud_cover < 26 else 2 if cloud_cover < 85 else 3
        visibility = 10000
    # Wind chill below 10 C, muggy heat above 26 C.
    apparent = temperature
    if temperature < 10:
        apparent -= 0.7 * wind
    elif temperature > 26:
        apparent += (humidity - 40) * 0.1
    pressure_msl = 985 + int(u[7] * 50)
    return Conditions(
        site=site,
        temperature_c=temperature,
        apparent_temperature_c=round(apparent, 1),
        temperature_min_c=round(temperature - 1 - u[8] * 4, 1),
        temperature_max_c=round(temperature + 1 + u[9] * 4, 1),
        relative_humidity=humidity,
        pressure_msl=pressure_msl,
        surface_pressure=round(pressure_msl - site.elevation / 8.3),
        wind_speed_ms=wind,
        wind_gusts_ms=round(wind * (1.3 + u[10] * 0.5), 1),
        wind_direction=int(u[11] * 360),
        cloud_cover=cloud_cover,
        weather_code=code,
        visibility=visibility,
        station_id=2_000_000 + int(u[12] * 100_000),
    )


def convert_temperature(celsius: float, unit: TemperatureUnit) -> float:
    """A temperature in degrees Celsius, in `unit`, rounded to two decimals."""
    if unit == "kelvin":
        return round(celsius + 273.15, 2)
    if unit == "fahrenheit":
        return round(celsius * 9 / 5 + 32, 2)
    return round(celsius, 2)


def convert_speed(metres_per_second: float, unit: SpeedUnit) -> float:
    """A speed in m/s, in `unit`, rounded to two decimals."""
    return round(metres_per_second * _SPEED_FACTORS[unit], 2)


def local_day(now: float, utc_offset_seconds: int) -> int:
    """Days since 1970-01-01 of the local date at `now`."""
    return int((now + utc_offset_seconds) // 86400)


def sun_times(latitude: float, longitude: float, *, day: int) -> tuple[int, int]:
    """Unix times of sunrise and sunset on the local date `day` (days since the epoch)."""
    # Days since the December solstice; 1969-12-22 was day -10.
    day_of_year = (day + 10) % 365.2422
    declination = -23.44 * math.cos(2 * math.pi * day_of_year / 365.2422)
    cos_hour_angle = -math.tan(math.radians(latitude)) * math.tan(math.radians(declination))
    # Clamped so that polar days and nights still get a sunrise and a sunset.
    hour_angle = math.degrees(math.acos(max(-0.96, min(0.96, cos_hour_angle))))
    solar_noon = day * 86400 + 43200 - longitude * 240
    half_day = hour_angle * 240
    return round(solar_noon - half_day), round(solar_noon + half_day)
