"""WeatherService: answers weather queries through the cache, one provider and bounded concurrency.

It returns encoded JSON bodies, so that a cache hit costs no validation or serialisation, and it
knows nothing about HTTP frameworks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import quote

from weather_api.cache import Cached, CacheStatus, TTLCache
from weather_api.errors import LocationNotFound, WeatherApiError
from weather_api.locations import WeatherQuery
from weather_api.providers.base import WeatherProvider
from weather_api.shared_cache import SharedCache

WeatherCache = TTLCache[tuple[str, ...], bytes]
# Bump when the cached JSON changes shape, so that replicas of two versions share no entries.
SHARED_KEY_PREFIX = "weather-api:1:"


class WeatherService:
    """Current weather as encoded `CurrentWeather` JSON, cached per provider and query.

    With a `shared` cache, it fills the in-process cache's misses: only fresh in-process hits
    skip Redis, and one process fetches for all.
    """

    def __init__(
        self,
        provider: WeatherProvider,
        *,
        cache: WeatherCache | None,
        batch_concurrency: int,
        shared: SharedCache | None = None,
        forecast_cache: WeatherCache | None = None,
    ) -> None:
        self.provider = provider
        self.cache = cache
        self.forecast_cache = forecast_cache
        self.shared = shared
        self._batch_concurrency = batch_concurrency

    async def current(self, query: WeatherQuery) -> Cached[bytes]:
        """The weather for one query; raises a `WeatherApiError` when there is none to give."""
        if self.cache is None:
            return Cached(await self._fetch(query), CacheStatus.MISS, age=0.0, ttl=0.0)
        key = (self.provider.name, *query.cache_key())
        shared = self.shared
        if shared is None:
            return await self.cache.get(key, lambda: self._fetch(query))
        return await self.cache.get(key, lambda: self._fetch_shared(shared, key, query))

    def cached(self, query: WeatherQuery) -> Cached[bytes] | None:
        """The fresh cached answer for `query`, if there is one; no upstream call."""
        if self.cache is None:
            return None
        return self.cache.peek((self.provider.name, *query.cache_key()))

    def lookup_outcome(self, query: WeatherQuery) -> str:
        """What `current(query)` would find in the in-process cache now (`TTLCache.outcome`);
        "miss" with caching off. Tracing reads it; it counts nothing."""
        if self.cache is None:
            return "miss"
        return self.cache.outcome((self.provider.name, *query.cache_key()))

    async def forecast(self, query: WeatherQuery) -> Cached[bytes]:
        """The 5-day / 3-hour forecast (all steps) as encoded `Forecast` JSON.

        Cached in-process with its own TTL (`forecast_cache_ttl`), apart from current weather;
        the Redis tier holds current weather only.
        """
        if self.forecast_cache is None:
            return Cached(await self._fetch_forecast(query), CacheStatus.MISS, age=0.0, ttl=0.0)
        key = (self.provider.name, *query.cache_key())
        return await self.forecast_cache.get(key, lambda: self._fetch_forecast(query))

    async def _fetch_forecast(self, query: WeatherQuery) -> bytes:
        forecast = await self.provider.forecast(query)
        return forecast.model_dump_json(exclude_none=True).encode()

    async def many(
        self, queries: Sequence[WeatherQuery | WeatherApiError]
    ) -> list[Cached[bytes] | WeatherApiError]:
        """Each query's weather or error, in order; at most `batch_concurrency` in flight."""
        limit = asyncio.Semaphore(self._batch_concurrency)

        async def one(query: WeatherQuery | WeatherApiError) -> Cached[bytes] | WeatherApiError:
            if isinstance(query, WeatherApiError):  # rejected while parsing: nothing to fetch
                return query
            async with limit:
                try:
                    return await self.current(query)
                except WeatherApiError as exc:
                    return exc

        return list(await asyncio.gather(*(one(query) for query in queries)))

    async def _fetch_shared(
        self, shared: SharedCache, key: tuple[str, ...], query: WeatherQuery
    ) -> Cached[bytes]:
        """From Redis, or from the provider by one process for all."""
        return await shared.get(shared_key(key), lambda: self._fetch(query))

    async def _fetch(self, query: WeatherQuery) -> bytes:
        weather = await self.provider.current(query)
        return weather.model_dump_json(exclude_none=True).encode()


def shared_key(key: tuple[str, ...]) -> str:
    """The shared cache's key (under `SHARED_KEY_PREFIX`) for an in-process cache key."""
    return ":".join(quote(part, safe="") for part in key)


def build_cache(
    *, ttl: float, max_entries: int, stale_ttl: float, negative_ttl: float
) -> WeatherCache | None:
    """The cache the settings ask for, or None when `ttl` is 0 (caching off)."""
    if ttl <= 0:
        return None
    return TTLCache(
        ttl=ttl,
        max_entries=max_entries,
        stale_ttl=stale_ttl,
        negative_ttl=negative_ttl,
        negative_errors=(LocationNotFound,),
    )


def build_shared_cache(
    *,
    url: str | None,
    ttl: float,
    stale_ttl: float,
    lock_ttl: float,
    wait_timeout: float,
    timeout: float,
    backoff: float,
) -> SharedCache | None:
    """The Redis tier behind the in-process cache, or None without a URL or with caching off.

    "Not found" stays in the in-process tier only (`cache_negative_ttl`): the names are the
    clients' choice, and shared they would let any client fill Redis with misspellings.
    """
    if url is None or ttl <= 0:
        return None
    return SharedCache.from_url(
        url,
        timeout=timeout,
        ttl=ttl,
        stale_ttl=stale_ttl,
        lock_ttl=lock_ttl,
        wait_timeout=wait_timeout,
        backoff=backoff,
        prefix=SHARED_KEY_PREFIX,
        negative_errors=(LocationNotFound,),
    )
