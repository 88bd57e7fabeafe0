"""Routes of enrollment.views.registration (included by enrollment/urls.py, namespace ``enrollment``)."""

from django.urls import path

from .views import registration as views

urlpatterns = [
    path("", views.WorkspaceView.as_view(), name="workspace"),
    path("households/new/", views.HouseholdCreateView.as_view(), name="household-new"),
    path("households/<int:pk>/", views.HouseholdDetailView.as_view(), name="household-detail"),
    path("households/<int:pk>/edit/", views.HouseholdEditView.as_view(), name="household-edit"),
    path("households/<int:pk>/newborn/", views.NewbornCreateView.as_view(), name="newborn-new"),
    path("persons/<int:pk>/edit/", views.PersonEditView.as_view(), name="person-edit"),
    path("persons/<int:pk>/move/", views.PersonMoveView.as_view(), name="person-move"),
    path("school-roster/", views.SchoolRosterView.as_view(), name="school-roster"),
]
