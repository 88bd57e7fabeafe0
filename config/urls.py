"""Every URL of the portal. Each view declares its action or is explicitly public (see accounts.access)."""

from typing import Any, ClassVar

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from django.views.i18n import set_language
from drf_spectacular.plumbing import set_query_parameters
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import APIRootView, DefaultRouter

from accounts import api as accounts_api
from accounts import views as accounts_views
from accounts.access import public_view
from accounts.api_permissions import actions_declared_by
from accounts.roles import Action
from accounts.scope import scope_of
from collection import api as collection_api
from collection import views as collection_views
from enrollment import api as enrollment_api
from refunds import api as refunds_api
from refunds import api_backpay as back_payments_api
from refunds.finance import api as finance_api

admin.site.site_header = _("Resident medical insurance portal · administration")
admin.site.site_title = _("Portal administration")
admin.site.index_title = _("Administration")


class SchemaView(SpectacularAPIView):
    required_action = Action.API_DOCS_VIEW


class DocsView(SpectacularSwaggerSplitView):
    required_action = Action.API_DOCS_VIEW

    def _get_schema_url(self, request: Request) -> str:
        # The page is in the portal's language (PortalLocaleMiddleware); the schema it loads would
        # otherwise follow the browser's Accept-Language, as an API client's call does, and an
        # English browser would title a Chinese page in English. ``?lang=`` given still wins.
        url = super()._get_schema_url(request)
        if request.GET.get("lang"):
            return url
        return set_query_parameters(url=url, lang=translation.get_language())


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico; point them at the hashed static file, resolved per request."""

    permanent = False

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("img/favicon.svg")


class ApiRootView(APIRootView):
    """Lists the API's collections the caller's role may use; the schema and its documentation are
    at schema/ and docs/."""

    required_action = Action.PORTAL_USE
    # Each listed collection's viewset, by its prefix (``ApiRootRouter.get_api_root_view``).
    viewsets: ClassVar[dict[str, type]] = {}

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scope = scope_of(request)
        self.api_root_dict = {
            prefix: name
            for prefix, name in self.api_root_dict.items()
            if any(scope.allows(action) for action in actions_declared_by(self.viewsets[prefix]))
        }
        return super().get(request, *args, **kwargs)


class ApiRootRouter(DefaultRouter):
    """Records looked up by their numeric id only match digits: ``/api/refunds/abc/`` is a 404 for
    an unknown address, never a server error in a view that reads the id as a number."""

    APIRootView = ApiRootView

    def get_api_root_view(self, api_urls: Any = None) -> Any:
        list_name = self.routes[0].name
        return self.APIRootView.as_view(
            api_root_dict={
                prefix: list_name.format(basename=basename) for prefix, _v, basename in self.registry
            },
            viewsets={prefix: viewset for prefix, viewset, _b in self.registry},
        )

    def get_lookup_regex(self, viewset: type, lookup_prefix: str = "") -> str:
        if getattr(viewset, "lookup_field", "pk") == "pk" and not hasattr(viewset, "lookup_value_regex"):
            return f"(?P<{lookup_prefix}{getattr(viewset, 'lookup_url_kwarg', None) or 'pk'}>[0-9]+)"
        return super().get_lookup_regex(viewset, lookup_prefix)


router = ApiRootRouter()
# Django tries the patterns in order, and the router makes over a hundred: the tax counter's
# endpoints, called for every payment, come first (a payment's address was resolved after about
# eighty other patterns, a quarter of a millisecond each time).
router.register("collection/payments", collection_api.PaymentViewSet, basename="collection-payment")
router.register("collection/payers", collection_api.PayerViewSet, basename="collection-payer")
router.register("collection/due-items", collection_api.DueItemViewSet, basename="collection-due-item")
router.register("regions", accounts_api.RegionViewSet, basename="region")
router.register("agencies", accounts_api.AgencyViewSet, basename="agency")
router.register("users", accounts_api.UserViewSet, basename="user")
router.register("households", enrollment_api.HouseholdViewSet, basename="household")
router.register("persons", enrollment_api.PersonViewSet, basename="person")
router.register("enrollments", enrollment_api.EnrollmentViewSet, basename="enrollment")
router.register("applications", enrollment_api.ApplicationViewSet, basename="application")
router.register("transfers", enrollment_api.TransferViewSet, basename="transfer")
router.register(
    "collection/overcollections", collection_api.OvercollectionViewSet, basename="collection-overcollection"
)
router.register("overcollections", refunds_api.OvercollectionRefundViewSet, basename="overcollection")
router.register("fund-plans", refunds_api.FundPlanViewSet, basename="fund-plan")
router.register("finance/plans", finance_api.PlanViewSet, basename="finance-plan")
router.register("refunds", refunds_api.RefundViewSet, basename="refund")
router.register("back-payments", back_payments_api.BackPaymentViewSet, basename="back-payment")

api_patterns = [
    path("", include(router.urls)),
    path("", include("enrollment.api_rulebook")),
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("sharing/", include("sharing.api_urls")),
    path("auth/token/", accounts_api.TokenLoginView.as_view(), name="token-login"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    # First: the API's clients call it far more often than people open pages.
    path("api/", include(api_patterns)),
    path("", accounts_views.HomeView.as_view(), name="home"),
    path("", include("accounts.urls")),
    path("enrollment/", include("enrollment.urls")),
    path("subsidies/", include("subsidies.urls")),
    path("collection/", include("collection.urls")),
    path("refunds/", include("refunds.urls")),
    path("finance/", include("refunds.finance.urls")),
    path("system/", accounts_views.SystemStatusView.as_view(), name="system-status"),
    path("health/", accounts_views.health_endpoint, name="health"),
    path("favicon.ico", public_view(FaviconView.as_view()), name="favicon"),
    path("i18n/setlang/", public_view(set_language), name="set_language"),
    # Anyone shown a payment certificate checks its code here, without an account.
    path("verify/", collection_views.certificate_verify, name="certificate-verify"),
    path("sharing/", include("sharing.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "accounts.views.bad_request"
handler403 = "accounts.views.permission_denied"
handler404 = "accounts.views.page_not_found"
handler500 = "accounts.views.server_error"
