"""What the docs say the service does, held against the service.

tests/test_docs.py checks that what the pages name exists; this file checks that what they
say about it is true: the metrics table against a real process's /metrics and the code's label
values, the refusals table by sending each refusal to a real process, the layers the diagrams
draw against the app's stack, and what the README's troubleshooting promises.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FORECAST_URL, GEOCODING_URL, free_port, make_settings, running_app
from tests.hostile.rawhttp import exchange, request
from tests.processes import weather_api_process
from weather_api.app import create_app
from weather_api.cache import TTLCache
from weather_api.errors import InvalidQuery, UpstreamError, problem_types
from weather_api.locations import WeatherQuery, parse_city_request
from weather_api.metrics import CacheCollector, SharedCacheCollector
from weather_api.routes.city_fast_path import CityWeatherFastPath
from weather_api.shared_cache import SharedCacheStats

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATIONS = ROOT / "docs" / "operations.md"
SPAN = re.compile(r"`([^`]+)`")
METRIC_NAME = re.compile(r"(?<![\w/.])weather_api_[a-z0-9_]*[a-z0-9](?![\w:(])")


def table(markdown: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with `header`, as cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def documented_labels(cell: str) -> dict[str, set[str] | None]:
    """`a`, `b` (`x`, `y`) / `c`: `z` -> {a: None, b: {x, y}, c: {z}}; prose in parentheses
    (`route` (the template, e.g. ...)) gives no values."""
    labels: dict[str, set[str] | None] = {}
    for match in re.finditer(r"`(\w+)`(?:\s*\(([^()]*)\)|:\s*((?:`[^`]+`(?:,\s*)?)+))?", cell):
        name, parenthesised, after_colon = match.groups()
        values = parenthesised if parenthesised is not None else after_colon
        if values is not None and re.fullmatch(r"(`[^`]+`(,\s*)?)+", values.strip()):
            labels[name] = set(SPAN.findall(values))
        else:
            labels[name] = None
    return labels


def outcome_values() -> set[str]:
    """Every `outcome` label the upstream client can record, read from the code: the literals
    it assigns, and the slug of each upstream error without its `upstream-` prefix."""
    source = (ROOT / "src/weather_api/providers/upstream.py").read_text(encoding="utf-8")
    literals = set(re.findall(r'\boutcome = "([\w-]+)"', source))
    slugs = {
        kind.slug.removeprefix("upstream-")
        for kind in problem_types()
        if issubclass(kind, UpstreamError)
    }
    return literals | slugs


def cache_events() -> set[str]:
    """The `event` labels the cache collector exports."""
    collector = CacheCollector(TTLCache(ttl=1, max_entries=1))
    return {
        sample.labels["event"]
        for family in collector.collect()
        for sample in family.samples
        if "event" in sample.labels
    }


def queryable(name: str, kind: str) -> set[str]:
    """The names a query can use for a family: a counter's with `_total`, a histogram's own
    and its series (`_bucket` for histogram_quantile, `_count`, `_sum`)."""
    if kind == "counter":
        return {name + "_total"}
    if kind == "histogram":
        return {name, name + "_bucket", name + "_count", name + "_sum"}
    return {name}


def registry_names(text: str) -> set[str]:
    """Every name a query can use for the families in an exposition."""
    return {
        query
        for family in text_string_to_metric_families(text)
        for query in queryable(family.name, family.type)
    }


# --- metric names in every page


async def test_every_metric_name_in_the_docs_is_one_prometheus_exports() -> None:
    """A `weather_api_*` metric named anywhere is in the registry, counters with `_total`."""
    async with running_app(make_settings(provider="sample")) as client:
        text = (await client.get("/metrics")).text
    shared = SharedCacheCollector(
        SimpleNamespace(stats=SharedCacheStats(), degraded=False)  # type: ignore[arg-type]
    )
    known = registry_names(text) | {
        query for family in shared.collect() for query in queryable(family.name, family.type)
    }
    wrong = [
        f"{doc.relative_to(ROOT)}:{number}: {name}"
        for doc in DOCS
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
        for name in METRIC_NAME.findall(line)
        if name not in known
    ]
    assert not wrong, "not exported (a counter needs _total):\n" + "\n".join(wrong)


def test_a_counter_without_total_is_caught() -> None:
    """The name check reads `weather_api_cache_events` as drift and its `_total` as right."""
    line = "see `weather_api_cache_events` and weather_api_cache_events_total{event}"
    assert METRIC_NAME.findall(line) == [
        "weather_api_cache_events",
        "weather_api_cache_events_total",
    ]
    assert "weather_api_cache_events" not in registry_names(
        "# TYPE weather_api_cache_events counter\nweather_api_cache_events_total 1\n"
    )
    assert queryable("weather_api_x_seconds", "histogram") >= {"weather_api_x_seconds_bucket"}


def test_label_values_are_read_from_the_table_cells() -> None:
    """Value lists come from parentheses or a colon; prose in parentheses is no list."""
    cell = "`method`, `route` (the template, e.g. `/{city}/`), `outcome` (`ok`, `error`)"
    assert documented_labels(cell) == {"method": None, "route": None, "outcome": {"ok", "error"}}
    assert documented_labels("`event`: `hits`, `misses`") == {"event": {"hits", "misses"}}
    assert documented_labels("lines dropped because stderr was slow") == {}


# --- a real process: the refusals and the metrics table


def _samples(text: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Family name as queried -> (type, the label sets of its samples)."""
    found: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        found[name] = (family.type, [dict(sample.labels) for sample in family.samples])
    return found


