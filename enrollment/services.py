"""Every write of the enrollment app. Views, API, admin, commands and tasks call these.

Each function takes keyword arguments only and runs in one transaction. Whatever the tax
bureau must learn (registrations, changes, terminations) is sent through the sharing platform
in that same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from sharing.services import message_send

from accounts.masking import mask_region_for
from accounts.models import Agency, Region, RegionLevel
from accounts.roles import AgencyKind, Role
from accounts.scope import Scope

from . import identifiers
from .models import (
    OPEN_APPLICATION_STATUSES,
    SUSPENSION_REASONS,
    TERMINATION_REASONS,
    ApplicationStatus,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    HouseholdCounter,
    HouseholdKind,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
)


@dataclass
class MemberInput:
    """One person as a clerk types them in."""

    id_kind: str
    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    relation: str
    category: str
    ethnicity: str = ""
    phone: str = ""
    nationality: str = ""
    hukou_region_code: str = ""
    residence_region_code: str = ""


@dataclass
class RowErrors:
    """Errors per member row (index → field → messages), so a form can show each next to its field."""

    rows: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, row: int, field_name: str, message: str) -> None:
        self.rows.setdefault(row, {}).setdefault(field_name, []).append(message)

    def raise_if_any(self) -> None:
        if self.rows:
            raise ValidationError(
                {f"members.{row}.{name}": messages for row, fields in self.rows.items() for name, messages in fields.items()}
            )


# --- helpers ----------------------------------------------------------------------------------


def _require(scope: Scope, action: str, region_code: str) -> None:
    scope.require(action)
    if not scope.covers_region_code(region_code):
        raise ValidationError(_("This record lies outside your area."))


def _village(code: str) -> Region:
    region = Region.objects.filter(code=code, level=RegionLevel.VILLAGE).first()
    if region is None:
        raise ValidationError({"region_code": _("%(code)s is not a village or community of this portal.") % {"code": code}})
    return region


def _next_household_number(region_code: str) -> str:
    counter, _created = HouseholdCounter.objects.select_for_update().get_or_create(region_code=region_code)
    HouseholdCounter.objects.filter(pk=region_code).update(last_number=F("last_number") + 1)
    counter.refresh_from_db()
    return f"{region_code}{counter.last_number:05d}"


def _send_registered(enrollment: Enrollment) -> None:
    person = enrollment.person
    message_send(
        topic="enrollment.registered",
        payload={
            "person_id": person.id_number,
            "region_code": enrollment.region_code,
            "enrollment_id": enrollment.pk,
            "person_name": person.name,
            "category": person.category,
            "enrolled_on": enrollment.enrolled_on.isoformat(),
        },
    )


def _send_changed(enrollment: Enrollment, *, changed_on: dt.date, reason: str) -> None:
    person = enrollment.person
    message_send(
        topic="enrollment.changed",
        payload={
            "person_id": person.id_number,
            "region_code": enrollment.region_code,
            "enrollment_id": enrollment.pk,
            "person_name": person.name,
            "category": person.category,
            "status": enrollment.status,
            "changed_on": changed_on.isoformat(),
            "reason": reason,
        },
    )


def _send_terminated(enrollment: Enrollment, *, reason: str) -> None:
    person = enrollment.person
    message_send(
        topic="enrollment.terminated",
        payload={
            "person_id": person.id_number,
            "region_code": enrollment.region_code,
            "enrollment_id": enrollment.pk,
            "person_name": person.name,
            "category": person.category,
            "terminated_on": enrollment.ended_on.isoformat() if enrollment.ended_on else "",
            "reason": reason,
        },
    )


def _validate_member(index: int, member: MemberInput, errors: RowErrors) -> identifiers.ParsedIdentifier | None:
    if not member.name.strip():
        errors.add(index, "name", _("Enter the name."))
    try:
        parsed = identifiers.parse_identifier(member.id_kind, member.id_number, nationality=member.nationality or None)
    except identifiers.IdentifierError as error:
        errors.add(index, "id_number", error.message)
        return None
    for mismatch in identifiers.check_against_entered(parsed, birth_date=member.birth_date, sex=member.sex):
        errors.add(index, "birth_date" if mismatch.code == "birth_date_mismatch" else "sex", mismatch.message)
    if member.relation not in Relation.values:
        errors.add(index, "relation", _("Choose the relation to the head of household."))
    if member.category not in PersonCategory.values:
        errors.add(index, "category", _("Choose the category."))
    if member.birth_date and member.birth_date > timezone.localdate():
        errors.add(index, "birth_date", _("The birth date lies in the future."))
    return parsed


def _already_enrolled_message(scope: Scope, enrollment: Enrollment) -> str:
    return _(
        "%(name)s is already enrolled in %(where)s. Transfer the enrollment (转移接续) there before registering here."
    ) % {"name": enrollment.person.name, "where": mask_region_for(scope, enrollment.region_code)}


def _upsert_person(
    *, member: MemberInput, parsed: identifiers.ParsedIdentifier, household: Household | None, region_code: str,
    school: Agency | None = None,
) -> Person:
    values = {
        "id_kind": parsed.kind,
        "nationality": member.nationality.strip().upper(),
        "name": member.name.strip(),
        "sex": member.sex,
        "birth_date": member.birth_date,
        "ethnicity": member.ethnicity.strip(),
        "phone": member.phone.strip(),
        "hukou_region_code": member.hukou_region_code.strip(),
        "residence_region_code": member.residence_region_code.strip(),
        "category": member.category,
        "household": household,
        "relation": member.relation if household else "",
        "school": school,
        "region_code": region_code,
    }
    person, _created = Person.objects.select_for_update().update_or_create(id_number=parsed.number, defaults=values)
    return person


# --- households and registration applications -------------------------------------------------


@transaction.atomic
def household_register(
    *,
    scope: Scope,
    region_code: str,
    members: Sequence[MemberInput],
    kind: str = HouseholdKind.HUKOU,
    address: str = "",
    residence_permit_number: str = "",
    household: Household | None = None,
) -> RegistrationApplication:
    """A clerk registers a household (new, or one found again) and submits its members for enrollment."""
    from accounts.roles import Action

    village = _village(region_code)
    _require(scope, Action.ENROLLMENT_REGISTER, village.code)
    if not members:
        raise ValidationError(_("Add at least one member."))
    if kind == HouseholdKind.RESIDENCE_PERMIT and not residence_permit_number.strip():
        raise ValidationError({"residence_permit_number": _("A residence-permit household needs the permit number.")})
    errors = RowErrors()
    parsed_members: list[tuple[MemberInput, identifiers.ParsedIdentifier]] = []
    seen: dict[str, int] = {}
    heads = [i for i, m in enumerate(members) if m.relation == Relation.HEAD]
    if len(heads) != 1:
        errors.add(0, "relation", _("A household has exactly one head."))
    for index, member in enumerate(members):
        parsed = _validate_member(index, member, errors)
        if parsed is None:
            continue
        if parsed.number in seen:
            errors.add(index, "id_number", _("This identifier is already in row %(row)s.") % {"row": seen[parsed.number] + 1})
        seen[parsed.number] = index
        parsed_members.append((member, parsed))
    existing = {
        e.person.id_number: e
        for e in Enrollment.objects.select_related("person").filter(
            person__id_number__in=list(seen), status=EnrollmentStatus.NORMAL
        )
    }
    for number, enrollment in existing.items():
        errors.add(seen[number], "id_number", _already_enrolled_message(scope, enrollment))
    errors.raise_if_any()

    if household is None:
        household = Household.objects.create(
            number=_next_household_number(village.code),
            region_code=village.code,
            kind=kind,
            address=address.strip(),
            residence_permit_number=residence_permit_number.strip(),
            created_by_id=scope.user_id,
        )
    else:
        household = Household.objects.select_for_update().get(pk=household.pk)
        _require(scope, Action.ENROLLMENT_REGISTER, household.region_code)
        household.kind, household.address = kind, address.strip()
        household.residence_permit_number = residence_permit_number.strip()
        household.save()
    persons = [
        _upsert_person(member=member, parsed=parsed, household=household, region_code=household.region_code)
        for member, parsed in parsed_members
    ]
    return _submit(scope=scope, household=household, persons=persons)


def _submit(*, scope: Scope, household: Household, persons: Iterable[Person]) -> RegistrationApplication:
    open_application = (
        RegistrationApplication.objects.select_for_update()
        .filter(household=household, status__in=OPEN_APPLICATION_STATUSES)
        .first()
    )
    now = timezone.now()
    if open_application is None:
        application = RegistrationApplication.objects.create(
            household=household,
            region_code=household.region_code,
            status=ApplicationStatus.SUBMITTED,
            submitted_by_id=scope.user_id,
            submitted_at=now,
        )
    elif open_application.status == ApplicationStatus.SUBMITTED:
        raise ValidationError(_("This household already has an application waiting for review."))
    else:  # returned for correction: resubmitted
        application = open_application
        application.status = ApplicationStatus.SUBMITTED
        application.submitted_by_id = scope.user_id
        application.submitted_at = now
        application.save()
    application.persons.set(list(persons))
    return application


def _decide(*, scope: Scope, application_id: int, expect: Sequence[str]) -> RegistrationApplication:
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_REVIEW)
    application = (
        scope.filter(RegistrationApplication.objects.select_for_update()).filter(pk=application_id).first()
    )
    if application is None:
        raise ValidationError(_("No such application in your area."))
    if application.status not in expect:
        raise ValidationError(
            _("This application is already %(status)s; it cannot be decided again.")
            % {"status": application.get_status_display()}
        )
    if application.submitted_by_id == scope.user_id:
        raise ValidationError(_("You submitted this application, so someone else must decide it."))
    return application


@transaction.atomic
def application_approve(*, scope: Scope, application_id: int, enrollment_date: dt.date) -> RegistrationApplication:
    application = _decide(scope=scope, application_id=application_id, expect=[ApplicationStatus.SUBMITTED])
    county_code = application.region_code[:6]
    persons = list(application.persons.select_for_update().order_by("pk"))
    for person in persons:
        current = Enrollment.objects.filter(person=person, status=EnrollmentStatus.NORMAL).first()
        if current is not None:
            raise ValidationError(_already_enrolled_message(scope, current))
    try:
        with transaction.atomic():
            enrollments = [
                Enrollment.objects.create(
                    person=person,
                    county_code=county_code,
                    region_code=application.region_code,
                    status=EnrollmentStatus.NORMAL,
                    enrolled_on=enrollment_date,
                    status_reason=ChangeReason.NEW_REGISTRATION,
                    status_changed_on=enrollment_date,
                    application=application,
                )
                for person in persons
            ]
    except IntegrityError as error:
        raise ValidationError(
            _("A member already has an enrollment covering %(date)s; check the person's timeline.")
            % {"date": enrollment_date.isoformat()}
        ) from error
    for enrollment in enrollments:
        EnrollmentChange.objects.create(
            enrollment=enrollment,
            kind=ChangeKind.REGISTERED,
            reason=ChangeReason.NEW_REGISTRATION,
            effective_on=enrollment_date,
            created_by_id=scope.user_id,
        )
        _send_registered(enrollment)
    application.status = ApplicationStatus.APPROVED
    application.enrollment_date = enrollment_date
    application.decided_by_id = scope.user_id
    application.decided_at = timezone.now()
    application.save()
    return application


@transaction.atomic
def application_reject(*, scope: Scope, application_id: int, reason: str) -> RegistrationApplication:
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason; the clerk will see it.")})
    application = _decide(scope=scope, application_id=application_id, expect=[ApplicationStatus.SUBMITTED])
    application.status = ApplicationStatus.REJECTED
    application.decision_note = reason.strip()
    application.decided_by_id = scope.user_id
    application.decided_at = timezone.now()
    application.save()
    return application


@transaction.atomic
def application_return(*, scope: Scope, application_id: int, reason: str) -> RegistrationApplication:
    if not reason.strip():
        raise ValidationError({"reason": _("Say what needs correcting; the clerk will see it.")})
    application = _decide(scope=scope, application_id=application_id, expect=[ApplicationStatus.SUBMITTED])
    application.status = ApplicationStatus.RETURNED
    application.decision_note = reason.strip()
    application.decided_by_id = scope.user_id
    application.decided_at = timezone.now()
    application.save()
    return application


# --- members ----------------------------------------------------------------------------------


@transaction.atomic
def person_update(*, scope: Scope, person_id: int, member: MemberInput) -> Person:
    """Correct a person's data; the identifier itself may be corrected too (then re-checked)."""
    from accounts.roles import Action

    person = scope.filter(Person.objects.select_for_update()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError(_("No such person in your area."))
    _require(scope, Action.ENROLLMENT_REGISTER, person.region_code)
    errors = RowErrors()
    parsed = _validate_member(0, member, errors)
    if parsed and parsed.number != person.id_number and Person.objects.filter(id_number=parsed.number).exists():
        errors.add(0, "id_number", _("Another person already has this identifier."))
    errors.raise_if_any()
    assert parsed is not None
    Person.objects.filter(pk=person.pk).update(
        id_kind=parsed.kind,
        id_number=parsed.number,
        nationality=member.nationality.strip().upper(),
        name=member.name.strip(),
        sex=member.sex,
        birth_date=member.birth_date,
        ethnicity=member.ethnicity.strip(),
        phone=member.phone.strip(),
        category=member.category,
        relation=member.relation if person.household_id else "",
        updated_at=timezone.now(),
    )
    person.refresh_from_db()
    normal = Enrollment.objects.filter(person=person, status=EnrollmentStatus.NORMAL).select_related("person").first()
    if normal is not None:
        _send_changed(normal, changed_on=timezone.localdate(), reason="data_corrected")
    return person


@transaction.atomic
def person_move(*, scope: Scope, person_id: int, household_id: int, relation: str) -> Person:
    """Move a member into another household (e.g. after marriage); the enrollment stays where it is."""
    from accounts.roles import Action

    person = scope.filter(Person.objects.select_for_update()).filter(pk=person_id).first()
    target = scope.filter(Household.objects.select_for_update()).filter(pk=household_id).first()
    if person is None or target is None:
        raise ValidationError(_("No such person or household in your area."))
    _require(scope, Action.ENROLLMENT_REGISTER, target.region_code)
    if relation == Relation.HEAD and target.members.filter(relation=Relation.HEAD).exclude(pk=person.pk).exists():
        raise ValidationError({"relation": _("That household already has a head.")})
    if person.relation == Relation.HEAD and person.household_id and person.household.members.exclude(pk=person.pk).exists():
        raise ValidationError({"relation": _("Choose a new head for the old household before moving its head.")})
    person.household = target
    person.relation = relation
    person.region_code = target.region_code
    person.save()
    return person


@transaction.atomic
def newborn_add(*, scope: Scope, household_id: int, member: MemberInput) -> RegistrationApplication:
    """Add a newborn to its household and submit it for enrollment."""
    household = scope.filter(Household.objects.all()).filter(pk=household_id).first()
    if household is None:
        raise ValidationError(_("No such household in your area."))
    member.category = PersonCategory.NEWBORN
    errors = RowErrors()
    parsed = _validate_member(0, member, errors)
    if member.relation == Relation.HEAD:
        errors.add(0, "relation", _("A newborn cannot be the head of household."))
    errors.raise_if_any()
    assert parsed is not None
    person = _upsert_person(member=member, parsed=parsed, household=household, region_code=household.region_code)
    return _submit(scope=scope, household=household, persons=[person])


# --- status changes ---------------------------------------------------------------------------


def _enrollment_for_change(scope: Scope, enrollment_id: int) -> Enrollment:
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_CHANGE)
    enrollment = (
        scope.filter(Enrollment.objects.select_for_update(of=("self",)).select_related("person"))
        .filter(pk=enrollment_id)
        .first()
    )
    if enrollment is None:
        raise ValidationError(_("No such enrollment in your area."))
    return enrollment


