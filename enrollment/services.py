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
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.masking import mask_region_for
from accounts.models import Agency, Region, RegionLevel
from accounts.roles import AgencyKind, Role
from accounts.scope import Scope
from sharing.services import message_send

from . import identifiers
from .evidence import validate_evidence
from .models import (
    OPEN_APPLICATION_STATUSES,
    SUSPENSION_REASONS,
    TERMINATION_REASONS,
    ApplicationStatus,
    Assessment,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    HouseholdCounter,
    HouseholdKind,
    IdentifierCorrection,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
    Sex,
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
                {
                    f"members.{row}.{name}": messages
                    for row, fields in self.rows.items()
                    for name, messages in fields.items()
                }
            )


# --- helpers ----------------------------------------------------------------------------------


# The advisory lock namespace of identifiers being registered (the second key: the identifier's hash).
_IDENTIFIER_LOCK = 7301


def _lock_identifiers(numbers: Iterable[str]) -> None:
    """Hold the identifiers a form registers until its transaction ends, in one order.

    The checks that follow (enrolled already, in another household) read committed rows; without
    the lock the same form sent twice at once (a retry, two tabs) passed them both times and made
    two households for one person. Now the second waits, then sees the first's and is refused."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, hashtext(n))) FROM (SELECT DISTINCT n FROM unnest(%s::text[]) AS n ORDER BY n) AS ordered",
            [_IDENTIFIER_LOCK, list(numbers)],
        )


def _require(scope: Scope, action: str, region_code: str) -> None:
    scope.require(action)
    if not scope.covers_region_code(region_code):
        raise ValidationError(_("This record lies outside your area."))


def _village(code: str) -> Region:
    region = Region.objects.filter(code=code, level=RegionLevel.VILLAGE).first()
    if region is None:
        raise ValidationError(
            {"region_code": _("%(code)s is not a village or community of this portal.") % {"code": code}}
        )
    return region


def _next_household_number(region_code: str) -> str:
    counter, _created = HouseholdCounter.objects.select_for_update().get_or_create(region_code=region_code)
    HouseholdCounter.objects.filter(pk=region_code).update(last_number=F("last_number") + 1)
    counter.refresh_from_db()
    return f"{region_code}{counter.last_number:05d}"


def _reassess(enrollment: Enrollment, reason: str) -> None:
    """A person's facts changed: reassess the open years (same transaction, adjustments pushed to tax)."""
    from .assessment import assessment_reassess

    assessment_reassess(person_id=enrollment.person_id, reason=reason)


def _send_registered(enrollment: Enrollment) -> None:
    _reassess(enrollment, "enrollment registered")
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
    _reassess(enrollment, f"enrollment changed: {reason}")
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
    _reassess(enrollment, f"enrollment terminated: {reason}")
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


def _validate_member(
    index: int, member: MemberInput, errors: RowErrors
) -> identifiers.ParsedIdentifier | None:
    if not member.name.strip():
        errors.add(index, "name", _("Enter the name."))
    elif problem := identifiers.name_problem(member.name):
        errors.add(index, "name", problem)
    try:
        parsed = identifiers.parse_identifier(
            member.id_kind, member.id_number, nationality=member.nationality or None
        )
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
    """Why a person cannot be registered here: enrolled already, where (as far as the clerk may
    know), and the way forward. Outside the clerk's area the stored name is not told: anyone
    typing an identifier would otherwise learn whose it is."""
    where = mask_region_for(scope, enrollment.region_code)
    if scope.covers_region_code(enrollment.region_code):
        return _(
            "%(name)s is already enrolled in %(where)s; find the household again instead of registering it."
        ) % {
            "name": enrollment.person.name,
            "where": where,
        }
    if enrollment.region_code[:6] == (scope.region_code or "")[:6]:
        return _(
            "The holder of this identifier is already enrolled in %(where)s. Within the county the person is "
            "moved to a household here (迁移) by the county's medical insurance office, not registered again."
        ) % {"where": where}
    return _(
        "The holder of this identifier is already enrolled in %(where)s. Transfer the enrollment (转移接续) there "
        "before registering here."
    ) % {"where": where}


def _upsert_person(
    *,
    member: MemberInput,
    parsed: identifiers.ParsedIdentifier,
    household: Household | None,
    region_code: str,
    school: Agency | None = None,
    updated_by_id: int | None = None,
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
        "updated_by_id": updated_by_id,
    }
    person, _created = Person.objects.select_for_update().update_or_create(
        id_number=parsed.number, defaults=values
    )
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
    household_revision: int | None = None,
    member_revisions: Sequence[int | None] = (),
) -> RegistrationApplication:
    """A clerk registers a household (new, or one found again) and submits its members for enrollment.

    A household found again is submitted as its member form is (``household_members_submit``),
    guarded the same way: ``household_revision`` is the household's revision as read and
    ``member_revisions`` (by position) each already registered member's, and if either changed
    since, nothing is saved (``EditConflictError``).
    """
    from accounts.roles import Action

    village = _village(region_code)
    _require(scope, Action.ENROLLMENT_REGISTER, village.code)
    if household is not None:
        return _household_found_again(
            scope=scope,
            village=village,
            household=household,
            household_revision=household_revision,
            members=members,
            member_revisions=member_revisions,
            kind=kind,
            address=address,
            residence_permit_number=residence_permit_number,
        )
    if not members:
        raise ValidationError(_("Add at least one member."))
    if kind == HouseholdKind.RESIDENCE_PERMIT and not residence_permit_number.strip():
        raise ValidationError(
            {"residence_permit_number": _("A residence-permit household needs the permit number.")}
        )
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
            errors.add(
                index,
                "id_number",
                _("This identifier is already in row %(row)s.") % {"row": seen[parsed.number] + 1},
            )
        seen[parsed.number] = index
        parsed_members.append((member, parsed))
    _lock_identifiers(seen)
    awaiting = _refuse_awaiting(scope, seen, errors)
    existing = {
        e.person.id_number: e
        for e in Enrollment.objects.select_related("person").filter(
            person__id_number__in=list(seen), status=EnrollmentStatus.NORMAL
        )
    }
    for number, enrollment in existing.items():
        errors.add(seen[number], "id_number", _already_enrolled_message(scope, enrollment))
    # Someone enrolled elsewhere already has the more useful message (where, and how to transfer).
    # Someone awaiting a decision has been told to wait for it: moving them is no advice yet.
    elsewhere = Person.objects.filter(
        id_number__in=[n for n in seen if n not in existing and n not in awaiting], household__isnull=False
    )
    for person in elsewhere.select_related("household"):
        errors.add(
            seen[person.id_number],
            "id_number",
            _("%(name)s belongs to household %(number)s; move the person from there instead.")
            % {"name": person.name, "number": person.household.number},
        )
    errors.raise_if_any()

    household = Household.objects.create(
        number=_next_household_number(village.code),
        region_code=village.code,
        kind=kind,
        address=address.strip(),
        residence_permit_number=residence_permit_number.strip(),
        created_by_id=scope.user_id,
        updated_by_id=scope.user_id,
    )
    persons = [
        _upsert_person(
            member=member,
            parsed=parsed,
            household=household,
            region_code=household.region_code,
            updated_by_id=scope.user_id,
        )
        for member, parsed in parsed_members
    ]
    return _submit(scope=scope, household=household, persons=persons)


