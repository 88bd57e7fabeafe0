"""Routes of enrollment.views.reports (included by enrollment/urls.py, namespace ``enrollment``)."""

from django.urls import path

from .views import reports

urlpatterns = [
    path("reports/coverage/", reports.CoverageReportView.as_view(), name="report-coverage"),
    path("reports/coverage.xlsx", reports.CoverageXlsxView.as_view(), name="report-coverage-xlsx"),
    path("reports/unenrolled/", reports.UnenrolledListView.as_view(), name="report-unenrolled"),
    path("reports/unpaid/", reports.UnpaidListView.as_view(), name="report-unpaid"),
]
