"""The shared tier against a real Redis: hits, misses, the lock, stale copies and failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.conftest import free_port
from tests.shared_cache.conftest import RedisServer
from weather_api.cache import CacheStatus, TTLCache
from weather_api.shared_cache import SharedCache, redacted

# Redis starts within 10 s; every timer here is under a second.
pytestmark = pytest.mark.timeout(60)

MakeShared = Callable[..., SharedCache]


class Missing(Exception):
    """Stands for "location not found"."""


class Boom(Exception):
    """Stands for an upstream failure."""


class Fill:
    """A fill function that counts its calls, optionally slow or failing."""

    def __init__(
        self, value: bytes = b"v", *, delay: float = 0.0, error: Exception | None = None
    ) -> None:
        self.calls = 0
        self.value = value
        self.delay = delay
        self.error = error

    async def __call__(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture
async def make_shared(redis_server: RedisServer) -> AsyncIterator[MakeShared]:
    """Shared caches on their own clients (as in separate processes); all closed afterwards."""
    made: list[SharedCache] = []

    def make(url: str | None = None, **options: Any) -> SharedCache:
        settings: dict[str, Any] = {
            "timeout": 1.0,  # generous: a busy machine must not make these tests flaky
            "ttl": 600.0,
            "stale_ttl": 3600.0,
            "lock_ttl": 2.0,
            "wait_timeout": 3.0,
            "backoff": 0.3,
            "prefix": "t:",
            "negative_errors": (Missing,),
            **options,
        }
        shared = SharedCache.from_url(url or redis_server.url, **settings)
        made.append(shared)
        return shared

    yield make
    for shared in made:
        await shared.aclose()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client, to look at and tamper with what the tier stores."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def test_a_miss_fetches_stores_with_ttl_and_drops_the_lock(
    make_shared: MakeShared, raw: Redis
) -> None:
    """The first get fetches once, stores value and stale copy with their TTLs, frees the lock."""
    shared, fill = make_shared(), Fill(b"body")
    got = await shared.get("k", fill)
    assert (got.value, got.status, got.age, got.ttl) == (b"body", CacheStatus.MISS, 0.0, 600.0)
    assert fill.calls == 1
    assert await raw.get("t:k") == b"body"
    assert await raw.get("t:k:stale") == b"body"
    assert 599_000 < await raw.pttl("t:k") <= 600_000
    assert 4_199_000 < await raw.pttl("t:k:stale") <= 4_200_000
    assert await raw.exists("t:k:lock") == 0
    assert (shared.stats.misses, shared.stats.hits, shared.stats.errors) == (1, 0, 0)


async def test_another_process_gets_a_hit_with_the_age_redis_knows(
    make_shared: MakeShared, raw: Redis
) -> None:
    """A value stored 200 s ago with a 600 s TTL is a hit aged 200 s with 400 s left."""
    await raw.set("t:k", b"theirs", px=400_000)
    shared, fill = make_shared(), Fill()
    got = await shared.get("k", fill)
    assert (got.value, got.status) == (b"theirs", CacheStatus.HIT)
    assert got.age == pytest.approx(200, abs=1)
    assert got.ttl == pytest.approx(400, abs=1)
    assert fill.calls == 0
    assert shared.stats.hits == 1


async def test_a_value_stored_without_expiry_counts_as_just_fetched(
    make_shared: MakeShared, raw: Redis
) -> None:
    """A key set by hand without a TTL is served with age 0 and the full TTL."""
    await raw.set("t:k", b"by-hand")
    got = await make_shared().get("k", Fill())
    assert (got.status, got.age, got.ttl) == (CacheStatus.HIT, 0.0, 600.0)


async def test_concurrent_misses_in_two_processes_make_one_fetch(make_shared: MakeShared) -> None:
    """Two tiers on separate clients: one fetches holding the lock, the other waits for it."""
    first, second = make_shared(poll_interval=0.01), make_shared(poll_interval=0.01)
    fill = Fill(b"once", delay=0.2)
    results = await asyncio.gather(first.get("k", fill), second.get("k", fill))
    assert fill.calls == 1
    assert sorted(r.status for r in results) == [CacheStatus.HIT, CacheStatus.MISS]
    assert {r.value for r in results} == {b"once"}
    assert first.stats.waits + second.stats.waits == 1


async def test_a_dead_holders_lock_expires_and_a_waiter_fetches(
    make_shared: MakeShared, raw: Redis
) -> None:
    """A lock left by a process that died holds the others off only until it expires."""
    await raw.set("t:k:lock", b"dead-process", px=400)
    shared, fill = make_shared(poll_interval=0.02), Fill(b"mine")
    started = time.monotonic()
    got = await shared.get("k", fill)
    waited = time.monotonic() - started
    assert (got.value, got.status, fill.calls) == (b"mine", CacheStatus.MISS, 1)
    assert 0.3 < waited < 1.5
    assert (shared.stats.waits, shared.stats.misses) == (1, 1)
    assert await raw.exists("t:k:lock") == 0


async def test_a_slow_holder_does_not_drop_the_next_holders_lock(
    make_shared: MakeShared, raw: Redis
) -> None:
    """A holder whose lock expired mid-fetch stores its value but leaves the new lock alone."""
    shared = make_shared(lock_ttl=0.05)
    fetch = asyncio.create_task(shared.get("k", Fill(b"late", delay=0.3)))
    await asyncio.sleep(0.15)  # the holder's lock has expired; someone else takes it
    assert await raw.set("t:k:lock", b"next-holder", px=5000, nx=True)
    got = await fetch
    assert got.value == b"late"
    assert await raw.get("t:k:lock") == b"next-holder"
    assert await raw.get("t:k") == b"late"


async def test_waiting_in_vain_serves_the_stale_copy(make_shared: MakeShared, raw: Redis) -> None:
    """While another holds the lock past wait_timeout, an old copy is served marked stale."""
    await raw.set("t:k:lock", b"busy", px=10_000)
    await raw.set("t:k:stale", b"old", px=3_500_000)  # stored 700 s ago (600 + 3600 total)
    shared, fill = make_shared(wait_timeout=0.2), Fill()
    got = await shared.get("k", fill)
    assert (got.value, got.status, got.ttl, fill.calls) == (b"old", CacheStatus.STALE, 0.0, 0)
    assert got.age == pytest.approx(700, abs=1)
    assert shared.stats.stale == 1


async def test_waiting_in_vain_without_a_stale_copy_fetches_and_stores(
    make_shared: MakeShared, raw: Redis
) -> None:
    """With nothing to serve after wait_timeout, the waiter fetches; the other's lock stays."""
    await raw.set("t:k:lock", b"busy", px=10_000)
    shared, fill = make_shared(wait_timeout=0.2), Fill(b"own")
    got = await shared.get("k", fill)
    assert (got.value, got.status, fill.calls) == (b"own", CacheStatus.MISS, 1)
    assert shared.stats.unlocked == 1
    assert await raw.get("t:k") == b"own"
    assert await raw.get("t:k:lock") == b"busy"


