"""An upstream worse than the stub can be: it breaks HTTP itself, or the body's encoding."""

from __future__ import annotations

import asyncio
import functools
import gzip
import threading
from types import TracebackType

MIB = 1024 * 1024


@functools.cache
def _bomb() -> bytes:
    """256 MiB of zeros, gzipped to about 256 KiB (made once: it takes a second)."""
    return gzip.compress(b"0" * (256 * MIB), compresslevel=9)


class HostileUpstream:
    """A raw TCP server on 127.0.0.1, in a thread of its own, answering according to `mode`.

    - `garbage`: bytes that are not HTTP at all
    - `bad-gzip`: a 200 whose `Content-Encoding: gzip` body is not gzip
    - `gzip-bomb`: a 200 whose 256 KiB gzip body inflates to 256 MiB
    - `huge`: a 200 of 256 MiB, sent as fast as the socket takes it

    `mode` may change between requests. A thread of its own lets a module-scoped (sync)
    fixture own it while each test runs its own event loop.
    """

    def __init__(self, mode: str = "garbage") -> None:
        self.mode = mode
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> HostileUpstream:
        # Made now, not inside the first gzip-bomb request: on a busy machine its seconds
        # would count against the service's request deadline (a 504, not the 502 under test).
        _bomb()
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._answer, "127.0.0.1", 0), self._loop
        ).result(timeout=5)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "garbage":
                writer.write(b"SPAM SPAM SPAM\r\n\r\n")
            elif self.mode == "bad-gzip":
                writer.write(_head(len(b"not gzip"), gzip=True) + b"not gzip")
            elif self.mode == "gzip-bomb":
                writer.write(_head(len(_bomb()), gzip=True) + _bomb())
            elif self.mode == "huge":
                writer.write(_head(256 * MIB))
                chunk = b"0" * MIB
                for _ in range(256):
                    writer.write(chunk)
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the service hung up: that may be the point
        finally:
            writer.close()


def _head(length: int, *, gzip: bool = False) -> bytes:
    lines = [
        "HTTP/1.1 200 OK",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        "Connection: close",
    ]
    if gzip:
        lines.append("Content-Encoding: gzip")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
