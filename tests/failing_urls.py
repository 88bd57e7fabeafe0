"""The portal's URLs plus one page that fails, for the tests of the server-error page (500)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from accounts.access import public_view
from config import urls as portal_urls

handler400 = portal_urls.handler400
handler403 = portal_urls.handler403
handler404 = portal_urls.handler404
handler500 = portal_urls.handler500


@public_view
def failing_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a failure inside a page")


@public_view
def failing_api(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a failure inside the API")


urlpatterns = [
    path("failing/", failing_page, name="failing-page"),
    path("api/failing/", failing_api, name="failing-api"),
    *portal_urls.urlpatterns,
]