async def test_a_failed_fetch_serves_the_stale_copy(make_shared: MakeShared, raw: Redis) -> None:
    """Stale-if-error from the shared tier: the fetch fails, the stale copy answers."""
    await raw.set("t:k:stale", b"old", px=4_000_000)
    shared = make_shared()
    got = await shared.get("k", Fill(error=Boom()))
    assert (got.value, got.status) == (b"old", CacheStatus.STALE)
    assert await raw.exists("t:k", "t:k:lock") == 0


async def test_a_failed_fetch_without_stale_raises_and_frees_the_lock(
    make_shared: MakeShared, raw: Redis
) -> None:
    """No stale copy: the error reaches the caller, nothing is stored, the lock is gone."""
    with pytest.raises(Boom):
        await make_shared().get("k", Fill(error=Boom()))
    assert await raw.exists("t:k", "t:k:stale", "t:k:lock") == 0


async def test_not_found_is_an_answer_not_replaced_by_stale(
    make_shared: MakeShared, raw: Redis
) -> None:
    """A negative error passes through even with a stale copy, and is not stored."""
    await raw.set("t:k:stale", b"old", px=4_000_000)
    with pytest.raises(Missing):
        await make_shared().get("k", Fill(error=Missing()))
    assert await raw.exists("t:k", "t:k:lock") == 0


