"""What a client may ask for (city, country, units, language), checked and normalised.

`parse_city_request` is the one reading of a `/{city}/{country}/` request, for the pure-ASGI fast
path and FastAPI's route alike; the patterns below are what it checks, and the route publishes
them verbatim in the OpenAPI description (each reads the same in Python's `re` and in ECMA-262,
with or without its `u` flag).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

from weather_api.errors import InvalidQuery

CITY_MAX_LENGTH = 85

# ISO 3166-1 alpha-2, officially assigned codes.
_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
_ISO_COUNTRIES = frozenset(_ISO_CODES.split())
# Codes people use that ISO reserves for the same country; the old app was called with `uk`.
_ALIASES = {"UK": "GB"}


def _classes() -> tuple[str, str, str]:
    """Regex class bodies (`\\uXXXX-\\uXXXX...`) of the BMP's letters, marks, and both.

    Letters are `str.isalpha` (exactly the L* categories); marks (M*) carry accents in
    decomposed scripts such as Devanagari. Written out rather than as `\\p{L}`: Python's `re`
    has no property escapes, and clients that compile the OpenAPI pattern without ECMA-262's
    `u` flag (Swagger UI) read `\\p{L}` as the letters "p{L}". Beyond the BMP their code units
    would be surrogate pairs, so those are not taken.
    """
    category = unicodedata.category
    # Surrogates are neither letters nor marks (category Cs).
    letters = [chr(code).isalpha() for code in range(0x10000)]
    marks = [category(chr(code))[0] == "M" for code in range(0x10000)]
    either = [letter or mark for letter, mark in zip(letters, marks, strict=True)]

    def body(flags: list[bool]) -> str:
        parts = []
        for taken, run in itertools.groupby(range(0x10000), flags.__getitem__):
            if taken:
                low, *rest = run
                high = rest[-1] if rest else low
                parts.append(f"\\u{low:04X}" if low == high else f"\\u{low:04X}-\\u{high:04X}")
        return "".join(parts)

    return body(letters), body(marks), body(either)


_LETTERS, _MARKS, _LETTERS_AND_MARKS = _classes()
CITY_PATTERN = f"^[{_MARKS} .'-]*[{_LETTERS}][{_LETTERS_AND_MARKS} .'-]*$"
"""Letters (L*) and marks (M*) of any script in the BMP, spaces, `-`, `'` and `.`, with at least
one letter, by this Python's Unicode tables (`unicodedata.unidata_version`)."""
_CITY_RE = re.compile(CITY_PATTERN)
_CITY_CHARACTERS = re.compile(f"[{_LETTERS_AND_MARKS} .'-]*")


def _country_pattern() -> str:
    # One alternative per first letter, either case: ECMA-262 has no inline (?i).
    seconds: dict[str, list[str]] = {}
    for code in sorted(_ISO_COUNTRIES | _ALIASES.keys()):
        seconds.setdefault(code[0], []).append(code[1])
    groups = (
        f"[{first}{first.lower()}][{''.join(rest)}{''.join(rest).lower()}]"
        for first, rest in seconds.items()
    )
    return f"^(?:{'|'.join(groups)})$"


COUNTRY_PATTERN = _country_pattern()
"""An ISO 3166-1 alpha-2 code (or `uk`), in any case."""
_COUNTRY_RE = re.compile(COUNTRY_PATTERN)
LANG_PATTERN = r"^[A-Za-z]{2}([_-][A-Za-z]{2})?$"
"""What `lang` may look like before `parse_lang` normalises it."""
_LANG_RE = re.compile(LANG_PATTERN)


class Units(StrEnum):
    """OpenWeatherMap's unit systems."""

    STANDARD = "standard"
    """Kelvin, metre/second."""
    METRIC = "metric"
    """Celsius, metre/second."""
    IMPERIAL = "imperial"
    """Fahrenheit, miles/hour."""


@dataclass(frozen=True, slots=True)
class Location:
    """A checked city name and an ISO 3166-1 alpha-2 country code."""

    city: str
    country: str
    """Empty when the client named none (OpenWeatherMap's `q=London`): the upstream picks."""

    def __str__(self) -> str:
        return f"{self.city},{self.country}" if self.country else self.city


