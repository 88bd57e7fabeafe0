"""The demo's settings (config/settings/demo.py, what `scripts/portal.py run` serves): DEBUG off like a
deployment, static files collected and served by the portal, hosts for its address, and the demo
flag that lets the demo commands load their logins, which production never has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "PORTAL_DEMO": settings.PORTAL_DEMO,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "static": settings.STORAGES["staticfiles"]["BACKEND"],
    "whitenoise": "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE,
}))
"""


def _settings_of(module: str, **env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_HOST"))}
    base.update(DJANGO_SETTINGS_MODULE=module, **env)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + PROBE],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_given_the_demo_settings_then_debug_is_off_the_demo_flag_on_and_static_files_are_the_portals():
    assert _settings_of("config.settings.demo") == {
        "DEBUG": False,
        "PORTAL_DEMO": True,
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "[::1]"],
        "static": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "whitenoise": True,
    }


@pytest.mark.parametrize(
    ("portal_host", "added"),
    [("10.12.0.7", ["10.12.0.7"]), ("ybj-demo.local", ["ybj-demo.local"]), ("fd00::7", ["[fd00::7]"]),
     ("0.0.0.0", []), ("::", [])],  # noqa: S104 - the address gunicorn would bind, not one bound here
)  # fmt: skip
def test_given_portal_host_then_the_demo_allows_that_host_besides_the_local_ones(portal_host, added):
    hosts = _settings_of("config.settings.demo", PORTAL_HOST=portal_host)["ALLOWED_HOSTS"]
    assert hosts == ["127.0.0.1", "localhost", "[::1]", *added]


def test_given_the_production_settings_then_the_demo_flag_is_off():
    env = {
        "DJANGO_SECRET_KEY": "k" * 60,
        "DJANGO_ALLOWED_HOSTS": "ybj.linfen.gov.cn",
        "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
        "REDIS_URL": "redis://redis.internal:6379/0",
    }
    found = _settings_of("config.settings.production", **env)
    assert (found["DEBUG"], found["PORTAL_DEMO"], found["ALLOWED_HOSTS"]) == (
        False,
        False,
        ["ybj.linfen.gov.cn"],
    )


def test_given_the_run_command_then_it_serves_the_demo_settings():
    source = (ROOT / "scripts" / "portal.py").read_text()
    assert 'env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.demo")' in source
