"""A real browser for the dashboard: Playwright for Python driving Debian's Chromium, found by path.

Playwright's own browser download cannot work offline, so the browser is the system's (`apt-get install
chromium`; CHROMIUM_PATH to point elsewhere). Without it every browser test is skipped, and says so.
Screenshots of each page land in var/test-artifacts/screenshots/.
"""

import os
import shutil

import pytest

from tests.dashboard.conftest import make_user  # noqa: F401 (a fixture these tests use too)
from tests.helpers import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.path.join(ROOT, "var", "test-artifacts", "screenshots")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        pytest.skip("browser tests skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab, 1280 by 800 pixels; `shoot(name)` keeps a screenshot of what it shows."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    os.makedirs(SCREENSHOTS, exist_ok=True)

    def shoot(name: str) -> None:
        tab.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)

    tab.shoot = shoot
    yield tab
    context.close()
