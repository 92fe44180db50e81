"""Log lines on stderr, JSON or aligned text, secrets redacted, written off the event loop.

- One line per record, for every logger in the process (uvicorn's and libraries' too): a JSON
  object for a log collector, or an aligned line with the local time for a person at a
  terminal (`--log-format`; `auto` picks by whether stderr is a terminal). Both carry the same
  fields, and every secret the service knows, and any `appid=` query value, is removed from the
  finished line, tracebacks included.
- Lines are formatted where they are logged and written by one thread, many lines per write.
  A write to stderr can block (a full pipe to a slow log collector, a busy disk), and on the
  event loop it would stall every request in the process; the logging cookbook's answer for
  handlers that block is a queue (on the cache-hit path, a write per line against this writer:
  docs/benchmarks.md, "Costs behind the code").
- The queue is bounded (`QUEUE_LINES`). When stderr is not read fast enough (a stuck log
  collector), lines that do not fit are dropped and counted in
  `weather_api_log_lines_dropped_total`, and the writer says once when dropping starts and once
  when it has caught up: nothing that logs ever waits, and the process does not grow.

Why not `logging.handlers.QueueHandler` and `QueueListener`: the listener hands records to a
handler one at a time (a write and a flush per line), `QueueHandler` reports a full queue
through `handleError` (a traceback written to the very stderr that is blocked, on the caller's
thread), and `QueueListener.stop` puts its sentinel with `put_nowait` (which fails on a full
queue). Measured against this writer in docs/operations.md, "Metrics and logs".
"""

from __future__ import annotations

import atexit
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from prometheus_client import Counter
from pydantic_core import to_json

from weather_api.config import LogFormat

QUEUE_LINES = 10_000
"""Lines waiting for the writer at most: ~3 MiB of access lines, ~1 s of a busy process's."""

LINES_DROPPED = Counter(
    "weather_api_log_lines_dropped",
    "Log lines dropped because stderr was not read fast enough (the log queue was full).",
)

_APPID = re.compile(r"(appid=)[^&\s\"'\\]+", re.IGNORECASE)
_CLOSED = None  # the writer's queue sentinel
_BATCH = 4096  # lines per write at most
_GATHER_SECONDS = 0.02  # how long a line may wait for others to share its write
_HEAD = ("ts", "level", "logger", "msg")  # every line's first fields, in this order


_context_fields: Callable[[], dict[str, Any]] | None = None


def set_context_fields(source: Callable[[], dict[str, Any]] | None) -> None:
    """Add `source()`'s fields to every line from now on (tracing: trace_id, span_id); None
    stops. Unset, as when tracing is off, a line costs nothing more."""
    global _context_fields
    _context_fields = source


