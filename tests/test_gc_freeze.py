"""The collector is frozen once per process by `serve`, never by the app factory."""

from __future__ import annotations

import gc

from tests.conftest import make_settings, running_app


async def test_building_and_running_the_app_freezes_nothing() -> None:
    """create_app and its lifespan leave the collector as they found it (tests build hundreds)."""
    frozen = gc.get_freeze_count()
    async with running_app(make_settings(provider="sample")) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert gc.get_freeze_count() == frozen
