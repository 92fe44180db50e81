"""The uvicorn internals that http_protocol.py, server.py and lifecycle.py build on are still
there and still mean what our code takes them to mean.

`http_protocol.LimitedHttpToolsProtocol` subclasses uvicorn's `HttpToolsProtocol` (not a public
API) and `lifecycle.DrainingServer` overrides `uvicorn.Server` methods. pyproject.toml bounds
uvicorn to the versions these tests passed on; before raising that bound, run this file on the
new version: each failure names the internal that moved and the code of ours that relies on it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.conftest import make_settings
from weather_api.http_protocol import LimitedHttpToolsProtocol, limited_protocol
from weather_api.lifecycle import DrainingServer, Readiness

HTTPTOOLS_MODULE = "uvicorn.protocols.http.httptools_impl"


def moved(internal: str, ours: str, change: str) -> str:
    """The failure message: which uvicorn internal changed, and which code of ours needs it."""
    return (
        f"uvicorn {uvicorn.__version__}: {internal} {change}. {ours} relies on it: adapt it, "
        "then raise the uvicorn bound in pyproject.toml."
    )


def parameters(function: Callable[..., Any]) -> list[str]:
    """The parameter names of a function, `self` included."""
    return list(inspect.signature(function).parameters)


async def empty_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers nothing: these tests stop before any request is served."""


def test_httptools_protocol_is_where_http_protocol_py_imports_it_from() -> None:
    """`HttpToolsProtocol` is still importable from the module http_protocol.py names."""
    try:
        module = importlib.import_module(HTTPTOOLS_MODULE)
    except ImportError:  # pragma: no cover - only when uvicorn moved it
        pytest.fail(moved(HTTPTOOLS_MODULE, "http_protocol.py", "is gone"))
    assert isinstance(getattr(module, "HttpToolsProtocol", None), type), moved(
        f"{HTTPTOOLS_MODULE}.HttpToolsProtocol", "http_protocol.LimitedHttpToolsProtocol", "is gone"
    )


OVERRIDDEN = [
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_url",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
]


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_overridden_protocol_methods_keep_their_signatures(name: str) -> None:
    """Each method our protocol overrides (and calls with super()) has the same parameters."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    internal = f"HttpToolsProtocol.{name}"
    ours = f"http_protocol.LimitedHttpToolsProtocol.{name}"
    base = getattr(HttpToolsProtocol, name, None)
    assert callable(base), moved(internal, ours, "is gone")
    assert parameters(base) == parameters(getattr(LimitedHttpToolsProtocol, name)), moved(
        internal, ours, f"now takes {parameters(base)}"
    )


def test_config_takes_a_protocol_class_for_http() -> None:
    """`uvicorn.Config(http=<class>)` serves connections with that class."""
    protocol = limited_protocol(make_settings(provider="sample"))
    config = uvicorn.Config(empty_app, http=protocol, log_config=None)
    config.load()
    assert config.http_protocol_class is protocol, moved(
        "Config(http=...)", "server.uvicorn_config", "no longer takes a protocol class"
    )


class FakeTransport(asyncio.Transport):
    """Enough of a socket transport for uvicorn's protocol: records writes and closing."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.fixture
async def protocol() -> AsyncIterator[tuple[Any, FakeTransport]]:
    """A plain uvicorn `HttpToolsProtocol` on a fake transport, the way uvicorn builds one."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config(empty_app, log_config=None, timeout_keep_alive=5)
    try:
        plain = HttpToolsProtocol(
            config=config,
            server_state=ServerState(),
            app_state={},
            _loop=asyncio.get_running_loop(),
        )
    except TypeError as exc:  # pragma: no cover - only when uvicorn changed it
        pytest.fail(moved("HttpToolsProtocol(...)", "http_protocol.limited_protocol", str(exc)))
    transport = FakeTransport()
    plain.connection_made(transport)
    yield plain, transport
    # A request's task may still be running the (empty) app: let it finish.
    await asyncio.gather(*plain.tasks)
    plain.connection_lost(None)


def test_protocol_attributes_our_subclass_reads(protocol: tuple[Any, FakeTransport]) -> None:
    """The per-connection attributes our protocol reads exist, with the meaning it assumes."""
    plain, transport = protocol
    ours = "http_protocol.LimitedHttpToolsProtocol"
    for name in ("loop", "logger", "timeout_keep_alive", "server_state", "cycle"):
        assert hasattr(plain, name), moved(f"HttpToolsProtocol.{name}", ours, "is gone")
    assert plain.transport is transport, moved(
        "HttpToolsProtocol.transport", ours, "is not the connection's transport"
    )
    assert plain.timeout_keep_alive == 5, moved(
        "HttpToolsProtocol.timeout_keep_alive", ours, "is not Config.timeout_keep_alive"
    )
    assert callable(getattr(plain, "timeout_keep_alive_handler", None)), moved(
        "HttpToolsProtocol.timeout_keep_alive_handler", f"{ours}.connection_made", "is gone"
    )
    assert isinstance(plain.server_state.default_headers, list), moved(
        "ServerState.default_headers", f"{ours}._refuse", "is not a list of header pairs"
    )


def test_no_keep_alive_timer_before_the_first_request(protocol: tuple[Any, FakeTransport]) -> None:
    """uvicorn starts no keep-alive timer on connect: ours is the only one, so none leaks."""
    plain, _ = protocol
    assert plain.timeout_keep_alive_task is None, moved(
        "HttpToolsProtocol.connection_made",
        "http_protocol.LimitedHttpToolsProtocol.connection_made",
        "now starts a keep-alive timer itself (ours would replace it and leave it running)",
    )


def test_request_state_as_our_subclass_measures_it(protocol: tuple[Any, FakeTransport]) -> None:
    """`url` collects the target, `headers` the lowercased pairs, `cycle` the request's answer."""
    plain, _ = protocol
    ours = "http_protocol.LimitedHttpToolsProtocol"
    plain.data_received(b"GET /lon")
    plain.data_received(b"don/gb/ HTTP/1.1\r\nHost: x\r\nX-Long: ")
    assert getattr(plain, "url", None) == b"/london/gb/", moved(
        "HttpToolsProtocol.url", f"{ours}.on_url", "no longer collects the request target"
    )
    plain.data_received(b"abc\r\n\r\n")
    assert getattr(plain, "headers", None) == [(b"host", b"x"), (b"x-long", b"abc")], moved(
        "HttpToolsProtocol.headers", f"{ours}.on_headers_complete", "no longer lists the headers"
    )
    cycle = getattr(plain, "cycle", None)
    assert cycle is not None, moved(
        "HttpToolsProtocol.cycle", f"{ours}._refuse", "is not set for a request"
    )
    assert getattr(cycle, "response_complete", None) is False, moved(
        "RequestResponseCycle.response_complete", f"{ours}._refuse", "is gone"
    )
    assert getattr(cycle, "keep_alive", None) is True, moved(
        "RequestResponseCycle.keep_alive", f"{ours}._refuse", "is gone"
    )


