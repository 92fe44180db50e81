"""`weather-api serve | stub`: the service, or the fake upstream it can be pointed at."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Sequence
from enum import Enum
from typing import Any

from pydantic import SecretStr, ValidationError

from weather_api import tracing
from weather_api.config import ConfigurationError, Settings
from weather_api.preflight import check_environment
from weather_api.providers.proxies import check_proxy_environment


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `weather-api` console script and of `python -m weather_api`."""
    parser = _parser()
    args = parser.parse_args(argv)
    return int(args.run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weather-api",
        description="Current weather as OpenWeatherMap-shaped JSON, from an async FastAPI service.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the service (one uvicorn process)",
        description="Run the service. Every option is also a WEATHER_API_<OPTION> variable; "
        "an option given here wins over the variable.",
    )
    for name, field in Settings.model_fields.items():
        if SecretStr in typing.get_args(field.annotation):
            continue  # secrets come from the environment or a file, never from argv (ps shows it)
        kind = field.annotation
        choices = (
            [m.value for m in kind] if isinstance(kind, type) and issubclass(kind, Enum) else None
        )
        default = field.default.value if isinstance(field.default, Enum) else field.default
        help_text = f"{field.description or ''} (WEATHER_API_{name.upper()}, default: {default})"
        if field.annotation is bool:
            serve.add_argument(
                "--" + name.replace("_", "-"),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        serve.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            choices=choices,
            default=argparse.SUPPRESS,
            metavar=None if choices else name.split("_")[-1].upper(),
            help=help_text,
        )
    serve.set_defaults(run=_serve)

    from weather_api.stub import StubConfig

    stub = commands.add_parser(
        "stub",
        help="run the fake OpenWeatherMap + Open-Meteo upstream",
        description="A fake upstream speaking OpenWeatherMap's /data/2.5/weather and Open-Meteo's "
        "/v1/search and /v1/forecast on one port, with fault knobs. GET /_stub/stats counts.",
    )
    for option in dataclasses.fields(StubConfig):
        default = option.default
        stub.add_argument(
            "--" + option.name.replace("_", "-"),
            dest=option.name,
            type=_stub_type(default),
            default=default,
            help=f"(default: {default})",
        )
    stub.set_defaults(run=_stub)
    return parser


def _stub_type(default: object) -> Any:
    if isinstance(default, bool):  # pragma: no cover - StubConfig has no flags of this kind
        raise TypeError("boolean stub options need an explicit flag")
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if default is None:
        return int
    return str


def _serve(args: argparse.Namespace) -> int:
    options = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    try:
        settings = Settings(**options)
        check_environment()
        tracing.check(settings)  # an OTEL_* choice we cannot honour stops the start here
        check_proxy_environment(os.environ)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"weather-api: cannot start: {problems}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"weather-api: cannot start: {exc}", file=sys.stderr)
        return 2
    from weather_api.server import run

    run(settings)
    return 0


def _stub(args: argparse.Namespace) -> int:
    from weather_api.stub import StubConfig, run_stub

    names = {f.name for f in dataclasses.fields(StubConfig)}
    try:
        config = StubConfig(**{k: v for k, v in vars(args).items() if k in names})
    except ValueError as exc:
        print(f"weather-api stub: {exc}", file=sys.stderr)
        return 2
    run_stub(config)
    return 0
