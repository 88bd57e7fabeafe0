"""Query filters of the enrollment API (on top of the scope, never instead of it)."""

from __future__ import annotations

import django_filters

from .models import (
    ApplicationStatus,
    Enrollment,
    EnrollmentStatus,
    Household,
    Person,
    RegistrationApplication,
)


class HouseholdFilter(django_filters.FilterSet):
    region_code = django_filters.CharFilter(field_name="region_code", lookup_expr="startswith")

    class Meta:
        model = Household
        fields = ["region_code", "kind"]


class PersonFilter(django_filters.FilterSet):
    region_code = django_filters.CharFilter(field_name="region_code", lookup_expr="startswith")
    household = django_filters.NumberFilter(field_name="household_id")

    class Meta:
        model = Person
        fields = ["region_code", "category", "household"]


class EnrollmentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=EnrollmentStatus.choices)
    region_code = django_filters.CharFilter(field_name="region_code", lookup_expr="startswith")
    county_code = django_filters.CharFilter(field_name="county_code")
    person = django_filters.NumberFilter(field_name="person_id")
    enrolled_from = django_filters.DateFilter(field_name="enrolled_on", lookup_expr="gte")
    enrolled_until = django_filters.DateFilter(field_name="enrolled_on", lookup_expr="lte")

    class Meta:
        model = Enrollment
        fields = ["status", "region_code", "county_code", "person", "enrolled_from", "enrolled_until"]


class ApplicationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ApplicationStatus.choices)
    region_code = django_filters.CharFilter(field_name="region_code", lookup_expr="startswith")
    household = django_filters.NumberFilter(field_name="household_id")

    class Meta:
        model = RegistrationApplication
        fields = ["status", "region_code", "household"]
