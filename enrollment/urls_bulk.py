"""Routes of enrollment.views.bulk (included by enrollment/urls.py)."""

from django.urls import path

from .views import bulk

urlpatterns: list = [
    path("duplicates/", bulk.DuplicateQueueView.as_view(), name="duplicate-queue"),
    path("duplicates/<int:pk>/", bulk.DuplicateDetailView.as_view(), name="duplicate-detail"),
    path("imports/employee-insurance/", bulk.EmployeeImportView.as_view(), name="employee-import"),
    path("imports/households/", bulk.HouseholdImportView.as_view(), name="household-import"),
    path("imports/household-register/", bulk.RegisterImportView.as_view(), name="register-import"),
    path("imports/template.xlsx", bulk.ImportTemplateView.as_view(), name="import-template"),
    path("imports/<int:pk>/", bulk.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/progress.json", bulk.ImportProgressView.as_view(), name="import-progress"),
    path("imports/<int:pk>/confirm/", bulk.ImportConfirmView.as_view(), name="import-confirm"),
    path("imports/<int:pk>/report.xlsx", bulk.ImportReportView.as_view(), name="import-errors"),
]
