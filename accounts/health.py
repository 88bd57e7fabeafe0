"""Health of the database, Redis, the Celery workers and beat."""

from __future__ import annotations

import functools
import time
from typing import Any

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = "portal:beat-heartbeat"
BEAT_STALE_AFTER_S = 120


def broker_redis() -> redis.Redis:
    """A client of the broker's Redis, one per process and broker address (its pool reconnects
    after a fork)."""
    return _client_for(settings.CELERY_BROKER_URL)


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def record_heartbeat(at: float) -> None:
    broker_redis().set(HEARTBEAT_KEY, str(at), ex=3600)


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    except Exception as error:
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True, "detail": f"{version} · {(time.perf_counter() - started) * 1000:.1f} ms"}


def check_redis() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        client = broker_redis()
        client.ping()
        version = client.info("server").get("redis_version")
    except Exception as error:
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True, "detail": f"{version} · {(time.perf_counter() - started) * 1000:.1f} ms"}


def check_workers(timeout: float = 1.0, *, first_only: bool = False) -> dict[str, Any]:
    """The workers that answer a ping within ``timeout``. A broadcast ping waits the whole timeout
    for answers; ``first_only`` returns at the first answer (a worker is up), which a load
    balancer polling /health/ wants, not the full list the system page shows."""
    from celery import current_app as app

    try:
        replies = app.control.ping(timeout=timeout, limit=1 if first_only else None) or []
    except Exception as error:
        return {"ok": False, "count": 0, "names": [], "detail": type(error).__name__}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "count": len(names), "names": names, "detail": ", ".join(names)}


def check_beat() -> dict[str, Any]:
    try:
        raw = broker_redis().get(HEARTBEAT_KEY)
    except Exception as error:
        return {"ok": False, "last_seconds_ago": None, "detail": type(error).__name__}
    if raw is None:
        return {"ok": False, "last_seconds_ago": None, "detail": ""}
    age = time.time() - float(raw)
    return {"ok": age < BEAT_STALE_AFTER_S, "last_seconds_ago": round(age, 1), "detail": ""}


def report(*, first_worker_only: bool = False) -> dict[str, Any]:
    checks = {
        "database": check_database(),
        "redis": check_redis(),
        "workers": check_workers(first_only=first_worker_only),
        "beat": check_beat(),
    }
    # The portal serves pages when the database and Redis answer; workers and beat are reported.
    status = (
        "ok"
        if all(checks[name]["ok"] for name in checks)
        else ("degraded" if checks["database"]["ok"] and checks["redis"]["ok"] else "down")
    )
    return {"status": status, "checks": checks}
