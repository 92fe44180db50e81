"""A small forward HTTP proxy for the proxy tests, run as its own process.

It relays absolute-form requests (`GET http://host:port/path`) and tunnels `CONNECT host:port`,
and it is the only one that can reach the test's upstream host: `--resolve NAME=ADDRESS` (as
curl's option) maps a name that DNS does not know. Each request line it relays is printed on
stdout, one per line, so a test can tell what went through it. `--refuse-connect` answers
every CONNECT with 403, as a proxy with an allow-list would.

    python tests/providers/forward_proxy.py --port 3128 --resolve weather.invalid=127.0.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from urllib.parse import urlsplit


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until the reading side ends, then end the writing side."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


class Proxy:
    """One listening proxy; `resolve` maps host names to addresses."""

    def __init__(self, *, resolve: dict[str, str], refuse_connect: bool) -> None:
        self.resolve = resolve
        self.refuse_connect = refuse_connect

    def address(self, host: str) -> str:
        return self.resolve.get(host.lower(), host)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection: one relayed request, or one tunnel."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, version = request_line.split(" ", 2)
        print(f"{method} {target}", flush=True)
        if method == "CONNECT":
            await self.tunnel(target, reader, writer)
        else:
            await self.relay(method, target, version, header_lines, reader, writer)

    async def tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.refuse_connect:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(self.address(host), int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def relay(
        self,
        method: str,
        target: str,
        version: str,
        header_lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        port = url.port or 80
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        kept = [
            line
            for line in header_lines
            if line.split(":", 1)[0].strip().lower()
            not in ("connection", "proxy-connection", "proxy-authorization", "keep-alive")
        ]
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.address(url.hostname or ""), port
            )
        except OSError:
            writer.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            writer.close()
            return
        # One request per upstream connection: the answer ends when the upstream closes.
        lines = [f"{method} {path} {version}", *kept, "Connection: close", "", ""]
        up_writer.write("\r\n".join(lines).encode("latin-1"))
        await up_writer.drain()
        await pipe(up_reader, writer)
        up_writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--resolve", action="append", default=[], metavar="NAME=ADDRESS")
    parser.add_argument("--refuse-connect", action="store_true")
    args = parser.parse_args()
    resolve = dict(item.lower().split("=", 1) for item in args.resolve)
    proxy = Proxy(resolve=resolve, refuse_connect=args.refuse_connect)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    sys.exit(0)
