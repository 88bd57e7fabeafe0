"""API shapes of households, persons, enrollments, changes and applications.

Identifiers and phone numbers go through accounts.masking with the caller's scope (put in the
serializer context as ``scope``): full only for roles holding ``person.full_view`` in their area.
Write serializers only check shapes; every rule is the service's.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_support import InputSerializer
from accounts.masking import birth_date_for, id_number_for, phone_for
from accounts.scope import Scope

from .evidence import validate_evidence
from .models import (
    SUSPENSION_REASONS,
    TERMINATION_REASONS,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    Household,
    HouseholdKind,
    IdKind,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
    Sex,
)


def _scope(serializer: serializers.Serializer) -> Scope:
    return serializer.context["scope"]


def _checked_evidence(value: Any) -> Any:
    """PDF, JPEG or PNG of at most 10 MB, checked by content (the same check as the pages)."""
    if value:
        try:
            validate_evidence(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
    return value


def _who(user: Any) -> str | None:
    return (user.full_name or user.username) if user is not None else None


# --- reads ------------------------------------------------------------------------------------


class PersonBriefSerializer(serializers.ModelSerializer):
    """A person in a list: identifier and phone masked unless the caller may see them in full."""

    id_number = serializers.SerializerMethodField()
    birth_date = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    household_number = serializers.CharField(source="household.number", default=None, read_only=True)

    class Meta:
        model = Person
        fields = [
            "id",
            "id_kind",
            "id_number",
            "name",
            "sex",
            "birth_date",
            "category",
            "phone",
            "household",
            "household_number",
            "relation",
            "region_code",
            "revision",
        ]

    @extend_schema_field(serializers.CharField())
    def get_id_number(self, person: Person) -> str:
        return id_number_for(_scope(self), person.id_number, person.region_code)

    @extend_schema_field(
        serializers.CharField(help_text="YYYY-MM-DD; only the year (YYYY) where the identifier is masked.")
    )
    def get_birth_date(self, person: Person) -> str:
        return birth_date_for(_scope(self), person.birth_date, person.region_code)

    @extend_schema_field(serializers.CharField())
    def get_phone(self, person: Person) -> str:
        return phone_for(_scope(self), person.phone, person.region_code)


class EnrollmentSerializer(serializers.ModelSerializer):
    person_name = serializers.CharField(source="person.name", read_only=True)
    person_id_number = serializers.SerializerMethodField()

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "person",
            "person_name",
            "person_id_number",
            "county_code",
            "region_code",
            "status",
            "enrolled_on",
            "ended_on",
            "status_reason",
            "status_changed_on",
            "application",
        ]

    @extend_schema_field(serializers.CharField())
    def get_person_id_number(self, enrollment: Enrollment) -> str:
        return id_number_for(_scope(self), enrollment.person.id_number, enrollment.person.region_code)


class EnrollmentChangeSerializer(serializers.ModelSerializer):
    """One step of the timeline; the evidence is downloaded through its scoped page, never a media URL."""

    evidence_url = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    county_code = serializers.CharField(source="enrollment.county_code", read_only=True)

    class Meta:
        model = EnrollmentChange
        fields = [
            "id",
            "enrollment",
            "county_code",
            "kind",
            "reason",
            "effective_on",
            "note",
            "evidence_url",
            "created_by",
            "created_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_evidence_url(self, change: EnrollmentChange) -> str | None:
        if not change.evidence:
            return None
        return reverse("enrollment:change-evidence", args=[change.pk])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, change: EnrollmentChange) -> str | None:
        return _who(change.created_by)


class PersonDetailSerializer(PersonBriefSerializer):
    """A person's full record: data, every enrollment, the timeline of changes."""

    enrollments = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()

    class Meta(PersonBriefSerializer.Meta):
        fields = [
            *PersonBriefSerializer.Meta.fields,
            "nationality",
            "ethnicity",
            "hukou_region_code",
            "residence_region_code",
            "school",
            "created_at",
            "updated_at",
            "revision",
            "enrollments",
            "timeline",
        ]

    @extend_schema_field(EnrollmentSerializer(many=True))
    def get_enrollments(self, person: Person) -> list[dict[str, Any]]:
        return EnrollmentSerializer(self.context["enrollments"], many=True, context=self.context).data

    @extend_schema_field(EnrollmentChangeSerializer(many=True))
    def get_timeline(self, person: Person) -> list[dict[str, Any]]:
        return EnrollmentChangeSerializer(self.context["timeline"], many=True, context=self.context).data


class HouseholdSerializer(serializers.ModelSerializer):
    members = PersonBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Household
        fields = [
            "id",
            "number",
            "region_code",
            "kind",
            "address",
            "residence_permit_number",
            "created_at",
            "revision",
            "members",
        ]


