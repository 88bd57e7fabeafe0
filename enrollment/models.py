"""Households, persons, enrollments and registration applications: the medical insurance bureau's records.

Invariants live in the database:
- one identifier (参保识别码) is one person (unique);
- one person has at most one normal resident enrollment, anywhere (partial unique index);
- one person's enrollment periods never overlap (exclusion constraint on date ranges), so a
  transfer between counties leaves neither gap nor overlap by construction;
- a household has at most one open registration application.
Every table is tracked by database triggers (history), including bulk writes.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import BigIntegerRangeField, DateRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION

REGION_CODE = {"max_length": 12, "db_collation": CODE_COLLATION}


class IdKind(models.TextChoices):
    RESIDENT_ID = "resident_id", _("Resident ID card")
    HK_MACAO_PERMIT = "hk_macao_permit", _("Mainland travel permit for Hong Kong and Macao residents")
    TAIWAN_PERMIT = "taiwan_permit", _("Mainland travel permit for Taiwan residents")
    HMT_RESIDENCE_PERMIT = (
        "hmt_residence_permit",
        _("Residence permit for Hong Kong, Macao and Taiwan residents"),
    )
    FOREIGN_PASSPORT = "foreign_passport", _("Foreign passport")
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence", _("Foreign permanent residence ID card")
    GENERATED = "generated", _("Generated (no documents)")


class Sex(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class PersonCategory(models.TextChoices):
    RURAL = "rural", _("Rural resident")
    URBAN = "urban", _("Urban resident")
    STUDENT = "student", _("Student")
    PRESCHOOL = "preschool", _("Pre-school child")
    NEWBORN = "newborn", _("Newborn")


class Relation(models.TextChoices):
    HEAD = "head", _("Head of household")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    GRANDCHILD = "grandchild", _("Grandchild")
    GRANDPARENT = "grandparent", _("Grandparent")
    SIBLING = "sibling", _("Sibling")
    OTHER = "other", _("Other relative")


class HouseholdKind(models.TextChoices):
    HUKOU = "hukou", _("Registered residence (hukou)")
    RESIDENCE_PERMIT = "residence_permit", _("Residence permit")


class EnrollmentStatus(models.TextChoices):
    """National codes: 1 normal, 2 suspended, 4 terminated."""

    NORMAL = "normal", _("Normal")
    SUSPENDED = "suspended", _("Suspended")
    TERMINATED = "terminated", _("Terminated")


class ChangeKind(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    SUSPENDED = "suspended", _("Suspended")
    RESUMED = "resumed", _("Resumed")
    TERMINATED = "terminated", _("Terminated")
    MOVED = "moved", _("Moved within the county")


class ChangeReason(models.TextChoices):
    # registration
    NEW_REGISTRATION = "new_registration", _("New registration")
    TRANSFER_IN = "transfer_in", _("Transferred in")
    # suspension
    EMPLOYMENT = "employment", _("Employment")
    MOVING = "moving", _("Moving away")
    IMPRISONMENT = "imprisonment", _("Imprisonment")
    MILITARY_SERVICE = "military_service", _("Military service")
    OTHER_SUSPENSION = "other_suspension", _("Other suspension")
    # resumption
    RESUMPTION = "resumption", _("Resumption")
    # a move to a household elsewhere in the county (迁移)
    MOVED_WITHIN_COUNTY = "moved_within_county", _("Moved to a household elsewhere in the county")
    # termination
    DEATH = "death", _("Death")
    EMIGRATION = "emigration", _("Emigration")
    DUPLICATE_CLEANUP = "duplicate_cleanup", _("Duplicate enrollment cleaned up")
    TRANSFER_OUT = "transfer_out", _("Transferred out")
    EMPLOYEE_INSURANCE = "employee_insurance", _("Joined employee insurance")


SUSPENSION_REASONS = frozenset(
    {
        ChangeReason.EMPLOYMENT,
        ChangeReason.MOVING,
        ChangeReason.IMPRISONMENT,
        ChangeReason.MILITARY_SERVICE,
        ChangeReason.OTHER_SUSPENSION,
    }
)
TERMINATION_REASONS = frozenset(
    {
        ChangeReason.DEATH,
        ChangeReason.EMIGRATION,
        ChangeReason.DUPLICATE_CLEANUP,
        ChangeReason.TRANSFER_OUT,
        ChangeReason.EMPLOYEE_INSURANCE,
    }
)


class HouseholdCounter(models.Model):
    """The last household number used in one village (numbers are per village, gap-free)."""

    region_code = models.CharField(primary_key=True, **REGION_CODE)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.region_code}: {self.last_number}"


def _revision_trigger(name: str) -> pgtrigger.Trigger:
    """The lost-update guard of a row that forms and the API edit: every change of it, by any path,
    raises its revision, so a save made on what was read at an older revision can be refused."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Update,
        condition=pgtrigger.Condition("OLD.* IS DISTINCT FROM NEW.*"),
        func="NEW.revision := OLD.revision + 1; RETURN NEW;",
    )


