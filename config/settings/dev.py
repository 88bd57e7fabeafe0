"""Local development: DEBUG on, a generated secret kept under var/, the demo data allowed.

The demo that `scripts/portal.py run` serves uses ``config.settings.demo`` (DEBUG off)."""

import os
import secrets

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
PORTAL_DEMO = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *ALLOWED_HOSTS]  # noqa: F405


def _local_secret() -> str:
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    # Not a committed secret: generated once per machine for development only.
    path = VAR_DIR / "dev-secret-key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _local_secret()
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}}  # noqa: F405
