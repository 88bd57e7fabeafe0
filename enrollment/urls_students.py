"""Routes of enrollment.views.students (included by enrollment/urls.py, namespace ``enrollment``)."""

from django.urls import path

from .views import students as views

urlpatterns = [
    path("schools/<int:pk>/students/", views.SchoolStudentListView.as_view(), name="school-students"),
    path(
        "schools/<int:pk>/students.xlsx", views.SchoolStudentXlsxView.as_view(), name="school-students-xlsx"
    ),
]
