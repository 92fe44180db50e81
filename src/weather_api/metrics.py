"""The service's Prometheus metrics, kept cheap enough for the cache-hit path.

Request duration by route template and status and requests in flight (recorded by
request_middleware.py), requests the server refused (http_protocol.py), upstream duration by
provider and outcome and answers refused as mismatches (providers/upstream.py), and cache events
read from the caches' own counters at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from weather_api.cache import TTLCache
    from weather_api.shared_cache import SharedCache


REQUEST_DURATION = Histogram(
    "weather_api_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("weather_api_http_requests_in_flight", "HTTP requests being answered.")
REFUSED = Counter(
    "weather_api_http_requests_refused",
    "Requests refused before the app saw them: 408 too slow, 414 URL or 431 headers too long.",
    ["status"],
)
UPSTREAM_DURATION = Histogram(
    "weather_api_upstream_request_duration_seconds",
    "Time of one upstream request attempt, by provider and outcome.",
    ["provider", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_MISMATCHES = Counter(
    "weather_api_upstream_mismatches",
    "Upstream answers about another question than the one asked (refused, never served).",
    ["provider"],
)


def observe_upstream(*, provider: str, outcome: str, seconds: float) -> None:
    """Record one upstream attempt."""
    child = _UPSTREAM_CHILDREN.get((provider, outcome))
    if child is None:
        child = _UPSTREAM_CHILDREN[provider, outcome] = UPSTREAM_DURATION.labels(provider, outcome)
    child.observe(seconds)


def start_counting_mismatches(provider: str) -> None:
    """Export the provider's mismatch count from 0, so that alerts and rate() see a series."""
    UPSTREAM_MISMATCHES.labels(provider)


def count_upstream_mismatch(provider: str) -> None:
    """Count one upstream answer refused for answering another question."""
    UPSTREAM_MISMATCHES.labels(provider).inc()


# Labelled children, looked up once: `.labels()` takes a lock and builds a key per call.
_UPSTREAM_CHILDREN: dict[tuple[str, str], Any] = {}


# --- metrics of the cache -----------------------------------------------------------------


class CacheCollector(Collector):
    """Exposes a cache's counters at scrape time, so the hot path pays nothing for them."""

    def __init__(self, cache: TTLCache[Any, Any]) -> None:
        self._cache = cache

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Yield the cache's counters and size."""
        stats = self._cache.stats
        events = CounterMetricFamily(
            "weather_api_cache_events", "Cache lookups by result.", labels=["event"]
        )
        for event in ("hits", "misses", "stale", "coalesced", "negative_hits", "evictions"):
            events.add_metric([event], getattr(stats, event))
        yield events
        yield GaugeMetricFamily(
            "weather_api_cache_entries", "Entries held in the cache.", value=len(self._cache)
        )


def register_cache(cache: TTLCache[Any, Any] | None) -> Collector | None:
    """Add a cache's collector to the process registry; undo with `unregister`."""
    if cache is None:
        return None
    collector = CacheCollector(cache)
    REGISTRY.register(collector)
    return collector


class SharedCacheCollector(Collector):
    """Exposes the shared (Redis) tier's counters and state at scrape time, as CacheCollector."""

    def __init__(self, shared: SharedCache) -> None:
        self._shared = shared

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Yield the shared tier's counters, its errors and whether it is degraded."""
        stats = self._shared.stats
        events = CounterMetricFamily(
            "weather_api_shared_cache_events",
            "Shared cache lookups by result (waits: another process was fetching; unlocked: "
            "fetched after waiting in vain; bypassed: Redis calls skipped while degraded).",
            labels=["event"],
        )
        for event in ("hits", "misses", "waits", "stale", "unlocked", "bypassed"):
            events.add_metric([event], getattr(stats, event))
        yield events
        yield CounterMetricFamily(
            "weather_api_shared_cache_errors",
            "Redis calls that failed or timed out.",
            value=stats.errors,
        )
        yield GaugeMetricFamily(
            "weather_api_shared_cache_degraded",
            "1 while Redis fails and is skipped (answers come from the upstream), else 0.",
            value=1 if self._shared.degraded else 0,
        )


def register_shared_cache(shared: SharedCache | None) -> Collector | None:
    """Add the shared tier's collector to the process registry; undo with `unregister`."""
    if shared is None:
        return None
    collector = SharedCacheCollector(shared)
    REGISTRY.register(collector)
    return collector


def unregister(collector: Collector | None) -> None:
    """Remove a collector added by `register_cache` or `register_shared_cache`."""
    if collector is not None:
        REGISTRY.unregister(collector)