async def _refusal(port: int, status: int) -> tuple[int | None, dict[str, str]]:
    """Make the service refuse with `status`; its status and headers."""
    if status == 414:
        answer = await exchange(port, [request("/" + "u" * 2048)])
    elif status == 431:
        answer = await exchange(port, [request("/", headers=[("X-Big", "h" * 2048)])])
    elif status == 408:  # half a request head, then nothing: --request-read-timeout is 1 s
        answer = await exchange(port, [b"GET / HTTP/1.1\r\nHost: x\r\n"], within=20)
    else:  # 503: idle connections fill --limit-concurrency (3), then one more request
        hogs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        await asyncio.sleep(0.5)  # let the server take them in before the one too many
        try:
            answer = await exchange(port, [request("/")])
        finally:
            for _, writer in hogs:
                writer.close()
    return answer.status, answer.headers


async def _metrics_when_idle(port: int) -> str:
    """/metrics, once the connections that filled the concurrency limit are gone."""
    async with httpx.AsyncClient(timeout=5) as client:
        async with asyncio.timeout(30):
            while True:
                response = await client.get(f"http://127.0.0.1:{port}/metrics")
                if response.status_code == 200:
                    return response.text
                await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_refusals_and_metrics_are_as_operations_md_says() -> None:
    """Each refusal has the status, body type, headers and counting the table gives, and
    /metrics exports the table's metrics with its labels and label values."""
    page = OPERATIONS.read_text(encoding="utf-8")
    refusals = table(page, "| refusal |")
    metrics = table(page, "| metric |")
    assert refusals
    assert metrics
    port, closed = free_port(), free_port()
    args = (
        *("serve", "--port", str(port), "--provider", "openmeteo", "--retry-attempts", "2"),
        *("--openmeteo-geocoding-url", f"http://127.0.0.1:{closed}"),
        *("--max-url-bytes", "1024", "--max-header-bytes", "1024"),
        *("--request-read-timeout", "1", "--limit-concurrency", "3", "--log-format", "json"),
    )
    with weather_api_process(*args, port=port) as running:
        async with httpx.AsyncClient(timeout=10) as client:
            before = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            # Two upstream attempts (refused: nothing listens): the upstream histogram, a retry.
            assert (await client.get(f"http://127.0.0.1:{port}/london/gb/")).status_code == 502
        answers = {}
        for statuses, body, ours, counted in refusals:
            for status in map(int, re.findall(r"\d{3}", statuses)):
                answers[status] = (await _refusal(port, status), body, ours, counted)
        after = await _metrics_when_idle(port)
        log = running.output()

    security = {"x-content-type-options", "referrer-policy", "content-security-policy"}
    for status, ((got, headers), body, ours, counted) in answers.items():
        assert got == status, (status, headers)
        assert headers["content-type"].startswith(SPAN.findall(body)[0]), (status, headers)
        named = {span.split(":")[0].lower(): span.split(": ")[1] for span in SPAN.findall(ours)}
        for name, value in named.items():
            assert headers.get(name) == value, (status, name, headers)
        assert "x-request-id" not in headers, (status, headers)
        assert not (security - set(named)) & set(headers), (status, headers)
        grew = sum(
            s.value
            for f in text_string_to_metric_families(after)
            for s in f.samples
            if s.name == "weather_api_http_requests_refused_total"
            and s.labels == {"status": str(status)}
        ) - sum(
            s.value
            for f in text_string_to_metric_families(before)
            for s in f.samples
            if s.name == "weather_api_http_requests_refused_total"
            and s.labels == {"status": str(status)}
        )
        assert grew == (1 if counted == "yes" else 0), (status, grew)
        assert (f"Refused a request: HTTP {status}" in log) == (counted == "yes"), status

    exported = _samples(after)
    expected_values = {
        "outcome": outcome_values(),
        "event": cache_events(),
        "status": {str(s) for s, (_, _, _, counted) in answers.items() if counted == "yes"},
    }
    for name_cell, labels_cell in metrics:
        name = SPAN.findall(name_cell)[0]
        assert name in exported, name
        kind, label_sets = exported[name]
        documented_kind = re.search(r"\((\w+)", name_cell)
        if documented_kind:
            assert documented_kind.group(1) == kind, name
        documented = documented_labels(labels_cell)
        present = {key for labels in label_sets for key in labels if key not in ("le",)}
        assert present == set(documented), (name, present, documented)
        for label, values in documented.items():
            if values is not None and name != "weather_api_http_request_duration_seconds":
                assert values == expected_values[label], (name, label, values)


