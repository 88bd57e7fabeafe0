"""Routes of enrollment.views.review (included by enrollment/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
