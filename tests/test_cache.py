"""The TTL cache: freshness, bounds, single flight, stale-if-error and negative entries."""

from __future__ import annotations

import asyncio
import traceback

import pytest

from weather_api.cache import Cached, CacheStatus, TTLCache


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Missing(Exception):
    """Stands for "location not found"."""


class Boom(Exception):
    """Stands for an upstream failure."""


def make_cache(clock: Clock, **kwargs: float) -> TTLCache[str, str]:
    options = {"ttl": 10.0, "max_entries": 3, "stale_ttl": 100.0, "negative_ttl": 5.0, **kwargs}
    return TTLCache(clock=clock, negative_errors=(Missing,), **options)  # type: ignore[arg-type]


class Counter:
    """A fill function that counts its calls."""

    def __init__(self, value: str = "v", *, error: Exception | None = None) -> None:
        self.calls = 0
        self.value = value
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return f"{self.value}{self.calls}"


async def test_hit_within_ttl_and_refill_after() -> None:
    """A value is served from cache until its TTL passes, with its age; then it is fetched again."""
    clock, fill = Clock(), Counter()
    cache = make_cache(clock)
    first = await cache.get("k", fill)
    assert (first.value, first.status, first.ttl) == ("v1", CacheStatus.MISS, 10.0)
    clock.now += 4
    second = await cache.get("k", fill)
    assert (second.value, second.status, second.age, second.ttl) == ("v1", CacheStatus.HIT, 4, 6)
    clock.now += 6
    third = await cache.get("k", fill)
    assert (third.value, third.status, fill.calls) == ("v2", CacheStatus.MISS, 2)


async def test_size_is_bounded_oldest_first() -> None:
    """Past max_entries the oldest entry goes; the newest stay."""
    clock = Clock()
    cache = make_cache(clock)
    for key in "abcd":
        await cache.get(key, Counter(key))
    assert len(cache) == 3
    assert cache.stats.evictions == 1
    refetch = Counter("a")
    assert (await cache.get("a", refetch)).status is CacheStatus.MISS
    assert (await cache.get("d", Counter())).status is CacheStatus.HIT


async def test_concurrent_misses_share_one_fill() -> None:
    """1000 concurrent misses for one key make exactly one call, and all get its value."""
    gate = asyncio.Event()
    calls = 0

    async def slow_fill() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "shared"

    cache = make_cache(Clock())
    waiters = [asyncio.create_task(cache.get("k", slow_fill)) for _ in range(1000)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters)
    assert calls == 1
    assert {r.value for r in results} == {"shared"}
    assert cache.stats.misses == 1
    assert cache.stats.coalesced == 999


async def test_a_cancelled_caller_does_not_cancel_the_shared_fill() -> None:
    """The first caller going away leaves the fill running for the second, which gets the value."""
    gate = asyncio.Event()

    async def slow_fill() -> str:
        await gate.wait()
        return "done"

    cache = make_cache(Clock())
    first = asyncio.create_task(cache.get("k", slow_fill))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("k", slow_fill))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert (await second).value == "done"
    assert first.cancelled()
    assert (await cache.get("k", slow_fill)).status is CacheStatus.HIT


async def test_stale_value_is_served_when_the_refill_fails() -> None:
    """After expiry, a failing fill serves the old value marked stale, until stale_ttl runs out."""
    clock = Clock()
    cache = make_cache(clock)
    await cache.get("k", Counter())
    clock.now += 50
    stale = await cache.get("k", Counter(error=Boom()))
    assert (stale.value, stale.status, stale.age, stale.ttl) == ("v1", CacheStatus.STALE, 50, 0)
    clock.now += 100
    with pytest.raises(Boom):
        await cache.get("k", Counter(error=Boom()))


async def test_failure_without_a_stale_value_propagates() -> None:
    """A cold miss that fails raises to every waiter and caches nothing."""
    cache = make_cache(Clock())
    with pytest.raises(Boom):
        await cache.get("k", Counter(error=Boom()))
    assert len(cache) == 0


async def test_not_found_is_remembered_briefly() -> None:
    """A negative error is raised again from cache for negative_ttl without a new call."""
    clock = Clock()
    cache = make_cache(clock)
    fill = Counter(error=Missing("no such city"))
    for _ in range(3):
        with pytest.raises(Missing):
            await cache.get("k", fill)
    assert fill.calls == 1
    assert cache.stats.negative_hits == 2
    clock.now += 5
    with pytest.raises(Missing):
        await cache.get("k", fill)
    assert fill.calls == 2