class ApplicationSerializer(serializers.ModelSerializer):
    household_number = serializers.CharField(source="household.number", read_only=True)
    persons = PersonBriefSerializer(many=True, read_only=True)
    submitted_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = RegistrationApplication
        fields = [
            "id",
            "household",
            "household_number",
            "region_code",
            "status",
            "persons",
            "submitted_by",
            "submitted_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "enrollment_date",
        ]

    @extend_schema_field(serializers.CharField())
    def get_submitted_by(self, application: RegistrationApplication) -> str | None:
        return _who(application.submitted_by)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decided_by(self, application: RegistrationApplication) -> str | None:
        return _who(application.decided_by)


# --- writes -----------------------------------------------------------------------------------


class ApproveSerializer(InputSerializer):
    enrollment_date = serializers.DateField(help_text="First day of the enrollment of every member.")


class DecisionReasonSerializer(InputSerializer):
    reason = serializers.CharField(
        max_length=300, help_text="Shown to the clerk who submitted the application."
    )


class _ChangeBase(InputSerializer):
    effective_on = serializers.DateField()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    evidence = serializers.FileField(
        required=False,
        allow_null=True,
        help_text="PDF, JPEG or PNG, at most 10 MB (send as multipart/form-data).",
    )

    def validate_evidence(self, value: Any) -> Any:
        return _checked_evidence(value)


class SuspendSerializer(_ChangeBase):
    reason = serializers.ChoiceField(choices=[c for c in ChangeReason.choices if c[0] in SUSPENSION_REASONS])


class ResumeSerializer(_ChangeBase):
    pass


class TerminateSerializer(_ChangeBase):
    reason = serializers.ChoiceField(
        choices=[
            c
            for c in ChangeReason.choices
            if c[0] in TERMINATION_REASONS and c[0] != ChangeReason.TRANSFER_OUT
        ],
        help_text="Transfers out are made by the receiving county (POST /api/transfers/).",
    )
    effective_on = serializers.DateField(help_text="The last covered day.")


class MemberSerializer(InputSerializer):
    id_kind = serializers.ChoiceField(choices=IdKind.choices)
    id_number = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=60)
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_date = serializers.DateField()
    relation = serializers.ChoiceField(choices=Relation.choices)
    category = serializers.ChoiceField(choices=PersonCategory.choices)
    ethnicity = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    nationality = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    hukou_region_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
    residence_region_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


def _optional_revision(help_text: str) -> serializers.IntegerField:
    """A record's revision as the client read it, where only a record found again needs one."""
    return serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, help_text=help_text
    )


class RegisterMemberSerializer(MemberSerializer):
    revision = _optional_revision(
        "For a member the household found again already has: the member's revision as read."
    )


class PersonUpdateSerializer(MemberSerializer):
    """A person's corrected data and the revision they were read at (``GET /api/persons/{id}/``)."""

    # The person as read (with its enrollments, timeline…) may be sent back with the changes.
    answered_by = PersonDetailSerializer

    revision = serializers.IntegerField(
        min_value=1,
        help_text="The person's revision as read; if the person changed since, the answer is 409 and nothing is saved.",
    )


class IdentifierCorrectionSerializer(InputSerializer):
    """A person's identifier corrected after assessment too, tax told in the same step
    (``POST /api/persons/{id}/correct-identifier/``)."""

    id_kind = serializers.ChoiceField(choices=IdKind.choices, help_text="The new identifier's kind.")
    new_identifier = serializers.CharField(
        max_length=40,
        help_text="Checked as at registration; must agree with the person's birth date and sex.",
    )
    reason = serializers.CharField(max_length=200, help_text="What was wrong with the old identifier.")
    revision = serializers.IntegerField(
        min_value=1,
        help_text="The person's revision as read; if the person changed since, the answer is 409 and nothing is saved.",
    )


class HouseholdRegisterSerializer(InputSerializer):
    """A household (new, or ``household`` found again) and its members, submitted for enrollment."""

    region_code = serializers.CharField(max_length=12, help_text="12-digit code of the village or community.")
    kind = serializers.ChoiceField(choices=HouseholdKind.choices, default=HouseholdKind.HUKOU)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    residence_permit_number = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default=""
    )
    household = serializers.IntegerField(required=False, allow_null=True, default=None)
    household_revision = _optional_revision(
        "With ``household``: its revision as read (GET /api/households/{id}/); if it or a member's changed "
        "since, 409 and nothing is saved."
    )
    members = RegisterMemberSerializer(many=True, allow_empty=False, max_length=30)


class TransferSerializer(InputSerializer):
    id_number = serializers.CharField(max_length=40, help_text="The person's identifier (参保识别码).")
    to_region_code = serializers.CharField(max_length=12, help_text="12-digit code of the receiving village.")
    household = serializers.IntegerField(required=False, allow_null=True, default=None)
    relation = serializers.ChoiceField(choices=Relation.choices, required=False, allow_blank=True, default="")
    effective_on = serializers.DateField(
        help_text="First covered day here; the old enrollment ends the day before."
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    evidence = serializers.FileField(required=False, allow_null=True)

    def validate_evidence(self, value: Any) -> Any:
        return _checked_evidence(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("household") and not attrs.get("relation"):
            raise serializers.ValidationError(
                {"relation": _("Choose the relation to the head of the household joined.")}
            )
        return attrs
