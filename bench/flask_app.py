"""The old app as it ran, for comparison: Flask's dev server, `requests` with no session or timeout.

Only the upstream URL and key come from the environment (the original had OpenWeatherMap's URL
and a key in the source).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import requests
from flask import Flask

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9000")
KEY = os.environ.get("OPENWEATHERMAP_API_KEY", "bench-key")

app = Flask(__name__)


@app.route("/")
def index() -> str:
    """The greeting."""
    return "App Works!"


@app.route("/<string:city>/<string:country>/")
def get_weather(city: str, country: str) -> Any:
    """OpenWeatherMap's JSON, passed through whatever its status."""
    url = f"{UPSTREAM}/data/2.5/weather?q={city},{country}&appid={KEY}"
    return requests.get(url).json()  # noqa: S113 - no timeout, exactly as the old app did


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