async def test_each_negative_hit_raises_a_new_error_without_history() -> None:
    """Hits on a remembered error raise new exceptions: no traceback grows, nothing chains."""
    cache = make_cache(Clock())
    fill = Counter(error=Missing("no such city"))
    raised: list[BaseException] = []
    for _ in range(50):
        with pytest.raises(Missing) as caught:
            await cache.get("k", fill)
        raised.append(caught.value)
    hits = raised[1:]
    assert fill.calls == 1
    assert len({id(error) for error in raised}) == len(raised)
    assert all(error.args == ("no such city",) for error in raised)
    assert all(error.__context__ is None and error.__cause__ is None for error in hits)
    depth = [len(traceback.extract_tb(error.__traceback__)) for error in hits]
    assert depth[-1] == depth[0]


async def test_an_error_that_cannot_be_rebuilt_is_not_remembered() -> None:
    """A negative error whose class does not take its own args is raised, not cached."""

    class Odd(Missing):
        def __init__(self, code: int, *, where: str) -> None:
            super().__init__(f"{code} at {where}")

    cache = make_cache(Clock())
    fill = Counter(error=Odd(7, where="x"))
    for _ in range(2):
        with pytest.raises(Odd):
            await cache.get("k", fill)
    assert fill.calls == 2
    assert len(cache) == 0


async def test_negative_caching_can_be_off() -> None:
    """With negative_ttl 0, every lookup of an unknown key asks again."""
    cache = make_cache(Clock(), negative_ttl=0)
    fill = Counter(error=Missing())
    for _ in range(2):
        with pytest.raises(Missing):
            await cache.get("k", fill)
    assert fill.calls == 2


def test_a_zero_ttl_cache_is_refused() -> None:
    """ttl 0 means no cache at all; the service builds none rather than a useless one."""
    with pytest.raises(ValueError, match="ttl"):
        TTLCache(ttl=0, max_entries=1)


async def test_a_fill_reporting_an_age_leaves_the_value_only_the_ttl_it_has_left() -> None:
    """A value another tier fetched 4 s ago is a hit with that age, and expires 6 s later."""
    clock = Clock()
    cache = make_cache(clock)

    async def aged() -> str | Cached[str]:
        return Cached("theirs", CacheStatus.HIT, age=4.0, ttl=6.0)

    got = await cache.get("k", aged)
    assert (got.value, got.status, got.age, got.ttl) == ("theirs", CacheStatus.HIT, 4.0, 6.0)
    clock.now += 5
    hit = await cache.get("k", Counter())
    assert (hit.value, hit.status, hit.age, hit.ttl) == ("theirs", CacheStatus.HIT, 9, 1)
    clock.now += 1
    assert cache.peek("k") is None


async def test_a_reported_ttl_never_outlasts_this_caches_own() -> None:
    """A fill cannot make a value fresh for longer than this cache's ttl."""
    clock = Clock()
    cache = make_cache(clock)

    async def long_lived() -> str | Cached[str]:
        return Cached("v", CacheStatus.HIT, age=0.0, ttl=1000.0)

    await cache.get("k", long_lived)
    clock.now += 10
    assert cache.peek("k") is None


async def test_a_stale_value_from_the_fill_is_kept_for_errors_not_served_as_fresh() -> None:
    """A fill answering stale: passed on as stale, never a hit, but there for stale-if-error."""
    clock = Clock()
    cache = make_cache(clock)

    async def stale() -> str | Cached[str]:
        return Cached("old", CacheStatus.STALE, age=30.0, ttl=0.0)

    got = await cache.get("k", stale)
    assert (got.value, got.status) == ("old", CacheStatus.STALE)
    assert cache.peek("k") is None
    clock.now += 50
    again = await cache.get("k", Counter(error=Boom()))
    assert (again.value, again.status, again.age) == ("old", CacheStatus.STALE, 80)


async def test_a_stale_value_past_every_horizon_is_not_kept() -> None:
    """A stale value older than ttl + stale_ttl is passed on once and not stored."""
    cache = make_cache(Clock())

    async def ancient() -> str | Cached[str]:
        return Cached("ancient", CacheStatus.STALE, age=500.0, ttl=0.0)

    assert (await cache.get("k", ancient)).value == "ancient"
    assert len(cache) == 0
