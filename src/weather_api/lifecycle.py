"""Readiness, and a uvicorn server that drains on SIGTERM before it stops."""

from __future__ import annotations

import signal
import time
from enum import StrEnum
from types import FrameType

import uvicorn


class Phase(StrEnum):
    """Where the process is in its life, as `/readyz` reports it."""

    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


class Readiness:
    """Shared by the app (which reports it) and the server (which ends it on a signal)."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING

    @property
    def ready(self) -> bool:
        """True between start-up and the first shutdown signal."""
        return self.phase is Phase.READY

    def mark_ready(self) -> None:
        """Start-up is done."""
        if self.phase is Phase.STARTING:
            self.phase = Phase.READY

    def mark_draining(self) -> None:
        """Shutdown has begun: take no new traffic."""
        self.phase = Phase.DRAINING


class DrainingServer(uvicorn.Server):
    """On SIGTERM: fail readiness at once, keep serving for `drain_delay` seconds, then stop.

    The delay lets load balancers notice `/readyz` before the listening socket closes; uvicorn then
    waits up to `timeout_graceful_shutdown` for requests in flight. The process exits 0 after a
    clean drain (plain uvicorn re-raises the signal, which reads as a crash to supervisors).
    A second signal, or SIGINT, stops at once; SIGINT twice forces the exit.
    """

    def __init__(self, config: uvicorn.Config, *, readiness: Readiness, drain_delay: float) -> None:
        super().__init__(config)
        self.readiness = readiness
        self.drain_delay = drain_delay
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Signal handler: begin the drain, or stop."""
        self.readiness.mark_draining()
        if sig == signal.SIGTERM and self._exit_at is None and self.drain_delay > 0:
            self._exit_at = time.monotonic() + self.drain_delay
            return
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's 10 Hz tick: stop once the drain delay is over."""
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)
