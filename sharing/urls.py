from django.urls import path

from . import views

app_name = "sharing"

urlpatterns = [
    path("", views.MonitorView.as_view(), name="monitor"),
    path("monitor.json", views.MonitorDataView.as_view(), name="monitor-data"),
    path("dead-letters/", views.DeadLetterListView.as_view(), name="dead-letters"),
    path("dead-letters/<int:pk>/", views.DeadLetterDetailView.as_view(), name="dead-letter-detail"),
    path("dead-letters/redrive/", views.RedriveView.as_view(), name="redrive"),
    path("reconciliation/", views.ReconciliationView.as_view(), name="reconciliation-list"),
    path("reconciliation/run/", views.ReconciliationRunView.as_view(), name="reconciliation-run"),
]
