"""``bench payments``: the development settings with DEBUG off (no query log, as in service) and the
benchmark's database-free endpoint routed beside the portal's (``bench.urls``). Never deployed."""

from .dev import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
# One gunicorn worker per core measures the server, not the logger.
LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"], "portal": {"level": "WARNING"}}}  # noqa: F405
