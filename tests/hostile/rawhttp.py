"""A deliberately crude HTTP/1.1 client on raw sockets: it sends what real clients never would."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Exchange:
    """What came back: the status (None when nothing did), headers, body, timing, closing."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    closed: bool = False
    """The server closed the connection (EOF or reset) after its answer, or without one."""


async def exchange(
    port: int,
    chunks: Iterable[bytes],
    *,
    pause: float = 0.0,
    within: float = 5.0,
) -> Exchange:
    """Send `chunks`, `pause` s apart, while reading one answer; give up after `within` s.

    Sending stops quietly when the server closes; the answer is read concurrently, so a server
    that answers before the request is complete is seen doing so.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def send() -> None:
        try:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
        except (ConnectionError, OSError):
            pass  # the server hung up on us: that is what some tests wait for

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(within):
            result = await _read_answer(reader)
            result.closed = result.closed or await _closes(reader)
    except TimeoutError:
        result = Exchange(status=None, closed=False)
    finally:
        result.seconds = time.monotonic() - started
        sender.cancel()
        writer.close()
    return result


async def _read_answer(reader: asyncio.StreamReader) -> Exchange:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return Exchange(status=None, closed=True)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Exchange(status=int(status_line.split()[1]), headers=headers, body=body)


async def _closes(reader: asyncio.StreamReader) -> bool:
    """True once the server closes; False when it keeps the connection (checked briefly)."""
    try:
        return await asyncio.wait_for(reader.read(1), 2.0) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def request(target: str = "/healthz", *, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A GET for `target` as one byte string."""
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def pipelined_gets(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    paths: Iterable[str],
    statuses: Counter[int],
) -> None:
    """GET `paths` on one keep-alive connection, all sent at once; count each answer's status."""
    batch = list(paths)
    writer.write(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in batch))
    for _ in batch:
        head = await reader.readuntil(b"\r\n\r\n")
        statuses[int(head.split(b" ", 2)[1])] += 1
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        await reader.readexactly(int(length.group(1)) if length else 0)
