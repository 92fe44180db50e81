"""Log lines: written off the event loop, in order, none lost at exit, dropped (and counted)
rather than waited for when the stream is stuck; JSON or console, redacted either way."""

from __future__ import annotations

import datetime
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from tests.conftest import API_KEY
from weather_api.logs import configure
from weather_api.logs.formatting import ConsoleFormatter, JsonFormatter
from weather_api.logs.writer import LineWriter


class SlowStream(io.StringIO):
    """A stream whose writes block until released, like a full pipe to a stalled collector."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(5)
        self.writes += 1
        return super().write(text)


def test_lines_are_written_in_order_and_none_is_lost_on_close() -> None:
    """A blocked stream does not block `put`; `close` writes everything queued, in order."""
    stream = SlowStream()
    writer = LineWriter(stream)
    for number in range(2000):
        writer.put(f"line {number}")  # returns at once although the stream is blocked
    stream.release.set()
    writer.close()
    assert stream.getvalue().splitlines() == [f"line {number}" for number in range(2000)]
    assert stream.writes < 2000  # lines that waited went out together


def dropped_total() -> float:
    """weather_api_log_lines_dropped_total in this process."""
    return REGISTRY.get_sample_value("weather_api_log_lines_dropped_total") or 0.0


def test_a_stuck_stream_drops_and_counts_lines_with_one_warning_each_way() -> None:
    """Past the bound, lines are dropped and counted; one warning as it starts, one as it ends."""
    stream = SlowStream()
    writer = LineWriter(stream, max_lines=100)
    counted = dropped_total()
    writer.put("line 0")
    assert stream.entered.wait(5)  # the writer is stuck in its first write
    for number in range(1, 501):
        writer.put(f"line {number}")  # returns at once: queued up to the bound, then dropped
    assert writer.dropped == 400
    assert dropped_total() - counted == 400
    stream.release.set()
    writer.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "line 0"
    assert lines[1].startswith("log lines dropped")
    assert lines[2:102] == [f"line {number}" for number in range(1, 101)]
    assert lines[102].startswith("log lines no longer dropped")
    assert "'dropped_lines': 400" in lines[102]
    assert len(lines) == 103


def test_close_that_arrives_with_the_first_dropped_notice_still_stops_the_writer() -> None:
    """Drops begun and close queued in one batch: close returns once written, not at its timeout."""
    stream = SlowStream()
    writer = LineWriter(stream, max_lines=100)
    writer.put("line 0")
    assert stream.entered.wait(5)
    for number in range(1, 501):
        writer.put(f"line {number}")
    closer = threading.Thread(target=writer.close, kwargs={"timeout": 30})
    closer.start()  # waits for room in the full queue, so it lands in the writer's next batch
    time.sleep(0.1)
    stream.release.set()
    started = time.monotonic()
    closer.join(60)
    assert time.monotonic() - started < 15, "close waited for its timeout: the writer ran on"
    lines = stream.getvalue().splitlines()
    assert lines[1].startswith("log lines dropped")
    assert lines[-1] == "line 100" or lines[-1].startswith("log lines no longer dropped")


def test_close_gives_up_on_a_stream_that_stays_stuck() -> None:
    """A full queue in front of a stream that never drains does not keep the process alive."""
    stream = SlowStream()
    writer = LineWriter(stream, max_lines=10)
    writer.put("line 0")
    assert stream.entered.wait(5)
    for number in range(1, 20):
        writer.put(f"line {number}")
    writer.close(timeout=0.2)  # returns: the queued lines cannot be written
    assert stream.getvalue() == ""
    stream.release.set()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The process's logging configured as the server does, onto a buffer; undone after."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure.configure_logging("info", secrets=[API_KEY], log_format="json")
    yield stream
    assert configure._writer is not None
    configure._writer.close()
    monkeypatch.setattr(configure, "_writer", None)
    monkeypatch.setattr(configure, "_formatter", None)
    root.handlers[:], level = saved
    root.setLevel(level)


def test_access_lines_match_ordinary_records_and_are_redacted(captured: io.StringIO) -> None:
    """The access line's quick path writes what an ordinary record would, key redacted."""
    fields = {"method": "GET", "route": "/{city}/{country}/", "status": 200, "request_id": API_KEY}
    records: list[logging.LogRecord] = []

    def seen(record: logging.LogRecord) -> bool:  # each record that goes the usual way
        records.append(record)
        return True

    configure.ACCESS_LOGGER.addFilter(seen)
    try:
        configure.log_access("GET /{city}/{country}/ 200", fields)
        assert records == []  # the quick path made no record
        configure.ACCESS_LOGGER.info("GET /{city}/{country}/ 200", extra={"fields": fields})
        assert len(records) == 1
    finally:
        configure.ACCESS_LOGGER.removeFilter(seen)
    assert configure._writer is not None
    configure._writer.close()
    quick, ordinary = (json.loads(line) for line in captured.getvalue().splitlines())
    assert quick.pop("ts") == pytest.approx(ordinary.pop("ts"), abs=5)
    assert quick == ordinary
    assert quick["request_id"] == "***"
    assert quick["logger"] == "weather_api.access"