def _record_change(
    *, scope: Scope, enrollment: Enrollment, kind: str, reason: str, effective_on: dt.date, note: str,
    evidence: UploadedFile | None,
) -> EnrollmentChange:
    change = EnrollmentChange(
        enrollment=enrollment, kind=kind, reason=reason, effective_on=effective_on, note=note.strip(),
        created_by_id=scope.user_id,
    )
    if evidence is not None:
        change.evidence.save(evidence.name, evidence, save=False)
    change.save()
    return change


@transaction.atomic
def enrollment_suspend(
    *, scope: Scope, enrollment_id: int, reason: str, effective_on: dt.date, note: str = "",
    evidence: UploadedFile | None = None,
) -> Enrollment:
    enrollment = _enrollment_for_change(scope, enrollment_id)
    if reason not in SUSPENSION_REASONS:
        raise ValidationError({"reason": _("Choose a reason for suspension.")})
    if enrollment.status != EnrollmentStatus.NORMAL:
        raise ValidationError(
            _("Only a normal enrollment can be suspended; this one is %(status)s.") % {"status": enrollment.get_status_display()}
        )
    if effective_on < enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The date lies before the enrollment began.")})
    enrollment.status = EnrollmentStatus.SUSPENDED
    enrollment.status_reason = reason
    enrollment.status_changed_on = effective_on
    enrollment.save()
    _record_change(scope=scope, enrollment=enrollment, kind=ChangeKind.SUSPENDED, reason=reason,
                   effective_on=effective_on, note=note, evidence=evidence)
    _send_changed(enrollment, changed_on=effective_on, reason=reason)
    return enrollment