def _household_found_again(
    *,
    scope: Scope,
    village: Region,
    household: Household,
    household_revision: int | None,
    members: Sequence[MemberInput],
    member_revisions: Sequence[int | None],
    kind: str,
    address: str,
    residence_permit_number: str,
) -> RegistrationApplication:
    """Members of a registered household, each matched by identifier to the member it corrects."""
    if household.region_code != village.code:
        raise ValidationError(
            {
                "region_code": _(
                    "Household %(number)s is registered in another village; transfer it rather than registering it here."
                )
                % {"number": household.number}
            }
        )
    if household_revision is None:
        raise ValidationError(
            {
                "household_revision": _(
                    "Give the household's revision as read, so that no one's later change is undone."
                )
            }
        )
    registered = {person.id_number: person.pk for person in household.members.all()}
    rows = []
    for index, member in enumerate(members):
        try:
            number = identifiers.parse_identifier(
                member.id_kind, member.id_number, nationality=member.nationality or None
            ).number
        except identifiers.IdentifierError:
            number = None  # the row's own checks say why
        rows.append(
            RowInput(
                member=member,
                person_id=registered.get(number) if number else None,
                revision=member_revisions[index] if index < len(member_revisions) else None,
            )
        )
    return household_members_submit(
        scope=scope,
        household_id=household.pk,
        rows=rows,
        kind=kind,
        address=address,
        residence_permit_number=residence_permit_number,
        household_revision=household_revision,
    )


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
def application_approve(
    *, scope: Scope, application_id: int, enrollment_date: dt.date
) -> RegistrationApplication:
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


def _close_with_reason(
    *, scope: Scope, application_id: int, status: str, reason: str, missing_reason: str
) -> RegistrationApplication:
    """Reject or return: the clerk sees the reason, so there must be one."""
    if not reason.strip():
        raise ValidationError({"reason": missing_reason})
    application = _decide(scope=scope, application_id=application_id, expect=[ApplicationStatus.SUBMITTED])
    application.status = status
    application.decision_note = reason.strip()
    application.decided_by_id = scope.user_id
    application.decided_at = timezone.now()
    application.save()
    return application


@transaction.atomic
def application_reject(*, scope: Scope, application_id: int, reason: str) -> RegistrationApplication:
    return _close_with_reason(
        scope=scope,
        application_id=application_id,
        status=ApplicationStatus.REJECTED,
        reason=reason,
        missing_reason=_("Give the reason; the clerk will see it."),
    )


@transaction.atomic
def application_return(*, scope: Scope, application_id: int, reason: str) -> RegistrationApplication:
    return _close_with_reason(
        scope=scope,
        application_id=application_id,
        status=ApplicationStatus.RETURNED,
        reason=reason,
        missing_reason=_("Say what needs correcting; the clerk will see it."),
    )


# --- members ----------------------------------------------------------------------------------


class EditConflictError(ValidationError):
    """The record changed after the editor read it (HTTP 409): their save would undo that change."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict")
        self.message = message


def _last_change(record: Person | Household, *, otherwise: dt.datetime) -> dict[str, str]:
    """Who last changed a guarded row and when, for the refusal of a save made on an older revision.

    When: the row's last change in its database-level history (every path writes it, bulk
    statements too); who: the user the writing service recorded."""
    when = record.events.order_by("-pgh_id").values_list("pgh_created_at", flat=True).first()
    changer = record.updated_by
    return {
        "who": (changer.full_name or changer.username) if changer else _("Someone"),
        "when": timezone.localtime(when or otherwise).strftime("%Y-%m-%d %H:%M:%S"),
    }


def _edit_conflict_message(person: Person, *, form: bool = False) -> str:
    """Who changed the person and when; ``form``: the person was one row of a form of many."""
    if form:
        message = _(
            "%(who)s changed %(name)s's data at %(when)s, after you opened this form; nothing was saved. "
            "Open the form again, look at the data as they are now and enter your changes again."
        )
    else:
        message = _(
            "%(who)s changed %(name)s's data at %(when)s, after you opened them; your changes were not "
            "saved. Open the person again, look at the data as they are now and enter your changes again."
        )
    return message % {"name": person.name, **_last_change(person, otherwise=person.updated_at)}


@transaction.atomic
def person_update(
    *, scope: Scope, person_id: int, member: MemberInput, revision: int | None = None
) -> Person:
    """Correct a person's data; the identifier itself may be corrected too (then re-checked).

    ``revision`` is the person's revision the editor read (forms and the API send it): if the row
    changed since — another clerk's or a reviewer's edit, or any other write — nothing is saved and
    ``EditConflictError`` names who changed it and when (no lost update). The row is locked first,
    so two saves of the same revision cannot both pass the check.
    """
    from accounts.roles import Action

    # No join in the locking read: a save that waited for the lock gets the committed row back, but a
    # joined row (the last editor) would be matched as it was before, and come back empty.
    person = scope.filter(Person.objects.select_for_update()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError(_("No such person in your area."))
    _require(scope, Action.ENROLLMENT_REGISTER, person.region_code)
    if revision is not None and revision != person.revision:
        raise EditConflictError(_edit_conflict_message(person))
    errors = RowErrors()
    parsed = _validate_member(0, member, errors)
    if (
        parsed
        and parsed.number != person.id_number
        and Person.objects.filter(id_number=parsed.number).exists()
    ):
        errors.add(0, "id_number", _("Another person already has this identifier."))
    elif (
        parsed
        and parsed.number != person.id_number
        and Assessment.objects.filter(person_id=person.pk).exists()
    ):
        # Tax keeps the payer, the due items (``due:<identifier>:<year>``) and the payments by the
        # identifier: a new one here would leave the old due items open there, give tax a second
        # payer and let a payment made under the old number reach no assessment.
        errors.add(
            0,
            "id_number",
            _(
                "%(name)s's identifier cannot be changed here: %(name)s has been assessed, and tax keeps the "
                "payer, the amounts due and the payments under the current identifier. Keep it, and ask the "
                "county's medical insurance office to correct it (“Correct identifier” on the person's page), "
                "which tells the tax bureau in the same step."
            )
            % {"name": person.name},
        )
    if (
        person.household_id
        and member.relation == Relation.HEAD
        and Person.objects.filter(household_id=person.household_id, relation=Relation.HEAD)
        .exclude(pk=person.pk)
        .exists()
    ):
        errors.add(0, "relation", _("That household already has a head."))
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
        updated_by_id=scope.user_id,
    )
    person.refresh_from_db()
    normal = (
        Enrollment.objects.filter(person=person, status=EnrollmentStatus.NORMAL)
        .select_related("person")
        .first()
    )
    if normal is not None:
        _send_changed(normal, changed_on=timezone.localdate(), reason="data_corrected")
    return person


# --- identifier corrections -------------------------------------------------------------------


@dataclass(frozen=True)
class IdentifierCorrectionPreview:
    """What a correction would do, checked and not yet made: for the confirmation step."""

    person: Person
    old_kind: str
    old_number: str
    new_kind: str
    new_number: str
    reason: str


def _correction_checked(
    scope: Scope, *, person: Person, id_kind: str, new_identifier: str, reason: str
) -> IdentifierCorrectionPreview:
    """Every check of ``person_identifier_correct`` that needs no lock: the reason, the new number as
    registration checks it (kind, characters, check digit), and the person's birth date and sex
    against what it encodes. Raises ValidationError with the fields' messages."""
    errors: dict[str, list[str]] = {}
    reason = reason.strip()
    if not reason:
        errors["reason"] = [
            _("Say what was wrong with the identifier; the reason is kept with the correction.")
        ]
    elif len(reason) > 200:
        errors["reason"] = [_("The reason may be at most 200 characters.")]
    parsed = None
    try:
        parsed = identifiers.parse_identifier(id_kind, new_identifier, nationality=person.nationality or None)
    except identifiers.IdentifierError as error:
        errors["new_identifier"] = [error.message]
    if parsed is not None and parsed.number == person.id_number:
        errors["new_identifier"] = [_("This is already %(name)s's identifier.") % {"name": person.name}]
    elif parsed is not None:
        problems = []
        if parsed.birth_date is not None and parsed.birth_date != person.birth_date:
            problems.append(
                _(
                    "The new identifier encodes the birth date %(encoded)s, but %(name)s's record has "
                    "%(recorded)s."
                )
                % {
                    "encoded": parsed.birth_date.isoformat(),
                    "name": person.name,
                    "recorded": person.birth_date.isoformat(),
                }
            )
        if parsed.sex is not None and parsed.sex != person.sex:
            problems.append(
                _(
                    "The new identifier encodes the sex as %(encoded)s, but %(name)s's record has %(recorded)s."
                )
                % {
                    "encoded": Sex(str(parsed.sex)).label,
                    "name": person.name,
                    "recorded": person.get_sex_display(),
                }
            )
        if problems:
            problems.append(
                _("Check the number; if the record is what is wrong, correct the birth date or sex first.")
            )
            errors["new_identifier"] = problems
    if errors:
        raise ValidationError(errors)
    assert parsed is not None
    return IdentifierCorrectionPreview(
        person=person,
        old_kind=person.id_kind,
        old_number=person.id_number,
        new_kind=str(parsed.kind),
        new_number=parsed.number,
        reason=reason,
    )


