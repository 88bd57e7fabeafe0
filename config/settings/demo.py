"""The demo that ``scripts/portal.py run`` serves: like a deployment, on one machine.

DEBUG is off, so visitors get the portal's own 403/404/500 pages (never Django's technical page
with settings and paths), and static files are the collected, hashed ones WhiteNoise serves from
STATIC_ROOT, as in production (government networks have no internet). What stays local: plain
HTTP, the generated secret under var/, and the demo data with its logins (``PORTAL_DEMO``).
"""

import ipaddress
import os

from .dev import *  # noqa: F403
from .dev import ALLOWED_HOSTS, STORAGES

DEBUG = False
PORTAL_DEMO = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}


def _bound_host(host: str) -> list[str]:
    """The Host header a browser sends for the address gunicorn binds (PORTAL_HOST). A wildcard
    (0.0.0.0, ::) has no one name: DJANGO_ALLOWED_HOSTS names the ones people use."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if not host:
        return []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return [host]  # a name
    if address.is_unspecified:
        return []
    return [f"[{host}]" if address.version == 6 else host]  # IPv6 as it appears in a URL


ALLOWED_HOSTS = list(dict.fromkeys([*ALLOWED_HOSTS, *_bound_host(os.environ.get("PORTAL_HOST", ""))]))
