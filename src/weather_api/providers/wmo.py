"""WMO weather interpretation codes (Open-Meteo's `weather_code`) as OpenWeatherMap conditions."""

from __future__ import annotations

from typing import NamedTuple


class OwmCondition(NamedTuple):
    """An OpenWeatherMap condition: id, group, description, icon without the d/n suffix."""

    id: int
    main: str
    description: str
    icon: str


WMO_TO_OWM: dict[int, OwmCondition] = {
    0: OwmCondition(800, "Clear", "clear sky", "01"),
    1: OwmCondition(801, "Clouds", "few clouds", "02"),
    2: OwmCondition(802, "Clouds", "scattered clouds", "03"),
    3: OwmCondition(804, "Clouds", "overcast clouds", "04"),
    45: OwmCondition(741, "Fog", "fog", "50"),
    48: OwmCondition(741, "Fog", "fog", "50"),
    51: OwmCondition(300, "Drizzle", "light intensity drizzle", "09"),
    53: OwmCondition(301, "Drizzle", "drizzle", "09"),
    55: OwmCondition(302, "Drizzle", "heavy intensity drizzle", "09"),
    56: OwmCondition(511, "Rain", "freezing rain", "13"),
    57: OwmCondition(511, "Rain", "freezing rain", "13"),
    61: OwmCondition(500, "Rain", "light rain", "10"),
    63: OwmCondition(501, "Rain", "moderate rain", "10"),
    65: OwmCondition(502, "Rain", "heavy intensity rain", "10"),
    66: OwmCondition(511, "Rain", "freezing rain", "13"),
    67: OwmCondition(511, "Rain", "freezing rain", "13"),
    71: OwmCondition(600, "Snow", "light snow", "13"),
    73: OwmCondition(601, "Snow", "snow", "13"),
    75: OwmCondition(602, "Snow", "heavy snow", "13"),
    77: OwmCondition(600, "Snow", "light snow", "13"),
    80: OwmCondition(520, "Rain", "light intensity shower rain", "09"),
    81: OwmCondition(521, "Rain", "shower rain", "09"),
    82: OwmCondition(522, "Rain", "heavy intensity shower rain", "09"),
    85: OwmCondition(620, "Snow", "light shower snow", "13"),
    86: OwmCondition(622, "Snow", "heavy shower snow", "13"),
    95: OwmCondition(211, "Thunderstorm", "thunderstorm", "11"),
    96: OwmCondition(201, "Thunderstorm", "thunderstorm with rain", "11"),
    99: OwmCondition(202, "Thunderstorm", "thunderstorm with heavy rain", "11"),
}


def owm_condition(wmo_code: int, *, is_day: bool) -> dict[str, int | str]:
    """The OpenWeatherMap `weather[]` entry for a WMO code, day or night icon."""
    known = WMO_TO_OWM.get(wmo_code)
    if known is None:
        # Codes outside the WMO table Open-Meteo documents; say so rather than guess.
        known = OwmCondition(804, "Clouds", f"unknown (WMO code {wmo_code})", "04")
    return {
        "id": known.id,
        "main": known.main,
        "description": known.description,
        "icon": known.icon + ("d" if is_day else "n"),
    }
