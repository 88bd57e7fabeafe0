"""Tests: real PostgreSQL and Redis; each xdist worker gets its own Redis databases."""

import os

from config import embedded

from .dev import *  # noqa: F403

# gw0 -> databases 10/11, gw1 -> 12/13 ...; the dev portal keeps 0/1 to itself.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
REDIS_DB_OFFSET = 10 + 2 * int(_worker.removeprefix("gw") or 0)
CELERY_BROKER_URL = os.environ.get("PORTAL_BROKER_URL") or embedded.redis_url(REDIS_DB_OFFSET)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": embedded.redis_url(REDIS_DB_OFFSET + 1),
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
MEDIA_ROOT = VAR_DIR / f"test-media-{_worker}"  # noqa: F405
# WhiteNoise looks for STATIC_ROOT at start-up; tests serve from the finders instead.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# A commit nudges delivery at once, in the committing thread: tests count the nudges as they commit
# (the per-process nudger thread has its own tests).
SHARING = {**SHARING, "NUDGE_INTERVAL_SECONDS": 0}  # noqa: F405
