"""Headless Chromium for browser tests: the system build driven by Playwright, never a download."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# CI runs two test workers, Chromium and the servers on two CPUs: give pages time to answer.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
# Without these, Chromium tries the network at start and this machine refuses it.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch the system Chromium headless and close it afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True, timeout=TIMEOUT_MS * 2
        )
        try:
            yield browser
        finally:
            browser.close()
