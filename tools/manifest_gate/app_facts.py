"""What the app says about itself, for the manifest gate (runs in the project's venv): given
{"paths": [...], "containers": [{"args": [...], "env": {...}}, ...]} on stdin, the route GET
reaches for each path, the Settings variables, and the settings each container starts with. All
from the code (`create_app`, `Settings`, the CLI's parser), so the gate copies no route or field."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.routing import Match

from weather_api import cli
from weather_api.app import create_app
from weather_api.config import ConfigurationError, Settings
from weather_api.routes.city_fast_path import leaf_routes

PREFIX = str(Settings.model_config.get("env_prefix", ""))
MOUNTED = Path(tempfile.mkdtemp(prefix="app-facts-")) / "mounted-secret"
"""Stands in for every `*_file` setting: the files are the pod's (a Secret's), not ours to read."""


def _environ(env: dict[str, str]) -> None:
    """Make `env`'s `WEATHER_API_*` variables the only ones (the gate's shell may set others)."""
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        del os.environ[key]
    for key, value in env.items():
        if key.startswith(PREFIX):
            os.environ[key] = str(MOUNTED) if key.endswith("_FILE") and value else value


def start(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The settings `weather-api ARGS` starts with under `env`, built as `serve` builds them;
    {"command": ...} for another command; {"errors": [(field, message, input)]} if it would not."""
    _environ(env)
    output = io.StringIO()
    try:
        with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
            parsed = vars(cli._parser().parse_args(args))
    except SystemExit:
        problem = "the CLI rejects these arguments: " + " ".join(output.getvalue().split())
        return {"errors": [("", problem, "")]}
    if args[0] != "serve":
        return {"command": args[0]}
    given = {k: v for k, v in parsed.items() if k in Settings.model_fields}
    given.update({k: MOUNTED for k, v in given.items() if k.endswith("_file") and v})
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        errors = [(str((*e["loc"], "")[0]), e["msg"], str(e["input"])[:80]) for e in exc.errors()]
        return {"errors": errors}
    except ConfigurationError as exc:  # as `serve` reports it: an unusable upstream URL, say
        return {"errors": [("", str(exc), "")]}
    dumped = settings.model_dump(mode="json")
    return {**dumped, "cache_url": dumped["cache_url"] or ""}


def route(app: Any, path: str) -> str | None:
    """The path template of the route that answers GET `path`, or None."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    # leaf_routes opens up included routers, each of which FastAPI keeps as one catch-all route.
    hits = (r for r in leaf_routes(app.router.routes) if r.matches(scope)[0] is Match.FULL)
    return next((str(getattr(r, "path", "")) for r in hits), None)


def main() -> None:
    """Answer one request from the gate."""
    request = json.load(sys.stdin)
    MOUNTED.write_text("a-secret-from-the-pod\n", encoding="utf-8")
    _environ({})
    app = create_app(Settings())
    facts = {
        "prefix": PREFIX,
        "fields": sorted(PREFIX + name.upper() for name in Settings.model_fields),
        "static_routes": sorted(p for p in app.openapi()["paths"] if "{" not in p),
        "routes": {path: route(app, path) for path in request["paths"]},
        "containers": [start(c["args"], c["env"]) for c in request["containers"]],
    }
    json.dump(facts, sys.stdout)


if __name__ == "__main__":
    main()
