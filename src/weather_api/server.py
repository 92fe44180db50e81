"""Run the app under one uvicorn process with the settings' limits and graceful drain."""

from __future__ import annotations

import socket

import uvicorn

from weather_api.app import create_app
from weather_api.config import Settings
from weather_api.lifecycle import DrainingServer, Readiness
from weather_api.observability import configure_logging


def uvicorn_config(settings: Settings, *, readiness: Readiness) -> uvicorn.Config:
    """uvicorn on uvloop + httptools; our middleware writes the access log."""
    return uvicorn.Config(
        create_app(settings, readiness=readiness),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        # We never read client addresses; X-Forwarded-* parsing would cost every request.
        proxy_headers=False,
    )


def run(settings: Settings) -> None:
    """Serve until SIGTERM (drained) or SIGINT."""
    key = settings.api_key()
    configure_logging(
        settings.log_level.value, secrets=[key.get_secret_value()] if key is not None else []
    )
    readiness = Readiness()
    server = DrainingServer(
        uvicorn_config(settings, readiness=readiness),
        readiness=readiness,
        drain_delay=settings.drain_delay,
    )
    server.run(sockets=[_reuse_port_socket(settings)] if settings.reuse_port else None)


def _reuse_port_socket(settings: Settings) -> socket.socket:
    """A listening socket that other processes may bind too (Linux spreads connections)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
