"""The content-security policy allows no inline script or style, so no template may carry any: no
<script> without src, no <style>, no style="…" attribute, no on…= handler, no javascript: URL.

Two nets: every template file of the portal, read as text; and the pages of the third-party code
the portal serves (the admin site, the browsable API, the API documentation), as rendered."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.conftest import World

ROOT = Path(settings.BASE_DIR)
TEMPLATES = sorted(
    path
    for path in ROOT.rglob("*.html")
    if not {".venv", "node_modules", "test-artifacts", "staticfiles", "var"}
    & set(path.relative_to(ROOT).parts)
)

# A template's text: tags are what matters, so template comments go first.
_COMMENT = re.compile(r"{#.*?#}|{% comment %}.*?{% endcomment %}", re.S)
INLINE = {
    "inline script": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I
    ),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def inline_code(text: str) -> list[str]:
    text = _COMMENT.sub("", text)
    return [kind for kind, pattern in INLINE.items() if pattern.search(text)]


def test_given_the_scanner_when_it_reads_each_kind_of_inline_code_then_it_finds_it():
    samples = {
        "inline script": "<script>alert(1)</script>",
        "style element": "<style>p{}</style>",
        "style attribute": '<p style="color:red">',
        "event handler": '<button onclick="go()">',
        "javascript: URL": '<a href="javascript:go()">',
    }
    assert {kind: inline_code(sample) for kind, sample in samples.items()} == {
        kind: [kind] for kind in samples
    }
    assert inline_code('<script src="/static/js/portal.js" defer></script><p class="x" data-on="1">') == []


def test_given_the_portals_templates_then_there_are_many_to_scan():
    assert len(TEMPLATES) > 80


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_given_a_template_then_it_carries_no_inline_script_or_style(path: Path):
    assert inline_code(path.read_text(encoding="utf-8")) == []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src") and names.get("type") not in ("application/json",):
            self.found.append("inline script")
        if tag == "style":
            self.found.append("style element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"{name} on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:accounts_agency_changelist",
        "admin:accounts_agency_add",
        "api-root",
        "api-docs",
        # A list with filters: DRF draws its "Filters" button there.
        "person-list",
    ],
)
def test_given_a_page_of_third_party_code_when_rendered_then_it_carries_no_inline_script_or_style(
    url_name: str, world: World, client
):
    client.force_login(world.users["admin"])
    response = client.get(reverse(url_name), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    tags = _Tags()
    tags.feed(response.content.decode())
    assert tags.found == []
