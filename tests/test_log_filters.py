"""The server's log: a refused request is one line; a server error keeps its traceback."""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.log_filters import ClientErrorsWithoutTraceback
from accounts.roles import Role
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parent.parent

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


def _served(tmp_path: Path, port: int, access_log: Path) -> subprocess.Popen[bytes]:
    """gunicorn as the portal is served (``--config python:config.gunicorn``), its home in ``tmp_path``."""
    env = {
        key: value for key, value in subprocess_env(HOME=str(tmp_path)).items() if key != "XDG_RUNTIME_DIR"
    }
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application", "--config",
         "python:config.gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(access_log)],
        cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def test_given_the_served_portal_when_an_api_search_names_an_id_number_then_the_access_log_does_not(tmp_path):
    access_log = tmp_path / "access.log"
    port = _free_port()
    server = _served(tmp_path, port, access_log)
    try:
        status = _get_when_up(
            port,
            "/api/collection/payers/?q=141002199001010011",
            {"Referer": "http://portal/enrollment/households/?q=141002199001010011"},
        )
        deadline = time.monotonic() + 10
        while (not access_log.exists() or not access_log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    [line] = access_log.read_text().splitlines()
    assert f'"GET /api/collection/payers/ HTTP/1.1" {status} ' in line
    assert "141002199001010011" not in line
    assert "enrollment" not in line


def test_given_the_served_portal_then_it_opens_no_control_socket_another_server_could_take(tmp_path):
    port = _free_port()
    server = _served(tmp_path, port, tmp_path / "access.log")
    try:
        status = _get_when_up(port, "/health/", {})
        home = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert status == 200
    assert ".gunicorn" not in {part for path in home for part in Path(path).parts}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_when_up(port: int, path: str, headers: dict[str, str]) -> int:
    """The status of GET ``path``, once the server answers (within 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers=headers)
            status = connection.getresponse().status
            connection.close()
            return status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
