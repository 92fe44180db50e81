"""Input rules: the cities, countries and languages the service takes, and their normal forms."""

from __future__ import annotations

import pytest

from weather_api.errors import InvalidQuery
from weather_api.locations import Location, parse_lang, parse_location, parse_q


@pytest.mark.parametrize(
    ("city", "country", "expected"),
    [
        ("London", "GB", Location("London", "GB")),
        ("london", "uk", Location("london", "GB")),
        ("  New   York ", "us", Location("New York", "US")),
        ("São Paulo", "BR", Location("São Paulo", "BR")),
        ("Zürich", "ch", Location("Zürich", "CH")),
        ("東京", "JP", Location("東京", "JP")),
        ("Москва", "RU", Location("Москва", "RU")),
        ("नई दिल्ली", "IN", Location("नई दिल्ली", "IN")),
        ("St. John's", "CA", Location("St. John's", "CA")),
        ("Stratford-upon-Avon", "GB", Location("Stratford-upon-Avon", "GB")),
        ("a" * 85, "FR", Location("a" * 85, "FR")),
    ],
)
def test_accepts_and_normalises_good_locations(city: str, country: str, expected: Location) -> None:
    """Letters of any script, spaces, -, ' and . are cities; any-case ISO codes are countries."""
    assert parse_location(city, country) == expected


@pytest.mark.parametrize(
    ("city", "country"),
    [
        ("", "GB"),
        ("   ", "GB"),
        ("london&appid=x", "GB"),
        ("../etc", "GB"),
        ("..", "GB"),
        ("a" * 86, "GB"),
        ("x" * 10_000, "GB"),
        ("London1", "GB"),
        ("Lon/don", "GB"),
        ("Lon%don", "GB"),
        ("<script>", "GB"),
        ("London", ""),
        ("London", "G"),
        ("London", "GBR"),
        ("London", "XX"),
        ("London", "1A"),
        ("London", "../"),
    ],
)
def test_rejects_bad_locations(city: str, country: str) -> None:
    """Anything else is an InvalidQuery (a 422 for the client)."""
    with pytest.raises(InvalidQuery):
        parse_location(city, country)


def test_q_form_splits_on_the_last_comma() -> None:
    """`City,CC` is the batch form; a city without a country is refused."""
    assert parse_q("London,gb") == Location("London", "GB")
    with pytest.raises(InvalidQuery, match="City,CC"):
        parse_q("London")


@pytest.mark.parametrize(("raw", "expected"), [("en", "en"), ("DE", "de"), ("pt-BR", "pt_br")])
def test_language_codes_are_normalised(raw: str, expected: str) -> None:
    """Language codes are lower-cased with an underscore, as OpenWeatherMap takes them."""
    assert parse_lang(raw) == expected


@pytest.mark.parametrize("raw", ["", "english", "e1", "en_", "en_usa"])
def test_bad_language_codes_are_refused(raw: str) -> None:
    """Anything but a two-letter code with an optional region is refused."""
    with pytest.raises(InvalidQuery):
        parse_lang(raw)
