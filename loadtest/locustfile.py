"""Load test of weather-api: a realistic mix of clients, judged against per-profile thresholds.

The mix (task weights): single-city lookups over 54 cities whose popularity falls off as in
Zipf's law, with some `units` and `lang` variety (12); the batch endpoint with 2-6 cities, now
and then with an unknown or malformed one among them (3); `/` (2); and a small share of
invalid or unknown input that must get its documented 4xx (1).
A request counts as a success only when its status is the expected one and its body has the
documented shape; every upstream failure (502/503/504) is a failure.

At the end the run is judged (`events.quitting`): failure ratio, p95 and p99 in ms and the
average rps against the thresholds of the profile named by `--thresholds` (each one can be
overridden, e.g. `--max-p95-ms 300`). A breach sets exit code 1 and says why. A load shape that
judges its own run (stress.py, which steps the load up until a step breaks a threshold) takes
over the verdict. `--summary-file` writes the figures as JSON for run.py's summary.

Used through `make loadtest` (loadtest/run.py); by hand, from this directory:
`../.venv/bin/locust --config profiles/ci.conf --host http://127.0.0.1:8000`.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

logger = logging.getLogger("loadtest")

# --- thresholds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a run must stay within to pass."""

    max_fail_ratio: float
    """Unexpected failures over all requests (expected 4xx answers are successes)."""
    max_p95_ms: float
    max_p99_ms: float
    min_rps: float
    """Average over the whole run; for stress, the least throughput the knee may sit at."""

    def breaches(self, *, fail_ratio: float, p95: float, p99: float, rps: float) -> list[str]:
        """One line per threshold the figures break, naming the figure and the limit."""
        found = []
        if fail_ratio > self.max_fail_ratio:
            found.append(
                f"failure ratio {fail_ratio:.2%} > {self.max_fail_ratio:.2%} (unexpected failures)"
            )
        if p95 > self.max_p95_ms:
            found.append(f"p95 {p95:.0f} ms > {self.max_p95_ms:.0f} ms")
        if p99 > self.max_p99_ms:
            found.append(f"p99 {p99:.0f} ms > {self.max_p99_ms:.0f} ms")
        if rps < self.min_rps:
            found.append(f"throughput {rps:.1f} rps < {self.min_rps:.0f} rps")
        return found


# With --cache-ttl 0 (run.py's default) every request waits on the stub's 50-150 ms. The
# 2-CPU machine these were set on, shared by Locust, the service and the stub, kept p95 under
# 200 ms up to ~450 rps when otherwise idle (the stress profile's knee was ~475 rps), but ci's
# ~95 rps once reached p95 630 ms while other jobs held most of both CPUs.
PROFILES: dict[str, Thresholds] = {
    # 200 users at between(1, 3) ask for ~95 rps once spawned: a fifth of the idle machine.
    "ci": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=60),
    # 1000 users at between(5, 15) ask for ~100 rps once spawned; the ramp lowers the average.
    "seed": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=50),
    # Per step: the first step over these is past the knee; min_rps: least capacity accepted.
    "stress": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=80),
}


def thresholds_from(options: Any) -> Thresholds:
    """The profile's thresholds with any `--max-*`/`--min-rps` override applied."""
    base = PROFILES[options.thresholds]
    overrides = {
        name: float(value)
        for name in ("max_fail_ratio", "max_p95_ms", "max_p99_ms", "min_rps")
        if (value := getattr(options, name, None)) is not None
    }
    return Thresholds(**{**asdict(base), **overrides})


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--thresholds",
        choices=sorted(PROFILES),
        default="ci",
        help="Which profile's pass/fail thresholds to apply",
    )
    for name, meaning in (
        ("max-fail-ratio", "most unexpected failures, as a fraction of requests"),
        ("max-p95-ms", "highest 95th percentile response time"),
        ("max-p99-ms", "highest 99th percentile response time"),
        ("min-rps", "least average requests per second"),
    ):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"Override: {meaning}")
    parser.add_argument(
        "--wait-min", type=float, default=None, help="Think time: least seconds between tasks"
    )
    parser.add_argument(
        "--wait-max", type=float, default=None, help="Think time: most seconds between tasks"
    )
    parser.add_argument(
        "--summary-file", default="", help="Write the run's figures and verdict here as JSON"
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="Seconds between progress lines (0: none)",
    )


# --- the traffic --------------------------------------------------------------------------

