"""`--log-format` in a real process: auto picks aligned text on a terminal and JSON lines on a
pipe; `json` keeps JSON on a terminal (as the containers do)."""

from __future__ import annotations

import datetime
import json
import os
import pty
import re
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import API_KEY, free_port
from tests.processes import weather_api_process

pytestmark = pytest.mark.slow

# The service's zone, far from UTC and with minutes (POSIX: `-` is east): a UTC stamp, or one
# with only the hours shifted, is more than the two minutes of slack away from local time.
TZ_WITH_OFFSET = "WAPI-05:45"
OFFSET = datetime.timedelta(hours=5, minutes=45)

CONSOLE_LINE = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d{3} INFO     weather_api\.access "
    r"+GET /\{city\}/\{country\}/ 200 +(?P<fields>\S.*)$"
)


@contextmanager
def service_logging_to(stream: int, *options: str) -> Iterator[int]:
    """The service on a free port, its stdout and stderr on `stream`, the key in its env, its
    clock in `TZ_WITH_OFFSET`."""
    port = free_port()
    with weather_api_process(
        *("serve", "--port", str(port), "--provider", "sample", *options),
        env={"WEATHER_API_OPENWEATHERMAP_API_KEY": API_KEY, "TZ": TZ_WITH_OFFSET},
        port=port,
        stream=stream,
    ):
        yield port


def access_line(fd: int, port: int) -> str:
    """Ask for London with the key as request id; the access line that the process wrote."""
    response = httpx.get(
        f"http://127.0.0.1:{port}/london/gb/", headers={"X-Request-ID": API_KEY}, timeout=10
    )
    assert response.status_code == 200
    text = ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            text += os.read(fd, 65536).decode(errors="replace").replace("\r\n", "\n")
        for line in text.splitlines():
            if "weather_api.access" in line and "/{city}/{country}/" in line:
                return line
    raise AssertionError(f"no access line within 15 s in:\n{text}")


def test_auto_writes_aligned_local_time_lines_to_a_terminal() -> None:
    """On a pty: `2026-01-02 10:11:12.345 INFO     weather_api.access  GET ... key=value`."""
    terminal, child_side = pty.openpty()
    try:
        with service_logging_to(child_side) as port:
            os.close(child_side)
            line = access_line(terminal, port)
    finally:
        os.close(terminal)
    match = CONSOLE_LINE.match(line)
    assert match, line
    logged = datetime.datetime.strptime(match["stamp"], "%Y-%m-%d %H:%M:%S")
    local_now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + OFFSET
    assert abs(logged - local_now) < datetime.timedelta(minutes=2), f"{line} is not in local time"
    fields = dict(part.split("=", 1) for part in match["fields"].split())
    assert set(fields) == {"method", "route", "status", "duration_ms", "request_id", "cache"}
    assert fields["request_id"] == "***"
    assert API_KEY not in line


def test_auto_writes_json_lines_to_a_pipe() -> None:
    """On a pipe: one JSON object per line, with the same fields and the same redaction."""
    reader, writer = os.pipe()
    try:
        with service_logging_to(writer) as port:
            os.close(writer)
            line = access_line(reader, port)
    finally:
        os.close(reader)
    fields = json.loads(line)
    assert set(fields) == {
        "ts", "level", "logger", "msg",
        "method", "route", "status", "duration_ms", "request_id", "cache",
    }  # fmt: skip
    assert fields["request_id"] == "***"
    assert API_KEY not in line


def test_json_format_stays_json_on_a_terminal() -> None:
    """`--log-format json` on a pty: JSON lines, not the console format auto would pick."""
    terminal, child_side = pty.openpty()
    try:
        with service_logging_to(child_side, "--log-format", "json") as port:
            os.close(child_side)
            line = access_line(terminal, port)
    finally:
        os.close(terminal)
    fields = json.loads(line)
    assert fields["route"] == "/{city}/{country}/"
    assert fields["request_id"] == "***"
