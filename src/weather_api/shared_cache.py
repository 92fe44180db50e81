"""A cache in Redis that every replica shares, with one fetch per key across all of them.

Generic: bytes values under str keys; it knows nothing of weather. It sits behind the in-process
`TTLCache` as that cache's fill, so an in-process hit never reaches it. For a key K (under
`prefix`), Redis holds:

    K        the value; it expires `ttl` after it was fetched, so its PTTL is the time it has
             left and its age is `ttl - PTTL`, both on Redis's clock (no replica's clock counts)
    K:stale  the same value, kept `ttl + stale_ttl`: served when a fetch fails (stale-if-error)
    K:lock   a random token while one replica fetches K (`SET NX PX lock_ttl`)

On a miss one replica takes the lock and fetches; the others poll for the value for up to
`wait_timeout`, then serve the stale copy if there is one, or fetch themselves. A holder that
dies leaves a lock that expires after `lock_ttl`: the first poll after that takes it over.
The holder stores the value and drops the lock in one script, and only if the lock still holds
its token (a holder slower than `lock_ttl` must not drop the next holder's lock).

Redis is an optimisation, never a dependency. Every call is bounded by `timeout` (redis-py's
own retries are off: a retry would double the wait). A failed call opens a circuit breaker:
for `backoff` seconds no call is tried and values come straight from `fill()`, so a dead Redis
costs one timeout per back-off period instead of one per request. Then one call probes; when it
succeeds the tier is back. The transitions are logged, at most one warning a minute while down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from weather_api.cache import Cached, CacheStatus

T = TypeVar("T")

LOGGER = logging.getLogger("weather_api.shared_cache")
_LOG_EVERY = 60.0  # seconds between repeated "still unavailable" warnings

# KEYS: value, lock. ARGV: token, lock ms.
# -> {value, pttl} when the value is there; else 1 when this caller took the lock, 0 when not.
_READ_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then
  return {value, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""

# KEYS: value, stale copy, lock. ARGV: token, ttl ms, stale ms[, value].
# Stores the value when one is given, then drops the lock if it still holds the token.
_STORE_AND_RELEASE = """
if ARGV[4] then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[2])
  if tonumber(ARGV[3]) > tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
  end
end
if redis.call('GET', KEYS[3]) == ARGV[1] then
  return redis.call('DEL', KEYS[3])
