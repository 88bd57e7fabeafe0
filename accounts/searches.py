"""Searches kept in the session under a random key: what was typed never reaches an address.

Why: a page's search box takes resident ID numbers (and names, which with a village are personal
data too). An address is not private: proxies and servers log it (nginx logs the query string by
default), the browser keeps it in the history of a clerk's shared PC, and the next request sends
it along in the Referer header. So a browser page's search form is POSTed; the view keeps the
query in the session under a random key and answers with a redirect to ``?search=<key>``
(post/redirect/get: reload and the back button show the results again, and other parameters such
as ``page`` ride along). A key means something only to the session that made it: another user, a
new sign-in, or a key pushed out by newer searches (each page keeps its newest ``KEPT``) finds
nothing, and the page asks to search again (``Recalled.notice``).

Names go the same way as identifiers: one search box, one path. A list paged by a keyset whose
cursor holds an identifier (the follow-up lists ordered by ID number) keeps its cursors the same
way, under another parameter (``param="after"``). The JSON API keeps its ``?q=`` (an API client's
contract, not an address a browser keeps).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponseRedirect
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

# The address's parameter that carries a search's key.
PARAM = "search"
# How many searches each page keeps per session (the newest); a paged list keeps more cursors,
# so the back button walks back through that many pages.
KEPT = 20
PAGES_KEPT = 50
# A key is 12 URL-safe characters (72 random bits).
KEY_BYTES = 9
# What a page says when its address holds a key this session does not keep.
SEARCH_NOT_KEPT = gettext_lazy("That search is no longer kept. Search again.")
PAGE_NOT_KEPT = gettext_lazy(
    "That page of the list is no longer kept; the list starts again from its first page."
)


@dataclass(frozen=True)
class Recalled:
    """What a page's address asked for: the ``query`` kept under its key ("" when the address
    holds no key or this session does not keep it) and the ``key`` itself; ``stale`` when the
    address holds a key this session does not keep."""

    query: str
    key: str
    stale: bool
    stale_message: str | Promise = field(default=SEARCH_NOT_KEPT, compare=False, repr=False)

    @property
    def notice(self) -> str:
        """The message for a stale key, in the current language ("" otherwise)."""
        return str(self.stale_message) if self.stale else ""


class SessionSearches:
    """One page's searches in the session, by key; ``name`` keeps each page's apart, ``param`` is
    the address's parameter that carries the key.

    ``keep`` stores a query and returns its new key; ``address`` and ``redirect`` give the page's
    address for it; ``recall`` reads the key of the current address back.
    """

    def __init__(
        self,
        name: str,
        *,
        kept: int = KEPT,
        param: str = PARAM,
        stale_message: str | Promise = SEARCH_NOT_KEPT,
    ) -> None:
        self.session_key = f"{name}.searches"
        self.kept = kept
        self.param = param
        self.stale_message = stale_message

    def keep(self, request: HttpRequest, query: str) -> str:
        """Keep ``query`` in this session under a new random key (dropping the oldest beyond
        ``kept``) and return the key."""
        kept: dict[str, str] = dict(request.session.get(self.session_key, {}))
        key = secrets.token_urlsafe(KEY_BYTES)
        kept[key] = query
        request.session[self.session_key] = dict(list(kept.items())[-self.kept :])
        return key

    def query_of(self, request: HttpRequest, key: str) -> str | None:
        """The query this session keeps under ``key`` (None: not kept here)."""
        kept = request.session.get(self.session_key, {})
        query = kept.get(key) if isinstance(kept, dict) else None
        return query if isinstance(query, str) else None

    def recall(self, request: HttpRequest) -> Recalled:
        """The search the current address asks for by its key (``?search=`` unless told otherwise)."""
        key = request.GET.get(self.param, "")
        if not key:
            return Recalled(query="", key="", stale=False)
        query = self.query_of(request, key)
        if query is None:
            return Recalled(query="", key="", stale=True, stale_message=self.stale_message)
        return Recalled(query=query, key=key, stale=False)

    def address(self, request: HttpRequest, url: str, query: str, **params: str | int) -> str:
        """``url?search=<key of query>`` (and ``params``): the query itself is kept in the session."""
        return f"{url}?{urlencode({self.param: self.keep(request, query), **params})}"

    def redirect(
        self, request: HttpRequest, url: str, query: str, **params: str | int
    ) -> HttpResponseRedirect:
        """The POST's answer: a redirect to the page's address for ``query``."""
        return HttpResponseRedirect(self.address(request, url, query, **params))
