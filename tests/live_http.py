"""Many HTTP clients at once against the portal's real server: ``http_server`` starts gunicorn (the
production server, ``Dockerfile``) on this test's database — two worker processes of 64 threads each,
so a hundred requests are served at the same moment, each thread with its own database connection
and real commits — once per test session (transactional tests empty the tables between tests; the
server's idle connections hold no lock). A test module imports ``http_server_fixture`` and asks for
``http_server`` (the base URL).

Each client is a thread with a connection of its own per request (``http.client``: nothing is
shared between clients but the server), released together by a barrier.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(name="http_server", scope="session")
def http_server_fixture(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL of gunicorn serving the portal on the test database, for the whole test session
    (of this xdist worker). Its log is in the session's temporary directory (pytest keeps the last
    few runs'), not left behind in the project."""
    with django_db_blocker.unblock():
        env = subprocess_env()
    port = _free_port()
    log = open(tmp_path_factory.mktemp("gunicorn") / "gunicorn.log", "ab")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "--config", "python:config.gunicorn",
         "--worker-class", "gthread", "--workers", "2", "--threads", "64", "--bind", f"127.0.0.1:{port}", "--backlog", "2048",
         "--log-level", "warning", "--timeout", "120"],
        cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/api/me/")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start; see {log.name}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> str:
        """The API's error message (``{"error": {"message": …}}``), or ""."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message", ""))
        return ""


class ApiClient:
    """One user's HTTP client of the JSON API, signed in with an API token, in English."""

    def __init__(self, base_url: str, user: Any) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = Token.objects.get_or_create(user=user)[0].key

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(
                method,
                path,
                body=payload,
                headers={
                    "Authorization": f"Token {self.token}",
                    "Accept": "application/json",
                    "Accept-Language": "en",
                    **({"Content-Type": "application/json"} if payload is not None else {}),
                    **(headers or {}),
                },
            )
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(response.status, parsed)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, {} if body is None else body, headers)


def at_once(calls: Sequence[Callable[[], Any]], *, clients: int | None = None) -> list[Any]:
    """Run the calls on ``clients`` threads (default: one each), all released by one barrier;
    the answers in the calls' order."""
    workers = clients or len(calls)
    start = threading.Barrier(workers)

    def first(call: Callable[[], Any]) -> Any:
        start.wait(60)
        return call()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each thread's first call waits at the barrier; the rest follow as threads free up.
        head = [pool.submit(first, call) for call in calls[:workers]]
        tail = [pool.submit(call) for call in calls[workers:]]
        return [future.result() for future in [*head, *tail]]
