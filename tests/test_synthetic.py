"""The synthetic world both fakes read: places, weather and units."""

from __future__ import annotations

import pytest

from weather_api import synthetic as data


def test_geocode_is_deterministic_and_on_the_grid() -> None:
    """The same city and country always land on the same 0.01 degree grid point."""
    first = data.geocode("London", "GB")
    assert first is not None
    data.geocode.cache_clear()
    again = data.geocode("London", "GB")
    assert again == first
    assert round(first.latitude, 2) == first.latitude
    assert round(first.longitude, 2) == first.longitude
    assert abs(first.latitude - 52.5) <= 2
    assert abs(first.longitude + 1.5) <= 2


def test_geocode_normalises_names_and_codes() -> None:
    """Case and spacing of the name and of the country code do not change the place."""
    place = data.geocode("  new   york ", "us")
    assert place is not None
    assert place.name == "New York"
    assert place.country_code == "US"
    assert place.country == "United States"
    assert data.geocode("New York", "US") == place


def test_geocode_without_country_uses_the_default_country() -> None:
    """A city without a country gets the country `default_country` picks for its name."""
    place = data.geocode("Springfield")
    assert place is not None
    assert place.country_code == data.default_country("Springfield")
    assert place == data.geocode("Springfield", data.default_country("springfield"))
    assert data.geocode("Springfield", " ") == place


@pytest.mark.parametrize("city", ["Nowhere", "nowhereville", "  NOWHERE land", "", "   "])
def test_unknown_cities_are_not_found(city: str) -> None:
    """Names starting with "Nowhere" (any case) and empty names are unknown."""
    assert data.geocode(city, "GB") is None


@pytest.mark.parametrize("country", ["GBR", "G", "1A", "ÄB"])
def test_country_codes_must_be_two_ascii_letters(country: str) -> None:
    """A country code that is not two ASCII letters finds nothing."""
    assert data.geocode("London", country) is None


def test_country_outside_the_table_is_still_a_place() -> None:
    """A two-letter code missing from the table gets a stable spot, named by its code."""
    place = data.geocode("Reykjavik", "IS")
    assert place is not None
    assert place.country == "IS"
    assert place == data.geocode("Reykjavik", "is")


def test_weather_comes_from_the_rounded_coordinates() -> None:
    """Coordinates that round to the same grid point have the same weather."""
    place = data.geocode("Paris", "FR")
    assert place is not None
    exact = data.conditions_at(place.latitude, place.longitude)
    nearby = data.conditions_at(place.latitude + 0.004, place.longitude - 0.004)
    assert nearby == exact
    assert exact.site.elevation == place.elevation
    assert exact.site.timezone == place.timezone


def test_weather_is_plausible_everywhere() -> None:
    """Every grid point sampled has values within physical ranges and a known WMO code."""
    for lat in range(-80, 81, 7):
        for lon in range(-180, 180, 13):
            weather = data.conditions_at(lat + 0.37, lon + 0.11)
            assert -40 < weather.temperature_c < 45
            assert weather.temperature_min_c < weather.temperature_c < weather.temperature_max_c
            assert 35 <= weather.relative_humidity <= 100
            assert 985 <= weather.pressure_msl < 1035
            assert weather.surface_pressure <= weather.pressure_msl
            assert 0 <= weather.wind_speed_ms <= weather.wind_gusts_ms
            assert 0 <= weather.wind_direction < 360
            assert 0 <= weather.cloud_cover <= 100
            assert weather.weather_code in data.WEATHER_CODES
            assert -12 * 3600 <= weather.site.utc_offset_seconds <= 14 * 3600


def test_wet_and_dry_codes_match_the_cloud_cover() -> None:
    """Dry codes follow the cloud cover; precipitation comes with a mostly covered sky."""
    seen = set()
    for lat in range(-60, 61, 3):
        for lon in range(-180, 180, 9):
            weather = data.conditions_at(lat, lon)
            seen.add(weather.weather_code)
            if weather.weather_code >= 45:
                assert weather.cloud_cover >= 85
            elif weather.weather_code == 0:
                assert weather.cloud_cover < 11
    assert {0, 1, 2, 3, 45, 61, 95} <= seen
    assert seen & {71, 73, 75, 85}, "some place cold enough for snow"
    assert seen <= set(data.WEATHER_CODES)


def test_timezone_follows_longitude() -> None:
    """The offset is whole hours from the longitude, with the IANA Etc/ sign convention."""
    east = data.site_at(10.0, 30.0)
    assert east.utc_offset_seconds == 7200
    assert east.timezone == "Etc/GMT-2"
    assert east.timezone_abbreviation == "GMT+2"
    west = data.site_at(10.0, -75.0)
    assert west.utc_offset_seconds == -5 * 3600
    assert west.timezone == "Etc/GMT+5"
    greenwich = data.site_at(51.0, 0.0)
    assert (greenwich.timezone, greenwich.utc_offset_seconds) == ("GMT", 0)


@pytest.mark.parametrize(
    ("celsius", "unit", "expected"),
    [
        (12.3, "celsius", 12.3),
        (12.3, "kelvin", 285.45),
        (12.3, "fahrenheit", 54.14),
        (-40.0, "fahrenheit", -40.0),
    ],
)
def test_temperature_conversion(
    celsius: float, unit: data.TemperatureUnit, expected: float
) -> None:
    """Temperatures convert exactly for one-decimal Celsius input."""
    assert data.convert_temperature(celsius, unit) == expected


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("ms", 5.5), ("kmh", 19.8), ("mph", 12.3), ("kn", 10.69)],
)
def test_speed_conversion(unit: data.SpeedUnit, expected: float) -> None:
    """Speeds convert from m/s with exact factors, rounded to two decimals."""
    assert data.convert_speed(5.5, unit) == expected


@pytest.mark.parametrize(("latitude", "day"), [(51.5, 20785), (51.5, 20635), (-33.9, 20635)])
def test_sun_times_are_in_order_and_on_the_day(latitude: float, day: int) -> None:
    """Sunrise comes before sunset, both near the local day's solar noon."""
    sunrise, sunset = data.sun_times(latitude, 0.0, day=day)
    noon = day * 86400 + 43200
    assert noon - 12 * 3600 < sunrise < noon < sunset < noon + 12 * 3600
    assert sunrise + sunset == pytest.approx(2 * noon, abs=2)


def test_days_are_longer_in_summer() -> None:
    """London's day in June is longer than in December, and the reverse in Sydney."""
    june, december = 20635, 20808  # 2026-07-01 and 2026-12-22

    def length(latitude: float, day: int) -> int:
        sunrise, sunset = data.sun_times(latitude, 0.0, day=day)
        return sunset - sunrise

    assert length(51.5, june) > 16 * 3600 > 8 * 3600 > length(51.5, december)
    assert length(-33.9, june) < length(-33.9, december)


def test_polar_days_still_have_a_sunrise() -> None:
    """Beyond the polar circles the day is clamped, never missing."""
    sunrise, sunset = data.sun_times(85.0, 0.0, day=20635)
    assert 0 < sunset - sunrise < 24 * 3600


def test_local_day_uses_the_offset() -> None:
    """The local date flips at local midnight, not at UTC midnight."""
    late_utc = 20785 * 86400 + 23 * 3600
    assert data.local_day(late_utc, 0) == 20785
    assert data.local_day(late_utc, 2 * 3600) == 20786
    assert data.local_day(20785 * 86400 + 3600, -2 * 3600) == 20784
