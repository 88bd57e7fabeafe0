"""Routes of tax's pages (included by config/urls.py under /collection/)."""

from django.urls import path

from . import views, views_progress

app_name = "collection"

urlpatterns: list = [
    path("counter/", views.CounterView.as_view(), name="counter"),
    path("reports/daily/", views.DailyReportView.as_view(), name="daily"),
    path("reports/daily.xlsx", views.DailyReportExportView.as_view(), name="daily-xlsx"),
    path("reports/progress/", views_progress.ProgressView.as_view(), name="progress"),
    path("reports/progress.xlsx", views_progress.ProgressExportView.as_view(), name="progress-xlsx"),
    path("reports/progress/<str:code>/", views_progress.ProgressAreaView.as_view(), name="progress-area"),
    path(
        "reports/progress/<str:code>/export.xlsx",
        views_progress.ProgressExportView.as_view(),
        name="progress-area-xlsx",
    ),
    path("refunds/", views.RefundDetailsView.as_view(), name="refunds"),
    path("overcollections/", views.OvercollectionListView.as_view(), name="overcollections"),
    path("overcollections/new/", views.OvercollectionNewView.as_view(), name="overcollection-new"),
    path("overcollections/<int:pk>/", views.OvercollectionDetailView.as_view(), name="overcollection"),
    path("collective/", views.CollectiveView.as_view(), name="collective"),
    path("bank-debits/", views.BankDebitView.as_view(), name="bank"),
    path("batches/<int:pk>/", views.BatchView.as_view(), name="batch"),
    path("batches/<int:pk>/progress/", views.BatchProgressView.as_view(), name="batch-progress"),
    path("batches/<int:pk>/ledger.xlsx", views.BatchLedgerView.as_view(), name="batch-ledger"),
    path("batches/<int:pk>/not-matched.xlsx", views.BatchProblemsView.as_view(), name="batch-problems"),
    path("counter/due-items/<int:pk>/pay/", views.PaymentRecordView.as_view(), name="pay"),
    path("payments/<int:pk>/receipt/", views.ReceiptView.as_view(), name="receipt"),
    path("payments/<int:pk>/reverse/", views.PaymentReverseView.as_view(), name="reverse"),
    path("payments/<int:pk>/void-receipt/", views.ReceiptVoidView.as_view(), name="void-receipt"),
    path(
        "payments/<int:pk>/certificate/issue/", views.CertificateIssueView.as_view(), name="certificate-issue"
    ),
    path("payments/<int:pk>/certificate/", views.CertificatePdfView.as_view(), name="certificate"),
]
