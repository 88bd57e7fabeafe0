"""Embedded servers, `manage.py` with no configuration, and the health endpoint with a real worker and beat."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.urls import reverse

from config import embedded
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="DATABASE_URL points at an external server")
def test_given_no_database_url_then_django_uses_the_embedded_postgresql_under_var(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    assert connection.settings_dict["HOST"] == embedded.ensure_postgres().socket_dir
    assert version.startswith("18.")


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="REDIS_URL points at an external server")
def test_given_no_redis_url_then_celery_uses_the_embedded_redis():
    assert settings.CELERY_BROKER_URL.startswith(f"redis://127.0.0.1:{embedded.REDIS.port()}/")
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).ping() is True


def test_given_a_private_redis_when_restarted_then_queued_data_survives(tmp_path):
    server = embedded.RedisServer(tmp_path / "redis")
    server.ensure()
    client = redis.Redis.from_url(server.url(0))
    client.rpush("queue", "message-1")
    client.execute_command("BGREWRITEAOF")
    time.sleep(0.5)
    try:
        assert server.stop() is True
        assert server.running() is False
        server.ensure()
        assert redis.Redis.from_url(server.url(0)).lrange("queue", 0, -1) == [b"message-1"]
    finally:
        server.stop()


def test_given_no_configuration_when_a_manage_command_runs_then_it_just_works():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "showmigrations", "accounts"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # showmigrations reads django_migrations: it reached the embedded database ([X] once migrated).
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] in (
        ["accounts", " [X] 0001_initial"],
        ["accounts", " [ ] 0001_initial"],
    )


def test_given_the_database_and_redis_up_but_no_worker_then_health_is_degraded(db, client):
    response = client.get(reverse("health"))
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["checks"]["database"]["ok"], body["checks"]["redis"]["ok"]) == (
        "degraded",
        True,
        True,
    )
    assert body["checks"]["workers"]["count"] == 0


def test_given_health_polled_then_it_stops_at_the_first_worker_and_the_system_page_asks_them_all(
    db, client, world, monkeypatch
):
    from celery import current_app

    asked: list[object] = []

    def ping(timeout: float, limit: int | None = None) -> list[dict]:
        asked.append(limit)
        return [{"w1@host": {"ok": "pong"}}]

    monkeypatch.setattr(current_app.control, "ping", ping)
    client.get(reverse("health"))
    client.force_login(world.users["admin"])
    client.get(reverse("system-status"))

    assert asked == [1, None]


@pytest.mark.slow
def test_given_a_real_worker_and_beat_when_health_is_asked_then_everything_is_ok(
    transactional_db, client, tmp_path
):
    env = subprocess_env(PORTAL_HEARTBEAT_SECONDS="1")
    celery = str(Path(sys.executable).parent / "celery")
    worker = subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "worker",
            "--concurrency",
            "1",
            "--hostname",
            "health-test@%h",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    beat = subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "beat",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        body: dict = {}
        while time.monotonic() < deadline:
            body = json.loads(client.get(reverse("health")).content)
            if body["status"] == "ok":
                break
            time.sleep(0.5)
        assert body["status"] == "ok", body
        assert body["checks"]["workers"]["names"] == [f"health-test@{os.uname().nodename}"]
        assert body["checks"]["beat"]["last_seconds_ago"] < 5
    finally:
        for process in (worker, beat):
            process.terminate()
        for process in (worker, beat):
            process.wait(timeout=30)
