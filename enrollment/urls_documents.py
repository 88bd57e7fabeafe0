"""Routes of enrollment.views.documents (included by enrollment/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
