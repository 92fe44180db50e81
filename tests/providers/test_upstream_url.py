"""`request_url` builds the very URL httpx would, for any query our providers send."""

from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from weather_api.providers.upstream import request_url

ENDPOINTS = [
    "https://api.openweathermap.org/data/2.5/weather",
    "http://127.0.0.1:9000/v1/search",
    "http://[::1]:8080/v1/forecast",
]


@given(
    endpoint=st.sampled_from(ENDPOINTS),
    params=st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=5),
)
def test_same_url_as_httpx_builds(endpoint: str, params: dict[str, str]) -> None:
    """Names with spaces, accents, '&', '=', '+', '%' or emoji: the same URL, the same bytes."""
    ours = httpx.URL(request_url(endpoint, params))
    theirs = httpx.URL(endpoint, params=params)
    assert ours == theirs
    assert ours.raw_path == theirs.raw_path
    assert ours.params == theirs.params
    assert (ours.host, ours.port) == (theirs.host, theirs.port)