def server(**config: Any) -> DrainingServer:
    """A DrainingServer around an app that is never served."""
    return DrainingServer(
        uvicorn.Config(empty_app, log_config=None, **config),
        readiness=Readiness(),
        drain_delay=0,
    )


def test_server_methods_lifecycle_overrides_keep_their_signatures() -> None:
    """`Server.__init__`, `handle_exit`, `on_tick` and `run` take what lifecycle.py passes."""
    expected = {
        "__init__": ["self", "config"],
        "handle_exit": ["self", "sig", "frame"],
        "on_tick": ["self", "counter"],
        "run": ["self", "sockets"],
    }
    for name, names in expected.items():
        method = getattr(uvicorn.Server, name, None)
        ours = f"lifecycle.DrainingServer.{name}" if name != "run" else "server.run"
        assert method is not None, moved(f"uvicorn.Server.{name}", ours, "is gone")
        assert parameters(method) == names, moved(
            f"uvicorn.Server.{name}", ours, f"now takes {parameters(method)}"
        )
    assert inspect.iscoroutinefunction(uvicorn.Server.on_tick), moved(
        "uvicorn.Server.on_tick", "lifecycle.DrainingServer.on_tick", "is no longer async"
    )


def test_server_exit_flags_exist() -> None:
    """`should_exit` and `force_exit` are the flags uvicorn's loop and shutdown read."""
    fresh = server()
    for name in ("should_exit", "force_exit"):
        assert getattr(fresh, name, None) is False, moved(
            f"uvicorn.Server.{name}", "lifecycle.DrainingServer.handle_exit", "is gone"
        )


async def test_main_loop_ticks_until_on_tick_says_stop() -> None:
    """uvicorn's main loop calls `on_tick` and stops when it returns True."""
    ticks: list[int] = []

    class Counting(DrainingServer):
        async def on_tick(self, counter: int) -> bool:
            ticks.append(counter)
            self.should_exit = len(ticks) >= 2
            return await super().on_tick(counter)

    counting = Counting(
        uvicorn.Config(empty_app, log_config=None), readiness=Readiness(), drain_delay=0
    )
    counting.config.load()
    try:
        async with asyncio.timeout(5):
            await counting.main_loop()
    except TimeoutError:  # pragma: no cover - only when uvicorn changed it
        pytest.fail(
            moved(
                "uvicorn.Server.main_loop",
                "lifecycle.DrainingServer.on_tick",
                "does not stop when on_tick returns True",
            )
        )
    assert ticks == [0, 1], moved(
        "uvicorn.Server.main_loop", "lifecycle.DrainingServer.on_tick", "no longer calls on_tick"
    )


@contextmanager
def recorded_signals() -> Iterator[list[int]]:
    """SIGTERM and SIGINT are recorded, not acted on, until the block ends."""
    seen: list[int] = []

    def record(sig: int, frame: FrameType | None) -> None:
        seen.append(sig)

    originals = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield seen
    finally:
        for sig, handler in originals.items():
            signal.signal(sig, handler)


def test_signals_reach_handle_exit_and_a_drain_is_not_re_raised() -> None:
    """`capture_signals` routes SIGTERM to our `handle_exit`, and re-raises none it handled."""
    draining = server()
    with recorded_signals() as re_raised:
        with draining.capture_signals():
            installed = signal.getsignal(signal.SIGTERM)
            assert installed == draining.handle_exit, moved(
                "uvicorn.Server.capture_signals",
                "lifecycle.DrainingServer.handle_exit",
                "no longer installs handle_exit for SIGTERM",
            )
            signal.raise_signal(signal.SIGTERM)
        assert draining.should_exit
    assert re_raised == [], moved(
        "uvicorn.Server.capture_signals",
        "lifecycle.DrainingServer.handle_exit",
        "re-raises signals that handle_exit did not record (the drained process would not exit 0)",
    )