end
return 0
"""


class SharedCacheStats:
    """Counters the shared tier keeps for metrics and tests."""

    __slots__ = ("bypassed", "errors", "hits", "misses", "stale", "unlocked", "waits")

    def __init__(self) -> None:
        self.hits = self.misses = self.waits = self.stale = self.unlocked = 0
        self.errors = self.bypassed = 0


class _Unavailable(Exception):
    """A Redis call failed, timed out or was skipped while the breaker is open."""


@dataclass(frozen=True, slots=True)
class _Keys:
    value: str
    stale: str
    lock: str


def redacted(url: str) -> str:
    """`url` without its user and password, for log lines and metrics."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class SharedCache:
    """bytes values in Redis, fresh for `ttl` seconds, fetched once across every process.

    `get(key, fill)` answers like `TTLCache.get`, with a `Cached` whose `age` and `ttl` say how
    long ago the value was fetched (by whichever process) and how long it stays fresh.
    Errors in `negative_errors` are answers ("not found"), never replaced by a stale value;
    they are not stored here (the first tier remembers them).
    """

    def __init__(
        self,
        client: Redis,
        *,
        ttl: float,
        stale_ttl: float,
        lock_ttl: float,
        wait_timeout: float,
        timeout: float,
        backoff: float,
        prefix: str = "",
        where: str = "redis",
        negative_errors: tuple[type[BaseException], ...] = (),
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or lock_ttl <= 0 or timeout <= 0:
            raise ValueError("a shared cache needs ttl, lock_ttl and timeout > 0")
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.lock_ttl = lock_ttl
        self.wait_timeout = wait_timeout
        self.timeout = timeout
        self.backoff = backoff
        self.prefix = prefix
        self.where = where
        """Where Redis is, without credentials: for logs and metrics."""
        self.poll_interval = poll_interval
        self.stats = SharedCacheStats()
        self._redis = client
        self._negative_errors = negative_errors
        self._clock = clock
        self._open_until: float | None = None  # the breaker: None while Redis answers
        self._next_warning = 0.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float, **options: Any) -> SharedCache:
        """A shared cache on a new Redis client for `url` (`redis://host:port/db`)."""
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            client_name="weather-api",
        )
        return cls(client, timeout=timeout, where=redacted(url), **options)

    @property
    def degraded(self) -> bool:
        """True from a failed Redis call until one succeeds again."""
        return self._open_until is not None

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        await self._redis.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers now (a failure opens the breaker like any other)."""
        try:
            await self._call(self._redis.ping)
        except _Unavailable:
            return False
        return True

    async def get(self, key: str, fill: Callable[[], Awaitable[bytes]]) -> Cached[bytes]:
        """The value for `key` from Redis, or from `fill()` by one process while others wait."""
        keys = _Keys(self.prefix + key, f"{self.prefix}{key}:stale", f"{self.prefix}{key}:lock")
        token = secrets.token_hex(16)
        try:
            found = await self._lookup(keys, token)
        except _Unavailable:
            return self._fetched(await fill())
        if isinstance(found, Cached):
            self.stats.hits += 1
            return found
        if found:
            return await self._fetch_holding_lock(keys, token, fill)
        self.stats.waits += 1
        return await self._wait(keys, token, fill)

    async def _wait(
        self, keys: _Keys, token: str, fill: Callable[[], Awaitable[bytes]]
    ) -> Cached[bytes]:
        """Another process fetches: poll for its value, or for its lock to expire."""
        deadline = self._clock() + self.wait_timeout
        try:
            while (left := deadline - self._clock()) > 0:
                await asyncio.sleep(min(self.poll_interval, left))
                found = await self._lookup(keys, token)
                if isinstance(found, Cached):
                    self.stats.hits += 1
                    return found
                if found:  # the holder's lock expired: it died, or took too long
                    return await self._fetch_holding_lock(keys, token, fill)
            stale = await self._read(keys.stale)
        except _Unavailable:
            return self._fetched(await fill())
        if stale is not None:
            self.stats.stale += 1
            return stale
        # Waited long enough and nothing to serve: fetch without the lock.
        self.stats.unlocked += 1
        value = await fill()
        await self._quietly(self._store(keys, token, value))
        return self._fetched(value)

    async def _fetch_holding_lock(
        self, keys: _Keys, token: str, fill: Callable[[], Awaitable[bytes]]
    ) -> Cached[bytes]:
        self.stats.misses += 1
        try:
            value = await fill()
        except self._negative_errors:
            await self._quietly(self._store(keys, token, None))
            raise
        except Exception:
            await self._quietly(self._store(keys, token, None))
            stale = await self._quietly(self._read(keys.stale))
            if stale is None:
                raise
            self.stats.stale += 1
            return stale
        await self._quietly(self._store(keys, token, value))
        return self._fetched(value)

    async def _lookup(self, keys: _Keys, token: str) -> Cached[bytes] | bool:
        """The value if Redis has it, else whether this caller now holds the lock."""
        lock_ms = max(1, round(self.lock_ttl * 1000))
        answer = await self._call(
            lambda: self._eval(_READ_OR_LOCK, [keys.value, keys.lock], [token, lock_ms])
        )
        if isinstance(answer, list):
            value, pttl = answer
            return self._aged(value, pttl, self.ttl, CacheStatus.HIT)
        return bool(answer)

    async def _read(self, key: str) -> Cached[bytes] | None:
        """The stale copy, if Redis still has it."""

        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                return await pipe.execute()

        value, pttl = await self._call(read)
        if value is None:
            return None
        return self._aged(value, pttl, self.ttl + self.stale_ttl, CacheStatus.STALE)

    async def _store(self, keys: _Keys, token: str, value: bytes | None) -> None:
        """Store `value` (None: nothing) and drop the lock if it is still ours."""
        args: list[str | int | bytes] = [
            token,
            max(1, round(self.ttl * 1000)),
            max(1, round((self.ttl + self.stale_ttl) * 1000)),
        ]
        if value is not None:
            args.append(value)
        await self._call(
            lambda: self._eval(_STORE_AND_RELEASE, [keys.value, keys.stale, keys.lock], args)
        )

    async def _eval(self, script: str, keys: list[str], args: list[str | int | bytes]) -> Any:
        # EVAL, not EVALSHA: one round trip always, also right after a restart emptied Redis's
        # script cache (EVALSHA would fail, load the script, and try again: three).
        return await self._redis.eval(script, len(keys), *keys, *args)

    def _aged(self, value: bytes, pttl: int, lifetime: float, status: CacheStatus) -> Cached[bytes]:
        # PTTL is -1 for a key stored without expiry (by hand): count it as just fetched.
        left = lifetime if pttl < 0 else min(pttl / 1000, lifetime)
        age = lifetime - left
        if status is CacheStatus.STALE:
            return Cached(value=value, status=status, age=age, ttl=0.0)
        return Cached(value=value, status=status, age=age, ttl=left)

    def _fetched(self, value: bytes) -> Cached[bytes]:
        return Cached(value=value, status=CacheStatus.MISS, age=0.0, ttl=self.ttl)

    async def _quietly(self, call: Awaitable[T]) -> T | None:
        """`call`'s result, or None when Redis is unavailable (already counted and logged)."""
        try:
            return await call
        except _Unavailable:
            return None

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """One Redis operation within `timeout`, through the circuit breaker."""
        if self._open_until is not None:
            now = self._clock()
            if now < self._open_until:
                self.stats.bypassed += 1
                raise _Unavailable
            # The back-off is over: this call probes; the others skip until it answers.
            self._open_until = now + self.backoff
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            await self._drop_idle_connections()
            raise _Unavailable from exc
        if self._open_until is not None:
            self._open_until = None
            LOGGER.info(
                "shared cache %s is back",
                self.where,
                extra={"fields": {"shared_cache": self.where, "errors": self.stats.errors}},
            )
        return result

    async def _drop_idle_connections(self) -> None:
        # Connections pooled before a Redis restart can look healthy and fail on first use:
        # each would open the breaker again once Redis is back.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._redis.connection_pool.disconnect(inuse_connections=False)

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        now = self._clock()
        first = self._open_until is None
        self._open_until = now + self.backoff
        if first or now >= self._next_warning:
            self._next_warning = now + _LOG_EVERY
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            LOGGER.warning(
                "shared cache %s unavailable (%s); skipping it for %g s at a time",
                self.where,
                reason,
                self.backoff,
                extra={"fields": {"shared_cache": self.where, "errors": self.stats.errors}},
            )
