"""The pager of every paged list links to the next and previous pages with the list's filters kept."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.test import RequestFactory


def _pager(query: dict[str, str], number: int) -> str:
    request = RequestFactory().get("/list/", query)
    page = Paginator(range(250), 100).get_page(number)
    return render_to_string("_pager.html", {"page": page}, request=request)


def test_given_a_filtered_list_when_on_a_middle_page_then_both_links_keep_the_filters():
    html = _pager({"status": "pending", "overdue": "1", "page": "2"}, 2)

    assert 'href="?status=pending&amp;overdue=1&amp;page=1" rel="prev"' in html
    assert 'href="?status=pending&amp;overdue=1&amp;page=3" rel="next"' in html


def test_given_a_filter_with_spaces_and_ampersands_then_it_is_encoded_in_the_links():
    html = _pager({"q": "张 & 李"}, 1)

    assert 'href="?q=%E5%BC%A0+%26+%E6%9D%8E&amp;page=2" rel="next"' in html
    assert 'rel="prev"' not in html


def test_given_a_list_of_one_page_then_no_pager_is_shown():
    request = RequestFactory().get("/list/")
    page = Paginator(range(5), 100).get_page(1)

    assert render_to_string("_pager.html", {"page": page}, request=request).strip() == ""