def _last_changed_by() -> models.ForeignKey:
    """Who last changed the row, as the writing service recorded it (named when a save is refused)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last changed by"),
    )


@tracked()
class Household(models.Model):
    scope_region_lookup = "region_code"
    # A school clerk sees the rosters their school submitted.
    scope_school_lookup = "created_by__agency_id"

    number = models.CharField(_("household number"), max_length=17, unique=True, db_collation=CODE_COLLATION)
    region_code = models.CharField(_("village"), **REGION_CODE)
    kind = models.CharField(
        _("kind"), max_length=20, choices=HouseholdKind.choices, default=HouseholdKind.HUKOU
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    residence_permit_number = models.CharField(_("residence permit number"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # The lost-update guard of the household's own fields, as ``Person.revision`` is of a person's:
    # every change raises it (a database trigger); a form opened at an older one is refused.
    revision = models.PositiveIntegerField(_("revision"), default=1, db_default=1)
    updated_by = _last_changed_by()

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["number"]
        triggers = [_revision_trigger("household_revision")]
        indexes = [models.Index(fields=["region_code", "number"], name="household_region_idx")]
        constraints = [
            models.CheckConstraint(
                name="household_region_is_village", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
            models.CheckConstraint(
                name="household_residence_permit_number_given",
                condition=~Q(kind=HouseholdKind.RESIDENCE_PERMIT) | ~Q(residence_permit_number=""),
            ),
        ]

    def __str__(self) -> str:
        return self.number


@tracked()
class Person(models.Model):
    """A resident (参保人), identified by exactly one identifier."""

    scope_region_lookup = "region_code"
    # A school clerk sees their own school's students.
    scope_school_lookup = "school_id"

    id_kind = models.CharField(_("identifier kind"), max_length=32, choices=IdKind.choices)
    id_number = models.CharField(_("identifier"), max_length=32, unique=True, db_collation=CODE_COLLATION)
    nationality = models.CharField(_("nationality"), max_length=3, blank=True)
    name = models.CharField(_("name"), max_length=60, db_collation=CODE_COLLATION)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    ethnicity = models.CharField(_("ethnicity"), max_length=20, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    hukou_region_code = models.CharField(
        _("hukou region"), max_length=12, blank=True, db_collation=CODE_COLLATION
    )
    residence_region_code = models.CharField(
        _("residence region"), max_length=12, blank=True, db_collation=CODE_COLLATION
    )
    category = models.CharField(_("category"), max_length=20, choices=PersonCategory.choices)
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("household"),
    )
    relation = models.CharField(_("relation to head"), max_length=20, choices=Relation.choices, blank=True)
    school = models.ForeignKey(
        "accounts.Agency",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("school"),
    )
    # Where the person is registered (village of the household, or the school's region): the scope.
    region_code = models.CharField(_("registered at"), **REGION_CODE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The lost-update guard: every change of the row, by any path (a form, the API, an import, a
    # bulk statement), raises the revision (a database trigger); an edit made on what was read at an
    # older revision is refused (``services.person_update``), naming who changed it and when.
    # db_default: set-based inserts (imports, the city generator) that name no revision start at 1.
    revision = models.PositiveIntegerField(_("revision"), default=1, db_default=1)
    updated_by = _last_changed_by()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["name", "id_number"]
        triggers = [_revision_trigger("person_revision")]
        indexes = [
            # Name-prefix search (C collation: LIKE 'prefix%' uses the btree).
            models.Index(fields=["name", "id_number"], name="person_name_idx"),
            models.Index(fields=["region_code", "name"], name="person_region_name_idx"),
            models.Index(fields=["name", "birth_date"], name="person_name_birth_idx"),
            # A school's list of its students, by name, a page at a time (keyset): only students
            # carry a school, so the index is a small part of the table.
            models.Index(
                fields=["school", "name", "id_number"],
                name="person_school_name_idx",
                condition=Q(school__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="person_region_code_format", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
            models.CheckConstraint(
                name="person_foreigner_has_nationality",
                condition=~Q(id_kind__in=["foreign_passport"]) | ~Q(nationality=""),
            ),
            models.CheckConstraint(
                name="person_in_household_has_relation",
                condition=Q(household__isnull=True) | ~Q(relation=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SinglePersonRange(Func):
    """int8range(id, id, '[]'): lets a GiST exclusion compare ids without the btree_gist extension."""

    function = "INT8RANGE"
    output_field = BigIntegerRangeField()


class DateRangeOf(Func):
    """daterange(start, end, '[]') with an open end when end is NULL."""

    function = "DATERANGE"
    output_field = DateRangeField()


@tracked()
class Enrollment(models.Model):
    """A person's resident-insurance relation with one county."""

    scope_region_lookup = "region_code"
    # A school clerk sees their own school's students.
    scope_school_lookup = "person__school_id"

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="enrollments", verbose_name=_("person")
    )
    county_code = models.CharField(_("county"), max_length=6, db_collation=CODE_COLLATION)
    region_code = models.CharField(_("registered at"), **REGION_CODE)
    status = models.CharField(_("status"), max_length=12, choices=EnrollmentStatus.choices)
    enrolled_on = models.DateField(_("enrollment date"))
    ended_on = models.DateField(_("end date"), null=True, blank=True)
    status_reason = models.CharField(_("reason"), max_length=32, choices=ChangeReason.choices)
    status_changed_on = models.DateField(_("status changed on"))
    application = models.ForeignKey(
        "RegistrationApplication",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="enrollments",
        verbose_name=_("application"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        ordering = ["-enrolled_on"]
        indexes = [models.Index(fields=["region_code", "status"], name="enrollment_region_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=Q(status="normal"), name="one_normal_enrollment_per_person"
            ),
            # The target of assessments' composite foreign key (enrollment, person).
            models.UniqueConstraint(fields=["id", "person"], name="enrollment_id_person_unique"),
            models.CheckConstraint(
                name="enrollment_ends_after_it_starts",
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("enrolled_on")),
            ),
            models.CheckConstraint(
                name="enrollment_terminated_has_end",
                condition=~Q(status="terminated") | Q(ended_on__isnull=False),
            ),
            models.CheckConstraint(
                name="enrollment_county_prefixes_region",
                condition=Q(region_code__startswith=F("county_code")),
            ),
            ExclusionConstraint(
                name="enrollment_periods_never_overlap",
                expressions=[
                    (SinglePersonRange(F("person"), F("person"), Value("[]")), RangeOperators.OVERLAPS),
                    (DateRangeOf(F("enrolled_on"), F("ended_on"), Value("[]")), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.county_code} · {self.get_status_display()}"


@tracked()
class EnrollmentChange(models.Model):
    """One step in an enrollment's life, with reason, date and evidence: the person's timeline."""

    scope_region_lookup = "enrollment__region_code"
    # A school clerk sees their own school's students.
    scope_school_lookup = "enrollment__person__school_id"

    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.PROTECT, related_name="changes", verbose_name=_("enrollment")
    )
    kind = models.CharField(_("change"), max_length=12, choices=ChangeKind.choices)
    reason = models.CharField(_("reason"), max_length=32, choices=ChangeReason.choices)
    effective_on = models.DateField(_("effective date"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    evidence = models.FileField(_("evidence"), upload_to="evidence/%Y/%m/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("enrollment change")
        verbose_name_plural = _("enrollment changes")
        ordering = ["enrollment", "effective_on", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.effective_on}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    RETURNED = "returned", _("Returned for correction")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


OPEN_APPLICATION_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED)


@tracked()
class RegistrationApplication(models.Model):
    """A clerk's request to enroll household members; county insurance staff decide."""

    scope_region_lookup = "region_code"
    # A school clerk sees the rosters their school submitted.
    scope_school_lookup = "household__created_by__agency_id"

    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="applications", verbose_name=_("household")
    )
    region_code = models.CharField(_("village"), **REGION_CODE)
    status = models.CharField(_("status"), max_length=12, choices=ApplicationStatus.choices)
    persons = models.ManyToManyField(Person, related_name="applications", verbose_name=_("persons"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("submitted by")
    )
    submitted_at = models.DateTimeField(_("submitted at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("reason"), max_length=300, blank=True)
    enrollment_date = models.DateField(_("enrollment date"), null=True, blank=True)

    class Meta:
        verbose_name = _("registration application")
        verbose_name_plural = _("registration applications")
        ordering = ["-submitted_at"]
        indexes = [models.Index(fields=["region_code", "status"], name="application_region_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(status__in=["submitted", "returned"]),
                name="one_open_application_per_household",
            ),
            models.CheckConstraint(
                name="application_decision_has_reason",
                condition=~Q(status__in=["rejected", "returned"]) | ~Q(decision_note=""),
            ),
            models.CheckConstraint(
                name="application_approval_has_date",
                condition=~Q(status="approved") | Q(enrollment_date__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} · {self.get_status_display()}"


@tracked()
class IdentifierCorrection(models.Model):
    """A mistyped identifier of a person corrected after the person was assessed
    (``services.person_identifier_correct``): old and new, why, who and when, and the message that
    told tax. Kept for ever: the person's page lists them, and a message of tax's that still names
    the old identifier (sent before tax re-keyed its ledger) is read as the person's
    (``selectors.current_identifiers``) as long as no one else holds the old identifier."""

    scope_region_lookup = "person__region_code"
    scope_school_lookup = "person__school_id"

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="identifier_corrections", verbose_name=_("person")
    )
    old_kind = models.CharField(_("old identifier kind"), max_length=32, choices=IdKind.choices)
    old_number = models.CharField(_("old identifier"), max_length=32, db_collation=CODE_COLLATION)
    new_kind = models.CharField(_("new identifier kind"), max_length=32, choices=IdKind.choices)
    new_number = models.CharField(_("new identifier"), max_length=32, db_collation=CODE_COLLATION)
    reason = models.CharField(_("reason"), max_length=200)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("corrected by")
    )
    corrected_at = models.DateTimeField(_("corrected at"))
    # The ``person.identifier_corrected`` message sent to tax in the same transaction.
    message_id = models.BigIntegerField(_("message to tax"), null=True, blank=True)

    class Meta:
        verbose_name = _("identifier correction")
        verbose_name_plural = _("identifier corrections")
        ordering = ["-corrected_at", "-pk"]
        indexes = [models.Index(fields=["old_number"], name="identifier_correction_old")]
        constraints = [
            models.CheckConstraint(
                name="identifier_correction_changes_the_number", condition=~Q(old_number=F("new_number"))
            ),
            models.CheckConstraint(name="identifier_correction_has_reason", condition=~Q(reason="")),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.corrected_at:%Y-%m-%d}"


from .models_assessment import *  # noqa: E402,F403
from .models_bulk import *  # noqa: E402,F403
from .models_policy import *  # noqa: E402,F403
from .models_reports import *  # noqa: E402,F403
