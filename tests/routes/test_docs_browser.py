"""Swagger UI at /docs works with no internet: a real browser runs one request through it."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import free_port
from tests.processes import weather_api_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# `make test` passes the Chromium or Chrome it found (scripts/find-chrome) as CHROME.
CHROMIUM = os.environ.get("CHROME") or "/usr/bin/chromium"
# Chromium's own background traffic would only hit this machine's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_try_it_out_in_swagger_ui() -> None:
    """/docs renders from local assets; "Try it out" on /{city}/{country}/ shows a 200."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"no browser at {CHROMIUM}: set CHROME=/path/to/chrome, put chromium or "
            "google-chrome on PATH and run make test, or install Debian's: "
            "sudo apt-get install -y chromium redis-server"
        )
    port = free_port()
    external: list[str] = []
    with (
        weather_api_process("serve", "--port", str(port), "--provider", "sample", port=port),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "request",
                lambda r: (
                    external.append(r.url)
                    if not r.url.startswith(f"http://127.0.0.1:{port}/")
                    else None
                ),
            )
            page.goto(f"http://127.0.0.1:{port}/docs")
            operation = page.locator(".opblock-get", has_text="/{city}/{country}/")
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.locator("input[placeholder='city']").fill("London")
            operation.locator("input[placeholder='country']").fill("GB")
            operation.get_by_role("button", name="Execute").click()
            status = operation.locator(".live-responses-table tbody .response-col_status").first
            expect(status).to_have_text("200", timeout=10_000)
            expect(operation.locator(".live-responses-table .microlight").first).to_contain_text(
                '"name": "London"'
            )
        finally:
            browser.close()
    assert external == []
