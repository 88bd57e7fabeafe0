"""The addresses a page gives (its redirect, its links, its forms' targets), for tests that prove
no resident ID number travels in one (see docs/architecture.md, security)."""

from __future__ import annotations

import re

# An 18-digit resident ID number (17 digits and a check digit or X) standing on its own.
ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")
URL_ATTRIBUTE = re.compile(r"""\b(?:href|action|src|formaction)\s*=\s*["']([^"']*)["']""")
SEARCH_ADDRESS = r"\?search=[A-Za-z0-9_-]{12}"


def urls_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The Location header and every href, action, src and formaction of an HTML response."""
    urls = [response["Location"]] if response.has_header("Location") else []
    if response.get("Content-Type", "").startswith("text/html"):
        urls += URL_ATTRIBUTE.findall(response.content.decode())
    return urls


def with_id_numbers(responses: list) -> list[str]:  # type: ignore[type-arg]
    """The addresses of these responses that hold an 18-digit ID number (none, in a good flow)."""
    return [url for response in responses for url in urls_of(response) if ID_NUMBER.search(url)]


def searched(client, url: str, query: str, **fields: str):  # type: ignore[no-untyped-def]
    """A page's search as its form sends it (POSTed, with its other ``fields``), then the page its
    redirect opens: the address holds a key (``?search=``), never what was typed."""
    posted = client.post(url, {"q": query, **fields})
    assert posted.status_code == 302
    assert re.fullmatch(re.escape(url) + SEARCH_ADDRESS, posted["Location"])
    return client.get(posted["Location"])


def record_addresses(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every address a real browser page passes through from now on: each request's URL and its
    Referer header, each response's Location header (a list that grows as the page goes)."""
    seen: list[str] = []

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        seen.append(request.url)
        if request.headers.get("referer"):
            seen.append(request.headers["referer"])

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.headers.get("location"):
            seen.append(response.headers["location"])

    page.on("request", on_request)
    page.on("response", on_response)
    return seen


class KeptResponses(list):  # type: ignore[type-arg]
    """The responses of a flow, kept as it goes (``keep`` passes each through) for one scan at the end."""

    def keep(self, response):  # type: ignore[no-untyped-def]
        self.append(response)
        return response