@transaction.atomic
def enrollment_resume(
    *, scope: Scope, enrollment_id: int, effective_on: dt.date, note: str = "", evidence: UploadedFile | None = None
) -> Enrollment:
    enrollment = _enrollment_for_change(scope, enrollment_id)
    if enrollment.status != EnrollmentStatus.SUSPENDED:
        raise ValidationError(
            _("Only a suspended enrollment can be resumed; this one is %(status)s.") % {"status": enrollment.get_status_display()}
        )
    if effective_on < enrollment.status_changed_on:
        raise ValidationError({"effective_on": _("The date lies before the suspension.")})
    other = Enrollment.objects.filter(person=enrollment.person, status=EnrollmentStatus.NORMAL).first()
    if other is not None:
        raise ValidationError(_already_enrolled_message(scope, other))
    enrollment.status = EnrollmentStatus.NORMAL
    enrollment.status_reason = ChangeReason.RESUMPTION
    enrollment.status_changed_on = effective_on
    enrollment.save()
    _record_change(scope=scope, enrollment=enrollment, kind=ChangeKind.RESUMED, reason=ChangeReason.RESUMPTION,
                   effective_on=effective_on, note=note, evidence=evidence)
    _send_changed(enrollment, changed_on=effective_on, reason=ChangeReason.RESUMPTION)
    return enrollment


