"""Routes of enrollment.views.review (included by enrollment/urls.py)."""

from django.urls import path

from .views import review

urlpatterns: list = [
    path("applications/", review.ApplicationQueueView.as_view(), name="application-queue"),
    path("applications/<int:pk>/", review.ApplicationDetailView.as_view(), name="application-detail"),
    path("persons/<int:pk>/", review.PersonDetailView.as_view(), name="person-detail"),
    path(
        "persons/<int:pk>/identifier/",
        review.PersonIdentifierCorrectView.as_view(),
        name="person-identifier-correct",
    ),
    path("enrollments/<int:pk>/change/", review.EnrollmentChangeView.as_view(), name="enrollment-change"),
    path("changes/<int:pk>/evidence/", review.EvidenceView.as_view(), name="change-evidence"),
    path("transfers/new/", review.TransferInView.as_view(), name="transfer-in"),
]
