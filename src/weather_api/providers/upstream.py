"""GET JSON from an upstream: one deadline, bounded jittered retries, domain errors, metrics.

This is the only module that looks at httpx's exceptions and status codes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar
from urllib.parse import quote_plus

import httpx
import stamina

from weather_api import metrics
from weather_api.errors import (
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from weather_api.providers.aiohttp_transport import CLOSE_CONNECTION

# A 429 is retried only when the upstream asks for a wait shorter than this; otherwise the
# client gets the 503 with Retry-After at once instead of an answer that eats its deadline.
MAX_RETRY_AFTER = 2.0
DEFAULT_RETRY_AFTER = 60

_log = logging.getLogger(__name__)
T = TypeVar("T")

OFFLINE_HINT = "To run without network access, start the service with --provider sample."

# The loop time by which the upstream calls of one client request must be done (one_deadline).
_GIVE_UP_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "upstream_give_up_at", default=None
)


class AnswerMismatch(ValueError):
    """Raised by a provider's `decode`: the answer is about another question than the one asked.

    An upstream or a middlebox sent another request's answer (docs/architecture.md,
    "Misbehaving upstreams"). The attempt fails as a bad response, is counted in
    `weather_api_upstream_mismatches_total`, and is retried: the transport never reuses the
    connection that carried it once the real answer arrives behind it.
    """


class _Transient(Exception):
    """Wraps a domain error that another attempt may cure."""

    def __init__(self, error: UpstreamError, *, backoff: float | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.backoff = backoff


class UpstreamClient:
    """GETs JSON from one provider's upstream within a deadline, retrying what is transient.

    It sends `httpx.Request`s straight to the process's one transport (aiohttp's session under
    `AiohttpTransport`, or a respx router in tests). An `httpx.AsyncClient` in between would add
    URL merging, a cookie jar, auth and redirect handling that we do not use.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        provider: str,
        deadline: float,
        attempts: int,
        headers: Mapping[str, str],
    ) -> None:
        self._transport = transport
        self._headers = httpx.Headers({"accept": "application/json", **headers})
        self._provider = provider
        metrics.start_counting_mismatches(provider)
        self._deadline = deadline
        self._attempts = attempts

    @contextmanager
    def one_deadline(self) -> Iterator[None]:
        """Every `get` in the block shares one deadline, counted from the block's start.

        For a provider that makes several calls to answer one query: the client waits at most
        `deadline` for all of them, not `deadline` for each.
        """
        token = _GIVE_UP_AT.set(asyncio.get_running_loop().time() + self._deadline)
        try:
            yield
        finally:
            _GIVE_UP_AT.reset(token)

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str],
        decode: Callable[[bytes], T],
        not_found_status: int | None = None,
    ) -> T | None:
        """The body of a GET, decoded by `decode`; None for `not_found_status`.

        A body `decode` rejects (ValueError, pydantic's ValidationError included) is the
        upstream's fault: UpstreamBadResponse, counted as such in the metrics.
        """
        loop = asyncio.get_running_loop()
        give_up_at = _GIVE_UP_AT.get() or loop.time() + self._deadline

        def retry_on(exc: Exception) -> bool | float:
            if not isinstance(exc, _Transient):
                return False
            backoff = exc.backoff
            # Never sleep past the deadline: fail with the real cause instead of a timeout.
            if backoff is not None and loop.time() + backoff >= give_up_at:
                return False
            return backoff if backoff is not None else True

        request = httpx.Request("GET", request_url(url, params), headers=self._headers)
        try:
            async with asyncio.timeout_at(give_up_at):
                # The first attempt runs bare: stamina's machinery is a noticeable share of a
                # miss's CPU (docs/benchmarks.md, "Costs behind the code"), and most succeed.
                try:
                    return await self._attempt(request, decode, not_found_status)
                except _Transient as exc:
                    first_failure: _Transient | None = exc
                # From here stamina decides: its first round re-raises the failure above, so
                # the wait before the second request follows its policy (and Retry-After).
                async for attempt in stamina.retry_context(
                    on=retry_on,
                    attempts=self._attempts,
                    timeout=max(give_up_at - loop.time(), 0.0),
                    wait_initial=0.05,
                    wait_max=1.0,
                    wait_jitter=0.1,
                ):
                    with attempt:
                        if first_failure is not None:
                            failure, first_failure = first_failure, None
                            raise failure
                        return await self._attempt(request, decode, not_found_status)
        except TimeoutError:
            raise UpstreamTimeout(
                # A firewall that drops packets looks like this, not like a refusal.
                f"The {self._provider} upstream did not answer within {self._deadline:g} s. "
                + OFFLINE_HINT,
                provider=self._provider,
            ) from None
        except _Transient as exc:
            raise exc.error from None
        raise AssertionError("unreachable: stamina yields at least one attempt")  # pragma: no cover

    async def _attempt(
        self, request: httpx.Request, decode: Callable[[bytes], T], not_found_status: int | None
    ) -> T | None:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = await self._fetch(request, not_found_status)
            if response.status_code == not_found_status:
                outcome = "not_found"
                return None
            try:
                body = decode(response.content)
            except AnswerMismatch:
                _close_connection(response)
                metrics.count_upstream_mismatch(self._provider)
                raise _Transient(
                    UpstreamBadResponse(
                        f"The {self._provider} upstream answered a question we did not ask.",
                        provider=self._provider,
                    )
                ) from None
            except ValueError:
                _close_connection(response)
                raise UpstreamBadResponse(
                    f"The {self._provider} upstream sent a body we cannot read.",
                    provider=self._provider,
                ) from None
            outcome = "ok"
            return body
        except _Transient as exc:
            outcome = exc.error.slug.removeprefix("upstream-")
            raise
        except UpstreamError as exc:
            outcome = exc.slug.removeprefix("upstream-")
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_upstream(provider=self._provider, outcome=outcome, seconds=seconds)
            if _log.isEnabledFor(logging.DEBUG):
                # The URL without its query: parameters may carry the API key.
                _log.debug(
                    "upstream GET %s: %s",
                    request.url.copy_with(query=None),
                    outcome,
                    extra={"fields": {"provider": self._provider, "ms": round(seconds * 1000, 3)}},
                )

    async def _fetch(self, request: httpx.Request, not_found_status: int | None) -> httpx.Response:
        name = self._provider
        try:
            response = await self._transport.handle_async_request(request)
            await response.aread()
        except httpx.TimeoutException:
            raise _Transient(
                UpstreamTimeout(f"The {name} upstream timed out. " + OFFLINE_HINT, provider=name)
            ) from None
        except httpx.TransportError:
            raise _Transient(_unreachable(name)) from None
        except httpx.DecodingError:
            # A malformed head, framing or chunking, an encoding we did not ask for, a body
            # past the cap (or a gzip bomb): another try would get the same bytes.
            raise UpstreamBadResponse(
                f"The {name} upstream sent an answer we cannot read.", provider=name
            ) from None

        status = response.status_code
        if status in (401, 403):
            raise UpstreamAuthFailed(
                f"The {name} upstream refused our API key (HTTP {status}); "
                "the operator must check the configured key.",
                provider=name,
            )
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            error = UpstreamRateLimited(
                f"The {name} upstream is rate limiting us; try again in {retry_after} s.",
                provider=name,
                retry_after=retry_after,
            )
            if retry_after <= MAX_RETRY_AFTER:
                raise _Transient(error, backoff=float(retry_after))
            raise error
        if status >= 500:
            raise _Transient(
                UpstreamBadResponse(
                    f"The {name} upstream answered with HTTP {status}.", provider=name
                )
            )
        if status != 200 and status != not_found_status:
            raise UpstreamBadResponse(
                f"The {name} upstream answered with unexpected HTTP {status}.", provider=name
            )
        return response


