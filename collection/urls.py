"""Routes of tax's pages (included by config/urls.py under /collection/)."""

from django.urls import path

from . import views

app_name = "collection"

urlpatterns: list = [
    path("counter/", views.CounterView.as_view(), name="counter"),
    path("reports/daily/", views.DailyReportView.as_view(), name="daily"),
    path("reports/progress/", views.ProgressView.as_view(), name="progress"),
    path("counter/due-items/<int:pk>/pay/", views.PaymentRecordView.as_view(), name="pay"),
    path("payments/<int:pk>/receipt/", views.ReceiptView.as_view(), name="receipt"),
    path("payments/<int:pk>/reverse/", views.PaymentReverseView.as_view(), name="reverse"),
    path("payments/<int:pk>/void-receipt/", views.ReceiptVoidView.as_view(), name="void-receipt"),
    path(
        "payments/<int:pk>/certificate/issue/", views.CertificateIssueView.as_view(), name="certificate-issue"
    ),
    path("payments/<int:pk>/certificate/", views.CertificatePdfView.as_view(), name="certificate"),
]
