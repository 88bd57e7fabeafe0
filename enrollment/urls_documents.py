"""Routes of enrollment.views.documents (included by enrollment/urls.py, namespace ``enrollment``)."""

from django.urls import path

from .views import documents as views

urlpatterns = [
    path("households/<int:pk>/form.pdf", views.HouseholdFormPdfView.as_view(), name="household-form-pdf"),
    path("publicity/", views.PublicityListView.as_view(), name="publicity-list"),
    path("publicity/<str:code>/list.pdf", views.PublicityListPdfView.as_view(), name="publicity-list-pdf"),
    path("publicity/<str:code>/list.xlsx", views.PublicityListXlsxView.as_view(), name="publicity-list-xlsx"),
    path(
        "publicity/school/<int:pk>/list.pdf",
        views.PublicityListPdfView.as_view(),
        name="school-publicity-list-pdf",
    ),
    path(
        "publicity/school/<int:pk>/list.xlsx",
        views.PublicityListXlsxView.as_view(),
        name="school-publicity-list-xlsx",
    ),
]
