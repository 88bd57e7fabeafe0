"""Routes of the rulebook, yearly-assessment and coverage pages (included by enrollment/urls.py)."""

from django.urls import path

from .views import assessment_pages, coverage, rulebook

urlpatterns: list = [
    path("rulebook/", rulebook.PolicyListView.as_view(), name="policy-list"),
    path("rulebook/new/", rulebook.PolicyNewView.as_view(), name="policy-new"),
    path("rulebook/import/", rulebook.PolicyImportView.as_view(), name="policy-import"),
    path("rulebook/<str:code>/", rulebook.PolicyDetailView.as_view(), name="policy-detail"),
    path("rulebook/<str:code>/edit/", rulebook.PolicyEditView.as_view(), name="policy-edit"),
    path("rulebook/<str:code>/extend/", rulebook.PolicyExtendView.as_view(), name="policy-extend"),
    path("rulebook/<str:code>/download/", rulebook.PolicyDownloadView.as_view(), name="policy-download"),
    path(
        "rulebook/<str:code>/versions/<int:number>/",
        rulebook.PolicyVersionView.as_view(),
        name="policy-version",
    ),
    path("assessment/", assessment_pages.AssessmentRunsView.as_view(), name="assessment-runs"),
    path("assessment/start/", assessment_pages.AssessmentStartView.as_view(), name="assessment-start"),
    path("assessment/runs/<int:pk>/", assessment_pages.AssessmentRunView.as_view(), name="assessment-run"),
    path(
        "assessment/runs/<int:pk>/progress.json",
        assessment_pages.AssessmentRunProgressView.as_view(),
        name="assessment-run-progress",
    ),
    path(
        "assessment/<str:county>/<int:year>/",
        assessment_pages.AssessmentListView.as_view(),
        name="assessment-list",
    ),
    path("coverage/", coverage.CoverageCheckView.as_view(), name="coverage-check"),
]