class LineFormatter(logging.Formatter):
    """A record as one dict of fields, rendered by a subclass; secrets scrubbed from the result."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if _context_fields is not None:
            line.update(_context_fields())
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return self.render(line)

    def render(self, line: dict[str, Any]) -> str:
        """The finished, redacted line for these fields (`ts`, `level`, `logger`, `msg` first)."""
        # Redacted once, on the finished line, whatever produced it.
        return self.redact(self.serialize(line))

    def serialize(self, line: dict[str, Any]) -> str:
        """The line's text, before redaction."""
        raise NotImplementedError

    def redact(self, text: str) -> str:
        """Text with every known secret and `appid=` value replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _APPID.sub(r"\1***", text) if "=" in text else text


class JsonFormatter(LineFormatter):
    """One JSON object per line, for log collectors."""

    def serialize(self, line: dict[str, Any]) -> str:
        # pydantic-core's encoder, several times cheaper than json.dumps (docs/benchmarks.md).
        # The appid pattern stops at JSON's quotes and escapes.
        return to_json(line, fallback=str).decode()


class ConsoleFormatter(LineFormatter):
    """Aligned lines for people: local time, level, logger and message, then `key=value`."""

    def serialize(self, line: dict[str, Any]) -> str:
        millis = round(float(line["ts"]) * 1000)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(millis // 1000))
        text = (
            f"{stamp}.{millis % 1000:03d} {str(line['level']).upper():<8} "
            f"{line['logger']:<18} {line['msg']:<28}"
        )
        extra = " ".join(
            f"{key}={_console_value(value)}"
            for key, value in line.items()
            if key not in _HEAD and key != "exc"
        )
        text = f"{text} {extra}" if extra else text.rstrip()
        exc = line.get("exc")
        if exc:
            text += "\n" + "\n".join("    " + row for row in str(exc).splitlines())
        return text


def _console_value(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    # Quoted only when a reader could not tell where the value ends.
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return to_json(text).decode()
    return text


class LineWriter:
    """Writes lines to a stream from its own thread; `close` writes what is queued, then stops.

    `put` never blocks: when `max_lines` are already waiting, the line is dropped and counted.
    The first line written after drops began is a warning; so is the first once the queue has
    emptied again, with the number dropped in between.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        max_lines: int = QUEUE_LINES,
        notice: Callable[[str, dict[str, Any]], str] | None = None,
    ) -> None:
        self._stream = stream
        self._max_lines = max_lines
        self._notice = notice or _plain_notice
        self._lines: queue.Queue[str | None] = queue.Queue(max_lines)
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Lines dropped so far because the queue was full."""
        return self._dropped

    def put(self, line: str) -> None:
        """Queue one line (without its newline), or drop and count it; never blocks."""
        try:
            self._lines.put_nowait(line)
        except queue.Full:
            self._dropped += 1
            LINES_DROPPED.inc()

    def close(self, timeout: float = 5.0) -> None:
        """Write every line queued so far and stop the thread, within `timeout` seconds.

        A stream that stays blocked keeps what is queued: the process can still exit.
        """
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        try:
            self._lines.put(_CLOSED, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        reported = 0  # drops already counted in a warning's episode
        dropping_from: int | None = None  # drops when the current episode began
        while True:
            batch = [self._lines.get()]
            if batch[0] is not _CLOSED:
                # Let lines gather: one wake-up (and one GIL hand-over) per interval rather
                # than one per line, a cost on the event loop's thread (docs/benchmarks.md).
                time.sleep(_GATHER_SECONDS)
            while len(batch) < _BATCH:
                try:
                    batch.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            lines = [line for line in batch if line is not _CLOSED]
            closing = len(lines) < len(batch)  # before a notice joins the lines
            dropped = self._dropped
            if dropped > reported and dropping_from is None:
                dropping_from = reported
                lines.insert(
                    0,
                    self._notice(
                        "log lines dropped: stderr is not read as fast as lines come",
                        {"queue_lines": self._max_lines},
                    ),
                )
            reported = dropped
            self._write(lines)
            if dropping_from is not None and self._dropped == reported and self._lines.empty():
                self._write(
                    [
                        self._notice(
                            "log lines no longer dropped: the writer has caught up",
                            {"dropped_lines": reported - dropping_from},
                        )
                    ]
                )
                dropping_from = None
            if closing:
                return

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed or broken: nowhere left to log
            pass


def _plain_notice(message: str, fields: dict[str, Any]) -> str:
    return f"{message} {fields}"


class QueuedLineHandler(logging.Handler):
    """Formats each record where it is logged and hands the line to a `LineWriter`."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self._writer = writer

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler lock: formatting is thread-safe, the queue too."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line."""
        try:
            self._writer.put(self.format(record))
        except Exception:
            self.handleError(record)


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
    if _context_fields is not None:
        line.update(_context_fields())
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
    formatter = _formatter = _formatter_for(LogFormat(log_format), stream, secrets)

    def notice(message: str, fields: dict[str, Any]) -> str:
        head = {"ts": round(time.time(), 3), "level": "warning", "logger": __name__}
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


def _formatter_for(log_format: LogFormat, stream: TextIO, secrets: Iterable[str]) -> LineFormatter:
    if log_format is LogFormat.AUTO:
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):  # a closed or odd stream: not a person
            terminal = False
        log_format = LogFormat.CONSOLE if terminal else LogFormat.JSON
    if log_format is LogFormat.CONSOLE:
        return ConsoleFormatter(secrets)
    return JsonFormatter(secrets)