def _identifier_taken_message(scope: Scope, holder: Person) -> str:
    """The new identifier is another person's: one person registered twice, not a typing mistake.
    Outside the caller's area the holder's name is not told (anyone could type a number)."""
    if scope.covers_region_code(holder.region_code):
        who = _("%(name)s, registered at %(where)s") % {
            "name": holder.name,
            "where": mask_region_for(scope, holder.region_code),
        }
    else:
        who = _("someone registered at %(where)s") % {"where": mask_region_for(scope, holder.region_code)}
    return _(
        "Another person (%(who)s) already has this identifier. That is one person registered twice, not a "
        "mistyped number: end the duplicate enrollment from the duplicates queue instead of correcting "
        "the identifier here."
    ) % {"who": who}


def person_identifier_correction_preview(
    *, scope: Scope, person_id: int, id_kind: str, new_identifier: str, reason: str
) -> IdentifierCorrectionPreview:
    """Check a correction as ``person_identifier_correct`` would, without making it (the page's
    confirmation step shows old and new from it)."""
    from accounts.roles import Action

    person = scope.filter(Person.objects.all()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError(_("No such person in your area."))
    _require(scope, Action.PERSON_IDENTIFIER_CORRECT, person.region_code)
    preview = _correction_checked(
        scope, person=person, id_kind=id_kind, new_identifier=new_identifier, reason=reason
    )
    holder = Person.objects.filter(id_number=preview.new_number).exclude(pk=person.pk).first()
    if holder is not None:
        raise ValidationError({"new_identifier": [_identifier_taken_message(scope, holder)]})
    return preview


@transaction.atomic
def person_identifier_correct(
    *,
    scope: Scope,
    person_id: int,
    id_kind: str,
    new_identifier: str,
    reason: str,
    revision: int | None = None,
) -> IdentifierCorrection:
    """Correct a person's mistyped identifier after they were assessed, with tax, in one step.

    Checked as registration checks a number (kind, check digit; the person's birth date and sex
    must agree with what it encodes), unique among persons (another holder is a duplicate case,
    not a correction), with a reason. Straight through, like every other edit of a person by
    insurance staff; who, when, old and new are kept (``IdentifierCorrection``, and the database
    history of every row touched). In the same transaction: insurance's own records kept by the
    identifier string (deposit records, over-collection refunds) are re-keyed set-based, and ONE
    ``person.identifier_corrected`` message tells tax to re-key its ledger (docs/enrollment.md,
    "Correcting an identifier", for the order of the messages in flight). ``revision``: the
    person's revision as read; a change since is refused (``EditConflictError``).
    """
    from accounts.roles import Action
    from refunds.models import OvercollectionRefund

    from .models import DepositRecord

    scope.require(Action.PERSON_IDENTIFIER_CORRECT)
    current = (
        scope.filter(Person.objects.all()).filter(pk=person_id).values_list("id_number", flat=True).first()
    )
    if current is None:
        raise ValidationError(_("No such person in your area."))
    # The registration of either number waits for this transaction, and this for theirs; taken
    # before the person's row, in the order registration takes them (numbers, then persons).
    _lock_identifiers([current, identifiers.normalise(new_identifier)])
    person = scope.filter(Person.objects.select_for_update()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError(_("No such person in your area."))
    _require(scope, Action.PERSON_IDENTIFIER_CORRECT, person.region_code)
    if revision is not None and revision != person.revision:
        raise EditConflictError(_edit_conflict_message(person))
    preview = _correction_checked(
        scope, person=person, id_kind=id_kind, new_identifier=new_identifier, reason=reason
    )
    old, new = preview.old_number, preview.new_number
    holder = Person.objects.filter(id_number=new).exclude(pk=person.pk).first()
    if holder is not None:
        raise ValidationError({"new_identifier": [_identifier_taken_message(scope, holder)]})
    Person.objects.filter(pk=person.pk).update(
        id_kind=preview.new_kind, id_number=new, updated_at=timezone.now(), updated_by_id=scope.user_id
    )
    # Insurance's records that carry the identifier itself rather than the person's key.
    DepositRecord.objects.filter(id_number=old).update(id_number=new)
    OvercollectionRefund.objects.filter(person_id=old).update(person_id=new)
    # The moment tax reads "before the correction" by: a message whose sending transaction began
    # earlier may have read the old number (clock_timestamp, not the transaction's start: a
    # transaction that began before this one and reads after it commits already sees the new one).
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        corrected_at = cursor.fetchone()[0]
    correction = IdentifierCorrection.objects.create(
        person=person,
        old_kind=preview.old_kind,
        old_number=old,
        new_kind=preview.new_kind,
        new_number=new,
        reason=preview.reason,
        corrected_by_id=scope.user_id,
        corrected_at=corrected_at,
    )
    correction.message_id = message_send(
        topic="person.identifier_corrected",
        payload={
            "old_person_id": old,
            "person_id": new,
            "region_code": person.region_code,
            "correction_id": correction.pk,
            "id_kind": preview.new_kind,
            "corrected_at": corrected_at.isoformat(),
            "reason": preview.reason,
        },
    )
    IdentifierCorrection.objects.filter(pk=correction.pk).update(message_id=correction.message_id)
    return correction


@transaction.atomic
def person_move(*, scope: Scope, person_id: int, household_id: int, relation: str) -> Person:
    """Move a member into another household (e.g. after marriage); within the county the person's
    enrollment moves with them (``_move_enrollment``)."""
    from accounts.roles import Action

    person = scope.filter(Person.objects.select_for_update()).filter(pk=person_id).first()
    target = scope.filter(Household.objects.select_for_update()).filter(pk=household_id).first()
    if person is None or target is None:
        raise ValidationError(_("No such person or household in your area."))
    _require(scope, Action.ENROLLMENT_REGISTER, target.region_code)
    if relation not in Relation.values:
        raise ValidationError({"relation": _("Choose the relation to the head of household.")})
    if (
        relation == Relation.HEAD
        and target.members.filter(relation=Relation.HEAD).exclude(pk=person.pk).exists()
    ):
        raise ValidationError({"relation": _("That household already has a head.")})
    if (
        person.relation == Relation.HEAD
        and person.household_id
        and person.household.members.exclude(pk=person.pk).exists()
    ):
        raise ValidationError(
            {"relation": _("Choose a new head for the old household before moving its head.")}
        )
    # A household waiting for review is reviewed as submitted: its members (and a person on an
    # application) stay put until it is decided. A returned one is corrected on its form anyway.
    pending = (
        RegistrationApplication.objects.filter(status=ApplicationStatus.SUBMITTED)
        .filter(Q(persons=person) | Q(household=target))
        .select_related("household")
        .order_by("pk")
        .first()
    )
    if pending is not None:
        raise ValidationError(
            _(
                "Household %(number)s has an application waiting for review; move the person once it is decided."
            )
            % {"number": pending.household.number}
        )
    moved_from = person.region_code
    person.household = target
    person.relation = relation
    person.region_code = target.region_code
    person.updated_by_id = scope.user_id
    person.save()
    if moved_from != target.region_code:
        _move_enrollment(scope=scope, person=person, region_code=target.region_code)
    return person


def _move_enrollment(*, scope: Scope, person: Person, region_code: str) -> None:
    """The person's current enrollment in the county goes with them to ``region_code`` (迁移): the
    move is kept on its timeline (and in its history), its open years are reassessed there and tax
    is told, so the payer and the due items move village too. An enrollment in another county
    stays where it is: that is a transfer (转移接续), made by the receiving county."""
    today = timezone.localdate()
    moved = list(
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("person")
        .filter(
            person=person,
            status__in=(EnrollmentStatus.NORMAL, EnrollmentStatus.SUSPENDED),
            county_code=region_code[:6],
        )
        .exclude(region_code=region_code)
    )
    if not moved:
        return
    Enrollment.objects.filter(pk__in=[e.pk for e in moved]).update(region_code=region_code)
    EnrollmentChange.objects.bulk_create(
        EnrollmentChange(
            enrollment=enrollment,
            kind=ChangeKind.MOVED,
            reason=ChangeReason.MOVED_WITHIN_COUNTY,
            effective_on=today,
            note=f"{enrollment.region_code} → {region_code}",
            created_by_id=scope.user_id,
        )
        for enrollment in moved
    )
    for enrollment in moved:
        enrollment.region_code = region_code
        _send_changed(enrollment, changed_on=today, reason=ChangeReason.MOVED_WITHIN_COUNTY)


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
    if parsed is not None:
        _lock_identifiers([parsed.number])
        _refuse_awaiting(scope, {parsed.number: 0}, errors, household=household)
        enrolled = Enrollment.objects.select_related("person").filter(
            person__id_number=parsed.number, status=EnrollmentStatus.NORMAL
        )
        for enrollment in enrolled:
            errors.add(0, "id_number", _already_enrolled_message(scope, enrollment))
        other = Person.objects.filter(id_number=parsed.number, household__isnull=False).exclude(
            household=household
        )
        if other.exists():
            errors.add(
                0, "id_number", _("This person belongs to another household; move them from there instead.")
            )
    if RegistrationApplication.objects.filter(
        household=household, status__in=OPEN_APPLICATION_STATUSES
    ).exists():
        errors.add(
            0,
            "name",
            _(
                "The household has an application that is waiting or returned; add the newborn to that application."
            ),
        )
    errors.raise_if_any()
    assert parsed is not None
    person = _upsert_person(
        member=member,
        parsed=parsed,
        household=household,
        region_code=household.region_code,
        updated_by_id=scope.user_id,
    )
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
    *,
    scope: Scope,
    enrollment: Enrollment,
    kind: str,
    reason: str,
    effective_on: dt.date,
    note: str,
    evidence: UploadedFile | None,
) -> EnrollmentChange:
    change = EnrollmentChange(
        enrollment=enrollment,
        kind=kind,
        reason=reason,
        effective_on=effective_on,
        note=note.strip(),
        created_by_id=scope.user_id,
    )
    if evidence is not None:
        validate_evidence(evidence)
        change.evidence.save(evidence.name, evidence, save=False)
    change.save()
    return change


def _status_change(
    *,
    scope: Scope,
    enrollment: Enrollment,
    status: str,
    kind: str,
    reason: str,
    effective_on: dt.date,
    note: str,
    evidence: UploadedFile | None,
) -> None:
    """The enrollment moved to ``status`` for ``reason`` on ``effective_on``, and the change kept."""
    enrollment.status = status
    enrollment.status_reason = reason
    enrollment.status_changed_on = effective_on
    enrollment.save()
    _record_change(
        scope=scope,
        enrollment=enrollment,
        kind=kind,
        reason=reason,
        effective_on=effective_on,
        note=note,
        evidence=evidence,
    )


@transaction.atomic
def enrollment_suspend(
    *,
    scope: Scope,
    enrollment_id: int,
    reason: str,
    effective_on: dt.date,
    note: str = "",
    evidence: UploadedFile | None = None,
) -> Enrollment:
    enrollment = _enrollment_for_change(scope, enrollment_id)
    if reason not in SUSPENSION_REASONS:
        raise ValidationError({"reason": _("Choose a reason for suspension.")})
    if enrollment.status != EnrollmentStatus.NORMAL:
        raise ValidationError(
            _("Only a normal enrollment can be suspended; this one is %(status)s.")
            % {"status": enrollment.get_status_display()}
        )
    if effective_on < enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The date lies before the enrollment began.")})
    _status_change(
        scope=scope,
        enrollment=enrollment,
        status=EnrollmentStatus.SUSPENDED,
        kind=ChangeKind.SUSPENDED,
        reason=reason,
        effective_on=effective_on,
        note=note,
        evidence=evidence,
    )
    _send_changed(enrollment, changed_on=effective_on, reason=reason)
    return enrollment


@transaction.atomic
def enrollment_resume(
    *,
    scope: Scope,
    enrollment_id: int,
    effective_on: dt.date,
    note: str = "",
    evidence: UploadedFile | None = None,
) -> Enrollment:
    enrollment = _enrollment_for_change(scope, enrollment_id)
    if enrollment.status != EnrollmentStatus.SUSPENDED:
        raise ValidationError(
            _("Only a suspended enrollment can be resumed; this one is %(status)s.")
            % {"status": enrollment.get_status_display()}
        )
    if effective_on < enrollment.status_changed_on:
        raise ValidationError({"effective_on": _("The date lies before the suspension.")})
    other = Enrollment.objects.filter(person=enrollment.person, status=EnrollmentStatus.NORMAL).first()
    if other is not None:
        raise ValidationError(_already_enrolled_message(scope, other))
    _status_change(
        scope=scope,
        enrollment=enrollment,
        status=EnrollmentStatus.NORMAL,
        kind=ChangeKind.RESUMED,
        reason=ChangeReason.RESUMPTION,
        effective_on=effective_on,
        note=note,
        evidence=evidence,
    )
    _send_changed(enrollment, changed_on=effective_on, reason=ChangeReason.RESUMPTION)
    return enrollment


def _terminate(
    *,
    scope: Scope,
    enrollment: Enrollment,
    reason: str,
    ended_on: dt.date,
    note: str,
    evidence: UploadedFile | None,
) -> Enrollment:
    if reason not in TERMINATION_REASONS:
        raise ValidationError({"reason": _("Choose a reason for termination.")})
    if enrollment.status == EnrollmentStatus.TERMINATED:
        raise ValidationError(_("This enrollment is already terminated."))
    if ended_on < enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The date lies before the enrollment began.")})
    enrollment.ended_on = ended_on
    _status_change(
        scope=scope,
        enrollment=enrollment,
        status=EnrollmentStatus.TERMINATED,
        kind=ChangeKind.TERMINATED,
        reason=reason,
        effective_on=ended_on,
        note=note,
        evidence=evidence,
    )
    _send_terminated(enrollment, reason=reason)
    return enrollment


@transaction.atomic
def enrollment_terminate(
    *,
    scope: Scope,
    enrollment_id: int,
    reason: str,
    effective_on: dt.date,
    note: str = "",
    evidence: UploadedFile | None = None,
) -> Enrollment:
    """End an enrollment on ``effective_on`` (the last covered day): death, emigration, duplicates…"""
    enrollment = _enrollment_for_change(scope, enrollment_id)
    return _terminate(
        scope=scope, enrollment=enrollment, reason=reason, ended_on=effective_on, note=note, evidence=evidence
    )


@transaction.atomic
def enrollment_transfer(
    *,
    scope: Scope,
    id_number: str,
    to_region_code: str,
    household_id: int | None,
    relation: str,
    effective_on: dt.date,
    note: str = "",
    evidence: UploadedFile | None = None,
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
        raise ValidationError(
            {"to_region_code": _("A transfer goes to another county; within a county, move the household.")}
        )
    if effective_on <= enrollment.enrolled_on:
        raise ValidationError({"effective_on": _("The transfer date must follow the enrollment date.")})
    household = None
    if household_id is not None:
        household = Household.objects.filter(pk=household_id, region_code=village.code).first()
        if household is None:
            raise ValidationError({"household_id": _("No such household in that village.")})
    _terminate(
        scope=scope,
        enrollment=enrollment,
        reason=ChangeReason.TRANSFER_OUT,
        ended_on=effective_on - dt.timedelta(days=1),
        note=note,
        evidence=evidence,
    )
    person = enrollment.person
    person.household = household
    person.relation = relation if household else ""
    person.region_code = village.code
    person.updated_by_id = scope.user_id
    person.save()
    new = Enrollment.objects.create(
        person=person,
        county_code=village.code[:6],
        region_code=village.code,
        status=EnrollmentStatus.NORMAL,
        enrolled_on=effective_on,
        status_reason=ChangeReason.TRANSFER_IN,
        status_changed_on=effective_on,
    )
    _record_change(
        scope=scope,
        enrollment=new,
        kind=ChangeKind.REGISTERED,
        reason=ChangeReason.TRANSFER_IN,
        effective_on=effective_on,
        note=note,
        evidence=None,
    )
    _send_registered(new)
    return new


def school_of(scope: Scope) -> Agency | None:
    if scope.role != Role.SCHOOL_CLERK or scope.agency_id is None:
        return None
    return Agency.objects.filter(pk=scope.agency_id, kind=AgencyKind.SCHOOL).first()


# --- school rosters (registration pages) ---
#
# Also here: the registration pages' "correct and resubmit / add members" of a household whose
# head is already registered (household_register wants the head among the members it is given).
#
# A school roster is anchored to a collective household (集体户) record of its own, because a
# RegistrationApplication needs a household today (household NOT NULL, one open application per
# household) while a school submits many rosters that are reviewed one by one. The students are
# not members of it: like every student they have household=None (unless they already belong to
# a household, which they keep), school=the school and region_code=the school's region.
# The anchor only carries the application; see the registration report for the model change
# (a nullable household and a school on RegistrationApplication) that would make it unnecessary.


@dataclass
class RowInput:
    """One row of a registration form: a new person (person_id None) or a correction of one."""

    member: MemberInput
    person_id: int | None = None
    # A correction's revision of the person as the form showed it (the form sends it back).
    revision: int | None = None


def _household_conflict_message(household: Household) -> str:
    return _(
        "%(who)s changed household %(number)s at %(when)s, after you opened this form; nothing was "
        "saved. Open the form again, look at the data as they are now and enter your changes again."
    ) % {"number": household.number, **_last_change(household, otherwise=household.created_at)}


def _lock_corrected(rows: Sequence[RowInput], *, allowed: set[int]) -> None:
    """Lock the persons the rows correct (those of ``allowed``, in id order) and refuse the whole
    form if any of them changed after it was opened — another clerk's resubmission, a reviewer's
    correction, any write: saving would silently undo that change. A row of another person is the
    row checks' to refuse."""
    rows = [row for row in rows if row.person_id in allowed]
    ids = sorted({row.person_id for row in rows if row.person_id is not None})
    if not ids:
        return
    # No join in the locking read: a save that waited for the lock must see the committed row.
    persons = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    for row in rows:
        person = persons.get(row.person_id) if row.person_id is not None else None
        if person is None:
            continue  # a new person, or no such person: the row's own checks say so
        if row.revision is None:
            raise ValidationError(_("This form is out of date; open it again."))
        if row.revision != person.revision:
            raise EditConflictError(_edit_conflict_message(person, form=True))


def _refuse_awaiting(
    scope: Scope,
    seen: dict[str, int],
    errors: RowErrors,
    *,
    exclude_person_ids: Iterable[int] = (),
    household: Household | None = None,
) -> set[str]:
    """A person in another registration still awaiting insurance's decision (a village's household,
    a school's roster) is that registration's until it is decided: registering them again — on a
    household's form, a school's roster or as a newborn — would take them from it unseen.

    ``seen`` maps the identifiers to check to their rows; the persons of ``exclude_person_ids`` and
    an application of ``household`` itself are the form's own. Returns the identifiers refused."""
    if not seen:
        return set()
    refused: set[str] = set()
    awaiting = RegistrationApplication.persons.through.objects.filter(
        person__id_number__in=list(seen),
        registrationapplication__status__in=OPEN_APPLICATION_STATUSES,
    ).exclude(person_id__in=list(exclude_person_ids))
    if household is not None:
        awaiting = awaiting.exclude(registrationapplication__household=household)
    for id_number, name, other_region, number in awaiting.values_list(
        "person__id_number", "person__name", "registrationapplication__region_code",
        "registrationapplication__household__number",
    ):  # fmt: skip
        where = (
            _("Household %(number)s") % {"number": number}
            if scope.covers_region_code(other_region)
            else mask_region_for(scope, other_region)
        )
        errors.add(
            seen[id_number],
            "id_number",
            _(
                "%(name)s is in a registration awaiting insurance's decision: %(where)s. "
                "Register the person again only once it is decided."
            )
            % {"name": name, "where": where},
        )
        refused.add(id_number)
    return refused


def _check_rows(
    *,
    scope: Scope,
    rows: Sequence[RowInput],
    errors: RowErrors,
    allowed_person_ids: set[int],
    household: Household | None,
) -> list[tuple[RowInput, identifiers.ParsedIdentifier]]:
    """Each row's own checks, then the checks against what is stored; errors by row and field."""
    checked: list[tuple[RowInput, identifiers.ParsedIdentifier]] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row.person_id is not None and row.person_id not in allowed_person_ids:
            errors.add(index, "name", _("This row no longer belongs to this application; reload the page."))
            continue
        parsed = _validate_member(index, row.member, errors)
        if parsed is None:
            continue
        if parsed.number in seen:
            message = _("This identifier is already in row %(row)s.") % {"row": seen[parsed.number] + 1}
            errors.add(index, "id_number", message)
            continue
        seen[parsed.number] = index
        checked.append((row, parsed))
    _lock_identifiers(seen)
    stored = {
        p.id_number: p for p in Person.objects.select_related("household").filter(id_number__in=list(seen))
    }
    flagged: set[str] = set()
    for row, parsed in checked:
        index = seen[parsed.number]
        other = stored.get(parsed.number)
        if other is None:
            continue
        flagged.add(parsed.number)
        if row.person_id is not None and other.pk != row.person_id:
            errors.add(index, "id_number", _("Another person already has this identifier."))
        elif (
            row.person_id is None and household is not None and other.household_id not in (None, household.pk)
        ):
            where = (
                other.household.number
                if scope.covers_region_code(other.region_code)
                else mask_region_for(scope, other.region_code)
            )
            errors.add(
                index,
                "id_number",
                _(
                    "%(name)s is a member of household %(number)s; move the person instead of registering again."
                )
                % {"name": other.name, "number": where},
            )
        else:
            flagged.discard(parsed.number)
    _refuse_awaiting(
        scope,
        {number: index for number, index in seen.items() if number not in flagged},
        errors,
        exclude_person_ids=allowed_person_ids,
        household=household,
    )
    person_ids = [row.person_id for row, _parsed in checked if row.person_id is not None]
    enrolled = Enrollment.objects.select_related("person").filter(status=EnrollmentStatus.NORMAL)
    for enrollment in enrolled.filter(person__id_number__in=list(seen)) | enrolled.filter(
        person_id__in=person_ids
    ):
        index = seen.get(enrollment.person.id_number)
        if index is None:
            index = next(seen[p.number] for r, p in checked if r.person_id == enrollment.person_id)
        errors.add(index, "id_number", _already_enrolled_message(scope, enrollment))
    return checked


def _save_row(
    *,
    row: RowInput,
    parsed: identifiers.ParsedIdentifier,
    household: Household | None,
    region_code: str,
    school: Agency | None = None,
    keep_household: bool = False,
    updated_by_id: int | None = None,
) -> Person:
    member = row.member
    values: dict[str, object] = {
        "id_kind": parsed.kind,
        "id_number": parsed.number,
        "nationality": member.nationality.strip().upper(),
        "name": member.name.strip(),
        "sex": member.sex,
        "birth_date": member.birth_date,
        "ethnicity": member.ethnicity.strip(),
        "phone": member.phone.strip(),
        "category": member.category,
        "school": school,
        "region_code": region_code,
    }
    if keep_household and not values["phone"]:
        # A school's roster carries no phone: a student's household keeps the one it gave.
        del values["phone"]
    if member.hukou_region_code:
        values["hukou_region_code"] = member.hukou_region_code.strip()
    if member.residence_region_code:
        values["residence_region_code"] = member.residence_region_code.strip()
    person = (
        Person.objects.select_for_update().filter(pk=row.person_id).first()
        if row.person_id is not None
        else Person.objects.select_for_update().filter(id_number=parsed.number).first()
    )
    if person is None:
        person = Person(household=household, relation=member.relation if household else "")
    if not (keep_household and person.household_id):
        person.household = household
        person.relation = member.relation if household else ""
    for name, value in values.items():
        setattr(person, name, value)
    person.updated_by_id = updated_by_id
    person.save()
    return person


@transaction.atomic
def household_members_submit(
    *,
    scope: Scope,
    household_id: int,
    rows: Sequence[RowInput],
    kind: str,
    address: str = "",
    residence_permit_number: str = "",
    household_revision: int,
) -> RegistrationApplication:
    """Submit (or, when it was returned, correct and resubmit) members of an existing household.

    Rows with a ``person_id`` correct that person (the identifier too); rows without one add a
    person. Without a returned application, it submits new members, e.g. a spouse after
    marriage, next to a head who is already registered. ``household_revision`` is the household's
    revision as the form or the API client read it (required): if the household changed since, or any person
    a row corrects (``RowInput.revision``), nothing is saved (``EditConflictError``).
    """
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_REGISTER)
    household = scope.filter(Household.objects.select_for_update()).filter(pk=household_id).first()
    if household is None:
        raise ValidationError(_("No such household in your area."))
    _require(scope, Action.ENROLLMENT_REGISTER, household.region_code)
    if household_revision != household.revision:
        raise EditConflictError(_household_conflict_message(household))
    open_application = (
        RegistrationApplication.objects.select_for_update()
        .filter(household=household, status__in=OPEN_APPLICATION_STATUSES)
        .first()
    )
    if open_application is not None and open_application.status == ApplicationStatus.SUBMITTED:
        raise ValidationError(_("This household already has an application waiting for review."))
    if not rows:
        raise ValidationError(_("Add at least one member."))
    if kind not in HouseholdKind.values:
        raise ValidationError({"kind": _("Choose the kind of household.")})
    if kind == HouseholdKind.RESIDENCE_PERMIT and not residence_permit_number.strip():
        raise ValidationError(
            {"residence_permit_number": _("A residence-permit household needs the permit number.")}
        )
    members = list(household.members.all())
    allowed = {p.pk for p in members}
    _lock_corrected(rows, allowed=allowed)
    errors = RowErrors()
    checked = _check_rows(
        scope=scope, rows=rows, errors=errors, allowed_person_ids=allowed, household=household
    )
    submitted_ids = {row.person_id for row in rows if row.person_id is not None}
    heads = [p for p in members if p.relation == Relation.HEAD and p.pk not in submitted_ids]
    row_heads = [i for i, row in enumerate(rows) if row.member.relation == Relation.HEAD]
    if len(heads) + len(row_heads) != 1:
        errors.add(row_heads[-1] if row_heads else 0, "relation", _("A household has exactly one head."))
    errors.raise_if_any()
    household.kind = kind
    household.address = address.strip()
    permit = residence_permit_number.strip()
    household.residence_permit_number = permit if kind == HouseholdKind.RESIDENCE_PERMIT else ""
    household.updated_by_id = scope.user_id
    household.save()
    persons = [
        _save_row(
            row=row,
            parsed=parsed,
            household=household,
            region_code=household.region_code,
            updated_by_id=scope.user_id,
        )
        for row, parsed in checked
    ]
    return _submit(scope=scope, household=household, persons=persons)


def school_region_code(school: Agency) -> str:
    """Where a school's students are registered: its region's 12-digit code (a county or township
    school's code ends in zeros)."""
    return school.region.code.ljust(12, "0")


@transaction.atomic
def school_roster_register(
    *,
    scope: Scope,
    students: Sequence[MemberInput | RowInput],
    label: str = "",
    application_id: int | None = None,
) -> RegistrationApplication:
    """A school clerk submits a roster of students for enrollment (or corrects and resubmits a
    returned one, given ``application_id``)."""
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_REGISTER)
    school = school_of(scope)
    if school is None:
        raise ValidationError(_("Only a school's clerk registers a school roster."))
    region_code = school_region_code(school)
    _require(scope, Action.ENROLLMENT_REGISTER, region_code)
    rows = [s if isinstance(s, RowInput) else RowInput(member=s) for s in students]
    if not rows:
        raise ValidationError(_("Add at least one student."))
    application = None
    allowed: set[int] = set()
    if application_id is not None:
        application = (
            scope.filter(RegistrationApplication.objects.select_for_update(of=("self",)))
            .filter(pk=application_id, region_code=region_code, household__members__isnull=True)
            .first()
        )
        if application is None or not application.persons.filter(school=school).exists():
            raise ValidationError(_("No such roster of your school."))
        if application.status != ApplicationStatus.RETURNED:
            raise ValidationError(
                _("This roster is %(status)s; only a returned roster can be corrected and resubmitted.")
                % {"status": application.get_status_display()}
            )
        allowed = set(application.persons.values_list("pk", flat=True))
        _lock_corrected(rows, allowed=allowed)
    for row in rows:  # a student belongs to no household through the roster: any relation passes
        row.member.relation = row.member.relation or Relation.OTHER
    errors = RowErrors()
    checked = _check_rows(scope=scope, rows=rows, errors=errors, allowed_person_ids=allowed, household=None)
    errors.raise_if_any()
    if application is None:
        anchor = Household.objects.create(
            number=_next_household_number(region_code),
            region_code=region_code,
            kind=HouseholdKind.HUKOU,
            address=(
                _("%(school)s student roster (collective household)") % {"school": school.name}
                + (f" · {label.strip()}" if label.strip() else "")
            )[:200],
            created_by_id=scope.user_id,
        )
    else:
        anchor = application.household
    persons = [
        _save_row(
            row=row,
            parsed=parsed,
            household=None,
            region_code=region_code,
            school=school,
            keep_household=True,
            updated_by_id=scope.user_id,
        )
        for row, parsed in checked
    ]
    return _submit(scope=scope, household=anchor, persons=persons)


