"""The browser tests' screenshot helper: Chromium's refusal under load is asked again once, and any
other error still fails the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser_fixtures import full_page_screenshot


class _Page:
    """A page whose screenshots fail with ``errors`` in turn, then succeed."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.asked = 0
        self.waited_ms = 0

    def screenshot(self, **options: Any) -> None:
        self.asked += 1
        if self.errors:
            raise PlaywrightError(self.errors.pop(0))
        Path(options["path"]).write_bytes(b"png")

    def wait_for_timeout(self, ms: int) -> None:
        self.waited_ms += ms


def test_given_chromium_refuses_once_then_the_screenshot_is_taken_on_the_second_asking(tmp_path: Path):
    page = _Page(["Protocol error (Page.captureScreenshot): Unable to capture screenshot"])

    full_page_screenshot(page, tmp_path / "shot.png")  # type: ignore[arg-type]

    assert (page.asked, page.waited_ms, (tmp_path / "shot.png").read_bytes()) == (2, 500, b"png")


def test_given_another_error_then_it_fails_at_once(tmp_path: Path):
    page = _Page(["Target page, context or browser has been closed"])

    with pytest.raises(PlaywrightError, match="has been closed"):
        full_page_screenshot(page, tmp_path / "shot.png")  # type: ignore[arg-type]

    assert page.asked == 1
