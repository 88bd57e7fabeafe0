"""Project configuration: settings, URLs, Celery application, embedded servers."""

from .celery import app as celery_app

__all__ = ["celery_app"]
