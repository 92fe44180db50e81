"""Log lines written to stderr by one thread, many lines per write, never waited for.

- Lines are formatted where they are logged (formatting.py) and written by one thread.
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

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from prometheus_client import Counter

QUEUE_LINES = 10_000
"""Lines waiting for the writer at most: ~3 MiB of access lines, ~1 s of a busy process's."""

LINES_DROPPED = Counter(
    "weather_api_log_lines_dropped",
    "Log lines dropped because stderr was not read fast enough (the log queue was full).",
)

_CLOSED = None  # the writer's queue sentinel
_BATCH = 4096  # lines per write at most
_GATHER_SECONDS = 0.02  # how long a line may wait for others to share its write


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
