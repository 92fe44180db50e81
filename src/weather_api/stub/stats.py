"""Live counters of what the stub was asked and what it did, for tests to assert on."""

from __future__ import annotations

from typing import Any


class StubStats:
    """Counts requests to the fake APIs; the stub's own `/_stub/*` endpoints are not counted.

    `connections_total` counts every TCP connection accepted (control ones too), so a test can
    tell connection reuse from a new connection per request.
    """

    __slots__ = (
        "connections_total",
        "errors_injected",
        "in_flight",
        "malformed_injected",
        "max_in_flight",
        "requests_by_path",
        "requests_total",
        "resets_injected",
        "truncated_injected",
        "unsolicited_sent",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self._zero()

    def _zero(self) -> None:
        self.requests_total = 0
        # A request still being answered keeps counting as in flight through a reset.
        self.max_in_flight = self.in_flight
        self.requests_by_path: dict[str, int] = {}
        self.errors_injected = 0
        self.resets_injected = 0
        self.malformed_injected = 0
        self.truncated_injected = 0
        # Delayed unasked-for answers written to a connection still open (the client's to read).
        self.unsolicited_sent = 0
        self.connections_total = 0

    def reset(self) -> None:
        """Zero the counters (requests in flight right now stay in flight)."""
        self._zero()

    def request_started(self, path: str) -> None:
        """A request has been read in full."""
        self.requests_total += 1
        self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def request_finished(self) -> None:
        """A request has been answered, or its connection is gone."""
        self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as the JSON body of `GET /_stub/stats`."""
        return {
            "requests_total": self.requests_total,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "requests_by_path": dict(self.requests_by_path),
            "errors_injected": self.errors_injected,
            "resets_injected": self.resets_injected,
            "malformed_injected": self.malformed_injected,
            "truncated_injected": self.truncated_injected,
            "unsolicited_sent": self.unsolicited_sent,
            "connections_total": self.connections_total,
        }