# --- imports and duplicates (bulk) ---

import logging  # noqa: E402
from pathlib import Path  # noqa: E402

from django.core.exceptions import PermissionDenied  # noqa: E402
from django.utils import translation  # noqa: E402

from . import duplicates as _duplicates  # noqa: E402
from . import imports as _imports  # noqa: E402
from .models import (  # noqa: E402
    DuplicateCase,
    DuplicateSide,
    DuplicateStatus,
    ImportJob,
    ImportKind,
    ImportStatus,
    KeepBasis,
)

_bulk_log = logging.getLogger("portal.enrollment.bulk")


def _queue_import(job: ImportJob, user_id: int) -> None:
    """After commit, hand the job to a worker; if no worker can be reached, say so on the job."""
    job_id = job.pk

    def queue() -> None:
        from .tasks import process_import

        try:
            process_import.apply_async(kwargs={"job_id": job_id, "user_id": user_id}, retry=False)
        except Exception as error:
            _bulk_log.warning("import %s: could not queue (%s)", job_id, type(error).__name__)
            ImportJob.objects.filter(
                pk=job_id, status__in=[ImportStatus.PENDING, ImportStatus.CONFIRMED]
            ).update(
                status=ImportStatus.FAILED,
                message=_(
                    "The background workers could not be reached; nothing was imported. Upload the file again."
                ),
                finished_at=timezone.now(),
            )

    transaction.on_commit(queue)


