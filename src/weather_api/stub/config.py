"""What the stub is told: where to listen, and which faults to inject.

`StubConfig` is fixed at start-up. `FaultConfig` is the live, mutable copy of its fault fields
that the server reads on every request, so tests can switch faults on and off without a
restart (in-process through `StubServer.config`, or over HTTP with `PUT /_stub/config`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


def _milliseconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number of milliseconds")
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number >= 0")
    return float(value)


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number between 0 and 1")
    if not 0 <= value <= 1:  # also rejects NaN
        raise ValueError("must be between 0 and 1")
    return float(value)


def _error_status(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ValueError("must be an HTTP error status between 400 and 599")
    return value


def _retry_after(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be null or a whole number of seconds >= 0")
    return value


_FAULT_VALIDATORS: dict[str, Callable[[object], Any]] = {
    "latency_ms": _milliseconds,
    "jitter_ms": _milliseconds,
    "error_rate": _rate,
    "error_status": _error_status,
    "retry_after": _retry_after,
    "reset_rate": _rate,
    "malformed_rate": _rate,
    "truncate_rate": _rate,
    "trailing_response_rate": _rate,
    "unsolicited_response_delay_ms": _milliseconds,
    "stall_ms": _milliseconds,
    "drip_ms": _milliseconds,
}
FAULT_FIELDS: tuple[str, ...] = tuple(_FAULT_VALIDATORS)
"""The names of the fields that can change while the stub runs."""


def _checked(name: str, value: object) -> Any:
    try:
        return _FAULT_VALIDATORS[name](value)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


@dataclass(frozen=True, kw_only=True)
class StubConfig:
    """How to start the stub upstream; every fault is off by default."""

    host: str = "127.0.0.1"
    port: int = 9000
    latency_ms: float = 0.0
    """Each response is delayed by this, plus or minus a uniform `jitter_ms` (never below 0)."""
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    """Fraction of requests answered with `error_status` and a JSON error body."""
    error_status: int = 503
    retry_after: int | None = None
    """When set, injected errors carry `Retry-After: <n>` (pair it with `error_status=429`)."""
    reset_rate: float = 0.0
    """Fraction of requests whose connection is reset (RST) instead of answered."""
    malformed_rate: float = 0.0
    """Fraction of requests answered 200 with a body that is not valid JSON."""
    truncate_rate: float = 0.0
    """Fraction of responses cut short of their Content-Length, then the socket closes."""
    trailing_response_rate: float = 0.0
    """Fraction of answers followed, in the same write, by a second answer nobody asked for
    (the same endpoint's answer for another place), as a broken upstream or proxy might send."""
    unsolicited_response_delay_ms: float = 0.0
    """When > 0, that trailing answer goes out this long after the real one, in its own write,
    while the client may hold the connection idle in its pool (0: in the same write)."""
    stall_ms: float = 0.0
    """Extra delay before answering, on top of the latency: an upstream that hangs."""
    drip_ms: float = 0.0
    """When > 0, the body goes out in small chunks with this delay between them."""
    seed: int | None = None
    """Seeds the random choice of faults and jitter, for reproducible tests."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535 (0 picks a free port)")
        for name in FAULT_FIELDS:
            object.__setattr__(self, name, _checked(name, getattr(self, name)))

    def faults(self) -> FaultConfig:
        """A fresh mutable copy of the fault fields."""
        return FaultConfig(**{name: getattr(self, name) for name in FAULT_FIELDS})


@dataclass(kw_only=True)
class FaultConfig:
    """The faults in force right now; every assignment is validated (ValueError when wrong)."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after: int | None = None
    reset_rate: float = 0.0
    malformed_rate: float = 0.0
    truncate_rate: float = 0.0
    trailing_response_rate: float = 0.0
    unsolicited_response_delay_ms: float = 0.0
    stall_ms: float = 0.0
    drip_ms: float = 0.0

    def __setattr__(self, name: str, value: object) -> None:
        if name not in _FAULT_VALIDATORS:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, _checked(name, value))

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply several changes at once; nothing changes when any of them is invalid."""
        unknown = sorted(set(changes) - set(_FAULT_VALIDATORS))
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        checked = {name: _checked(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def clear(self) -> None:
        """Switch every fault off (the defaults of a fresh `StubConfig`)."""
        self.update({f.name: f.default for f in fields(self)})

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values."""
        return asdict(self)
