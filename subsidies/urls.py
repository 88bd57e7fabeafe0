"""Routes of the subsidies pages (included by config/urls.py under /subsidies/)."""

from django.urls import path

from . import views

app_name = "subsidies"

urlpatterns: list = [
    path("rosters/", views.RosterUploadView.as_view(), name="roster-upload"),
    path("rosters/template.xlsx", views.RosterTemplateView.as_view(), name="roster-template"),
    path("rosters/imports/<int:pk>/", views.RosterImportView.as_view(), name="roster-import"),
    path(
        "rosters/imports/<int:pk>/progress.json",
        views.RosterImportProgressView.as_view(),
        name="roster-import-progress",
    ),
    path(
        "rosters/imports/<int:pk>/decide/",
        views.RosterImportDecideView.as_view(),
        name="roster-import-decide",
    ),
    path("rosters/imports/<int:pk>/report.xlsx", views.RosterReportView.as_view(), name="roster-report"),
    path("categories/", views.CategoryListView.as_view(), name="categories"),
    path("categories/<str:code>/new/", views.CategoryNewView.as_view(), name="category-new"),
    path("categories/<str:code>/<str:category>/", views.CategoryEditView.as_view(), name="category-edit"),
    path(
        "categories/<str:code>/<str:category>/remove/",
        views.CategoryRemoveView.as_view(),
        name="category-remove",
    ),
    path("totals/", views.TotalsView.as_view(), name="totals"),
    path("totals/export.xlsx", views.TotalsExportView.as_view(), name="totals-export"),
    path("not-enrolled/", views.NotEnrolledView.as_view(), name="not-enrolled"),
]
