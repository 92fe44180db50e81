"""HTTP/1.1 on a bare `asyncio.Protocol`, parsed by httptools, with faults injected in transit.

A framework would hide exactly what the stub has to control: when each byte leaves, whether
the socket ends with FIN or RST, a Content-Length that the body never reaches. Owning the
protocol also keeps the stub cheap: the common answer is written synchronously from
`data_received`, with no task and no framework layers per request.

Requests on one connection are answered in the order they arrived (pipelining-safe): a
request that has to wait (latency, stall, drip) queues behind the ones before it, and a
per-connection task drains the queue. Faults and delays are drawn when a request has been
read, so a seeded RNG gives the same faults for the same sequence of requests.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import random
import socket
import struct
from collections import deque
from typing import cast
from urllib.parse import parse_qsl, urlencode

import httptools

from weather_api.stub.app import Response, StubApp, json_response, reason_phrase, stats_key

logger = logging.getLogger(__name__)

MALFORMED_BODY = b'{"cod":200,"main":{"temp":281.5,"humidity":'
"""What a malformed response carries: JSON that stops mid-object."""
DRIP_CHUNK_BYTES = 32
"""How much of the body goes out between two `drip_ms` pauses."""
MAX_REQUEST_BODY_BYTES = 64 * 1024

# What a trailing answer is about: the same endpoint, another place.
DECOY_PARAMS = {"q": "Decoyville", "name": "Decoyville", "latitude": "-45.0", "longitude": "170.0"}

_LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


@functools.cache
def _head_start(status: int) -> bytes:
    """The fixed start of every response head with this status, up to the Content-Length."""
    return (
        f"HTTP/1.1 {status} {reason_phrase(status)}\r\n"
        "Server: weather-api-stub\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Content-Length: "
    ).encode("latin-1")


class Fault(enum.Enum):
    """What, if anything, goes wrong with one response."""

    NONE = enum.auto()
    RESET = enum.auto()
    ERROR = enum.auto()
    MALFORMED = enum.auto()
    TRUNCATE = enum.auto()


class ServerState:
    """What every connection of one server shares."""

    def __init__(self, *, app: StubApp, rng: random.Random) -> None:
        self.app = app
        self.rng = rng
        self.connections: set[HttpProtocol] = set()


class _Request:
    __slots__ = (
        "body",
        "delay",
        "drip",
        "fault",
        "keep_alive",
        "method",
        "path",
        "preset",
        "query",
        "stats_key",
        "trailing",
        "trailing_delay",
        "version_10",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: str,
        body: bytes,
        keep_alive: bool,
        version_10: bool = False,
        preset: Response | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.keep_alive = keep_alive
        self.version_10 = version_10
        # A response decided while parsing (400, 413), sent instead of asking the app.
        self.preset = preset
        self.stats_key: str | None = None
        self.delay = 0.0
        self.drip = 0.0
        self.fault = Fault.NONE
        self.trailing = False
        self.trailing_delay = 0.0


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport  # set by connection_made, before any other call
        self._url = bytearray()
        self._body = bytearray()
        self._body_too_large = False
        self._queue: deque[_Request] = deque()
        self._worker: asyncio.Task[None] | None = None
        # Set once the connection will answer nothing more that it reads.
        self._done_reading = False
        # Unasked-for answers waiting for their moment (unsolicited_response_delay_ms).
        self._late: set[asyncio.TimerHandle] = set()

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport and join the server's connections."""
        self._transport = cast(asyncio.Transport, transport)
        self._state.connections.add(self)
        self._state.app.stats.connections_total += 1

    def data_received(self, data: bytes) -> None:
        """Feed the parser, which calls the `on_*` methods below."""
        if self._done_reading:
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if self._done_reading:
                return  # llhttp refuses bytes after a `Connection: close` request; so do we
            # Whatever follows a bad request (or an upgrade) cannot be parsed as HTTP/1.1.
            self._done_reading = True
            self._enqueue(
                _Request(
                    method="GET",
                    path="",
                    query="",
                    body=b"",
                    keep_alive=False,
                    preset=json_response(400, {"error": True, "reason": "Bad Request"}),
                )
            )

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop answering; requests still queued end unanswered."""
        self._done_reading = True
        self._state.connections.discard(self)
        if self._worker is not None:
            self._worker.cancel()
        for handle in self._late:
            handle.cancel()
        self._late.clear()
        for request in self._queue:
            self._finish(request)
        self._queue.clear()

    def pause_writing(self) -> None:
        """The client reads slower than we write: stop reading its requests for now."""
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """The client caught up: read its requests again."""
        if not self._transport.is_closing():
            self._transport.resume_reading()

    # --- httptools callbacks

    def on_message_begin(self) -> None:
        """A new request starts."""
        self._url.clear()
        self._body.clear()
        self._body_too_large = False

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        self._url += url

    def on_body(self, body: bytes) -> None:
        """Part of the request body; only `PUT /_stub/config` has one worth keeping."""
        if len(self._body) + len(body) > MAX_REQUEST_BODY_BYTES:
            self._body_too_large = True
        else:
            self._body += body

    def on_message_complete(self) -> None:
        """A request has been read in full: decide its fate and queue it."""
        if self._done_reading:
            return
        target, _, query = bytes(self._url).partition(b"?")
        keep_alive = self._parser.should_keep_alive() and not self._body_too_large
        request = _Request(
            method=self._parser.get_method().decode("ascii"),
            path=target.decode("utf-8", "replace"),
            query=query.decode("utf-8", "replace"),
            body=bytes(self._body),
            keep_alive=keep_alive,
            version_10=self._parser.get_http_version() == "1.0",
            preset=(
                json_response(413, {"error": True, "reason": "Content Too Large"})
                if self._body_too_large
                else None
            ),
        )
        if not keep_alive:
            self._done_reading = True
        request.stats_key = stats_key(request.path)
        if request.stats_key is not None:
            self._state.app.stats.request_started(request.stats_key)
            self._draw_faults(request)
        self._enqueue(request)

    # --- answering

    def _draw_faults(self, request: _Request) -> None:
        faults = self._state.app.faults
        rng = self._state.rng
        delay = faults.stall_ms + faults.latency_ms
        if faults.jitter_ms:
            delay += rng.uniform(-faults.jitter_ms, faults.jitter_ms)
        request.delay = max(0.0, delay) / 1000
        request.drip = faults.drip_ms / 1000
        # One draw per fault that is switched on, in a fixed order, so a seed replays.
        if faults.reset_rate and rng.random() < faults.reset_rate:
            request.fault = Fault.RESET
        elif faults.error_rate and rng.random() < faults.error_rate:
            request.fault = Fault.ERROR
        elif faults.malformed_rate and rng.random() < faults.malformed_rate:
            request.fault = Fault.MALFORMED
        elif faults.truncate_rate and rng.random() < faults.truncate_rate:
            request.fault = Fault.TRUNCATE
        # Drawn last, so that seeds drawn before this knob existed replay as they did.
        if faults.trailing_response_rate and rng.random() < faults.trailing_response_rate:
            request.trailing = True
            request.trailing_delay = faults.unsolicited_response_delay_ms / 1000

    def _enqueue(self, request: _Request) -> None:
        if not self._queue and not request.delay and not request.drip:
            self._answer(request)  # the fast path: nothing to wait for, nobody ahead
            self._finish(request)
            return
        self._queue.append(request)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                request = self._queue[0]
                if request.delay:
                    await asyncio.sleep(request.delay)
                if request.drip:
                    await self._answer_dripping(request)
                else:
                    self._answer(request)
                self._queue.popleft()
                self._finish(request)
        finally:
            self._worker = None

    def _finish(self, request: _Request) -> None:
        # Called once per request: by whoever takes it off the queue, or by connection_lost.
        if request.stats_key is not None:
            self._state.app.stats.request_finished()

    def _answer(self, request: _Request) -> None:
        prepared = self._prepare(request)
        if prepared is not None:
            head, body, close = prepared
            self._transport.write(head + body)
            if close:
                self._close()

    async def _answer_dripping(self, request: _Request) -> None:
        prepared = self._prepare(request)
        if prepared is None:
            return
        head, body, close = prepared
        self._transport.write(head)
        # No check for a lost connection between chunks: connection_lost cancels this task.
        for start in range(0, len(body), DRIP_CHUNK_BYTES):
            await asyncio.sleep(request.drip)
            self._transport.write(body[start : start + DRIP_CHUNK_BYTES])
        if close:
            self._close()

    def _close(self) -> None:
        self._done_reading = True
        self._transport.close()

    def _prepare(self, request: _Request) -> tuple[bytes, bytes, bool] | None:
        """Head, body and whether to close afterwards; None when there is nothing to send."""
        transport = self._transport
        if transport.is_closing():
            return None  # a reset or a close ahead of this request in the pipeline
        stats = self._state.app.stats
        fault = request.fault
        if fault is Fault.RESET:
            stats.resets_injected += 1
            transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT
            )
            self._done_reading = True
            transport.abort()
            return None
        if request.preset is not None:
            response = request.preset
        elif fault is Fault.ERROR:
            stats.errors_injected += 1
            response = self._state.app.injected_error(request.path)
        elif fault is Fault.MALFORMED:
            stats.malformed_injected += 1
            response = Response(200, MALFORMED_BODY)
        else:
            response = self._respond(request)
        head = self._head(request, response)
        if request.method == "HEAD":
            return head, b"", not request.keep_alive
        body = response.body
        if fault is Fault.TRUNCATE:
            # Content-Length promises the whole body; half of it arrives, then FIN.
            stats.truncated_injected += 1
            return head, body[: len(body) // 2], True
        if request.trailing and fault is Fault.NONE and request.preset is None:
            if request.trailing_delay:
                self._send_later(request.trailing_delay, self._trailing_answer(request))
            else:
                body += self._trailing_answer(request)
        return head, body, not request.keep_alive

    def _send_later(self, delay: float, data: bytes) -> None:
        """Write `data` on its own `delay` seconds from now, unless the connection is gone."""

        def send() -> None:
            self._late.discard(handle)
            if not self._transport.is_closing():
                self._state.app.stats.unsolicited_sent += 1
                self._transport.write(data)

        handle = asyncio.get_running_loop().call_later(delay, send)
        self._late.add(handle)

    def _trailing_answer(self, request: _Request) -> bytes:
        """A whole second response (head and body) for the same endpoint and another place."""
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        params.update({name: value for name, value in DECOY_PARAMS.items() if name in params})
        decoy = _Request(
            method="GET",
            path=request.path,
            query=urlencode(params),
            body=b"",
            keep_alive=True,
        )
        response = self._respond(decoy)
        return self._head(decoy, response) + response.body

    def _respond(self, request: _Request) -> Response:
        try:
            return self._state.app.handle(request.method, request.path, request.query, request.body)
        except Exception:
            # A bug in the stub must not hang the client or kill the connection's other answers.
            logger.exception("stub handler failed for %s %s", request.method, request.path)
            return json_response(500, {"error": True, "reason": "stub handler failed"})

    @staticmethod
    def _head(request: _Request, response: Response) -> bytes:
        head = _head_start(response.status) + b"%d\r\n" % len(response.body)
        for name, value in response.headers:
            head += f"{name}: {value}\r\n".encode("latin-1")
        if not request.keep_alive:
            head += b"Connection: close\r\n"
        elif request.version_10:
            head += b"Connection: keep-alive\r\n"  # HTTP/1.0 closes unless told otherwise
        return head + b"\r\n"

    def shutdown(self) -> asyncio.Task[None] | None:
        """Drop the connection now (server stop); returns the worker to await, if any."""
        self._transport.abort()
        worker = self._worker
        if worker is not None:
            worker.cancel()
        return worker