def encode_query(params: Mapping[str, str]) -> str:
    """`urllib.parse.urlencode(params)`, at a fifth of its cost for the values we send again."""
    return "&".join([f"{_quote(name)}={_quote(value)}" for name, value in params.items()])


# Keys, units, languages, API keys and popular cities recur: quote each once (the cost of a
# call: docs/benchmarks.md, "Costs behind the code").
_quote = lru_cache(maxsize=4096)(quote_plus)


def request_url(url: str, params: Mapping[str, str]) -> str:
    """`url` (which has no query) with `params` as its query, as `httpx.URL(url, params=...)`.

    One string for httpx to parse once, instead of parsing `url` and merging the parameters
    into it (tests/providers/test_upstream_url.py holds the two ways to the same URL).
    """
    query = encode_query(params)
    return f"{url}?{query}" if query else url


def _close_connection(response: httpx.Response) -> None:
    """Close the connection an unreadable or mismatched answer came on.

    Such an answer may be another request's (or none's): then our own is still on its way on
    that connection, and must not become the next request's answer.
    """
    close = response.extensions.get(CLOSE_CONNECTION)
    if close is not None:
        close()


def _unreachable(provider: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"The {provider} upstream is unreachable (connection failed or was reset). " + OFFLINE_HINT,
        provider=provider,
    )


def _retry_after(value: str | None) -> int:
    """Seconds from a Retry-After header; HTTP dates and junk fall back to a minute."""
    if value is not None and value.strip().isdigit():
        return int(value.strip())
    return DEFAULT_RETRY_AFTER
