"""Routes of the refund pages (included by config/urls.py under /refunds/)."""

from django.urls import path

from . import views, views_backpay

app_name = "refunds"

urlpatterns: list = [
    path("", views.RefundListView.as_view(), name="list"),
    path("apply/", views.RefundApplyView.as_view(), name="apply"),
    path("<int:pk>/", views.RefundDetailView.as_view(), name="detail"),
    path("evidence/<int:pk>/", views.RefundEvidenceView.as_view(), name="evidence"),
    path("overcollections/", views.OvercollectionRefundListView.as_view(), name="overcollections"),
    path("plans/", views.FundPlanListView.as_view(), name="plans"),
    path("plans/<int:pk>/", views.FundPlanDetailView.as_view(), name="plan"),
    path("back-payments/", views_backpay.BackPaymentListView.as_view(), name="backpay-list"),
    path("back-payments/apply/", views_backpay.BackPaymentApplyView.as_view(), name="backpay-apply"),
    path("back-payments/<int:pk>/", views_backpay.BackPaymentDetailView.as_view(), name="backpay-detail"),
    path(
        "back-payments/evidence/<int:pk>/",
        views_backpay.BackPaymentEvidenceView.as_view(),
        name="backpay-evidence",
    ),
]