def _terminate(*, scope: Scope, enrollment: Enrollment, reason: str, ended_on: dt.date, note: str,
               evidence: UploadedFile | None) -> Enrollment:
    if reason not in TERMINATION_REASONS:
        raise ValidationError({"reason": _("Choose a reason for termination.")})
    if enrollment.status == EnrollmentStatus.TERMINATED:
        raise ValidationError(_("This enrollment is already terminated."))
    if ended_on < enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The date lies before the enrollment began.")})
    enrollment.status = EnrollmentStatus.TERMINATED
    enrollment.status_reason = reason
    enrollment.status_changed_on = ended_on
    enrollment.ended_on = ended_on
    enrollment.save()
    _record_change(scope=scope, enrollment=enrollment, kind=ChangeKind.TERMINATED, reason=reason,
                   effective_on=ended_on, note=note, evidence=evidence)
    _send_terminated(enrollment, reason=reason)
    return enrollment


@transaction.atomic
def enrollment_terminate(
    *, scope: Scope, enrollment_id: int, reason: str, effective_on: dt.date, note: str = "",
    evidence: UploadedFile | None = None,
) -> Enrollment:
    """End an enrollment on ``effective_on`` (the last covered day): death, emigration, duplicates…"""
    enrollment = _enrollment_for_change(scope, enrollment_id)
    return _terminate(scope=scope, enrollment=enrollment, reason=reason, ended_on=effective_on, note=note,
                      evidence=evidence)


