"""Rules of registration review, status changes and transfers, at the service level.

Messages are checked in English (``translation.override("en")``) so that the assertions hold
before and after the Chinese catalogue gains these msgids.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.utils import translation

from accounts import services as account_services
from accounts.roles import Role
from accounts.scope import Scope
from enrollment import services
from enrollment.models import (
    ApplicationStatus,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
)
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import QINBI, TUNLI, make_enrollment, make_person

D = dt.date
NEW_YEAR = D(2026, 1, 1)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def scope_of(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def member(
    sequence: int, name: str, relation: str = Relation.HEAD, *, address: str = "141002"
) -> services.MemberInput:
    """A valid resident-ID member born 1980-01-01; odd sequence numbers are men, even women."""
    number = resident_id(address=address, birth="19800101", sequence=f"{sequence:03d}")
    return services.MemberInput(
        id_kind="resident_id",
        id_number=number,
        name=name,
        sex="male" if sequence % 2 else "female",
        birth_date=D(1980, 1, 1),
        relation=relation,
        category=PersonCategory.RURAL,
    )


def submit_household(
    world: World, *members: services.MemberInput, clerk: str = "clerk_a", village: str = TUNLI
):
    return services.household_register(
        scope=scope_of(world, clerk), region_code=village, members=list(members)
    )


def approve(
    world: World,
    application: RegistrationApplication,
    *,
    by: str = "insurance_a",
    on: dt.date = NEW_YEAR,
):
    return services.application_approve(
        scope=scope_of(world, by), application_id=application.pk, enrollment_date=on
    )


def outbox(topic: str) -> list[dict]:
    return list(OutboxMessage.objects.filter(topic=topic).order_by("id").values_list("payload", flat=True))


# --- approval ------------------------------------------------------------------------------------


def test_given_a_submitted_household_when_insurance_approves_then_every_member_is_normally_enrolled_from_the_date(
    world,
):
    application = submit_household(world, member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE))

    approve(world, application, on=D(2026, 3, 1))

    rows = set(
        Enrollment.objects.values_list(
            "person__name", "status", "enrolled_on", "county_code", "region_code", "application"
        )
    )
    assert rows == {
        ("王大山", "normal", D(2026, 3, 1), "141002", TUNLI, application.pk),
        ("李秀英", "normal", D(2026, 3, 1), "141002", TUNLI, application.pk),
    }
    application.refresh_from_db()
    assert (application.status, application.enrollment_date, application.decided_by_id) == (
        ApplicationStatus.APPROVED,
        D(2026, 3, 1),
        world.users["insurance_a"].pk,
    )


def test_given_an_approval_then_exactly_one_registered_message_per_person_goes_to_tax(world):
    application = submit_household(world, member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE))

    approve(world, application, on=D(2026, 3, 1))

    sent = outbox("enrollment.registered")
    assert sorted((m["person_id"], m["enrolled_on"], m["region_code"]) for m in sent) == sorted(
        [
            (resident_id("141002", "19800101", "011"), "2026-03-01", TUNLI),
            (resident_id("141002", "19800101", "022"), "2026-03-01", TUNLI),
        ]
    )
    assert (
        OutboxMessage.objects.filter(
            topic="enrollment.registered", sender="insurance", receiver="tax"
        ).count()
        == 2
    )


def test_given_an_approval_whose_transaction_rolls_back_then_nothing_is_enrolled_or_sent(world):
    application = submit_household(world, member(11, "王大山"))

    with pytest.raises(RuntimeError), transaction.atomic():
        approve(world, application)
        raise RuntimeError("the caller fails after the service")

    assert (Enrollment.objects.count(), OutboxMessage.objects.count()) == (0, 0)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_given_one_member_already_enrolled_elsewhere_when_approving_then_it_is_refused_naming_where_and_nobody_is_enrolled(
    world,
):
    application = submit_household(world, member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE))
    wife = Person.objects.get(name="李秀英")
    Enrollment.objects.create(
        person=wife,
        county_code="141024",
        region_code=QINBI,
        status=EnrollmentStatus.NORMAL,
        enrolled_on=D(2025, 1, 1),
        status_reason=ChangeReason.NEW_REGISTRATION,
        status_changed_on=D(2025, 1, 1),
    )
    before = OutboxMessage.objects.count()

    with pytest.raises(ValidationError) as refused:
        approve(world, application)

    assert refused.value.messages == [
        "The holder of this identifier is already enrolled in 临汾市洪洞县 (outside your area). "
        "Transfer the enrollment (转移接续) there before registering here."
    ]
    assert Enrollment.objects.filter(person__name="王大山").count() == 0
    assert OutboxMessage.objects.count() == before


def test_given_someone_normally_enrolled_in_another_county_when_a_clerk_registers_them_then_the_message_names_where_masked(
    world,
):
    elsewhere = submit_household(
        world, member(11, "王大山", address="141024"), clerk="clerk_b", village=QINBI
    )
    approve(world, elsewhere, by="insurance_b")

    with pytest.raises(ValidationError) as refused:
        submit_household(world, member(11, "王大山", address="141024"))

    assert refused.value.message_dict == {
        "members.0.id_number": [
            "The holder of this identifier is already enrolled in 临汾市洪洞县 (outside your area). "
            "Transfer the enrollment (转移接续) there before registering here."
        ]
    }


# --- database invariants, bypassing the services --------------------------------------------------


def test_given_a_normal_enrollment_when_a_second_normal_one_is_inserted_directly_then_the_database_refuses(
    world,
):
    person = make_person()
    make_enrollment(person, enrolled_on=D(2024, 1, 1), ended_on=D(2024, 6, 30))

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Enrollment.objects.create(
            person=person,
            county_code="141024",
            region_code=QINBI,
            status=EnrollmentStatus.NORMAL,
            enrolled_on=D(2025, 1, 1),
            status_reason=ChangeReason.NEW_REGISTRATION,
            status_changed_on=D(2025, 1, 1),
        )

    assert "one_normal_enrollment_per_person" in str(refused.value)


def test_given_an_enrollment_period_when_an_overlapping_one_is_inserted_directly_then_the_exclusion_constraint_refuses(
    world,
):
    person = make_person()
    make_enrollment(
        person, status=EnrollmentStatus.TERMINATED, enrolled_on=D(2024, 1, 1), ended_on=D(2024, 12, 31)
    )

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Enrollment.objects.create(
            person=person,
            county_code="141024",
            region_code=QINBI,
            status=EnrollmentStatus.SUSPENDED,
            enrolled_on=D(2024, 12, 31),
            status_reason=ChangeReason.EMPLOYMENT,
            status_changed_on=D(2025, 1, 1),
        )

    assert "enrollment_periods_never_overlap" in str(refused.value)


def test_given_an_enrollment_period_when_the_next_one_starts_the_day_after_it_ends_then_the_database_accepts_it(
    world,
):
    person = make_person()
    make_enrollment(
        person, status=EnrollmentStatus.TERMINATED, enrolled_on=D(2024, 1, 1), ended_on=D(2024, 12, 31)
    )

    make_enrollment(person, region_code=QINBI, enrolled_on=D(2025, 1, 1))

    assert person.enrollments.count() == 2


# --- status changes: the state machine --------------------------------------------------------------


def test_given_a_normal_enrollment_when_suspended_then_status_reason_timeline_and_message_say_so(world):
    enrollment = make_enrollment(make_person())

    services.enrollment_suspend(
        scope=scope_of(world, "insurance_a"),
        enrollment_id=enrollment.pk,
        reason=ChangeReason.IMPRISONMENT,
        effective_on=D(2026, 2, 1),
        note="判决书 (2026) 晋1002刑初12号",
    )

    enrollment.refresh_from_db()
    assert (
        enrollment.status,
        enrollment.status_reason,
        enrollment.status_changed_on,
        enrollment.ended_on,
    ) == (
        "suspended",
        "imprisonment",
        D(2026, 2, 1),
        None,
    )
    change = enrollment.changes.order_by("-pk").first()
    assert (change.kind, change.reason, change.effective_on, change.note, change.created_by_id) == (
        "suspended",
        "imprisonment",
        D(2026, 2, 1),
        "判决书 (2026) 晋1002刑初12号",
        world.users["insurance_a"].pk,
    )
    assert [(m["status"], m["changed_on"], m["reason"]) for m in outbox("enrollment.changed")] == [
        ("suspended", "2026-02-01", "imprisonment")
    ]


def test_given_a_suspended_enrollment_when_resumed_then_it_is_normal_again_and_tax_is_told(world):
    enrollment = make_enrollment(make_person(), status=EnrollmentStatus.SUSPENDED)

    services.enrollment_resume(
        scope=scope_of(world, "insurance_a"), enrollment_id=enrollment.pk, effective_on=D(2026, 5, 1)
    )

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.status_reason) == ("normal", "resumption")
    assert [(m["status"], m["changed_on"]) for m in outbox("enrollment.changed")] == [
        ("normal", "2026-05-01")
    ]


def test_given_a_normal_enrollment_when_terminated_for_death_then_it_ends_on_the_date_and_tax_is_told(world):
    enrollment = make_enrollment(make_person())

    services.enrollment_terminate(
        scope=scope_of(world, "insurance_a"),
        enrollment_id=enrollment.pk,
        reason=ChangeReason.DEATH,
        effective_on=D(2026, 4, 30),
    )

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.ended_on, enrollment.status_reason) == (
        "terminated",
        D(2026, 4, 30),
        "death",
    )
    assert [(m["terminated_on"], m["reason"]) for m in outbox("enrollment.terminated")] == [
        ("2026-04-30", "death")
    ]


@pytest.mark.parametrize(
    ("status", "change", "message"),
    [
        ("normal", "resume", "Only a suspended enrollment can be resumed; this one is Normal."),
        ("suspended", "suspend", "Only a normal enrollment can be suspended; this one is Suspended."),
        ("terminated", "suspend", "Only a normal enrollment can be suspended; this one is Terminated."),
        ("terminated", "resume", "Only a suspended enrollment can be resumed; this one is Terminated."),
        ("terminated", "terminate", "This enrollment is already terminated."),
    ],
)
def test_given_an_enrollment_when_an_illegal_transition_is_asked_then_it_is_refused_with_a_clear_message(
    world, status, change, message
):
    enrollment = make_enrollment(make_person(), status=status)
    scope = scope_of(world, "insurance_a")
    call = {
        "suspend": lambda: services.enrollment_suspend(
            scope=scope, enrollment_id=enrollment.pk, reason=ChangeReason.MOVING, effective_on=D(2026, 1, 1)
        ),
        "resume": lambda: services.enrollment_resume(
            scope=scope, enrollment_id=enrollment.pk, effective_on=D(2026, 1, 1)
        ),
        "terminate": lambda: services.enrollment_terminate(
            scope=scope, enrollment_id=enrollment.pk, reason=ChangeReason.DEATH, effective_on=D(2026, 1, 1)
        ),
    }[change]

    with pytest.raises(ValidationError) as refused:
        call()

    assert refused.value.messages == [message]
    assert OutboxMessage.objects.count() == 0
    assert EnrollmentChange.objects.filter(enrollment=enrollment).count() == 1  # only the registration


def test_given_a_termination_reason_when_suspending_then_the_reason_is_refused(world):
    enrollment = make_enrollment(make_person())

    with pytest.raises(ValidationError) as refused:
        services.enrollment_suspend(
            scope=scope_of(world, "insurance_a"),
            enrollment_id=enrollment.pk,
            reason=ChangeReason.DEATH,
            effective_on=D(2026, 1, 1),
        )

    assert refused.value.message_dict == {"reason": ["Choose a reason for suspension."]}


def test_given_a_date_before_the_enrollment_began_when_terminating_then_it_is_refused(world):
    enrollment = make_enrollment(make_person(), enrolled_on=D(2025, 1, 1))

    with pytest.raises(ValidationError) as refused:
        services.enrollment_terminate(
            scope=scope_of(world, "insurance_a"),
            enrollment_id=enrollment.pk,
            reason=ChangeReason.EMIGRATION,
            effective_on=D(2024, 12, 31),
        )

    assert refused.value.message_dict == {"effective_on": ["The date lies before the enrollment began."]}


def test_given_a_suspended_person_enrolled_meanwhile_elsewhere_when_resuming_then_it_is_refused_naming_where(
    world,
):
    person = make_person(name="赵六")
    suspended = make_enrollment(person, status=EnrollmentStatus.SUSPENDED, enrolled_on=D(2024, 1, 1))
    Enrollment.objects.filter(pk=suspended.pk).update(ended_on=D(2024, 12, 31))
    make_enrollment(person, region_code=QINBI, enrolled_on=D(2025, 1, 1))

    with pytest.raises(ValidationError) as refused:
        services.enrollment_resume(
            scope=scope_of(world, "insurance_a"), enrollment_id=suspended.pk, effective_on=D(2025, 6, 1)
        )

    assert refused.value.messages == [
        "The holder of this identifier is already enrolled in 临汾市洪洞县 (outside your area). "
        "Transfer the enrollment (转移接续) there before registering here."
    ]


def test_given_an_enrollment_of_another_county_when_insurance_changes_it_then_it_is_not_found(world):
    enrollment = make_enrollment(make_person(QINBI))

    with pytest.raises(ValidationError) as refused:
        services.enrollment_suspend(
            scope=scope_of(world, "insurance_a"),
            enrollment_id=enrollment.pk,
            reason=ChangeReason.MOVING,
            effective_on=D(2026, 1, 1),
        )

    assert refused.value.messages == ["No such enrollment in your area."]


# --- transfer between counties (转移接续) ------------------------------------------------------------


def test_given_a_person_enrolled_in_another_county_when_transferred_in_then_the_old_ends_the_day_before_and_the_new_starts(
    world,
):
    person = make_person(QINBI, name="孙七")
    old = make_enrollment(person, enrolled_on=D(2024, 1, 1))

    new = services.enrollment_transfer(
        scope=scope_of(world, "insurance_a"),
        id_number=person.id_number,
        to_region_code=TUNLI,
        household_id=None,
        relation="",
        effective_on=D(2026, 7, 1),
    )

    old.refresh_from_db()
    assert (old.status, old.status_reason, old.ended_on) == ("terminated", "transfer_out", D(2026, 6, 30))
    assert (
        new.status,
        new.status_reason,
        new.enrolled_on,
        new.ended_on,
        new.region_code,
        new.county_code,
    ) == (
        "normal",
        "transfer_in",
        D(2026, 7, 1),
        None,
        TUNLI,
        "141002",
    )
    person.refresh_from_db()
    assert person.region_code == TUNLI


def test_given_a_transfer_then_tax_learns_the_termination_then_the_registration(world):
    person = make_person(QINBI, name="孙七")
    make_enrollment(person, enrolled_on=D(2024, 1, 1))

    services.enrollment_transfer(
        scope=scope_of(world, "insurance_a"),
        id_number=person.id_number,
        to_region_code=TUNLI,
        household_id=None,
        relation="",
        effective_on=D(2026, 7, 1),
    )

    sent = list(OutboxMessage.objects.order_by("id").values_list("topic", "region_code", "payload"))
    assert [(topic, region) for topic, region, _payload in sent] == [
        ("enrollment.terminated", QINBI),
        ("enrollment.registered", TUNLI),
    ]
    assert (sent[0][2]["terminated_on"], sent[0][2]["reason"], sent[1][2]["enrolled_on"]) == (
        "2026-06-30",
        "transfer_out",
        "2026-07-01",
    )


def test_given_a_transfer_then_the_timeline_shows_transfer_out_and_transfer_in(world):
    person = make_person(QINBI, name="孙七")
    make_enrollment(person, enrolled_on=D(2024, 1, 1))

    services.enrollment_transfer(
        scope=scope_of(world, "insurance_a"),
        id_number=person.id_number,
        to_region_code=TUNLI,
        household_id=None,
        relation="",
        effective_on=D(2026, 7, 1),
    )

    timeline = list(
        EnrollmentChange.objects.filter(enrollment__person=person)
        .order_by("effective_on", "pk")
        .values_list("kind", "reason", "effective_on", "enrollment__county_code")
    )
    assert timeline == [
        (ChangeKind.REGISTERED, ChangeReason.NEW_REGISTRATION, D(2024, 1, 1), "141024"),
        (ChangeKind.TERMINATED, ChangeReason.TRANSFER_OUT, D(2026, 6, 30), "141024"),
        (ChangeKind.REGISTERED, ChangeReason.TRANSFER_IN, D(2026, 7, 1), "141002"),
    ]


def test_given_a_transfer_within_one_county_then_it_is_refused(world):
    person = make_person(TUNLI)
    make_enrollment(person)

    with pytest.raises(ValidationError) as refused:
        services.enrollment_transfer(
            scope=scope_of(world, "insurance_a"),
            id_number=person.id_number,
            to_region_code=TUNLI,
            household_id=None,
            relation="",
            effective_on=D(2026, 7, 1),
        )

    assert refused.value.message_dict == {
        "to_region_code": ["A transfer goes to another county; within a county, move the household."]
    }


def test_given_an_identifier_without_a_current_enrollment_when_transferring_then_it_is_refused(world):
    with pytest.raises(ValidationError) as refused:
        services.enrollment_transfer(
            scope=scope_of(world, "insurance_a"),
            id_number="NOBODY123456",
            to_region_code=TUNLI,
            household_id=None,
            relation="",
            effective_on=D(2026, 7, 1),
        )

    assert refused.value.message_dict == {"id_number": ["This person has no current enrollment to transfer."]}


# --- four eyes and concurrent decisions --------------------------------------------------------------


def test_given_insurance_staff_who_submitted_the_household_when_they_approve_it_then_it_is_refused(world):
    application = submit_household(world, member(11, "王大山"), clerk="insurance_a")

    with pytest.raises(ValidationError) as refused:
        approve(world, application, by="insurance_a")

    assert refused.value.messages == ["You submitted this application, so someone else must decide it."]
    assert Enrollment.objects.count() == 0


def test_given_a_rejected_application_when_approved_afterwards_then_it_is_refused(world):
    application = submit_household(world, member(11, "王大山"))
    services.application_reject(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="户口本不符"
    )

    with pytest.raises(ValidationError) as refused:
        approve(world, application)

    assert refused.value.messages == ["This application is already Rejected; it cannot be decided again."]


def test_given_an_empty_reason_when_rejecting_then_it_is_refused_because_the_clerk_must_see_one(world):
    application = submit_household(world, member(11, "王大山"))

    with pytest.raises(ValidationError) as refused:
        services.application_reject(
            scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="  "
        )

    assert refused.value.message_dict == {"reason": ["Give the reason; the clerk will see it."]}


def test_given_a_returned_application_when_the_clerk_resubmits_then_it_waits_for_review_again(world):
    application = submit_household(world, member(11, "王大山"))
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="请补充电话"
    )

    household = Household.objects.get(pk=application.household_id)
    head = household.members.get()

    again = services.household_register(
        scope=scope_of(world, "clerk_a"),
        region_code=TUNLI,
        members=[member(11, "王大山")],
        household=household,
        household_revision=household.revision,
        member_revisions=[head.revision],
    )

    assert (again.pk, again.status) == (application.pk, ApplicationStatus.SUBMITTED)


def _second_reviewer(world: World) -> None:
    world.users["insurance_a2"] = account_services.user_create(
        username="insurance_a2",
        password="Test-pass-2026!",
        full_name="医保a2",
        agency=world.agencies["insurance_a"],
        role=Role.INSURANCE_STAFF,
        check_password=False,
    )


def _waiting_on_a_lock(timeout: float = 10.0) -> bool:
    """Whether another backend of this test database waits on a row lock (polled)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_given_two_reviewers_deciding_at_once_then_the_first_wins_and_the_second_is_told(
    transactional_world, second
):
    world = transactional_world
    _second_reviewer(world)
    application = submit_household(world, member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE))
    first_inside, release_first = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            with translation.override("en"), transaction.atomic():
                approve(world, application, by="insurance_a")
                first_inside.set()
                release_first.wait(10)  # hold the row lock until the second reviewer queues behind it
            outcome["first"] = "approved"
        except Exception as error:  # reported to the test thread
            outcome["first"] = error
        finally:
            first_inside.set()
            connection.close()

    def second_reviewer() -> None:
        try:
            with translation.override("en"):
                if second == "approve":
                    approve(world, application, by="insurance_a2")
                else:
                    services.application_reject(
                        scope=scope_of(world, "insurance_a2"),
                        application_id=application.pk,
                        reason="重复登记",
                    )
            outcome["second"] = "decided"
        except ValidationError as error:
            outcome["second"] = error.messages
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_inside.wait(10)
    two = threading.Thread(target=second_reviewer)
    two.start()
    blocked = _waiting_on_a_lock()
    release_first.set()
    one.join(20)
    two.join(20)

    assert blocked
    assert outcome == {
        "first": "approved",
        "second": ["This application is already Approved; it cannot be decided again."],
    }
    application.refresh_from_db()
    assert (application.status, application.decided_by_id) == ("approved", world.users["insurance_a"].pk)
    assert Enrollment.objects.filter(status="normal").count() == 2
    assert OutboxMessage.objects.filter(topic="enrollment.registered").count() == 2


