"""What the app says about itself, for the manifest gate (runs in the project's venv).

Reads a JSON request on stdin, {"paths": [...], "containers": {ID: {"args": [...], "env": {...}}}},
and prints JSON: whether each path is routed by the app, the Settings environment variables,
and for each container the settings `weather-api` would start with (or why it would not).
Everything comes from the code itself (`create_app`, `Settings`, the CLI's parser), so the
gate never carries its own copy of route paths, field names or defaults.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

GATE_READS = [
    "host",
    "port",
    "drain_delay",
    "shutdown_grace",
    "keep_alive_timeout",
    "cache_ttl",
    "cache_url",
]
"""The settings the gate's checks compare with the manifests."""


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("WEATHER_API_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


def _start(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The settings `weather-api ARGS` starts with under `env`, built as `serve` builds them."""
    from pydantic import ValidationError

    from weather_api import cli
    from weather_api.config import Settings

    with _environment(env):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                parsed = cli._parser().parse_args(args)
        except SystemExit:
            return {
                "error": "the CLI rejects these arguments: " + " ".join(stderr.getvalue().split())
            }
        if not args or args[0] != "serve":
            return {"command": args[0] if args else ""}
        try:
            settings = Settings(
                **{k: v for k, v in vars(parsed).items() if k in Settings.model_fields}
            )
        except ValidationError as exc:
            errors = [
                {
                    "field": str(e["loc"][0]) if e["loc"] else "",
                    "message": e["msg"],
                    "input": str(e.get("input"))[:80],
                }
                for e in exc.errors()
            ]
            return {"command": "serve", "errors": errors}
    facts = settings.model_dump(include=set(GATE_READS), mode="json")
    return {"command": "serve", **facts, "cache_url": facts["cache_url"] or ""}


def _probe_paths(app: Any, paths: list[str]) -> dict[str, dict[str, Any]]:
    """For each path: does GET reach a route, and only a parameterised one (`/{city}/...`)?"""
    from starlette.routing import Match, compile_path

    templates = [p for p in app.openapi().get("paths", {}) if "{" in p]
    answers = {}
    for path in paths:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }
        routed = any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)
        template = next(
            (t for t in templates if compile_path(t)[0].fullmatch(path)),
            None,
        )
        answers[path] = {"routed": routed, "template": template}
    return answers


def main() -> int:
    """Answer one request from the gate."""
    request = json.load(sys.stdin)
    from weather_api.app import create_app
    from weather_api.config import Settings

    with _environment({}):
        app = create_app(Settings())
    facts = {
        "paths": _probe_paths(app, request.get("paths", [])),
        "known_paths": sorted(p for p in app.openapi().get("paths", {}) if "{" not in p),
        "env_prefix": Settings.model_config.get("env_prefix", ""),
        "env_names": sorted(f"WEATHER_API_{name.upper()}" for name in Settings.model_fields),
        "containers": {
            cid: _start(spec["args"], spec["env"])
            for cid, spec in request.get("containers", {}).items()
        },
    }
    json.dump(facts, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