@transaction.atomic
def enrollment_transfer(
    *, scope: Scope, id_number: str, to_region_code: str, household_id: int | None, relation: str,
    effective_on: dt.date, note: str = "", evidence: UploadedFile | None = None,
) -> Enrollment:
    """转移接续 into the caller's area: the old enrollment ends the day before ``effective_on``,
    the new one starts on it.

    The receiving county's insurance staff do it when the resident applies there; the sending
    county's enrollment is closed in the same transaction (one bureau, one database), and both
    facts go to tax. No gap and no overlap by construction; the exclusion constraint refuses
    any overlap.
    """
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_CHANGE)
    village = _village(to_region_code)
    _require(scope, Action.ENROLLMENT_CHANGE, village.code)
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("person")
        .filter(person__id_number=id_number.strip().upper())
        .exclude(status=EnrollmentStatus.TERMINATED)
        .first()
    )
    if enrollment is None:
        raise ValidationError({"id_number": _("This person has no current enrollment to transfer.")})
    if village.code[:6] == enrollment.county_code:
        raise ValidationError({"to_region_code": _("A transfer goes to another county; within a county, move the household.")})
    if effective_on <= enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The transfer date must follow the enrollment date.")})
    household = None
    if household_id is not None:
        household = Household.objects.filter(pk=household_id, region_code=village.code).first()
        if household is None:
            raise ValidationError({"household_id": _("No such household in that village.")})
    _terminate(scope=scope, enrollment=enrollment, reason=ChangeReason.TRANSFER_OUT,
               ended_on=effective_on - dt.timedelta(days=1), note=note, evidence=evidence)
    person = enrollment.person
    person.household = household
    person.relation = relation if household else ""
    person.region_code = village.code
    person.save()
    new = Enrollment.objects.create(
        person=person, county_code=village.code[:6], region_code=village.code, status=EnrollmentStatus.NORMAL,
        enrolled_on=effective_on, status_reason=ChangeReason.TRANSFER_IN, status_changed_on=effective_on,
    )
    _record_change(scope=scope, enrollment=new, kind=ChangeKind.REGISTERED, reason=ChangeReason.TRANSFER_IN,
                   effective_on=effective_on, note=note, evidence=None)
    _send_registered(new)
    return new


def school_of(scope: Scope) -> Agency | None:
    if scope.role != Role.SCHOOL_CLERK or scope.agency_id is None:
        return None
    return Agency.objects.filter(pk=scope.agency_id, kind=AgencyKind.SCHOOL).first()