@transaction.atomic
def import_job_create(
    *, scope: Scope, kind: str, upload: UploadedFile, language: str = "zh-hans"
) -> ImportJob:
    """Keep an uploaded spreadsheet under MEDIA_ROOT/imports/ and queue it for a worker.

    An employee-insurance list is applied at once; a household file is checked first and
    imported only when someone confirms the preview (``import_job_confirm``).
    """
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_IMPORT)
    if kind not in ImportKind.values:
        raise ValidationError({"kind": _("Choose what the file contains.")})
    if scope.user_id is None or (scope.region_code is None and not scope.unrestricted):
        raise PermissionDenied(_("Your role may not do this."))
    name, file_format = _imports.upload_checked(upload)
    job = ImportJob(
        kind=kind,
        original_name=name,
        file_format=file_format,
        region_code=scope.region_code or "000000000000",
        language=language or "zh-hans",
        created_by_id=scope.user_id,
    )
    job.file.save(name, upload, save=False)
    job.save()
    _queue_import(job, scope.user_id)
    return job


def _import_job_for_update(scope: Scope, job_id: int) -> ImportJob:
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_IMPORT)
    job = scope.filter(ImportJob.objects.select_for_update()).filter(pk=job_id).first()
    if job is None:
        raise ValidationError(_("No such import in your area."))
    return job


