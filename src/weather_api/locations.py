"""What a client may ask for (city, country, units, language), checked and normalised."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

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

_CITY_PUNCTUATION = frozenset(" -'.")
_LANG = re.compile(r"[a-z]{2}(?:_[a-z]{2})?")


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

    def __str__(self) -> str:
        return f"{self.city},{self.country}"


@dataclass(frozen=True, slots=True)
class WeatherQuery:
    """One request for current weather: the unit of caching."""

    location: Location
    units: Units = Units.STANDARD
    lang: str = "en"

    def cache_key(self) -> tuple[str, str, str, str]:
        """Case-insensitive on the city: `london` and `London` share an entry."""
        return (self.location.city.casefold(), self.location.country, self.units, self.lang)


def parse_city(raw: str) -> str:
    """Letters of any script, spaces, `-`, `'` and `.`; 1-85 characters; inner spaces folded."""
    city = " ".join(raw.split())
    if not city:
        raise InvalidQuery("city must not be empty")
    if len(city) > CITY_MAX_LENGTH:
        raise InvalidQuery(f"city must be at most {CITY_MAX_LENGTH} characters")
    if not any(ch.isalpha() for ch in city):
        raise InvalidQuery("city must contain a letter")
    for ch in city:
        # Marks (category M*) carry accents in decomposed scripts such as Devanagari.
        if not (ch.isalpha() or ch in _CITY_PUNCTUATION or unicodedata.category(ch)[0] == "M"):
            raise InvalidQuery(
                "city may contain only letters, spaces, hyphens, apostrophes and dots"
            )
    return city


def parse_country(raw: str) -> str:
    """An ISO 3166-1 alpha-2 code in any case; `uk` is taken as `GB`."""
    code = raw.strip().upper()
    code = _ALIASES.get(code, code)
    if code not in _ISO_COUNTRIES:
        raise InvalidQuery("country must be an ISO 3166-1 alpha-2 code such as GB or US")
    return code


def parse_lang(raw: str) -> str:
    """A language code as OpenWeatherMap takes it: `en`, `de`, `pt_br`, `zh_cn`."""
    lang = raw.strip().lower().replace("-", "_")
    if not _LANG.fullmatch(lang):
        raise InvalidQuery("lang must be a language code such as en, de or pt_br")
    return lang


def parse_location(city: str, country: str) -> Location:
    """Check and normalise a city and a country."""
    return Location(city=parse_city(city), country=parse_country(country))


def parse_q(raw: str) -> Location:
    """`City,CC` as in OpenWeatherMap's `q` parameter (the batch endpoint's form)."""
    city, sep, country = raw.rpartition(",")
    if not sep:
        raise InvalidQuery(f"{raw!r} is not of the form City,CC")
    return parse_location(city, country)