# --- answers of the app, the layers, the fast path


async def test_every_answer_of_the_app_carries_the_documented_headers() -> None:
    """The headers operations.md promises on every answer of the app are on a 200, a 404
    page, a 422 problem and /metrics."""
    page = OPERATIONS.read_text(encoding="utf-8")
    paragraph = page.split("**Every answer of the app**")[1].split("\n\n")[0]
    promised = [span.split(": ") for span in SPAN.findall(paragraph.split(". ")[0])]
    assert ["X-Request-ID"] in promised
    async with running_app(make_settings(provider="sample")) as client:
        for path in ("/london/gb/", "/nowhere/", "/london/zz/", "/metrics"):
            response = await client.get(path)
            for name, *value in promised:
                assert name in response.headers, (path, name)
                if value:
                    assert response.headers[name] == value[0], (path, name)


def test_the_fast_path_answers_whatever_other_query_parameters_come() -> None:
    """architecture.md: other query parameters are ignored, not sent to FastAPI's routing."""
    parsed = parse_city_request("/london/gb/", b"appid=x&mode=json&units=metric")
    assert isinstance(parsed, WeatherQuery)
    assert parsed.units.value == "metric"


def test_the_diagram_draws_the_layers_in_the_order_the_app_stacks_them() -> None:
    """The request path draws our layers around FastAPI in the order the app stacks them
    (with no CORS origins configured), down to the city fast path."""
    layer: Any = create_app(make_settings(provider="sample")).build_middleware_stack()
    files = []
    while not isinstance(layer, CityWeatherFastPath):
        module = type(layer).__module__.removeprefix("weather_api.")
        files.append(module.replace(".", "/") + ".py")
        layer = layer.app
    files.append("routes/city_fast_path.py")
    assert files[0] == "request_middleware.py"
    diagram = (ROOT / "docs/architecture.md").read_text(encoding="utf-8").split("```mermaid")[1]
    places = [diagram.find(name) for name in files]
    assert -1 not in places, dict(zip(files, places, strict=True))
    assert places == sorted(places), files


async def test_a_timeout_says_how_to_run_offline() -> None:
    """A 504 (a firewall that drops packets looks like one) names `--provider sample`, as the
    README's troubleshooting says."""
    router = respx.Router(assert_all_called=False)
    router.get(url__startswith=GEOCODING_URL).mock(side_effect=httpx.ConnectTimeout("dropped"))
    router.get(url__startswith=FORECAST_URL).mock(side_effect=httpx.ConnectTimeout("dropped"))
    async with running_app(make_settings(retry_attempts=1), upstream=router) as client:
        response = await client.get("/london/gb/")
    assert response.status_code == 504
    assert "--provider sample" in response.json()["detail"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "504" in readme.split("## Troubleshooting")[1]


# --- the README's examples, against real answers


def readme_json_blocks() -> list[object]:
    """The JSON code blocks of the README, parsed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [json.loads(block.split("```")[0]) for block in readme.split("```json\n")[1:]]


def shape(value: object) -> object:
    """The keys and value types of a JSON value, recursively (ints and floats alike)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return "number" if isinstance(value, int | float) else type(value).__name__


async def test_the_readme_example_answer_is_a_real_one() -> None:
    """The README's weather answer has the fields, types and place of a real `--provider
    sample` answer for the URL it names (the weather itself moves with the clock)."""
    example = readme_json_blocks()[0]
    assert isinstance(example, dict)
    async with running_app(make_settings(provider="sample")) as client:
        response = await client.get("/london/uk/?units=metric")
    real = response.json()
    assert response.status_code == 200
    assert shape(example) == shape(real)
    for key in ("coord", "id", "name", "timezone", "cod"):
        assert example[key] == real[key], key
    assert example["sys"]["country"] == real["sys"]["country"]


async def test_the_readme_example_problem_is_the_offline_answer() -> None:
    """The README's problem is, byte for byte, what the default provider answers when the
    upstream cannot be reached."""
    example = readme_json_blocks()[1]
    router = respx.Router(assert_all_called=False)
    router.get(url__startswith=GEOCODING_URL).mock(side_effect=httpx.ConnectError("refused"))
    async with running_app(make_settings(retry_attempts=1), upstream=router) as client:
        response = await client.get("/london/uk/")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == example


def test_cities_are_letters_of_the_basic_multilingual_plane() -> None:
    """README: letters of any script in the BMP pass; a letter beyond U+FFFF is refused."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "letters and marks of any script in Unicode's Basic Multilingual Plane" in readme
    for city in ("Zürich", "東京", "Αθήνα", "São Paulo"):
        assert isinstance(parse_city_request(f"/{city}/gb/", b""), WeatherQuery), city
    deseret = "\U00010400\U00010428"  # letters (Lu, Ll) of the Deseret script, beyond the BMP
    assert deseret.isalpha()
    assert isinstance(parse_city_request(f"/{deseret}/us/", b""), InvalidQuery)