async def test_without_stale_ttl_no_stale_copy_is_written(
    make_shared: MakeShared, raw: Redis
) -> None:
    """stale_ttl 0: only the value is stored."""
    await make_shared(stale_ttl=0.0).get("k", Fill())
    assert await raw.exists("t:k") == 1
    assert await raw.exists("t:k:stale") == 0


async def test_redis_down_answers_from_the_fill_and_backs_off(make_shared: MakeShared) -> None:
    """Nothing listens: the value comes from fill; for `backoff` s Redis is not even tried."""
    shared = make_shared(f"redis://127.0.0.1:{free_port()}/0", backoff=5.0)
    fill = Fill(b"direct")
    got = await shared.get("k", fill)
    assert (got.value, got.status, fill.calls) == (b"direct", CacheStatus.MISS, 1)
    assert shared.degraded
    assert shared.stats.errors == 1
    started = time.monotonic()
    for _ in range(20):
        assert (await shared.get("k", fill)).value == b"direct"
    assert time.monotonic() - started < 0.1
    assert (shared.stats.errors, shared.stats.bypassed) == (1, 20)


async def test_a_hung_redis_costs_one_timeout_then_is_skipped(
    make_shared: MakeShared, redis_server: RedisServer
) -> None:
    """A frozen Redis costs one `timeout`, then is skipped; thawed, it is used again."""
    shared = make_shared(timeout=0.1, backoff=0.3)
    await shared.get("warm", Fill())  # a pooled connection, which the freeze leaves open
    redis_server.freeze()
    try:
        started = time.monotonic()
        first = await shared.get("k", Fill(b"direct"))
        assert 0.09 < time.monotonic() - started < 0.5
        assert first.value == b"direct"
        started = time.monotonic()
        await shared.get("k", Fill(b"direct"))
        assert time.monotonic() - started < 0.05
    finally:
        redis_server.thaw()
    await asyncio.sleep(0.35)
    assert (await shared.get("warm", Fill())).status is CacheStatus.HIT
    assert not shared.degraded


async def test_a_restarted_redis_is_used_again_scripts_reloaded(
    make_shared: MakeShared, redis_server: RedisServer
) -> None:
    """Killed and restarted empty (no scripts loaded): after the back-off the tier works again."""
    shared = make_shared(backoff=0.2)
    assert (await shared.get("k", Fill())).status is CacheStatus.MISS
    redis_server.kill()
    assert (await shared.get("k2", Fill())).status is CacheStatus.MISS
    assert shared.degraded
    redis_server.start()
    await asyncio.sleep(0.25)
    assert (await shared.get("k", Fill())).status is CacheStatus.MISS  # restarted empty
    assert (await shared.get("k", Fill())).status is CacheStatus.HIT
    assert not shared.degraded


async def test_redis_dying_while_waiting_falls_back_to_the_fill(
    make_shared: MakeShared, raw: Redis, redis_server: RedisServer
) -> None:
    """A waiter whose Redis goes away fetches by itself instead of waiting out the timeout."""
    await raw.set("t:k:lock", b"busy", px=10_000)
    shared, fill = make_shared(wait_timeout=5.0), Fill(b"direct")
    waiter = asyncio.create_task(shared.get("k", fill))
    await asyncio.sleep(0.1)
    redis_server.kill()
    got = await asyncio.wait_for(waiter, 2.0)
    assert (got.value, got.status, fill.calls) == (b"direct", CacheStatus.MISS, 1)