# Most asked for first: popularity falls off with rank as in Zipf's law (weight 1/rank), so
# London is asked for ~54 times as often as the last one. Names cover spaces, accents, dots,
# apostrophes and hyphens; `uk` is how the old app's clients spelt GB.
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

# Wide enough for any weather on Earth, narrow enough to catch the wrong unit system.
TEMPERATURE_RANGE = {
    "standard": (180.0, 340.0),
    "metric": (-95.0, 65.0),
    "imperial": (-140.0, 150.0),
}

WEATHER_KEYS = frozenset(
    {"coord", "weather", "main", "wind", "clouds", "dt", "sys", "timezone", "id", "name"}
)
CONDITION_KEYS = frozenset({"id", "main", "description", "icon"})
MAIN_KEYS = frozenset({"temp", "feels_like", "temp_min", "temp_max", "pressure", "humidity"})
SYS_KEYS = frozenset({"country", "sunrise", "sunset"})
PROBLEM_KEYS = frozenset({"type", "title", "status", "detail"})
CACHE_STATES = frozenset({"hit", "miss", "stale"})

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


@dataclass
class RunState:
    """What this process saw during the run, beyond Locust's own statistics."""

    peak_users: int = 0
    cache_states: Counter[str] = field(default_factory=Counter)
    """X-Cache values of weather answers: with --cache-ttl 0 every one is a miss."""
    progress: list[gevent.Greenlet] = field(default_factory=list)


run_state = RunState()


def pick_city() -> tuple[str, str]:
    """A (city, country) pair, popular ones more often."""
    return random.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS)[0]


def pick_variant() -> tuple[str, str | None]:
    """Units and language as clients send them."""
    units = random.choices(_UNIT_VALUES, weights=_UNIT_WEIGHTS)[0]
    lang = random.choices(_LANG_VALUES, weights=_LANG_WEIGHTS)[0]
    return units, lang


def iso_country(code: str) -> str:
    """The ISO code the service answers with for what a client sent."""
    upper = code.upper()
    return "GB" if upper == "UK" else upper


def query_string(*, units: str, lang: str | None) -> str:
    """`units` always (standard is the default, sent explicitly by some), `lang` when chosen."""
    params = [("units", units)]
    if lang is not None:
        params.append(("lang", lang))
    return urlencode(params)


# --- checking answers ---------------------------------------------------------------------


def weather_error(body: Any, *, country: str, units: str) -> str | None:
    """Why `body` is not current weather in OpenWeatherMap's shape for `country`, or None."""
    if not isinstance(body, dict):
        return "weather: not a JSON object"
    if missing := WEATHER_KEYS - body.keys():
        return f"weather: missing {', '.join(sorted(missing))}"
    conditions = body["weather"]
    if not (
        isinstance(conditions, list)
        and conditions
        and all(isinstance(c, dict) and c.keys() >= CONDITION_KEYS for c in conditions)
    ):
        return "weather: weather[] empty or malformed"
    main, system = body["main"], body["sys"]
    if not (isinstance(main, dict) and main.keys() >= MAIN_KEYS):
        return "weather: main malformed"
    if not (isinstance(system, dict) and system.keys() >= SYS_KEYS):
        return "weather: sys malformed"
    if system["country"] != country:
        return "weather: sys.country is not the country asked for"
    low, high = TEMPERATURE_RANGE[units]
    temp = main["temp"]
    if not (isinstance(temp, int | float) and low <= temp <= high):
        return f"weather: main.temp is not a {units} temperature"
    if not (isinstance(body["name"], str) and body["name"]):
        return "weather: empty name"
    return None


def cache_header_error(response: Any) -> str | None:
    """Count the answer's X-Cache value; why it is not hit, miss or stale, or None."""
    cache = response.headers.get("x-cache")
    run_state.cache_states[cache or "absent"] += 1
    if cache not in CACHE_STATES:
        return f"X-Cache {cache!r} is not hit, miss or stale"
    return None


def problem_error(body: Any, *, status: int) -> str | None:
    """Why `body` is not an RFC 9457 problem for `status`, or None."""
    if not isinstance(body, dict):
        return "problem: not a JSON object"
    if missing := PROBLEM_KEYS - body.keys():
        return f"problem: missing {', '.join(sorted(missing))}"
    if body["status"] != status:
        return f"problem: status {body['status']!r} in a {status} answer"
    return None