@transaction.atomic
def import_job_confirm(*, scope: Scope, job_id: int) -> ImportJob:
    """Confirm a checked household file: a worker imports it (checking it once more)."""
    job = _import_job_for_update(scope, job_id)
    if job.kind != ImportKind.HOUSEHOLDS or job.status != ImportStatus.CHECKED:
        raise ValidationError(
            _("This import is “%(status)s”; only a checked household file can be confirmed.")
            % {"status": job.get_status_display()}
        )
    if not (job.counts or {}).get("ok"):
        raise ValidationError(_("No row of this file can be imported; correct the file and upload it again."))
    job.status = ImportStatus.CONFIRMED
    job.confirmed_by_id = scope.user_id
    job.confirmed_at = timezone.now()
    job.save()
    _queue_import(job, scope.user_id)
    return job


@transaction.atomic
def import_job_discard(*, scope: Scope, job_id: int) -> ImportJob:
    """Drop a checked household file instead of importing it; the stored file is deleted."""
    job = _import_job_for_update(scope, job_id)
    if job.status != ImportStatus.CHECKED:
        raise ValidationError(
            _("This import is “%(status)s”; only a checked file waiting for confirmation can be discarded.")
            % {"status": job.get_status_display()}
        )
    job.status = ImportStatus.DISCARDED
    job.finished_at = timezone.now()
    job.save()
    stored = job.file.name
    storage = job.file.storage
    transaction.on_commit(lambda: storage.delete(stored))
    return job


