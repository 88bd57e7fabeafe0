from django.urls import include, path

app_name = "enrollment"

urlpatterns = [
    path("", include("enrollment.urls_registration")),
    path("", include("enrollment.urls_students")),
    path("", include("enrollment.urls_review")),
    path("", include("enrollment.urls_bulk")),
    path("", include("enrollment.urls_documents")),
    path("", include("enrollment.urls_rulebook")),
    path("", include("enrollment.urls_reports")),
]
