"""A bounded in-process TTL cache with single-flight fills, stale-if-error and negative entries.

Generic: it stores values and remembered errors under hashable keys and knows nothing of weather.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CacheStatus(StrEnum):
    """How an answer was obtained; sent to clients in the `X-Cache` header."""

    HIT = "hit"
    MISS = "miss"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    """A value with what a client needs to know about its freshness."""

    value: V
    status: CacheStatus
    age: float
    """Seconds since the value was fetched."""
    ttl: float
    """Seconds it stays fresh from now (0 when stale)."""


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A remembered error as data: its class and arguments, never the exception object.

    Re-raising one stored exception would grow its traceback by a set of frames on every hit
    and keep each request's frames alive for the entry's lifetime; a fresh one per hit does not.
    """

    kind: type[BaseException]
    args: tuple[object, ...]

    @classmethod
    def of(cls, error: BaseException) -> _Refusal | None:
        """The refusal that raises a copy of `error`, or None when its class cannot be rebuilt."""
        refusal = cls(type(error), error.args)
        try:
            refusal.error()
        except Exception:  # an error whose __init__ does not take its own args: not kept
            return None
        return refusal

    def error(self) -> BaseException:
        """A new exception, with no traceback, context or cause."""
        return self.kind(*self.args)


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V | None
    error: _Refusal | None
    stored_at: float
    fresh_until: float
    keep_until: float


class CacheStats:
    """Counters the cache keeps for metrics and tests."""

    __slots__ = ("coalesced", "evictions", "hits", "misses", "negative_hits", "stale")

    def __init__(self) -> None:
        self.hits = self.misses = self.stale = self.coalesced = 0
        self.negative_hits = self.evictions = 0


class TTLCache(Generic[K, V]):
    """At most `max_entries` values, each fresh for `ttl` seconds.

    Concurrent misses for one key share one fill (single flight); the fill runs in a task of its
    own, so a caller that goes away does not cancel it for the others. When a fill fails with an
    error not listed in `negative_errors`, an expired value younger than `ttl + stale_ttl` is
    served as stale instead. Errors listed in `negative_errors` are remembered for `negative_ttl`
    as their class and arguments (`type(e)(*e.args)` must rebuild them): each lookup in that time
    raises a new one.

    A fill may return a `Cached` instead of a bare value: one that another cache tier has held
    for `age` seconds stays fresh here only for the `ttl` it has left, and one marked stale is
    kept for stale-if-error but never served as fresh.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        stale_ttl: float = 0.0,
        negative_ttl: float = 0.0,
        negative_errors: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("a cache needs ttl > 0 and max_entries >= 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self.stale_ttl = stale_ttl
        self.negative_ttl = negative_ttl
        self._negative_errors = negative_errors
        self._clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._fills: dict[K, asyncio.Task[Cached[V]]] = {}
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: K) -> Cached[V] | None:
        """The fresh value for `key` (counted as a hit), or None: never fills, never raises."""
        entry = self._entries.get(key)
        if entry is None or entry.error is not None:
            return None
        now = self._clock()
        if now >= entry.fresh_until:
            return None
        self.stats.hits += 1
        return Cached(
            value=entry.value,  # type: ignore[arg-type]  # set whenever error is None
            status=CacheStatus.HIT,
            age=now - entry.stored_at,
            ttl=entry.fresh_until - now,
        )

    def outcome(self, key: K) -> str:
        """What `get(key, ...)` called now would do, counting nothing: "hit", "negative" (raise a
        remembered error), "coalesced" (wait for the fill in flight) or "miss" (start a fill)."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.fresh_until:
            return "hit" if entry.error is None else "negative"
        return "coalesced" if key in self._fills else "miss"

    async def get(self, key: K, fill: Callable[[], Awaitable[V | Cached[V]]]) -> Cached[V]:
        """The fresh value for `key`, filling it with `fill()` on a miss."""
        hit = self.peek(key)
        if hit is not None:
            return hit
        entry = self._entries.get(key)
        if entry is not None and entry.error is not None and self._clock() < entry.fresh_until:
            self.stats.negative_hits += 1
            raise entry.error.error()
        task = self._fills.get(key)
        if task is None:
            self.stats.misses += 1
            task = asyncio.create_task(self._fill(key, fill))
            self._fills[key] = task
            task.add_done_callback(lambda _: self._fills.pop(key, None))
        else:
            self.stats.coalesced += 1
        # shield: a caller cancelled while waiting must not cancel the fill others wait on.
        return await asyncio.shield(task)

    async def _fill(self, key: K, fill: Callable[[], Awaitable[V | Cached[V]]]) -> Cached[V]:
        try:
            value = await fill()
        except self._negative_errors as exc:
            refusal = _Refusal.of(exc) if self.negative_ttl > 0 else None
            if refusal is not None:
                now = self._clock()
                self._store(key, _Entry(None, refusal, now, now + self.negative_ttl, now))
            raise
        except Exception:
            stale = self._entries.get(key)
            now = self._clock()
            if stale is None or stale.error is not None or now >= stale.keep_until:
                raise
            self.stats.stale += 1
            return Cached(
                value=stale.value,  # type: ignore[arg-type]  # error is None
                status=CacheStatus.STALE,
                age=now - stale.stored_at,
                ttl=0.0,
            )
        now = self._clock()
        if isinstance(value, Cached):
            return self._store_aged(key, value, now)
        fresh_until = now + self.ttl
        self._store(key, _Entry(value, None, now, fresh_until, fresh_until + self.stale_ttl))
        return Cached(value=value, status=CacheStatus.MISS, age=0.0, ttl=self.ttl)

    def _store_aged(self, key: K, cached: Cached[V], now: float) -> Cached[V]:
        """Keep a value the fill got from elsewhere only as long as it has left."""
        stored_at = now - cached.age
        fresh_until = now + min(cached.ttl, self.ttl)
        # Kept for stale-if-error as long as a value fetched here at `stored_at` would be.
        keep_until = max(fresh_until, stored_at + self.ttl + self.stale_ttl)
        if keep_until > now:
            self._store(key, _Entry(cached.value, None, stored_at, fresh_until, keep_until))
        return cached

    def _store(self, key: K, entry: _Entry[V]) -> None:
        entries = self._entries
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
            self.stats.evictions += 1