@transaction.atomic
def _import_job_run(*, scope: Scope, job_id: int) -> ImportJob | None:
    from accounts.roles import Action

    # Held for the whole import: a second delivery of the task finds the row locked and leaves
    # it (without skip_locked it waited for the whole import of the first).
    job = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
    if job is None:
        return ImportJob.objects.filter(pk=job_id).first()  # gone, or another delivery has it
    if not job.waiting:
        return job  # already done by an earlier delivery of the task
    scope.require(Action.ENROLLMENT_IMPORT)
    if not scope.filter(ImportJob.objects.filter(pk=job.pk)).exists():
        raise ValidationError(_("No such import in your area."))
    path = Path(job.file.path)
    with translation.override(job.language):
        if job.kind == ImportKind.EMPLOYEE_INSURANCE:
            job.counts = _imports.employee_insurance_apply(job=job, scope=scope, path=path)
            job.status, job.finished_at = ImportStatus.DONE, timezone.now()
        elif job.kind == ImportKind.HOUSEHOLD_REGISTER:
            job.counts = _imports.household_register_apply(job=job, scope=scope, path=path)
            job.status, job.finished_at = ImportStatus.DONE, timezone.now()
        elif job.status == ImportStatus.PENDING:
            job.counts = _imports.households_check(job=job, scope=scope, path=path)
            job.status, job.checked_at = ImportStatus.CHECKED, timezone.now()
        else:
            job.counts = _imports.households_apply(job=job, scope=scope, path=path)
            job.status, job.finished_at = ImportStatus.DONE, timezone.now()
    # job.message keeps what the import set: the reader's notes on the file (the sheets not read).
    job.save()
    return job