@dataclass(frozen=True, slots=True)
class Coordinates:
    """A point, as OpenWeatherMap's `lat` and `lon` name it; rounded to 4 decimals (~11 m)."""

    lat: float
    lon: float
    # No name and no country: the upstream names the place (or does not).
    city = ""
    country = ""

    def __str__(self) -> str:
        return f"{self.lat:.4f},{self.lon:.4f}"


@dataclass(frozen=True, slots=True)
class CityId:
    """An OpenWeatherMap city id: only that provider can resolve one."""

    id: int
    city = ""
    country = ""

    def __str__(self) -> str:
        return f"#{self.id}"


@dataclass(frozen=True, slots=True)
class WeatherQuery:
    """One request for current weather: the unit of caching."""

    location: Location | Coordinates | CityId
    units: Units = Units.STANDARD
    lang: str = "en"

    def cache_key(self) -> tuple[str, str, str, str]:
        """Case-insensitive on the city: `london` and `London` share an entry.

        A point or an id is keyed by its text (`51.5085,-0.1257`, `#2643743`), which no city
        name can be (a name has a letter and no digit, comma or #).
        """
        location = self.location
        if isinstance(location, Location):
            return (location.city.casefold(), location.country, self.units, self.lang)
        return (str(location), "", self.units, self.lang)


def parse_city(raw: str) -> str:
    """`CITY_PATTERN`, 1-85 characters as sent; leading, trailing and repeated spaces folded."""
    if not raw:
        raise InvalidQuery("city must not be empty")
    if len(raw) > CITY_MAX_LENGTH:
        raise InvalidQuery(f"city must be at most {CITY_MAX_LENGTH} characters")
    if not _CITY_RE.fullmatch(raw):
        if _CITY_CHARACTERS.fullmatch(raw):
            raise InvalidQuery("city must contain a letter")
        raise InvalidQuery("city may contain only letters, spaces, hyphens, apostrophes and dots")
    return " ".join(raw.split())  # the only whitespace left is " "


def parse_country(raw: str) -> str:
    """An ISO 3166-1 alpha-2 code in any case (`COUNTRY_PATTERN`); `uk` is taken as `GB`."""
    if not _COUNTRY_RE.fullmatch(raw):
        raise InvalidQuery("country must be an ISO 3166-1 alpha-2 code such as GB or US")
    code = raw.upper()
    return _ALIASES.get(code, code)


def parse_lang(raw: str) -> str:
    """A language code (`LANG_PATTERN`) as OpenWeatherMap takes it: `en`, `de`, `pt_br`."""
    if not _LANG_RE.fullmatch(raw):
        raise InvalidQuery("lang must be a language code such as en, de or pt_br")
    return raw.lower().replace("-", "_")


def parse_units(raw: str) -> Units:
    """One of OpenWeatherMap's unit systems, spelled as `Units` spells it."""
    try:
        return Units(raw)
    except ValueError:
        choices = ", ".join(units.value for units in Units)
        raise InvalidQuery(f"units must be one of {choices}") from None


def parse_location(city: str, country: str) -> Location:
    """Check and normalise a city and a country."""
    return Location(city=parse_city(city), country=parse_country(country))


def parse_city_request(path: str, query_string: bytes) -> WeatherQuery | InvalidQuery | None:
    """What a `GET /{city}/{country}/` request asks for, or the problem with it.

    `path` is the decoded path (ASGI's `scope["path"]`), with or without the trailing slash;
    None when it is not of that shape. The query string is read as Starlette reads it (the
    last of a repeated parameter counts); `units` and `lang` are checked, others ignored.
    """
    parts = path.split("/")
    # "/city/country/" -> ["", city, country, ""]; without the slash, the last is missing
    if len(parts) == 4 and parts[3] == "":
        parts.pop()
    if len(parts) != 3 or parts[0] or not parts[1] or not parts[2]:
        return None
    try:
        location = parse_location(parts[1], parts[2])
        if not query_string:
            return WeatherQuery(location)
        params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        units = parse_units(params["units"]) if "units" in params else Units.STANDARD
        lang = parse_lang(params["lang"]) if "lang" in params else "en"
    except InvalidQuery as problem:
        return problem
    return WeatherQuery(location, units=units, lang=lang)


def parse_q(raw: str) -> Location:
    """`City,CC` as in OpenWeatherMap's `q` parameter (the batch endpoint's form)."""
    city, sep, country = raw.rpartition(",")
    if not sep:
        raise InvalidQuery(f"{raw!r} is not of the form City,CC")
    return parse_location(city, country)
