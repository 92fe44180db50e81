"""Log lines: written off the event loop, in order, none lost at exit; access lines alike."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY
from weather_api import logs


class SlowStream(io.StringIO):
    """A stream whose writes block until released, like a full pipe to a stalled collector."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        self.release.wait(5)
        self.writes += 1
        return super().write(text)


def test_lines_are_written_in_order_and_none_is_lost_on_close() -> None:
    """A blocked stream does not block `put`; `close` writes everything queued, in order."""
    stream = SlowStream()
    writer = logs.LineWriter(stream)
    for number in range(2000):
        writer.put(f"line {number}")  # returns at once although the stream is blocked
    stream.release.set()
    writer.close()
    assert stream.getvalue().splitlines() == [f"line {number}" for number in range(2000)]
    assert stream.writes < 2000  # lines that waited went out together


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The process's logging configured as the server does, onto a buffer; undone after."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure_logging("info", secrets=[API_KEY])
    yield stream
    assert logs._writer is not None
    logs._writer.close()
    monkeypatch.setattr(logs, "_writer", None)
    monkeypatch.setattr(logs, "_formatter", None)
    root.handlers[:], level = saved
    root.setLevel(level)


def test_access_lines_match_ordinary_records_and_are_redacted(captured: io.StringIO) -> None:
    """The access line's quick path writes what an ordinary record would, key redacted."""
    fields = {"method": "GET", "route": "/{city}/{country}/", "status": 200, "request_id": API_KEY}
    records: list[logging.LogRecord] = []

    def seen(record: logging.LogRecord) -> bool:  # each record that goes the usual way
        records.append(record)
        return True

    logs.ACCESS_LOGGER.addFilter(seen)
    try:
        logs.log_access("GET /{city}/{country}/ 200", fields)
        assert records == []  # the quick path made no record
        logs.ACCESS_LOGGER.info("GET /{city}/{country}/ 200", extra={"fields": fields})
        assert len(records) == 1
    finally:
        logs.ACCESS_LOGGER.removeFilter(seen)
    assert logs._writer is not None
    logs._writer.close()
    quick, ordinary = (json.loads(line) for line in captured.getvalue().splitlines())
    assert quick.pop("ts") == pytest.approx(ordinary.pop("ts"), abs=5)
    assert quick == ordinary
    assert quick["request_id"] == "***"
    assert quick["logger"] == "weather_api.access"


def test_access_lines_follow_the_level(captured: io.StringIO) -> None:
    """At WARNING there are no access lines at all."""
    logging.getLogger().setLevel(logging.WARNING)
    logs.log_access("GET / 200", {"status": 200})
    assert logs._writer is not None
    logs._writer.close()
    assert captured.getvalue() == ""