async def test_redis_dying_during_the_fetch_still_answers(
    make_shared: MakeShared, redis_server: RedisServer
) -> None:
    """The holder's value reaches the caller even when it cannot be stored."""
    shared = make_shared()
    fetch = asyncio.create_task(shared.get("k", Fill(b"fresh", delay=0.2)))
    await asyncio.sleep(0.1)
    redis_server.kill()
    got = await fetch
    assert (got.value, got.status) == (b"fresh", CacheStatus.MISS)
    assert shared.stats.errors == 1
    assert shared.degraded


async def test_degraded_and_back_are_logged_once_each(
    make_shared: MakeShared, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Five failures in a row make one warning; recovery makes one info line."""
    shared = make_shared(backoff=0.05)
    redis_server.kill()
    caplog.set_level(logging.INFO, logger="weather_api.shared_cache")
    for _ in range(5):
        await shared.get("k", Fill())
        await asyncio.sleep(0.06)  # past the back-off: each get probes and fails again
    redis_server.start()
    await asyncio.sleep(0.06)
    await shared.get("k", Fill())
    assert shared.stats.errors == 5
    where = redacted(redis_server.url)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2
    assert lines[0][0] == "WARNING"
    assert lines[0][1].startswith(f"shared cache {where} unavailable (ConnectionError: ")
    assert lines[1] == ("INFO", f"shared cache {where} is back")


async def test_the_password_is_never_logged(
    make_shared: MakeShared, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL with credentials is logged without them."""
    shared = make_shared(f"redis://user:hunter2@127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.INFO, logger="weather_api.shared_cache")
    await shared.get("k", Fill())
    assert caplog.records
    assert "hunter2" not in caplog.text


async def test_ping_says_whether_redis_answers(
    make_shared: MakeShared, redis_server: RedisServer
) -> None:
    """ping is True against a live Redis and False (degraded) against a dead one."""
    shared = make_shared()
    assert await shared.ping()
    redis_server.kill()
    assert not await shared.ping()
    assert shared.degraded


def test_redacted_urls_keep_no_credentials() -> None:
    """User and password never reach a log line; host, port and database do."""
    assert redacted("redis://u:secret@cache:6380/2") == "redis://cache:6380/2"
    assert redacted("rediss://:secret@[::1]/0") == "rediss://[::1]/0"


@pytest.mark.parametrize("name", ["ttl", "lock_ttl", "timeout"])
@pytest.mark.parametrize("value", [0, -1])
def test_nonsense_lifetimes_are_refused(name: str, value: float) -> None:
    """ttl, lock_ttl and timeout must each be positive; the others being sane does not help."""
    sane: dict[str, float] = {"ttl": 60, "lock_ttl": 1, "timeout": 0.1}
    with pytest.raises(ValueError, match="ttl, lock_ttl and timeout > 0"):
        SharedCache(Redis(), stale_ttl=0, wait_timeout=1, backoff=1, **{**sane, name: value})


async def test_the_first_tier_keeps_a_shared_hit_only_as_long_as_it_has_left(
    make_shared: MakeShared, raw: Redis
) -> None:
    """In front of the shared tier, a value another process fetched 200 s ago expires in 400 s."""
    await raw.set("t:k", b"theirs", px=400_000)
    now = [1000.0]
    first_tier: TTLCache[str, bytes] = TTLCache(ttl=600, max_entries=10, clock=lambda: now[0])
    shared = make_shared()
    got = await first_tier.get("k", lambda: shared.get("k", Fill()))
    assert got.status is CacheStatus.HIT
    now[0] += 399
    hit = first_tier.peek("k")
    assert hit is not None
    assert hit.age == pytest.approx(599, abs=1)
    now[0] += 2
    assert first_tier.peek("k") is None
