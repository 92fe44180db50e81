"""Input rules: the cities, countries and languages the service takes, and their normal forms."""

from __future__ import annotations

import re

import pytest

from weather_api.errors import InvalidQuery
from weather_api.locations import (
    CITY_PATTERN,
    COUNTRY_PATTERN,
    Location,
    Units,
    WeatherQuery,
    parse_city_request,
    parse_lang,
    parse_location,
    parse_q,
)


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
        ("London", " gb"),
        ("0" * 84, "GB"),
        ("Lon\tdon", "GB"),
        ("\U00020bb7", "JP"),  # a letter beyond the BMP: not in the published pattern
        (" " * 80 + "a" * 6, "GB"),  # 86 characters as sent
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


LONDON, METRIC, PT = Location("london", "GB"), Units.METRIC, "pt_br"


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/london/uk/", b"", WeatherQuery(LONDON)),
        ("/london/Gb", b"units=metric&lang=pt-BR", WeatherQuery(LONDON, units=METRIC, lang=PT)),
        ("/london/uk/", b"units=imperial&units=metric", WeatherQuery(LONDON, units=METRIC)),
        ("/london/uk/", b"appid=x&&q&lang=de", WeatherQuery(LONDON, lang="de")),
        ("/london/uk/x", b"", None),
        ("//uk/", b"", None),
        ("/london//", b"", None),
        ("london/uk/", b"", None),
    ],
)  # fmt: skip
def test_a_city_request_is_read_as_the_route_reads_it(
    path: str, query: bytes, expected: WeatherQuery | None
) -> None:
    """Path and query string to a query: the last repeated parameter counts, others are ignored."""
    assert parse_city_request(path, query) == expected


@pytest.mark.parametrize(
    ("path", "query", "detail"),
    [
        ("/lond0n/uk/", b"", "city may contain only"),
        ("/.-/uk/", b"", "city must contain a letter"),
        ("/london/xx/", b"", "country must be"),
        ("/london/uk/", b"units=", "units must be one of standard, metric, imperial"),
        ("/london/uk/", b"units=Metric", "units must be"),
        ("/london/uk/", b"lang=en%0A", "lang must be"),
    ],
)
def test_a_bad_city_request_is_a_problem(path: str, query: bytes, detail: str) -> None:
    """A malformed city, country, units or lang is returned as the InvalidQuery to answer."""
    problem = parse_city_request(path, query)
    assert isinstance(problem, InvalidQuery)
    assert problem.detail.startswith(detail)


def test_the_published_patterns_are_what_any_regex_engine_reads() -> None:
    """No Unicode property escapes: the same in Python and ECMA-262 with or without `u`."""
    for pattern in (CITY_PATTERN, COUNTRY_PATTERN):
        assert "\\p" not in pattern
        assert "(?" not in pattern.replace("(?:", "")  # no inline flags or look-arounds
    assert re.fullmatch(COUNTRY_PATTERN, "uK")
    assert not re.fullmatch(COUNTRY_PATTERN, "XX")