@pytest.mark.django_db(transaction=True)
def test_given_one_household_form_sent_four_times_at_once_then_one_household_is_registered_and_three_are_refused(
    transactional_world,
):
    # Given a new household's form, sent four times at the same moment (a retry, two tabs)
    world = transactional_world
    members = [member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE)]
    start = threading.Barrier(4)
    outcomes: list[object] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            start.wait(10)
            with translation.override("en"):
                application = submit_household(world, *members)
            result: object = application.household_id
        except ValidationError:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    # When they are handled concurrently
    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then one registers the household, the others are refused, and no empty household is left
    registered = [outcome for outcome in outcomes if outcome != "refused"]
    assert (len(registered), outcomes.count("refused")) == (1, 3)
    assert list(Household.objects.values_list("pk", flat=True)) == registered
    assert RegistrationApplication.objects.count() == 1
    assert set(Person.objects.values_list("household_id", flat=True)) == set(registered)


def test_given_someone_enrolled_in_another_village_of_the_county_then_the_clerk_is_not_told_their_name(world):
    # Given 王大山 enrolled in 屯里村 (尧都区)
    approve(world, submit_household(world, member(11, "王大山")))
    other_village = "141002100202"
    dongcun = account_services.region_create(code=other_village, name="东村", parent=world.regions["tunli"])
    committee = account_services.agency_create(
        name="东村村民委员会", kind="village_committee", region=dongcun
    )
    clerk = account_services.user_create(
        username="clerk_dongcun", password="Test-pass-2026!", full_name="东村文书", agency=committee,
        role=Role.VILLAGE_CLERK, check_password=False,
    )  # fmt: skip

    # When the clerk of another village of the county types his identifier under another name
    with pytest.raises(ValidationError) as refused:
        services.household_register(
            scope=Scope.for_user_id(clerk.pk), region_code=other_village,
            members=[member(11, "张三")],
        )  # fmt: skip

    # Then the message says where, and how to go on, but not whose identifier it is
    (message,) = refused.value.messages
    assert message == (
        "The holder of this identifier is already enrolled in 临汾市尧都区 (outside your area). Within the county "
        "the person is moved to a household here (迁移) by the county's medical insurance office, not registered again."
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("王建国", None),
        ("阿依古丽·买买提", None),
        ("John O'Neil-Smith", None),
        ("𠮷田", None),  # a character beyond the basic plane
        ("=1+1", "A name holds letters only (with · or - between parts); “=” cannot be in it."),
        ("王小明2", "A name holds letters only (with · or - between parts); “2” cannot be in it."),
        ("@SUM(A1)", "A name holds letters only (with · or - between parts); “@” cannot be in it."),
    ],
)
def test_a_persons_name_holds_letters_and_the_separators_of_minority_and_foreign_names(name, problem):
    from enrollment import identifiers

    with translation.override("en"):
        assert identifiers.name_problem(name) == problem


def test_given_a_formula_typed_as_a_name_then_the_household_is_refused_on_that_field(world):
    with pytest.raises(ValidationError) as refused:
        submit_household(world, services.MemberInput(**{**member(11, "x").__dict__, "name": "=1+1"}))

    assert refused.value.message_dict["members.0.name"] == [
        "A name holds letters only (with · or - between parts); “=” cannot be in it."
    ]


def test_given_an_application_then_its_persons_are_listed_head_first_not_by_name(world):
    # Given a household typed child first (names that sort the other way)
    application = submit_household(
        world,
        member(33, "艾小宝", Relation.CHILD),
        member(11, "王大山", Relation.HEAD),
        member(22, "李秀英", Relation.SPOUSE),
    )

    # When insurance opens it
    from enrollment import selectors

    opened = selectors.application_detail(scope=scope_of(world, "insurance_a"), pk=application.pk)

    # Then the head comes first, then the spouse, then the child
    assert [person.name for person in opened.persons.all()] == ["王大山", "李秀英", "艾小宝"]