@transaction.atomic
def _import_job_fail(*, job_id: int, message: str) -> ImportJob | None:
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not job.waiting:
        return job
    job.status = ImportStatus.FAILED
    job.message = message[:2000]
    job.finished_at = timezone.now()
    job.save()
    return job


def import_job_process(*, scope: Scope, job_id: int) -> ImportJob | None:
    """A worker checks or applies one waiting import; all of its work is one transaction.

    Whatever goes wrong, nothing is half-applied: the transaction rolls back and the job is
    marked failed with a message for the person who uploaded it.
    """
    job = None
    try:
        job = _imports.run_import_guarded(
            run=lambda: _import_job_run(scope=scope, job_id=job_id),
            fail=lambda message: _import_job_fail(job_id=job_id, message=message),
            conflict_message=_(
                "Someone registered some of these persons while the import ran; nothing was imported. "
                "Upload the file again to check it anew."
            ),
            log=_bulk_log,
            label=f"import {job_id}",
        )
        return job
    finally:
        # A job still waiting was left to the delivery processing it: its progress stays.
        if job is None or not job.waiting:
            _imports.progress_clear(job_id)


@transaction.atomic
def duplicates_find(*, scope: Scope) -> _duplicates.FindResult:
    """Find duplicate enrollments (everywhere for the nightly job, in the caller's area on demand)."""
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_CHANGE)
    if scope.unrestricted:
        prefix = ""
    elif scope.region_prefix:
        prefix = scope.region_prefix
    else:
        raise PermissionDenied(_("Your role may not do this."))
    return _duplicates.find(region_prefix=prefix)


def _duplicate_for_update(scope: Scope, case_id: int) -> DuplicateCase:
    from accounts.roles import Action

    scope.require(Action.ENROLLMENT_CHANGE)
    case = (
        DuplicateCase.objects.select_for_update()
        .filter(pk=case_id, pk__in=scope.filter(DuplicateSide.objects.all()).values("case_id"))
        .first()
    )
    if case is None:
        raise ValidationError(_("No such case in your area."))
    if case.status != DuplicateStatus.OPEN:
        raise ValidationError(
            _("This case is already “%(status)s”; it cannot be decided again.")
            % {"status": case.get_status_display()}
        )
    return case


def duplicate_default_end(*, kept: Enrollment, drop: Enrollment) -> dt.date:
    """The last day of the enrollment to end: the day before the kept one began, never before its
    own start, never after its own end."""
    end = max(drop.enrolled_on, kept.enrolled_on - dt.timedelta(days=1))
    return min(end, drop.ended_on) if drop.ended_on else end


@transaction.atomic
def duplicate_resolve(
    *,
    scope: Scope,
    case_id: int,
    keep_enrollment_id: int,
    basis: str,
    note: str = "",
    effective_on: dt.date | None = None,
    evidence: UploadedFile | None = None,
) -> DuplicateCase:
    """Keep one enrollment of a duplicate case; the other is terminated as duplicate clean-up.

    The enrollment kept is the one at the habitual residence, or the one the person chose in
    writing (the signed document is uploaded and kept with the termination). The enrollment
    ended must lie in the caller's area; the other county's staff resolve it otherwise.
    """
    case = _duplicate_for_update(scope, case_id)
    if keep_enrollment_id not in (case.enrollment_a_id, case.enrollment_b_id):
        raise ValidationError({"keep": _("Choose one of the two enrollments to keep.")})
    if basis not in KeepBasis.values:
        raise ValidationError({"basis": _("Say why this enrollment is kept.")})
    if basis == KeepBasis.WRITTEN_CHOICE and evidence is None:
        raise ValidationError({"evidence": _("Upload the person's signed choice (PDF, JPEG or PNG).")})
    drop_id = case.enrollment_b_id if keep_enrollment_id == case.enrollment_a_id else case.enrollment_a_id
    locked = {
        enrollment.pk: enrollment
        for enrollment in Enrollment.objects.select_for_update(of=("self",))
        .select_related("person")
        .filter(pk__in=[case.enrollment_a_id, case.enrollment_b_id])
        .order_by("pk")
    }
    kept, drop = locked[keep_enrollment_id], locked[drop_id]
    if EnrollmentStatus.TERMINATED in (kept.status, drop.status):
        raise ValidationError(
            _("One of the two enrollments has been terminated meanwhile; the case no longer applies.")
        )
    if not scope.covers_region_code(drop.region_code):
        raise ValidationError(
            _("The enrollment to end lies in %(where)s; that county's insurance staff resolve it.")
            % {"where": mask_region_for(scope, drop.region_code)}
        )
    latest_end = duplicate_default_end(kept=kept, drop=drop)
    ended_on = effective_on or latest_end
    if drop.ended_on and ended_on > drop.ended_on:
        raise ValidationError(
            {
                "effective_on": _(
                    "That enrollment already ends on %(date)s; choose that day or an earlier one."
                )
                % {"date": drop.ended_on.isoformat()}
            }
        )
    if ended_on > latest_end:  # both would be current at once: the duplicate the case is about
        raise ValidationError(
            {
                "effective_on": _(
                    "The kept enrollment begins on %(start)s: end the other one on %(date)s or earlier, "
                    "so that the person is not enrolled twice."
                )
                % {"start": kept.enrolled_on.isoformat(), "date": latest_end.isoformat()}
            }
        )
    label = KeepBasis(basis).label
    change_note = f"{label} · #{case.pk}" + (f" · {note.strip()}" if note.strip() else "")
    _terminate(
        scope=scope,
        enrollment=drop,
        reason=ChangeReason.DUPLICATE_CLEANUP,
        ended_on=ended_on,
        note=change_note[:300],
        evidence=evidence,
    )
    case.termination = EnrollmentChange.objects.filter(enrollment=drop, kind=ChangeKind.TERMINATED).latest(
        "pk"
    )
    case.status = DuplicateStatus.RESOLVED
    case.kept = kept
    case.basis = basis
    case.note = note.strip()[:300]
    case.decided_by_id = scope.user_id
    case.decided_at = timezone.now()
    case.save()
    _duplicates.close_cases_of(enrollment_id=drop.pk, except_case_id=case.pk)
    return case


@transaction.atomic
def duplicate_dismiss(*, scope: Scope, case_id: int, note: str) -> DuplicateCase:
    """Not one person after all (same name and birth date happen): the case is closed, nothing changes."""
    if not note.strip():
        raise ValidationError({"note": _("Say how you know these are two different persons.")})
    case = _duplicate_for_update(scope, case_id)
    case.status = DuplicateStatus.DISMISSED
    case.note = note.strip()[:300]
    case.decided_by_id = scope.user_id
    case.decided_at = timezone.now()
    case.save()
    return case
