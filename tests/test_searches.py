"""The session-kept searches (accounts.searches): a key in the address, the query in the session."""

from __future__ import annotations

import re

from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory
from django.utils import translation

from accounts.searches import KEPT, PAGE_NOT_KEPT, PAGES_KEPT, Recalled, SessionSearches

KEY = re.compile(r"[A-Za-z0-9_-]{12}")


def _request(path: str = "/", session: SessionStore | None = None):  # type: ignore[no-untyped-def]
    request = RequestFactory().get(path)
    request.session = session if session is not None else SessionStore()
    return request


def test_given_a_kept_search_when_its_address_is_opened_in_the_same_session_then_the_query_comes_back():
    searches = SessionSearches("test.page")
    posted = _request()

    address = searches.address(posted, "/page/", "141002198001010011")

    match = re.fullmatch(r"/page/\?search=([A-Za-z0-9_-]{12})", address)
    assert match is not None
    recalled = searches.recall(_request(address, posted.session))
    assert recalled == Recalled(query="141002198001010011", key=match.group(1), stale=False)
    assert recalled.notice == ""


def test_given_other_parameters_then_they_ride_along_after_the_key():
    searches = SessionSearches("test.page")
    request = _request()

    response = searches.redirect(request, "/page/", "张三", page=2)

    assert response.status_code == 302
    assert re.fullmatch(r"/page/\?search=[A-Za-z0-9_-]{12}&page=2", response["Location"])


def test_given_a_key_of_another_session_then_nothing_comes_back_and_the_page_is_told_to_search_again():
    searches = SessionSearches("test.page")
    address = searches.address(_request(), "/page/", "张三")

    recalled = searches.recall(_request(address, SessionStore()))

    assert recalled == Recalled(query="", key="", stale=True)
    with translation.override("en"):
        assert recalled.notice == "That search is no longer kept. Search again."
    with translation.override("zh-hans"):
        assert recalled.notice == "这次查询已不再保留，请重新查询。"


def test_given_more_searches_than_kept_then_the_oldest_goes_and_the_newest_stay():
    searches = SessionSearches("test.page")
    request = _request()
    keys = [searches.keep(request, f"张{index}") for index in range(KEPT + 1)]

    assert KEPT == 20
    assert searches.query_of(request, keys[0]) is None
    assert [searches.query_of(request, key) for key in keys[1:]] == [f"张{index}" for index in range(1, 21)]
    assert all(KEY.fullmatch(key) for key in keys) and len(set(keys)) == 21


def test_given_two_pages_then_each_keeps_its_own_searches():
    counter, workspace = SessionSearches("test.counter"), SessionSearches("test.workspace")
    request = _request()
    key = counter.keep(request, "张三")

    assert (counter.query_of(request, key), workspace.query_of(request, key)) == ("张三", None)
    assert sorted(request.session.keys()) == ["test.counter.searches"]


def test_given_an_address_without_a_key_then_nothing_was_asked_and_nothing_is_stale():
    assert SessionSearches("test.page").recall(_request("/page/?page=2")) == Recalled(
        query="", key="", stale=False
    )


def test_given_a_paged_lists_cursor_store_then_its_key_rides_under_its_own_parameter_and_a_stale_one_restarts():
    pages = SessionSearches("test.list", kept=PAGES_KEPT, param="after", stale_message=PAGE_NOT_KEPT)
    request = _request()

    address = pages.address(request, "/list/", "141002100201:141002198001010011", year=2027)

    assert re.fullmatch(r"/list/\?after=[A-Za-z0-9_-]{12}&year=2027", address)
    assert pages.recall(_request(address, request.session)).query == "141002100201:141002198001010011"
    stale = pages.recall(_request("/list/?after=141002100201:141002198001010011"))
    assert (stale.query, stale.stale, PAGES_KEPT) == ("", True, 50)
    with translation.override("en"):
        assert (
            stale.notice
            == "That page of the list is no longer kept; the list starts again from its first page."
        )
