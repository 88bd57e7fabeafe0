"""An enrollment begun after the last day a year could still be paid (and buy cover in it) owes
nothing for that year: the yearly run and the reassessment leave it out, and cancel its open row.
Linfen 2026 and 2027 test policies (tests/refunds/backpay_support.py): collection for 2026 from
1 Sep to 25 Dec 2025; newcomers may pay 2026 as a back-payment until 31 August 2026."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.scope import Scope
from enrollment import services
from enrollment.assessment import assessment_run_now
from enrollment.models import Assessment, Enrollment, PersonCategory, Relation
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person
from tests.refunds.backpay_support import policies_for

pytestmark = pytest.mark.django_db

D = dt.date
COUNTY = "141002"


def member(sequence: int, name: str, relation: str = Relation.HEAD) -> services.MemberInput:
    return services.MemberInput(
        id_kind="resident_id", id_number=resident_id(address=COUNTY, birth="19800101", sequence=f"{sequence:03d}"),
        name=name, sex="male" if sequence % 2 else "female", birth_date=D(1980, 1, 1), relation=relation,
        category=PersonCategory.RURAL,
    )  # fmt: skip


def services_scope(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def assess_both_years() -> None:
    for year in (2026, 2027):
        assessment_run_now(county_code=COUNTY, insurance_year=year)


@pytest.fixture
def assessed_county(world: World):  # type: ignore[no-untyped-def]
    """尧都区 assessed for 2026 and 2027, with one person enrolled since 2024 who paid neither."""
    policies_for("141000")
    early = make_person(
        TUNLI, name="早参保", id_number=resident_id(address=COUNTY, birth="19800101", sequence="901")
    )
    make_enrollment(early, enrolled_on=D(2024, 1, 1))
    assess_both_years()
    return early


def test_given_a_household_enrolled_on_1_december_2026_then_it_owes_2027_and_nothing_for_2026(
    world: World, assessed_county
):
    # given: a clerk registers a household of two; insurance approves it with enrollment date 1 Dec 2026
    application = services.household_register(
        scope=services_scope(world, "clerk_a"), region_code=TUNLI,
        members=[member(11, "王大山"), member(22, "李秀英", Relation.SPOUSE)],
    )  # fmt: skip
    services.application_approve(
        scope=services_scope(world, "insurance_a"),
        application_id=application.pk,
        enrollment_date=D(2026, 12, 1),
    )

    # when: the county is assessed for 2026 and 2027
    assess_both_years()

    # then: no 2026 assessment for them (the last day 2026 could be paid was 31 August 2026), 2027 due 400 yuan
    newcomers = Enrollment.objects.filter(enrolled_on=D(2026, 12, 1)).values_list("person_id", flat=True)
    rows = sorted(
        Assessment.objects.filter(person_id__in=newcomers).values_list(
            "insurance_year", "status", "payable_fen"
        )
    )
    assert rows == [(2027, "due", 40000), (2027, "due", 40000)]


def test_given_a_person_enrolled_long_before_the_year_closed_who_did_not_pay_then_2026_stays_due(
    world: World, assessed_county
):
    # when: the county is assessed again
    assess_both_years()

    # then: the late payer still owes 2026 (the follow-up list shows them)
    assert Assessment.objects.get(person=assessed_county, insurance_year=2026).status == "due"


def test_given_a_due_row_of_an_enrollment_begun_too_late_when_reassessed_then_cancelled_with_the_reason_and_tax_told(
    world: World, assessed_county
):
    # given: a person enrolled on 1 June 2026 (could pay 2026 as a back-payment), due for 2026
    person = make_person(
        TUNLI, name="晚参保", id_number=resident_id(address=COUNTY, birth="19800101", sequence="903")
    )
    enrollment = make_enrollment(person, enrolled_on=D(2026, 6, 1))
    assess_both_years()
    assert Assessment.objects.get(person=person, insurance_year=2026).status == "due"
    # and: the enrollment date corrected to 1 December 2026 (as the old rules left such rows due)
    Enrollment.objects.filter(pk=enrollment.pk).update(
        enrolled_on=D(2026, 12, 1), status_changed_on=D(2026, 12, 1)
    )

    # when: the county is assessed for 2026 again
    assessment_run_now(county_code=COUNTY, insurance_year=2026)

    # then: 2026 cancelled with the reason, and tax told to cancel its item
    row = Assessment.objects.get(person=person, insurance_year=2026)
    assert row.status == "cancelled"
    assert (
        row.benefit_reason
        == "参保日期晚于2026年8月31日（2026年度仍可缴费并享受当年待遇的最后一天）：2026年度无需缴费"
    )
    last = [
        item
        for batch in OutboxMessage.objects.filter(topic="assessment.due_batch").order_by("id")
        for item in batch.payload.get("items", [])
        if item["person_id"] == person.id_number
    ][-1]
    assert (last["status"], last["amount_fen"]) == ("cancelled", 0)
