"""Run the app under one uvicorn process with the settings' limits and graceful drain."""

from __future__ import annotations

import gc
import socket

import uvicorn

from weather_api.app import create_app
from weather_api.config import Settings
from weather_api.http_protocol import limited_protocol
from weather_api.lifecycle import DrainingServer, Readiness
from weather_api.logs.configure import configure_logging


def uvicorn_config(settings: Settings, *, readiness: Readiness) -> uvicorn.Config:
    """uvicorn on uvloop + httptools; our middleware writes the access log."""
    return uvicorn.Config(
        create_app(settings, readiness=readiness),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=limited_protocol(settings),
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency or None,
        # We never read client addresses; X-Forwarded-* parsing would cost every request.
        proxy_headers=False,
    )


def run(settings: Settings) -> None:
    """Serve until SIGTERM (drained) or SIGINT."""
    key = settings.api_key()
    configure_logging(
        settings.log_level.value,
        secrets=[key.get_secret_value()] if key is not None else [],
        log_format=settings.log_format,
    )
    readiness = Readiness()
    config = uvicorn_config(settings, readiness=readiness)
    # Nearly all that this process keeps lives from here to its end (modules, routes, models;
    # the lifespan adds a few hundred objects): move it out of the collector's sight, so full
    # collections under load scan only request garbage (the pauses before and after:
    # docs/benchmarks.md, "Costs behind the code"). Once per process, so not in create_app,
    # which tests build hundreds of times.
    gc.collect()
    gc.freeze()
    server = DrainingServer(config, readiness=readiness, drain_delay=settings.drain_delay)
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
