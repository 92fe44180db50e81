"""The async rewrite a FastAPI user would write first, for comparison: no cache, one shared
`httpx.AsyncClient` with its defaults, OpenWeatherMap's JSON passed on.

`bench/run.py` serves it with `uvicorn bench.fastapi_httpx:app` and uvicorn's defaults (which
pick uvloop and httptools when they are installed, and keep the access log on, as the
service logs each request too). The upstream URL and key come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

import httpx
from fastapi import FastAPI, Request

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9000")
KEY = os.environ.get("OPENWEATHERMAP_API_KEY", "bench-key")


class State(TypedDict):
    client: httpx.AsyncClient


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    """One client for the process, as httpx's docs advise."""
    async with httpx.AsyncClient(base_url=UPSTREAM) as client:
        yield {"client": client}


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index() -> str:
    """The greeting."""
    return "App Works!"


@app.get("/{city}/{country}/")
async def weather(city: str, country: str, request: Request) -> Any:
    """OpenWeatherMap's current weather for the city, fetched on every request."""
    client: httpx.AsyncClient = request.state.client
    response = await client.get(
        "/data/2.5/weather", params={"q": f"{city},{country}", "appid": KEY}
    )
    response.raise_for_status()
    return response.json()
