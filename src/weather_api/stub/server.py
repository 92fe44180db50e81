"""Starting and stopping the stub: in-process for tests, or as a blocking process for the CLI."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import Callable
from types import TracebackType

from weather_api.stub.app import StubApp
from weather_api.stub.config import FaultConfig, StubConfig
from weather_api.stub.http import HttpProtocol, ServerState
from weather_api.stub.stats import StubStats

_BACKLOG = 1024  # load tests open many connections at once


def _url_host(host: str) -> str:
    """The host to put in a URL that reaches a server bound to `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return _bracketed(host)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class StubServer:
    """A running stub; `await close()` or `async with` stops it."""

    def __init__(self, *, server: asyncio.Server, state: ServerState, host: str, port: int) -> None:
        self._server = server
        self._state = state
        self.host = host
        self.port = port
        self.url = f"http://{_url_host(host)}:{port}"
        """Where clients reach the stub, e.g. "http://127.0.0.1:9000"."""

    @property
    def stats(self) -> StubStats:
        """The live counters (the same ones `GET /_stub/stats` shows)."""
        return self._state.app.stats

    @property
    def config(self) -> FaultConfig:
        """The faults in force; assign to its fields, or `update()` them, to change them."""
        return self._state.app.faults

    async def close(self) -> None:
        """Stop listening and drop every connection (requests in flight are not answered)."""
        self._server.close()
        workers = [
            worker
            for connection in list(self._state.connections)
            if (worker := connection.shutdown()) is not None
        ]
        await asyncio.gather(*workers, return_exceptions=True)
        await self._server.wait_closed()
        # Let the transports' connection_lost callbacks run, which close their sockets.
        await asyncio.sleep(0)

    async def __aenter__(self) -> StubServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def start_stub(config: StubConfig) -> StubServer:
    """Start listening on the running loop (port 0 picks a free port) and return at once."""
    stats = StubStats()
    app = StubApp(faults=config.faults(), stats=stats)
    # Faults and jitter are test fixtures, not secrets: a seedable PRNG is the point.
    rng = random.Random(config.seed)  # noqa: S311
    state = ServerState(app=app, rng=rng)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpProtocol(state),
        host=config.host,
        port=config.port,
        backlog=_BACKLOG,
        reuse_address=True,
    )
    port: int = server.sockets[0].getsockname()[1]
    return StubServer(server=server, state=state, host=config.host, port=port)


async def _serve(config: StubConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Put back afterwards: the caller (a test runner, say) may have handlers of its own.
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    # Installed before listening, so a signal can never find the server up and unguarded.
    for signum in previous:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with await start_stub(config) as server:
            address = f"http://{_bracketed(config.host)}:{server.port}"
            print(f"stub listening on {address}", file=sys.stderr, flush=True)
            await stop.wait()
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (it roughly doubles the stub's throughput)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_stub(config: StubConfig) -> None:
    """Serve until SIGINT or SIGTERM, then return normally (the process exits 0)."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(config))
