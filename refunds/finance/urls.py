"""Routes of finance's pages (included by config/urls.py under /finance/)."""

from django.urls import path

from . import views

app_name = "finance"

urlpatterns: list = [
    path("plans/", views.PlanListView.as_view(), name="plans"),
    path("plans/<int:number>/", views.PlanDetailView.as_view(), name="plan"),
    path("subsidies/", views.SubsidyFundsView.as_view(), name="subsidy-funds"),
    path("subsidies.xlsx", views.SubsidyFundsExportView.as_view(), name="subsidy-funds-xlsx"),
    path("transfers/", views.TransfersView.as_view(), name="transfers"),
    path("transfers.xlsx", views.TransfersExportView.as_view(), name="transfers-xlsx"),
]
