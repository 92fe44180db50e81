"""Log records as finished lines: one JSON object, or an aligned line for a person; redacted.

Both formats carry the same fields, `ts`, `level`, `logger` and `msg` first, then the record's
own `fields`, the context's (tracing: trace_id, span_id) and any traceback. Every secret the
service knows, and any `appid=` query value, is removed from the finished line, tracebacks
included.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from pydantic_core import to_json

from weather_api.config import LogFormat

_APPID = re.compile(r"(appid=)[^&\s\"'\\]+", re.IGNORECASE)
_HEAD = ("ts", "level", "logger", "msg")  # every line's first fields, in this order


context_fields: Callable[[], dict[str, Any]] | None = None
"""Where every line's context fields come from (`set_context_fields`); None: none."""


def set_context_fields(source: Callable[[], dict[str, Any]] | None) -> None:
    """Add `source()`'s fields to every line from now on (tracing: trace_id, span_id); None
    stops. Unset, as when tracing is off, a line costs nothing more."""
    global context_fields
    context_fields = source


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
        if context_fields is not None:
            line.update(context_fields())
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


def formatter_for(log_format: LogFormat, stream: TextIO, secrets: Iterable[str]) -> LineFormatter:
    """The formatter for `log_format`; `auto`: console when `stream` is a terminal."""
    if log_format is LogFormat.AUTO:
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):  # a closed or odd stream: not a person
            terminal = False
        log_format = LogFormat.CONSOLE if terminal else LogFormat.JSON
    if log_format is LogFormat.CONSOLE:
        return ConsoleFormatter(secrets)
    return JsonFormatter(secrets)
