"""Real-browser fixtures: one headless Debian Chromium per xdist worker, a fresh context per test.

Registered as a plugin in tests/conftest.py, so every test module shares the one browser.

Playwright's sync API runs an asyncio event loop in the test thread, so Django's "you are in an
async context" guard must be relaxed for the ORM calls the fixtures and tests still make.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connections

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"

# Reports every CSP refusal to the console, so a violation cannot pass unseen. Injected over the
# DevTools protocol, the listener itself is not subject to the page's policy.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While the sync API's loop runs, asgiref takes this thread for an async context and Django
        # keeps its connections apart from the thread's own: the tests after the browser started
        # opened one there. Closed here, or its session outlives the run.
        connections.close_all()


@dataclass
class PageLog:
    """What the browser said while the test ran: console errors and warnings, uncaught exceptions."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text} ({message.location.get('url', '')})")

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line or "CSP violation" in line]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, live_server, page_log: PageLog) -> Iterator[Page]:
    # en-US is what Chromium on an English-language government PC sends in Accept-Language.
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, locale="en-US")
    context.set_default_timeout(15_000)
    context.add_init_script(CSP_LISTENER)
    tab = context.new_page()
    tab.on("console", page_log.on_console)
    tab.on("pageerror", lambda error: page_log.errors.append(str(error)))
    yield tab
    context.close()


def full_page_screenshot(page: Page, path: Path) -> None:
    """A full-page screenshot at ``path``. Chromium now and then refuses one under load ("Unable to
    capture screenshot", seen once in a CI run of the tour on a busy machine); the picture is an
    artifact, not an assertion, so it is asked for again once, after a moment."""
    try:
        page.screenshot(path=str(path), full_page=True)
    except PlaywrightError as error:
        if "Unable to capture screenshot" not in str(error):
            raise
        page.wait_for_timeout(500)
        page.screenshot(path=str(path), full_page=True)


@pytest.fixture
def shoot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page screenshot as test-artifacts/screenshots/<test name>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{step}.png"
        full_page_screenshot(page, path)
        return path

    return take


@pytest.fixture
def sign_in(page: Page) -> Callable[..., None]:
    """Open the login page and sign in as a keyboard user would: type, Tab, type, Enter."""

    def keyboard_sign_in(username: str, password: str = PASSWORD) -> None:
        page.goto("/login/")
        expect(page.locator("#id_username")).to_be_focused()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        expect(page.locator("#id_password")).to_be_focused()
        page.keyboard.type(password)
        with page.expect_navigation():
            page.keyboard.press("Enter")

    return keyboard_sign_in