def test_access_lines_follow_the_level(captured: io.StringIO) -> None:
    """At WARNING there are no access lines at all."""
    logging.getLogger().setLevel(logging.WARNING)
    configure.log_access("GET / 200", {"status": 200})
    assert configure._writer is not None
    configure._writer.close()
    assert captured.getvalue() == ""


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "log_format", "looks"),
    [
        (Terminal(), "auto", "console"),
        (io.StringIO(), "auto", "json"),
        (Terminal(), "json", "json"),
        (io.StringIO(), "console", "console"),
    ],
)
def test_auto_is_console_on_a_terminal_and_json_elsewhere_unless_told(
    stream: io.StringIO, log_format: str, looks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`auto` writes aligned text to a terminal and JSON elsewhere; `json`/`console` force one."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure.configure_logging("info", secrets=[API_KEY], log_format=log_format, stream=stream)
        configure.log_access("GET / 200", {"status": 200, "request_id": API_KEY})
        assert configure._writer is not None
        configure._writer.close()
    finally:
        monkeypatch.setattr(configure, "_writer", None)
        monkeypatch.setattr(configure, "_formatter", None)
        root.handlers[:], level = saved
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert API_KEY not in line
    if looks == "json":
        assert json.loads(line)["request_id"] == "***"
    else:
        assert line.endswith("status=200 request_id=***")
        assert " INFO     weather_api.access " in line


def record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    """A log record as a logger would make it, with `fields` and the current exception."""
    made = logging.LogRecord("weather_api.test", logging.ERROR, __file__, 1, message, args, None)
    made.fields = fields
    made.exc_info = sys.exc_info() if sys.exc_info()[0] else None
    return made


# A zone far from UTC with minutes in its offset (POSIX: `-` is east): a stamp in UTC, or with
# the hours alone right, cannot pass for local time. No tz database needed.
TZ_WITH_OFFSET = "WAPI-05:45"
OFFSET = datetime.timedelta(hours=5, minutes=45)


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process in `TZ_WITH_OFFSET` for the test, back in its own zone afterwards."""
    monkeypatch.setenv("TZ", TZ_WITH_OFFSET)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone")
def test_console_lines_carry_the_json_fields_in_local_time_redacted() -> None:
    """The console line shows every field the JSON line has, the local time, and no secret."""
    try:
        raise RuntimeError(f"GET https://owm.test/?q=x&appid={API_KEY}")
    except RuntimeError:
        made = record("asked %s", "appid=abc", cache="hit", detail="two words", city=None)
    as_json = json.loads(JsonFormatter([API_KEY]).format(made))
    console = ConsoleFormatter([API_KEY]).format(made)
    first, *traceback = console.splitlines()
    local = datetime.datetime.fromtimestamp(made.created, datetime.UTC) + OFFSET
    assert first.startswith(local.strftime("%Y-%m-%d %H:%M:%S.")), first
    assert " ERROR    weather_api.test   asked appid=*** " in first
    assert first.endswith('cache=hit detail="two words" city=-')
    shown = {part.split("=", 1)[0] for part in first.split() if "=" in part} - {"appid"}
    assert shown == set(as_json) - {"ts", "level", "logger", "msg", "exc"}
    assert traceback[0] == "    Traceback (most recent call last):"
    assert "appid=***" in traceback[-1]
    assert API_KEY not in console
    assert "abc" not in console
