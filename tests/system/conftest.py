"""The browser fixtures: Debian's Chromium driven by Playwright against a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.system.browsing import CHROMIUM, DESKTOP


@pytest.fixture(scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API runs an event loop in this thread while this module runs; the ORM
    # calls here (and the database fixtures' own) are plain blocking ones.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright: None) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server, transactional_db) -> Iterator:
    """open_page(viewport=…, locale=…, javascript=…) → a fresh page on the live server."""
    contexts = []

    def opener(viewport: dict = DESKTOP, locale: str = "en-GB", javascript: bool = True):
        context = browser.new_context(viewport=viewport, locale=locale, java_script_enabled=javascript,
                                      base_url=live_server.url, accept_downloads=True)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # script errors and Content-Security-Policy violations
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: page.errors.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text else None)
        return page

    yield opener
    for context in contexts:
        context.close()




@pytest.fixture
def shots(tmp_path: Path):
    """shots(page, name): a screenshot of the whole page."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as image:
            assert image.width >= 300 and image.height >= 300
        return path

    return shoot
