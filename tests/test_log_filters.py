"""The server's log: a refused request is one line; a server error keeps its traceback."""

from __future__ import annotations

import logging
import sys

import pytest
from django.urls import reverse

from accounts.log_filters import ClientErrorsWithoutTraceback
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_given_a_clerk_refused_a_page_then_one_line_is_logged_without_traceback(world, client, caplog):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("collection:counter"))

    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == f"Forbidden (Permission denied): {reverse('collection:counter')}"
    assert record.exc_info is None


def _record(status: int) -> logging.LogRecord:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), info)
    record.status_code = status
    return record


def test_given_a_forbidden_request_then_the_filter_drops_its_traceback_and_keeps_the_line():
    record = _record(403)

    assert ClientErrorsWithoutTraceback().filter(record) is True
    assert record.exc_info is None


def test_given_a_server_error_then_the_filter_keeps_its_traceback():
    record = _record(500)

    assert ClientErrorsWithoutTraceback().filter(record) is True
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
