"""The portal's URLs plus the database-free endpoint ``bench payments`` compares with (bench settings only)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from accounts.access import public_view
from config.urls import urlpatterns as portal_urlpatterns


def ping(request: HttpRequest) -> JsonResponse:
    """The same server, middleware and JSON, no database: the ceiling a request can reach here."""
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/ping/", public_view(ping), name="bench-ping"), *portal_urlpatterns]
