"""What the users of locustfile.py ask for: cities, units, languages, bad input, think time.

Cities are picked as in Zipf's law (weight 1/rank), so London is asked for ~54 times as often as
the last one. Names cover spaces, accents, dots, apostrophes and hyphens; `uk` is how the old
app's clients spelt GB. Also an events plugin: `--wait-min`/`--wait-max` set the users' think
time when a process starts (workers included, before any option from a master arrives).
"""

from __future__ import annotations

import random
from itertools import accumulate
from typing import Any
from urllib.parse import urlencode

from locust import between, events
from locust.env import Environment

# Most asked for first.
CITIES: tuple[tuple[str, str], ...] = (
    ("London", "uk"),
    ("New York", "us"),
    ("Paris", "fr"),
    ("Tokyo", "jp"),
    ("Berlin", "de"),
    ("Madrid", "es"),
    ("Sydney", "au"),
    ("Toronto", "ca"),
    ("São Paulo", "br"),
    ("Rome", "it"),
    ("Mumbai", "in"),
    ("Mexico City", "mx"),
    ("Amsterdam", "nl"),
    ("Los Angeles", "us"),
    ("Dublin", "ie"),
    ("Seoul", "kr"),
    ("Istanbul", "tr"),
    ("Chicago", "us"),
    ("Lisbon", "pt"),
    ("Vienna", "at"),
    ("Zürich", "ch"),
    ("Stockholm", "se"),
    ("Manchester", "GB"),
    ("Buenos Aires", "ar"),
    ("Shanghai", "cn"),
    ("Oslo", "no"),
    ("Cape Town", "za"),
    ("Warsaw", "pl"),
    ("Helsinki", "fi"),
    ("Cairo", "eg"),
    ("Nairobi", "ke"),
    ("Lagos", "ng"),
    ("Auckland", "nz"),
    ("Kyiv", "ua"),
    ("Barcelona", "es"),
    ("München", "de"),
    ("Milan", "it"),
    ("Melbourne", "au"),
    ("San Francisco", "us"),
    ("Vancouver", "ca"),
    ("Rio de Janeiro", "br"),
    ("Delhi", "in"),
    ("Osaka", "jp"),
    ("Lyon", "fr"),
    ("Edinburgh", "gb"),
    ("Köln", "de"),
    ("Beijing", "cn"),
    ("Porto", "pt"),
    ("Kraków", "pl"),
    ("Rotterdam", "nl"),
    ("Guadalajara", "mx"),
    ("St. John's", "ca"),
    ("Saint-Étienne", "fr"),
    ("Gothenburg", "se"),
)
_CITY_CUM_WEIGHTS = list(accumulate(1 / rank for rank in range(1, len(CITIES) + 1)))

# (value, weight); None leaves the parameter out, as most clients do.
UNITS: tuple[tuple[str, int], ...] = (("standard", 50), ("metric", 35), ("imperial", 15))
LANGS: tuple[tuple[str | None, int], ...] = (
    (None, 60),
    ("en", 10),
    ("de", 8),
    ("fr", 7),
    ("es", 6),
    ("pt_br", 5),
    ("ja", 4),
)
_UNIT_VALUES, _UNIT_WEIGHTS = [u for u, _ in UNITS], [w for _, w in UNITS]
_LANG_VALUES, _LANG_WEIGHTS = [lang for lang, _ in LANGS], [w for _, w in LANGS]

# The documented 4xx answers, one per kind of bad input: (name in the report, path, status).
INVALID_REQUESTS: tuple[tuple[str, str, int], ...] = (
    ("/{city}/{country}/ [422 city with digits]", "/x1/gb/", 422),
    ("/{city}/{country}/ [422 unknown country code]", "/london/xx/", 422),
    ("/{city}/{country}/ [422 units=kelvin]", "/london/gb/?units=kelvin", 422),
    ("/{city}/{country}/ [422 lang=english]", "/paris/fr/?lang=english", 422),
    ("/{city}/{country}/ [404 unknown city]", "/nowhereville/gb/", 404),
    (
        "/v1/weather [422 21 locations]",
        "/v1/weather?" + urlencode([("q", "London,GB")] * 21),
        422,
    ),
)


def pick_city() -> tuple[str, str]:
    """A (city, country) pair, popular ones more often."""
    return random.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS)[0]


def pick_variant() -> tuple[str, str | None]:
    """Units and language as clients send them."""
    units = random.choices(_UNIT_VALUES, weights=_UNIT_WEIGHTS)[0]
    lang = random.choices(_LANG_VALUES, weights=_LANG_WEIGHTS)[0]
    return units, lang


def pick_batch() -> list[tuple[str, int, str]]:
    """2-6 distinct cities for `/v1/weather`, now and then with an unknown or malformed one.

    Each entry is (q, the status expected for it, the ISO country expected in its answer).
    """
    chosen = list(dict.fromkeys(random.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS, k=6)))
    wanted = chosen[: random.randint(2, 6)]
    entries = [(f"{city},{country}", 200, iso_country(country)) for city, country in wanted]
    roll = random.random()
    if roll < 0.1:
        entries.insert(random.randrange(len(entries) + 1), ("Nowhere Springs,US", 404, "US"))
    elif roll < 0.15:
        entries.append(("Paris", 422, ""))  # no country: not of the form City,CC
    return entries


def iso_country(code: str) -> str:
    """The ISO code the service answers with for what a client sent."""
    upper = code.upper()
    return "GB" if upper == "UK" else upper


def query_string(*, units: str, lang: str | None, q: list[str] | tuple[str, ...] = ()) -> str:
    """`q` for each location, `units` always (some send the default), `lang` when chosen."""
    params = [("q", location) for location in q] + [("units", units)]
    if lang is not None:
        params.append(("lang", lang))
    return urlencode(params)


# --- think time ---------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--wait-min", type=float, default=None, help="Think time: least seconds between tasks"
    )
    parser.add_argument(
        "--wait-max", type=float, default=None, help="Think time: most seconds between tasks"
    )


@events.init.add_listener
def _apply_think_time(environment: Environment, **_kwargs: Any) -> None:
    """`--wait-min`/`--wait-max` replace the users' own `wait_time` (one alone: a fixed wait)."""
    options = environment.parsed_options
    if options is None or (options.wait_min is None and options.wait_max is None):
        return
    low = options.wait_min if options.wait_min is not None else options.wait_max
    high = options.wait_max if options.wait_max is not None else options.wait_min
    for user_class in environment.user_classes:
        user_class.wait_time = between(low, high)
