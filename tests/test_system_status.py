"""The administrator's system status page names the overall state in the page's language."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts import health
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def _report(status: str) -> dict[str, Any]:
    up = {"ok": True, "detail": ""}
    return {
        "status": status,
        "checks": {
            "database": up,
            "redis": up,
            "workers": {"ok": True, "count": 1, "names": ["w"], "detail": "w"},
            "beat": {"ok": True, "last_seconds_ago": 1.0, "detail": ""},
        },
    }


@pytest.mark.parametrize(("status", "said"), [("ok", "正常"), ("degraded", "部分异常"), ("down", "不可用")])
def test_given_the_chinese_ui_then_the_overall_status_is_named_in_chinese(
    world, client, monkeypatch, status, said
):
    monkeypatch.setattr(health, "report", lambda: _report(status))
    client.force_login(world.user_for(Role.ADMINISTRATOR))

    page = client.get(reverse("system-status")).content.decode()

    assert f'data-testid="overall-status" data-status="{status}">{said}</span>' in page
