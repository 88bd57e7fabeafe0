"""Routes of the refund pages (included by config/urls.py under /refunds/)."""

from django.urls import path

from . import views

app_name = "refunds"

urlpatterns: list = [
    path("", views.RefundListView.as_view(), name="list"),
    path("apply/", views.RefundApplyView.as_view(), name="apply"),
    path("<int:pk>/", views.RefundDetailView.as_view(), name="detail"),
    path("evidence/<int:pk>/", views.RefundEvidenceView.as_view(), name="evidence"),
    path("overcollections/", views.OvercollectionRefundListView.as_view(), name="overcollections"),
    path("plans/", views.FundPlanListView.as_view(), name="plans"),
    path("plans/<int:pk>/", views.FundPlanDetailView.as_view(), name="plan"),
]