def unexpected_status(response: Any, expected: int) -> str:
    """A failure message that groups well: the status and the problem's title, no city names."""
    if response.status_code == 0:
        return f"no response (expected {expected}): {type(response.error).__name__}"
    title = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            title = f": {body.get('title', '')}"
    except ValueError:
        pass
    return f"HTTP {response.status_code} (expected {expected}){title}"


def judge_response(
    response: Any,
    *,
    status: int,
    media_type: str,
    check: Callable[[Any], str | None],
) -> None:
    """Mark a caught response: success only with the expected status, media type and body."""
    if response.status_code != status:
        response.failure(unexpected_status(response, status))
        return
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip() != media_type:
        response.failure(f"content-type {content_type!r}, expected {media_type}")
        return
    try:
        body = response.json()
    except ValueError:
        response.failure("body is not JSON")
        return
    if error := check(body):
        response.failure(error)
    else:
        response.success()


# --- the user -----------------------------------------------------------------------------


class WeatherApiUser(FastHttpUser):
    """A client of the service: mostly single cities, some batches, `/`, a little bad input."""

    # The old tutorial's think time: a person looking up the weather now and then. Profiles
    # that want more load from fewer users shorten it with --wait-min/--wait-max.
    wait_time = between(5, 15)

    @task(12)
    def city_weather(self) -> None:
        """`/{city}/{country}/` for a popular-weighted city, in some units and language."""
        city, country = pick_city()
        units, lang = pick_variant()
        path = f"/{quote(city, safe='')}/{country}/?{query_string(units=units, lang=lang)}"
        with self.client.get(path, name="/{city}/{country}/", catch_response=True) as response:
            judge_response(
                response,
                status=200,
                media_type="application/json",
                check=lambda body: (
                    cache_header_error(response)
                    or weather_error(body, country=iso_country(country), units=units)
                ),
            )

    @task(3)
    def batch_weather(self) -> None:
        """`/v1/weather` for 2-6 cities; now and then one that does not exist or is malformed."""
        chosen = list(dict.fromkeys(random.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS, k=6)))
        wanted = chosen[: random.randint(2, 6)]
        units, lang = pick_variant()
        # (q, expected status, ISO country)
        entries = [(f"{city},{country}", 200, iso_country(country)) for city, country in wanted]
        roll = random.random()
        if roll < 0.1:
            entries.insert(random.randrange(len(entries) + 1), ("Nowhere Springs,US", 404, "US"))
        elif roll < 0.15:
            entries.append(("Paris", 422, ""))  # no country: not of the form City,CC
        params = [("q", q) for q, _, _ in entries] + [("units", units)]
        if lang is not None:
            params.append(("lang", lang))
        with self.client.get(
            "/v1/weather?" + urlencode(params),
            name="/v1/weather?q=[2-7]",
            catch_response=True,
        ) as response:
            judge_response(
                response,
                status=200,
                media_type="application/json",
                check=lambda body: batch_error(body, entries=entries, units=units),
            )

    @task(2)
    def root(self) -> None:
        """`/` says the app works, as the old app did."""
        with self.client.get("/", name="/", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(unexpected_status(response, 200))
            elif response.text != "App Works!":
                response.failure("/ did not say App Works!")
            else:
                response.success()

    @task(1)
    def invalid_input(self) -> None:
        """Malformed or unknown input gets its documented 4xx as a problem document."""
        name, path, status = random.choice(INVALID_REQUESTS)
        with self.client.get(path, name=name, catch_response=True) as response:
            judge_response(
                response,
                status=status,
                media_type="application/problem+json",
                check=lambda body: problem_error(body, status=status),
            )


def batch_error(body: Any, *, entries: list[tuple[str, int, str]], units: str) -> str | None:
    """Why `body` is not the batch answer for `entries` (in order), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return "batch: no results[]"
    results = body["results"]
    if len(results) != len(entries):
        return f"batch: {len(results)} results for {len(entries)} locations"
    for result, (q, status, country) in zip(results, entries, strict=True):
        if not isinstance(result, dict) or result.get("q") != q:
            return "batch: results out of order or without q"
        got = result.get("status")
        if got != status:
            title = (result.get("problem") or {}).get("title", "")
            return f"batch entry: status {got} (expected {status}): {title}"
        if status == 200:
            error = weather_error(result.get("weather"), country=country, units=units)
        else:
            error = problem_error(result.get("problem"), status=status)
        if error:
            return f"batch entry: {error}"
    return None


# --- wiring: think time, progress lines, the verdict --------------------------------------


@events.init.add_listener
def _apply_options(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.wait_min is not None or options.wait_max is not None:
        low = options.wait_min if options.wait_min is not None else options.wait_max
        high = options.wait_max if options.wait_max is not None else options.wait_min
        WeatherApiUser.wait_time = between(low, high)


@events.spawning_complete.add_listener
def _remember_peak(user_count: int, **_kwargs: Any) -> None:
    run_state.peak_users = max(run_state.peak_users, user_count)


@events.test_start.add_listener
def _start_progress(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    interval = options.progress_interval if options is not None else 0
    if interval > 0 and not isinstance(environment.runner, WorkerRunner):
        run_state.progress.append(gevent.spawn(_print_progress, environment, interval))


@events.test_stop.add_listener
def _stop_progress(**_kwargs: Any) -> None:
    while run_state.progress:
        run_state.progress.pop().kill(block=False)


def _print_progress(environment: Environment, interval: float) -> None:
    """Every `interval` s: users, and the last ~10 s of throughput, failures and latency."""
    total = environment.stats.total
    while True:
        gevent.sleep(interval)
        runner = environment.runner
        rps = total.current_rps
        fails = total.current_fail_per_sec
        p50 = total.get_current_response_time_percentile(0.5) or 0
        p95 = total.get_current_response_time_percentile(0.95) or 0
        logger.info(
            "progress: %d users, %.0f rps, %.2f%% failed, p50 %d ms, p95 %d ms (last ~10 s)",
            runner.user_count if runner is not None else 0,
            rps,
            100 * fails / rps if rps else 0.0,
            p50,
            p95,
        )


@events.quitting.add_listener
def _judge(environment: Environment, **_kwargs: Any) -> None:
    """Compare the run with its thresholds; set the exit code; say why on a breach."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    thresholds = thresholds_from(options)
    total = environment.stats.total
    figures = {
        "fail_ratio": total.fail_ratio,
        "p95": total.get_response_time_percentile(0.95) or 0,
        "p99": total.get_response_time_percentile(0.99) or 0,
        "rps": total.total_rps,
    }
    shape = environment.shape_class
    judge = getattr(shape, "judge", None)
    breaches = judge(thresholds) if callable(judge) else thresholds.breaches(**figures)
    if total.num_requests == 0:
        breaches.append("no requests were made")
    for line in breaches:
        logger.error("THRESHOLD BREACHED (%s): %s", options.thresholds, line)
    if not breaches:
        logger.info("thresholds (%s) met", options.thresholds)
    environment.process_exit_code = 1 if breaches else 0
    if options.summary_file:
        summary = _summary(environment, thresholds=thresholds, breaches=breaches)
        Path(options.summary_file).write_text(json.dumps(summary, indent=2) + "\n")


def _summary(
    environment: Environment, *, thresholds: Thresholds, breaches: list[str]
) -> dict[str, Any]:
    """The run's figures, per endpoint and in total, with the verdict, for run.py to print."""
    stats = environment.stats

    def row(entry: Any) -> dict[str, Any]:
        return {
            "name": entry.name,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "fail_ratio": entry.fail_ratio,
            "rps": entry.total_rps,
            "p50": entry.get_response_time_percentile(0.5) or 0,
            "p95": entry.get_response_time_percentile(0.95) or 0,
            "p99": entry.get_response_time_percentile(0.99) or 0,
            "max": entry.max_response_time or 0,
        }

    errors = sorted(stats.errors.values(), key=lambda e: e.occurrences, reverse=True)
    shape = environment.shape_class
    report = getattr(shape, "report", None)
    runner = environment.runner
    return {
        "profile": environment.parsed_options.thresholds,
        "thresholds": asdict(thresholds),
        "breaches": breaches,
        "peak_users": run_state.peak_users,
        "duration_s": (stats.total.last_request_timestamp or 0) - (stats.total.start_time or 0),
        "total": row(stats.total),
        "endpoints": [row(e) for e in sorted(stats.entries.values(), key=lambda e: e.name)],
        "errors": [
            {"name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in errors[:8]
        ],
        "x_cache": dict(run_state.cache_states),
        "locust_cpu_warning": bool(runner is not None and runner.cpu_warning_emitted),
        "shape": report() if callable(report) else None,
    }
