from django.urls import path

from . import views, views_exports

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("regions/", views.RegionView.as_view(), name="region-root"),
    path("regions/<str:code>/", views.RegionView.as_view(), name="region-detail"),
    path("agencies/", views.AgencyListView.as_view(), name="agency-list"),
    path("agencies/<int:pk>/", views.AgencyDetailView.as_view(), name="agency-detail"),
    path("users/", views.UserListView.as_view(), name="user-list"),
    path("users/<int:pk>/", views.UserDetailView.as_view(), name="user-detail"),
    path("exports/", views_exports.ExportListView.as_view(), name="export-list"),
    path("exports/<str:pk>/", views_exports.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<str:pk>/progress/", views_exports.ExportProgressView.as_view(), name="export-progress"),
    path("exports/<str:pk>/download/", views_exports.ExportDownloadView.as_view(), name="export-download"),
]
