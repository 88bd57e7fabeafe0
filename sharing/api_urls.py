"""API routes of the sharing platform, included under /api/sharing/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api


class Router(DefaultRouter):
    include_root_view = False


router = Router()
router.register("dead-letters", api.DeadLetterViewSet, basename="sharing-dead-letter")

urlpatterns = [
    path("monitor/", api.MonitorApiView.as_view(), name="sharing-monitor"),
    path("reconciliation/", api.ReconciliationReportListView.as_view(), name="sharing-reconciliation-list"),
    path(
        "reconciliation/differences/",
        api.ReconciliationDifferenceListView.as_view(),
        name="sharing-reconciliation-differences",
    ),
    path("", include(router.urls)),
]
