"""Duplicate enrollments: the set-based finder, the queue each involved county sees, and resolving."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.scope import Scope
from enrollment import duplicates, services, tasks
from enrollment.models import (
    ChangeReason,
    DuplicateCase,
    DuplicateMatch,
    DuplicateStatus,
    EnrollmentChange,
    EnrollmentStatus,
    IdKind,
    KeepBasis,
)
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.matrix.enrollment_bulk import (
    HONGDONG_VILLAGE,
    XIAODIAN_VILLAGE,
    YAODU_VILLAGE,
    make_case,
    make_enrollment,
    make_person,
)

BIRTH = dt.date(1975, 8, 9)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def scope_of(world: World, key: str = "insurance_a") -> Scope:
    return Scope.for_user(world.users[key])


def twins(
    *, region_a: str = YAODU_VILLAGE, region_b: str = HONGDONG_VILLAGE, kind_b: str = IdKind.GENERATED,
    name: str = "周玉",
):  # fmt: skip
    """One name and birth date, a resident ID in A and another kind of identifier in B, both enrolled."""
    a = make_enrollment(make_person(region_code=region_a, name=name, birth=BIRTH))
    b = make_enrollment(
        make_person(region_code=region_b, name=name, birth=BIRTH, id_kind=kind_b),
        enrolled_on=dt.date(2024, 7, 1),
    )
    return a, b


def find_everywhere() -> duplicates.FindResult:
    return services.duplicates_find(scope=tasks.system_scope())


@pytest.fixture(autouse=True)
def _english() -> Any:
    """Messages are asserted in English (the msgids), whatever the catalogue holds."""
    with translation.override("en"):
        yield


# --- the finder ---------------------------------------------------------------------------------


def test_given_one_name_and_birth_date_under_two_identifier_kinds_when_the_finder_runs_then_one_case_is_queued(
    world: World,
):
    a, b = twins()

    result = find_everywhere()

    case = DuplicateCase.objects.get()
    assert (result.same_name_and_birth_date, case.match, case.status) == (
        1, DuplicateMatch.SAME_NAME_AND_BIRTH_DATE, DuplicateStatus.OPEN,
    )  # fmt: skip
    assert sorted(case.sides.values_list("enrollment_id", "region_code")) == [
        (a.pk, YAODU_VILLAGE), (b.pk, HONGDONG_VILLAGE),
    ]  # fmt: skip


def test_given_a_found_case_when_the_finder_runs_again_then_nothing_is_added(world: World):
    twins()
    find_everywhere()

    again = find_everywhere()

    assert (again.found, DuplicateCase.objects.count()) == (0, 1)


def test_given_a_dismissed_case_when_the_finder_runs_again_then_it_is_not_proposed_again(world: World):
    twins()
    find_everywhere()
    case = DuplicateCase.objects.get()
    services.duplicate_dismiss(scope=scope_of(world), case_id=case.pk, note="两人，户籍不同")

    find_everywhere()

    assert list(DuplicateCase.objects.values_list("status", flat=True)) == [DuplicateStatus.DISMISSED]


def test_given_one_person_with_two_current_enrollments_then_a_same_identifier_case_is_queued(world: World):
    person = make_person(region_code=YAODU_VILLAGE, name="冯强", birth=BIRTH)
    make_enrollment(person, status=EnrollmentStatus.SUSPENDED, enrolled_on=dt.date(2022, 1, 1),
                    ended_on=dt.date(2023, 6, 30))  # fmt: skip
    make_enrollment(person, region_code=HONGDONG_VILLAGE, enrolled_on=dt.date(2023, 7, 1))

    result = find_everywhere()

    assert (result.same_identifier, result.same_name_and_birth_date) == (1, 0)
    assert DuplicateCase.objects.get().match == DuplicateMatch.SAME_IDENTIFIER


def test_given_two_resident_ids_with_one_name_and_birth_date_then_they_are_not_a_case(world: World):
    twins(kind_b=IdKind.RESIDENT_ID)

    assert find_everywhere().found == 0


def test_given_a_terminated_enrollment_then_it_is_never_half_of_a_case(world: World):
    a = make_enrollment(make_person(name="周玉", birth=BIRTH), status=EnrollmentStatus.TERMINATED)
    make_enrollment(
        make_person(region_code=HONGDONG_VILLAGE, name="周玉", birth=BIRTH, id_kind=IdKind.GENERATED)
    )

    assert (find_everywhere().found, a.status) == (0, EnrollmentStatus.TERMINATED)


def test_given_many_persons_when_the_finder_runs_then_it_uses_a_fixed_number_of_queries(world: World):
    for n in range(30):
        twins(name=f"周玉{n}")
    with CaptureQueriesContext(connection) as queries:
        result = find_everywhere()

    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert (result.same_name_and_birth_date, len(statements)) == (30, 3)


def test_given_a_county_run_then_only_pairs_touching_that_county_are_found(world: World):
    twins(region_a=YAODU_VILLAGE, region_b=XIAODIAN_VILLAGE, name="甲")
    twins(region_a=HONGDONG_VILLAGE, region_b=XIAODIAN_VILLAGE, name="乙")

    result = services.duplicates_find(scope=scope_of(world, "insurance_b"))

    assert result.found == 1
    assert set(DuplicateCase.objects.get().sides.values_list("region_code", flat=True)) == {
        HONGDONG_VILLAGE, XIAODIAN_VILLAGE,
    }  # fmt: skip


def test_given_an_open_case_whose_enrollment_ended_otherwise_then_the_next_run_closes_it(world: World):
    a, _b = twins()
    find_everywhere()
    a.status, a.ended_on, a.status_reason = (
        EnrollmentStatus.TERMINATED,
        dt.date(2024, 12, 31),
        ChangeReason.DEATH,
    )
    a.save()

    result = find_everywhere()

    assert (result.closed, DuplicateCase.objects.get().status) == (1, DuplicateStatus.CLOSED)


def test_given_the_nightly_schedule_then_it_runs_the_finder():
    entry = settings.CELERY_BEAT_SCHEDULE["enrollment-find-duplicates"]

    assert entry["task"] == "enrollment.tasks.find_duplicates"


def test_given_the_command_then_it_finds_and_prints_the_counts(world: World):
    twins()
    out = StringIO()

    call_command("find_duplicates", stdout=out)

    assert json.loads(out.getvalue()) == {
        "same_identifier": 0, "same_name_and_birth_date": 1, "closed": 0, "found": 1,
    }  # fmt: skip


def test_given_the_task_without_a_user_then_it_searches_everywhere(world: World):
    twins(region_a=HONGDONG_VILLAGE, region_b=XIAODIAN_VILLAGE)

    assert tasks.find_duplicates.run() == {"same_identifier": 0, "same_name_and_birth_date": 1, "closed": 0}


# --- who sees a case ----------------------------------------------------------------------------


def test_given_a_cross_county_case_then_both_counties_see_it_in_their_queue(world: World):
    case = make_case(region_a=YAODU_VILLAGE, region_b=HONGDONG_VILLAGE)

    seen = [list(duplicates.case_queue(scope=scope_of(world, key))) for key in ("insurance_a", "insurance_b")]

    assert seen == [[case], [case]]


def test_given_a_case_in_other_counties_then_it_is_not_in_the_queue(world: World):
    make_case(region_a=HONGDONG_VILLAGE, region_b=XIAODIAN_VILLAGE)

    assert list(duplicates.case_queue(scope=scope_of(world, "insurance_a"))) == []


def test_given_a_case_with_both_sides_in_the_area_then_the_city_sees_it_once(world: World):
    case = make_case(region_a=YAODU_VILLAGE, region_b=HONGDONG_VILLAGE)

    assert list(duplicates.case_queue(scope=scope_of(world, "admin"))) == [case]


# --- resolving ----------------------------------------------------------------------------------


@pytest.fixture
def case(world: World) -> DuplicateCase:
    twins()
    find_everywhere()
    return DuplicateCase.objects.get()


def _ends(case: DuplicateCase) -> tuple[Any, Any]:
    return case.enrollment_a, case.enrollment_b


def test_given_a_case_when_staff_keep_their_habitual_residence_then_the_other_ends_as_duplicate_clean_up(
    world: World, case: DuplicateCase
):
    keep, drop = case.enrollment_b, case.enrollment_a  # B (洪洞县) kept; A (尧都区) ended by 尧都区 staff

    services.duplicate_resolve(
        scope=scope_of(world), case_id=case.pk, keep_enrollment_id=keep.pk, basis=KeepBasis.HABITUAL_RESIDENCE
    )

    drop.refresh_from_db()
    case.refresh_from_db()
    assert (drop.status, drop.status_reason, drop.ended_on) == (
        EnrollmentStatus.TERMINATED, ChangeReason.DUPLICATE_CLEANUP, dt.date(2024, 6, 30),
    )  # fmt: skip
    assert (case.status, case.kept_id, case.basis, case.termination.enrollment_id) == (
        DuplicateStatus.RESOLVED, keep.pk, KeepBasis.HABITUAL_RESIDENCE, drop.pk,
    )  # fmt: skip


def test_given_an_end_after_the_kept_enrollment_began_then_it_is_refused_and_nothing_ends(
    world: World, case: DuplicateCase
):
    with pytest.raises(ValidationError) as refused:
        services.duplicate_resolve(
            scope=scope_of(world), case_id=case.pk, keep_enrollment_id=case.enrollment_b_id,
            basis=KeepBasis.HABITUAL_RESIDENCE, effective_on=dt.date(2030, 1, 1),
        )  # fmt: skip

    assert refused.value.message_dict == {
        "effective_on": [
            "The kept enrollment begins on 2024-07-01: end the other one on 2024-06-30 or earlier, "
            "so that the person is not enrolled twice."
        ]
    }
    case.refresh_from_db()
    assert (case.status, case.enrollment_a.ended_on) == (DuplicateStatus.OPEN, None)


def test_given_the_queue_in_chinese_then_an_open_case_is_awaiting_a_decision(client, world: World, case):
    client.force_login(world.users["insurance_a"])

    page = client.get(reverse("enrollment:duplicate-queue")).content.decode()

    assert "待处理" in page
    assert "查看" not in page


def test_given_a_resolved_case_then_tax_is_told_of_the_termination(world: World, case: DuplicateCase):
    services.duplicate_resolve(
        scope=scope_of(world), case_id=case.pk, keep_enrollment_id=case.enrollment_b_id,
        basis=KeepBasis.HABITUAL_RESIDENCE,
    )  # fmt: skip

    message = OutboxMessage.objects.get(topic="enrollment.terminated")
    assert (message.payload["enrollment_id"], message.payload["reason"]) == (
        case.enrollment_a_id,
        "duplicate_cleanup",
    )


def test_given_a_written_choice_without_the_signed_document_then_it_is_refused(
    world: World, case: DuplicateCase
):
    with pytest.raises(ValidationError) as refused:
        services.duplicate_resolve(
            scope=scope_of(world), case_id=case.pk, keep_enrollment_id=case.enrollment_b_id,
            basis=KeepBasis.WRITTEN_CHOICE,
        )  # fmt: skip

    assert refused.value.message_dict == {
        "evidence": ["Upload the person's signed choice (PDF, JPEG or PNG)."]
    }


def test_given_a_written_choice_with_the_signed_document_then_it_is_kept_with_the_termination(
    world: World, case: DuplicateCase
):
    services.duplicate_resolve(
        scope=scope_of(world), case_id=case.pk, keep_enrollment_id=case.enrollment_b_id,
        basis=KeepBasis.WRITTEN_CHOICE, evidence=SimpleUploadedFile("choice.png", PNG), note="本人书面选择洪洞县",
    )  # fmt: skip

    change = EnrollmentChange.objects.get(enrollment_id=case.enrollment_a_id)
    assert change.evidence.name.startswith("evidence/")
    assert change.note == f"The person's written choice · #{case.pk} · 本人书面选择洪洞县"


def test_given_the_enrollment_to_end_lies_in_another_county_then_it_is_refused(
    world: World, case: DuplicateCase
):
    with pytest.raises(ValidationError) as refused:
        services.duplicate_resolve(
            scope=scope_of(world), case_id=case.pk, keep_enrollment_id=case.enrollment_a_id,
            basis=KeepBasis.HABITUAL_RESIDENCE,
        )  # fmt: skip

    assert refused.value.messages == [
        "The enrollment to end lies in 临汾市洪洞县 (outside your area); that county's insurance staff resolve it."
    ]


def test_given_a_resolved_case_when_someone_resolves_it_again_then_they_are_told(
    world: World, case: DuplicateCase
):
    scope = scope_of(world)
    services.duplicate_resolve(
        scope=scope,
        case_id=case.pk,
        keep_enrollment_id=case.enrollment_b_id,
        basis=KeepBasis.HABITUAL_RESIDENCE,
    )

    with pytest.raises(ValidationError) as refused:
        services.duplicate_dismiss(scope=scope, case_id=case.pk, note="再次")

    assert refused.value.messages == ["This case is already “Resolved”; it cannot be decided again."]


def test_given_a_dismissal_without_a_reason_then_it_is_refused(world: World, case: DuplicateCase):
    with pytest.raises(ValidationError) as refused:
        services.duplicate_dismiss(scope=scope_of(world), case_id=case.pk, note=" ")

    assert refused.value.message_dict == {"note": ["Say how you know these are two different persons."]}


def test_given_a_dismissed_case_then_both_enrollments_stay(world: World, case: DuplicateCase):
    services.duplicate_dismiss(
        scope=scope_of(world), case_id=case.pk, note="父女同名同生日不可能，核实为两人"
    )

    statuses = sorted(e.status for e in (case.enrollment_a, case.enrollment_b))
    case.refresh_from_db()
    assert (case.status, statuses) == (DuplicateStatus.DISMISSED, [EnrollmentStatus.NORMAL] * 2)


def test_given_an_enrollment_in_two_cases_when_one_is_resolved_by_ending_it_then_the_other_case_closes(
    world: World,
):
    a, b = twins()
    make_enrollment(
        make_person(region_code=XIAODIAN_VILLAGE, name="周玉", birth=BIRTH, id_kind=IdKind.HK_MACAO_PERMIT),
        enrolled_on=dt.date(2024, 3, 1),
    )
    find_everywhere()
    first = DuplicateCase.objects.get(enrollment_a=a, enrollment_b=b)

    services.duplicate_resolve(
        scope=scope_of(world), case_id=first.pk, keep_enrollment_id=b.pk, basis=KeepBasis.HABITUAL_RESIDENCE
    )

    assert sorted(DuplicateCase.objects.values_list("status", flat=True)) == [
        DuplicateStatus.CLOSED, DuplicateStatus.OPEN, DuplicateStatus.RESOLVED,
    ]  # fmt: skip


# --- pages --------------------------------------------------------------------------------------


def test_given_the_queue_page_then_the_other_county_sees_the_case_with_a_masked_identifier(
    client, world: World
):
    case = make_case(region_a=YAODU_VILLAGE, region_b=HONGDONG_VILLAGE)
    client.force_login(world.users["insurance_b"])

    response = client.get(reverse("enrollment:duplicate-queue"))

    sides = response.context["rows"][0]["sides"]
    number = case.enrollment_a.person.id_number
    assert [row["case"] for row in response.context["rows"]] == [case]
    assert sides[0].id_number == number[:6] + "********" + number[-4:]


def test_given_a_keep_decision_on_the_page_then_the_case_is_resolved(
    client, world: World, case: DuplicateCase
):
    client.force_login(world.users["insurance_a"])

    response = client.post(
        reverse("enrollment:duplicate-detail", args=[case.pk]),
        {"decision": "keep", "keep": case.enrollment_b_id, "basis": KeepBasis.HABITUAL_RESIDENCE},
    )

    case.refresh_from_db()
    assert (response.status_code, case.status) == (302, DuplicateStatus.RESOLVED)


def test_given_a_refused_decision_on_the_page_then_it_answers_400_with_the_reason(
    client, world: World, case: DuplicateCase
):
    client.force_login(world.users["insurance_a"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.post(
        reverse("enrollment:duplicate-detail", args=[case.pk]),
        {"decision": "keep", "keep": case.enrollment_a_id, "basis": KeepBasis.HABITUAL_RESIDENCE},
    )

    assert response.status_code == 400
    assert response.context["resolve"].non_field_errors() == [
        "The enrollment to end lies in 临汾市洪洞县 (outside your area); that county's insurance staff resolve it."
    ]


def test_given_the_search_button_then_the_finder_is_queued_for_the_caller(client, world: World, monkeypatch):
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.find_duplicates, "apply_async", lambda **kw: queued.append(kw["kwargs"]))
    client.force_login(world.users["insurance_a"])

    response = client.post(reverse("enrollment:duplicate-queue"), {"scan": "1"})

    assert (response.status_code, queued) == (302, [{"user_id": world.users["insurance_a"].pk}])
