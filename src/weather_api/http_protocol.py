"""uvicorn's httptools protocol with limits against slow and greedy clients (408, 414, 431).

Subclasses a uvicorn internal: pyproject.toml bounds uvicorn's version and
tests/test_uvicorn_contract.py names what changed when it moves.
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from weather_api import metrics
from weather_api.config import Settings
from weather_api.routes.forward_proxy import ABSOLUTE_TARGET

# After a refusal, the rest of what the client sends is read and dropped this long before the
# socket closes: closing with unread bytes sends RST, which can destroy the answer in transit.
LINGER_SECONDS = 1.0


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits it lacks against slow and greedy clients.

    Measured with uvicorn 0.54 and httptools 0.9: a connection that never sends a byte, or
    that sends a header line every second, stays open for good, and a 1 MB header is read in
    full (httptools itself only stops URLs at 64 KiB). Here the keep-alive timer also runs
    before the first request, a request must arrive within `request_read_timeout` of its
    first byte (408), and the URL and headers are measured as they arrive (414, 431). A
    refusal is a problem+json answer, after which the connection closes.
    """

    max_url_bytes: ClassVar[int]
    max_header_bytes: ClassVar[int]
    request_read_timeout: ClassVar[float]

    _refused: int | None = None  # the status we answered; nothing more is read after it
    _reading = False  # a request has begun and has not been read in full
    _in_head = False  # ...and its headers are not complete
    _head_bytes = 0  # bytes of the chunks parsed while its headers were incomplete
    _chunk = 0  # bytes of the chunk being parsed
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """uvicorn's, and the keep-alive timer runs until the first request starts."""
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, without our timer."""
        self._stop_read_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does, then enforce the limits on what is still incomplete."""
        if self._refused is not None:
            return  # lingering: read and drop
        self._chunk = len(data)
        super().data_received(data)
        if self._refused is not None:
            self._refuse(self._refused)
        elif self._reading and not self.transport.is_closing():
            if self._read_timer is None:
                self._read_timer = self.loop.call_later(
                    self.request_read_timeout, self._read_too_slow
                )
            if self._in_head:
                # httptools holds a header back until it ends: bound what it may be holding.
                # (An over-count: the chunk may end a body before the head began.)
                self._head_bytes += len(data)
                if self._head_bytes > 2 * (self.max_url_bytes + self.max_header_bytes):
                    self._refuse(431)

    def on_message_begin(self) -> None:
        """A request starts: its clock and byte count start too."""
        super().on_message_begin()
        self._reading = self._in_head = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        if self._refused is None:
            super().on_url(url)
            if len(self.url) > self.max_url_bytes:
                self._refused = 414

    def on_headers_complete(self) -> None:
        """Hand the request to the app, unless it was refused."""
        self._in_head = False
        if self._refused is None and self.url[:1] not in (b"/", b"*"):
            if self.parser.get_method() == b"CONNECT":
                # An authority, not a URL: uvicorn would call it malformed (400). The app
                # answers 405 with a reason (routes/forward_proxy.py).
                self.url = b"/"
            else:
                # An absolute-form target: uvicorn keeps only its path; the app decides
                # whose host it may answer for (routes/forward_proxy.py).
                self.scope[ABSOLUTE_TARGET] = self.url  # type: ignore[literal-required]
        # Headers are counted only when the chunks they came in could hold too many: a
        # request in one ordinary packet pays one comparison.
        if self._refused is None and self._head_bytes + self._chunk > self.max_header_bytes:
            size = sum(len(name) + len(value) + 4 for name, value in self.headers)  # ": ", CRLF
            if size > self.max_header_bytes:
                self._refused = 431
        if self._refused is None:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Part of a body."""
        if self._refused is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is read in full: its clock stops."""
        self._reading = False
        self._stop_read_timer()
        if self._refused is None:
            super().on_message_complete()

    def _read_too_slow(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(408)
        else:  # the headers came and the app may be answering: no second answer, just close
            self.transport.close()

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _refuse(self, status: int) -> None:
        self._refused = status
        self._stop_read_timer()
        self.logger.warning("Refused a request: HTTP %d", status)
        metrics.REFUSED.labels(str(status)).inc()
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's answer is still to come (pipelining): no answer may
            # overtake it, so this one gets none, and the connection closes after it.
            self.cycle.keep_alive = False
            return
        detail = {
            408: f"The request did not arrive within {self.request_read_timeout:g} s.",
            414: f"The request target is longer than {self.max_url_bytes} bytes.",
            431: f"The request headers are larger than {self.max_header_bytes} bytes.",
        }[status]
        phrase = http.HTTPStatus(status).phrase
        body = json.dumps(
            {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
        ).encode()
        head = [f"HTTP/1.1 {status} {phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json",
            b"content-length: %d" % len(body),
            b"cache-control: no-store",
            b"x-content-type-options: nosniff",
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def limited_protocol(settings: Settings) -> type[LimitedHttpToolsProtocol]:
    """The protocol class with the settings' limits (uvicorn builds one per connection)."""

    class Protocol(LimitedHttpToolsProtocol):
        max_url_bytes = settings.max_url_bytes
        max_header_bytes = settings.max_header_bytes
        request_read_timeout = settings.request_read_timeout

    return Protocol
