"""Log lines on stderr, JSON or aligned text, secrets redacted, written off the event loop.

- formatting.py: a record as one finished line, JSON for a log collector or aligned text with
  the local time for a person at a terminal (`--log-format`), secrets redacted.
- writer.py: one thread writes the lines, many per write, from a bounded queue that drops (and
  counts) rather than waits.
- configure.py: `configure_logging` sets the process up; `log_access` writes each request's line.
"""
