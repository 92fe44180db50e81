"""The process's logging, set up once: every logger's records, and the access log's shortcut.

`configure_logging` sends every logger's records (uvicorn's and libraries' too) through one
formatter (formatting.py) to one writer thread (writer.py). `log_access` writes the one line of
each request straight to that formatter and writer; it lives here because it uses exactly what
`configure_logging` set up, and nothing else does.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from weather_api.config import LogFormat
from weather_api.logs import formatting
from weather_api.logs.formatting import LineFormatter, formatter_for
from weather_api.logs.writer import LineWriter, QueuedLineHandler

_writer: LineWriter | None = None
_formatter: LineFormatter | None = None
ACCESS_LOGGER = logging.getLogger("weather_api.access")


def log_access(message: str, fields: dict[str, Any]) -> None:
    """The access log line of one request, at INFO on `weather_api.access`.

    It is the one record per request, so once `configure_logging` has set up the process's
    logging, it skips the logging module's record and handler machinery (a share of a cache
    hit: docs/benchmarks.md) and goes straight to the same formatter and writer. Before that
    (an app under test, say), it is an ordinary log record.
    """
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    if _writer is None or _formatter is None:
        ACCESS_LOGGER.info(message, extra={"fields": fields})
        return
    line = {
        "ts": round(time.time(), 3),
        "level": "info",
        "logger": ACCESS_LOGGER.name,
        "msg": message,
        **fields,
    }
    if formatting.context_fields is not None:
        line.update(formatting.context_fields())
    _writer.put(_formatter.render(line))


def configure_logging(
    level: str,
    *,
    secrets: Iterable[str] = (),
    log_format: str = LogFormat.AUTO,
    stream: TextIO | None = None,
) -> None:
    """Logs on `stream` (stderr) for the whole process, uvicorn's and libraries' included.

    `log_format` is `json`, `console`, or `auto`: console when the stream is a terminal.
    The lines still queued are written when the process exits normally.
    """
    global _writer, _formatter
    stream = stream or sys.stderr
    if _writer is not None:
        _writer.close()
    formatter = _formatter = formatter_for(LogFormat(log_format), stream, secrets)

    def notice(message: str, fields: dict[str, Any]) -> str:
        head = {"ts": round(time.time(), 3), "level": "warning", "logger": "weather_api.logs"}
        return formatter.render({**head, "msg": message, **fields})

    _writer = LineWriter(stream, notice=notice)
    atexit.register(_writer.close)
    handler = QueuedLineHandler(_writer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx logs every request URL at INFO, query string (and any key in it) included.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The logging HOWTO's "Optimization": skip what no line of ours shows.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
