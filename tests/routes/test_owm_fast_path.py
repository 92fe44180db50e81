"""The `/data/2.5/weather` fast layer and its route answer every request the same way.

The layer reads the query string its own way (the appid taken out before its memo); any
difference from the route's reading is a request answered differently, which this finds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_settings
from tests.hostile.test_fuzz import SOAK, BlockingApp

ACCEPTED = "good"
PLACES = ["Oslo,NO", "oslo, no", "Oslo%2CNO", "Paris,FR", "Nowhere,NO", "0slo,NO"]
# appid names as clients spell them, and as they could be spelt to slip past a reading.
# (The plain spellings twice: two appids that disagree are the case to meet often.)
APPID_NAMES = ["appid", "APPID", "appid", "APPID", "app%69d", "AppId", "appid "]
APPIDS = ["good", "bad", "good", "bad", "", "g%6Fod", "go+od", "good "]
OTHERS = st.sampled_from(
    [
        ("units", "metric"),
        ("units", "kelvin"),
        ("lang", "de"),
        ("lat", "59.9"),
        ("x", "1"),
        ("q", "Paris,FR"),
    ]
)


@pytest.fixture
def both_ways() -> Iterator[BlockingApp]:
    """Made-up weather, one appid accepted, two ways in: whole stack, or FastAPI's alone."""
    with BlockingApp(
        make_settings(provider="sample", compat_appids=ACCEPTED), both_ways=True
    ) as blocking:
        yield blocking


@pytest.mark.no_cover
def test_fast_layer_and_route_agree(both_ways: BlockingApp) -> None:
    """Same status and body for any mix of parameters, appids spelt any way, repeated or not."""
    seen: Counter[int] = Counter()

    @given(
        items=st.tuples(
            st.tuples(st.just("q"), st.sampled_from(PLACES)),
            st.lists(st.tuples(st.sampled_from(APPID_NAMES), st.sampled_from(APPIDS)), max_size=3),
            st.lists(OTHERS, max_size=2),
        )
        .map(lambda parts: [parts[0], *parts[1], *parts[2]])
        .flatmap(st.permutations),
        separator=st.sampled_from(["&", "&&"]),
    )
    @settings(
        max_examples=300 * (4 if SOAK else 1),
        database=None,
        deadline=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    def agree(items: list[tuple[str, str]], separator: str) -> None:
        url = "/data/2.5/weather?" + separator.join(f"{name}={value}" for name, value in items)
        # The route first: it fills the cache, so the layer has a hit to answer from.
        route = both_ways.request("GET", url, via_route=True)
        fast = both_ways.request("GET", url)
        seen[fast.status_code] += 1
        assert (fast.status_code, fast.content) == (route.status_code, route.content), url

    agree()
    assert {200, 400, 401} <= set(seen), seen
