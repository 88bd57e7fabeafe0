"""The yearly assessment, reassessment, deposits from tax, coverage, and the rulebook's storage.

Policies are the Linfen 2021 preset moved to insurance year 2027 (I 400 / S 700 yuan; dibao a
fixed 160 yuan; tekun full), stored for 临汾市 (141000), so they apply to 尧都区 (141002).
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404
from django.utils import translation

from accounts import services as region_services
from accounts.scope import Scope
from collection.handlers import apply_assessment_due, apply_assessment_due_batch
from collection.models import DueItem, Payer
from enrollment import services
from enrollment.assessment import (
    Deposit,
    _region_bounds,
    assessment_reassess,
    assessment_reassess_persons,
    assessment_record_deposits,
    assessment_record_reversals,
    assessment_run_now,
    coverage_check,
)
from enrollment.back_payments import back_payment_decide
from enrollment.demo import _shifted
from enrollment.handlers import apply_payment_deposited
from enrollment.identifiers import generate_identifier
from enrollment.models import (
    Assessment,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    Household,
    Person,
    Policy,
    PolicyVersion,
    Relation,
)
from enrollment.policies import (
    policy_export,
    policy_for_county,
    policy_load_presets,
    policy_parse,
    policy_save,
)
from enrollment.rules import engine
from enrollment.rules.presets import load_preset
from enrollment.views.rulebook import next_year_copy
from sharing import services as sharing
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from subsidies.models import SubsidyRoster, SubsidyTag
from subsidies.services import subsidy_tag_add
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import QINBI, TUNLI, make_enrollment, make_person

pytestmark = pytest.mark.django_db

YEAR = 2027
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def linfen_2027(world: World):
    return policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")


@pytest.fixture
def no_nudge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)


def _enrolled(name: str, sequence: int, region: str = TUNLI, birth: str = "19800101"):
    person = make_person(
        region, name=name, id_number=resident_id(address=region[:6], birth=birth, sequence=f"{sequence:03d}")
    )
    person.hukou_region_code = region
    person.save()
    make_enrollment(person)
    return person


def _listed(*persons) -> None:
    """The persons a reassessment of listed persons takes, as the temporary table ``listed_persons``."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE listed_persons (person_id bigint)")
        cursor.executemany("INSERT INTO listed_persons VALUES (%s)", [[person.pk] for person in persons])


def _due_messages() -> list[dict]:
    """The due items sent to tax, in order: the yearly run's batches unpacked, then single messages."""
    found = []
    for message in OutboxMessage.objects.filter(topic__startswith="assessment.due").order_by("id"):
        if message.topic == "assessment.due_batch":
            year = message.payload["insurance_year"]
            found += [{**item, "insurance_year": year} for item in message.payload["items"]]
        else:
            found.append(message.payload)
    return found


def test_given_three_persons_when_the_county_is_assessed_then_each_owes_by_the_rules(
    world, linfen_2027, no_nudge
):
    plain = _enrolled("张三", 1)
    dibao = _enrolled("李四", 3)
    tekun = _enrolled("王五", 5)
    SubsidyTag.objects.create(
        person=dibao, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    SubsidyTag.objects.create(
        person=tekun, category="tekun", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )

    run = assessment_run_now(county_code="141002", insurance_year=YEAR)

    rows = {row.person_id: row for row in Assessment.objects.filter(insurance_year=YEAR)}
    assert (rows[plain.pk].standard_fen, rows[plain.pk].subsidy_fen, rows[plain.pk].payable_fen) == (
        40000,
        0,
        40000,
    )
    assert (rows[plain.pk].government_fen, rows[plain.pk].status) == (70000, "due")
    assert (rows[dibao.pk].subsidy_fen, rows[dibao.pk].payable_fen, rows[dibao.pk].subsidy_category) == (
        16000,
        24000,
        "dibao",
    )
    assert (rows[dibao.pk].government_fen, rows[dibao.pk].subsidy_marker) == (86000, "02")
    assert (rows[tekun.pk].payable_fen, rows[tekun.pk].status, rows[tekun.pk].government_fen) == (
        0,
        "government",
        110000,
    )
    assert (rows[tekun.pk].benefit_start, rows[tekun.pk].benefit_end) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 12, 31),
    )
    assert (run.enrollments, run.created, run.pushed, run.government_paid, run.payable_fen) == (
        3,
        3,
        2,
        1,
        64000,
    )
    assert (run.kind, run.government_paid_fen) == ("county", 40000)


def test_given_an_assessed_county_when_tax_receives_the_messages_then_only_payable_persons_are_due_there(
    world, linfen_2027, no_nudge
):
    plain = _enrolled("张三", 1)
    tekun = _enrolled("王五", 5)
    SubsidyTag.objects.create(
        person=tekun, category="tekun", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    sharing.delivery_drain(seconds=30)

    items = list(DueItem.objects.values_list("person_id", "amount_fen", "status"))
    assert items == [(plain.id_number, 40000, "due")]
    schedule = DueItem.objects.get().schedule
    assert schedule == [
        {
            "from": "2026-09-01",
            "to": "2026-12-25",
            "amount_fen": 40000,
            "subsidy_fen": 0,
            "rule": "pricing[0]",
            "days_of_month": [1, 25],
        }
    ]


def test_given_an_assessed_county_when_run_again_then_nothing_changes_and_nothing_is_sent(
    world, linfen_2027, no_nudge
):
    _enrolled("张三", 1)
    _enrolled("李四", 3)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    sent_before = OutboxMessage.objects.count()

    again = assessment_run_now(county_code="141002", insurance_year=YEAR)

    assert (again.created, again.changed, again.unchanged, again.cancelled, again.pushed) == (0, 0, 2, 0, 0)
    assert OutboxMessage.objects.count() == sent_before
    assert set(Assessment.objects.values_list("revision", flat=True)) == {1}


def test_given_an_assessed_person_when_tagged_full_subsidy_then_reassessed_and_tax_told_to_cancel(
    world, linfen_2027, no_nudge, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    subsidy_tag_add(person=person, category="tekun", source="民政", valid_from=dt.date(2026, 11, 1))

    row = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (row.status, row.payable_fen, row.revision) == ("government", 0, 2)
    assert _due_messages()[-1] == {
        "person_id": person.id_number,
        "insurance_year": YEAR,
        "region_code": TUNLI,
        "amount_fen": 0,
        "standard_fen": 0,
        "subsidy_fen": 0,
        "subsidy_category": "",
        "subsidy_marker": "",
        "schedule": [],
        "status": "cancelled",
        "revision": 2,
    }


def test_given_an_assessed_person_when_tagged_partial_subsidy_then_the_remaining_amount_goes_to_tax(
    world, linfen_2027, no_nudge, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    subsidy_tag_add(person=person, category="dibao", source="民政", valid_from=dt.date(2026, 11, 1))

    last = _due_messages()[-1]
    assert (last["amount_fen"], last["subsidy_fen"], last["subsidy_marker"], last["status"]) == (
        24000,
        16000,
        "02",
        "due",
    )
    assert Assessment.objects.get(person=person).revision == 2


def test_given_a_paid_assessment_when_the_person_is_tagged_then_the_payment_stands(
    world, linfen_2027, no_nudge, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment_record_deposits(deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2026, 10, 10), "R1")])
    sent_before = OutboxMessage.objects.count()

    subsidy_tag_add(person=person, category="tekun", source="民政", valid_from=dt.date(2026, 11, 1))

    row = Assessment.objects.get(person=person)
    assert (row.status, row.payable_fen, row.paid_fen, row.revision) == ("paid", 40000, 40000, 1)
    # No new amount due goes to tax: only the tag's own mark (subsidies.marks)
    sent = OutboxMessage.objects.order_by("id").values_list("topic", flat=True)[sent_before:]
    assert list(sent) == ["subsidy.marks_batch"]


def test_given_an_assessed_person_when_the_enrollment_is_terminated_then_the_due_item_is_cancelled(
    world, linfen_2027, no_nudge, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    enrollment = person.enrollments.get()

    services.enrollment_terminate(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        enrollment_id=enrollment.pk,
        reason=ChangeReason.DEATH,
        effective_on=dt.date(2026, 11, 15),
        note="测试",
    )

    row = Assessment.objects.get(person=person)
    assert (row.status, row.revision) == ("cancelled", 2)
    assert [m["status"] for m in _due_messages()] == ["due", "cancelled"]


def _government_paid_2026_and_2027(world, monkeypatch):
    """A 特困 person paid in full by the government for 2026 (cover from 1 January 2026) and 2027,
    beside an ordinary person who owes both years; today is 20 November 2026."""
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    policy_save(document=_shifted("linfen-2026-test", 5, 40000, 70000), note="test")
    tekun = _enrolled("王五", 5)
    plain = _enrolled("张三", 1)
    SubsidyTag.objects.create(
        person=tekun, category="tekun", region_code=TUNLI, source="民政", valid_from=dt.date(2025, 6, 1)
    )
    for year in (2026, YEAR):
        assessment_run_now(county_code="141002", insurance_year=year)
    return tekun, plain


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("terminate", ChangeReason.DEATH),
        ("suspend", ChangeReason.EMPLOYMENT),
        ("terminate", ChangeReason.TRANSFER_OUT),
    ],
)
def test_given_a_government_paid_year_when_the_person_leaves_in_it_then_the_year_stays_paid_and_covers_until_then(
    world, linfen_2027, no_nudge, monkeypatch, change, reason
):
    tekun, plain = _government_paid_2026_and_2027(world, monkeypatch)
    scope = Scope.for_user_id(world.users["insurance_a"].pk)

    for person in (tekun, plain):
        getattr(services, f"enrollment_{change}")(
            scope=scope,
            enrollment_id=person.enrollments.get().pk,
            reason=reason,
            effective_on=dt.date(2026, 11, 10),
            note="测试",
        )

    rows = {(row.person_id, row.insurance_year): row for row in Assessment.objects.all()}
    kept = rows[(tekun.pk, 2026)]
    assert (kept.status, kept.benefit_start, kept.benefit_end, kept.revision) == (
        "government",
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31),
        1,
    )
    # 2027's cover had not begun when the person left: the government pays nothing for it.
    assert (rows[(tekun.pk, YEAR)].status, rows[(tekun.pk, YEAR)].benefit_start) == ("cancelled", None)
    # The ordinary person's unpaid years are cancelled as before, at tax too.
    assert (rows[(plain.pk, 2026)].status, rows[(plain.pk, YEAR)].status) == ("cancelled", "cancelled")
    assert [(m["person_id"], m["insurance_year"], m["status"]) for m in _due_messages()[-2:]] == [
        (plain.id_number, 2026, "cancelled"),
        (plain.id_number, YEAR, "cancelled"),
    ]
    stay = coverage_check(scope=scope, id_number=tekun.id_number, day=dt.date(2026, 10, 1))
    # Covered up to the end date (terminated) or within the paid year (suspended after it began).
    assert (stay.decision.covered, stay.decision.start, stay.decision.end) == (
        True,
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31) if change == "suspend" else dt.date(2026, 11, 10),
    )
    after = coverage_check(scope=scope, id_number=tekun.id_number, day=dt.date(2026, 11, 20))
    assert after.decision.covered is (change == "suspend")


def test_given_a_government_paid_year_when_the_person_transfers_to_another_county_then_the_year_stays_where_it_was_paid(
    world, linfen_2027, no_nudge, monkeypatch
):
    # Given 王五 (特困) in 洪洞县, paid by its government for 2026 (cover from 1 January) and 2027.
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    policy_save(document=_shifted("linfen-2026-test", 5, 40000, 70000), note="test")
    tekun = _enrolled("王五", 5, region=QINBI)
    SubsidyTag.objects.create(
        person=tekun, category="tekun", region_code=QINBI, source="民政", valid_from=dt.date(2025, 6, 1)
    )
    for county in ("141002", "141024"):
        for year in (2026, YEAR):
            assessment_run_now(county_code=county, insurance_year=year)

    # When he transfers to 尧都区 on 11 November 2026,
    services.enrollment_transfer(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        id_number=tekun.id_number,
        to_region_code=TUNLI,
        household_id=None,
        relation="",
        effective_on=dt.date(2026, 11, 11),
    )

    # then 2026 stays 洪洞县's, paid and covering, like a paid year; 2027, not begun, moves with him.
    rows = {row.insurance_year: row for row in Assessment.objects.filter(person=tekun)}
    assert (rows[2026].county_code, rows[2026].status, rows[2026].benefit_start, rows[2026].revision) == (
        "141024",
        "government",
        dt.date(2026, 1, 1),
        1,
    )
    # (cancelled when the old enrollment ended, revision 2; assessed in 尧都区 when the new began, 3)
    assert (rows[YEAR].county_code, rows[YEAR].status, rows[YEAR].revision) == ("141002", "government", 3)
    stay = coverage_check(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        id_number=tekun.id_number,
        day=dt.date(2026, 10, 1),
    )
    assert (stay.decision.covered, stay.decision.start) == (True, dt.date(2026, 1, 1))


def test_given_a_government_paid_year_when_the_person_leaves_then_the_year_still_counts_for_finance(
    world, linfen_2027, no_nudge, monkeypatch
):
    tekun, _plain = _government_paid_2026_and_2027(world, monkeypatch)

    services.enrollment_terminate(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        enrollment_id=tekun.enrollments.get().pk,
        reason=ChangeReason.DEATH,
        effective_on=dt.date(2026, 11, 10),
        note="测试",
    )
    run = assessment_run_now(county_code="141002", insurance_year=2026)

    # 2026: the government paid 王五's 400 yuan and it stays spent on him; 张三 still owes 400 yuan.
    assert (run.government_paid, run.government_paid_fen, run.payable_fen, run.cancelled) == (
        1,
        40000,
        40000,
        0,
    )


def test_given_a_due_assessment_when_tax_deposits_it_then_paid_with_the_benefit_period_of_the_rule(
    world, linfen_2027, no_nudge
):
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    changed = assessment_record_deposits(
        deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2026, 10, 10), "R100")]
    )

    row = Assessment.objects.get(person=person)
    assert changed == 1
    assert (row.status, row.paid_on, row.paid_fen, row.deposit_reference) == (
        "paid",
        dt.date(2026, 10, 10),
        40000,
        "R100",
    )
    assert (row.benefit_start, row.benefit_end) == (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    assert "2027年1月1日起享受待遇" in row.benefit_reason


def test_given_a_due_assessment_when_its_deposit_is_applied_with_english_active_then_the_benefit_reason_is_stored_in_chinese(
    world, linfen_2027, no_nudge
):
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    with translation.override("en"):
        assessment_record_deposits(
            deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2026, 10, 10), "R100")]
        )

    assert Assessment.objects.get(person=person).benefit_reason == (
        "2026年10月10日缴费（首次参保）：集中征缴期内缴费，2027年1月1日起享受待遇；待遇享受期2027年1月1日至2027年12月31日"
    )


@pytest.mark.parametrize("order", ["earlier first", "later first"])
def test_given_two_deposits_of_one_person_year_in_one_batch_then_the_earlier_is_recorded_in_either_order(
    world, linfen_2027, no_nudge, order
):
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    deposits = [(7, "2026-10-10T09:00:00+08:00", "R7"), (3, "2026-12-20T09:00:00+08:00", "R3")]
    if order == "later first":
        deposits.reverse()
    ids = [
        sharing.message_send(
            topic="payment.deposited",
            payload={
                "payment_id": payment_id,
                "person_id": person.id_number,
                "region_code": TUNLI,
                "insurance_year": YEAR,
                "amount_fen": 40000,
                "channel": "counter",
                "receipt_number": receipt,
                "paid_at": paid_at,
            },
        )
        for payment_id, paid_at, receipt in deposits
    ]

    apply_payment_deposited(Batch(topic="payment.deposited", ids=ids))

    row = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (row.status, row.paid_on, row.deposit_reference, row.benefit_start) == (
        "paid",
        dt.date(2026, 10, 10),
        "R7",
        dt.date(2027, 1, 1),
    )


def test_given_a_paid_assessment_when_tax_reverses_the_payment_then_it_is_due_again_without_benefit(
    world, linfen_2027, no_nudge
):
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment_record_deposits(
        deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2026, 10, 10), "R100")]
    )

    assessment_record_reversals(reversals=[(person.id_number, YEAR, "冲正")])

    row = Assessment.objects.get(person=person)
    assert (row.status, row.paid_on, row.benefit_start, row.revision) == ("due", None, None, 2)


def test_given_a_paid_person_when_coverage_is_checked_then_yes_inside_and_no_before_the_period(
    world, linfen_2027, no_nudge
):
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment_record_deposits(
        deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2026, 10, 10), "R100")]
    )
    scope = Scope.for_user_id(world.users["insurance_a"].pk)

    inside = coverage_check(scope=scope, id_number=person.id_number, day=dt.date(2027, 3, 1))
    before = coverage_check(scope=scope, id_number=person.id_number, day=dt.date(2026, 12, 31))

    assert (inside.decision.covered, inside.decision.start, inside.decision.end) == (
        True,
        dt.date(2027, 1, 1),
        dt.date(2027, 12, 31),
    )
    assert inside.decision.rule == "coverage.normal_paid"
    assert (before.decision.covered, before.decision.rule) == (False, "coverage.unpaid")


def test_given_a_person_of_another_county_when_coverage_is_checked_then_not_found(world, linfen_2027):
    other = _enrolled("赵六", 7, region=QINBI)

    with pytest.raises(Http404):
        coverage_check(
            scope=Scope.for_user_id(world.users["insurance_a"].pk),
            id_number=other.id_number,
            day=dt.date(2027, 3, 1),
        )


# --- the set-based run agrees with the engine person by person ------------------------------------


def test_given_random_persons_around_age_cutoffs_when_assessed_in_bulk_then_each_equals_the_engines_decision(
    world, no_nudge
):
    document = load_preset("qinbei-2023").to_document()
    document.update(code="qinbei-like-141000", region_code="141000")
    loaded = policy_save(document=document, note="test")
    categories = [category.code for category in loaded.rules.subsidy_categories]
    rng = random.Random(7)
    persons = []
    cutoffs = [
        dt.date(1962, 12, 31),
        dt.date(1963, 1, 1),
        dt.date(2004, 12, 31),
        dt.date(2005, 1, 1),
        dt.date(2005, 1, 2),
    ]
    for index in range(60):
        birth = (
            cutoffs[index]
            if index < len(cutoffs)
            else dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 34000))
        )
        person = make_person(
            TUNLI,
            name=f"测试{index}",
            id_number=resident_id(address="141002", birth=f"{birth:%Y%m%d}", sequence=f"{index:03d}"),
        )
        person.birth_date, person.hukou_region_code = birth, TUNLI
        person.save()
        make_enrollment(person, enrolled_on=dt.date(2010, 1, 1))  # before the 2023 year could be paid
        for category in rng.sample(categories, k=rng.choice([0, 0, 1, 2])):
            SubsidyTag.objects.create(
                person=person,
                category=category,
                region_code=TUNLI,
                source="t",
                valid_from=dt.date(2022, 6, 1),
            )
        persons.append(person)

    assessment_run_now(county_code="141002", insurance_year=loaded.rules.insurance_year)

    rows = {row.person_id: row for row in Assessment.objects.all()}
    for person in persons:
        tags = tuple(
            engine.Tag(tag.category, tag.valid_from, tag.valid_to) for tag in person.subsidy_tags.all()
        )
        expected = engine.assess(
            loaded.rules, engine.PersonFacts(birth_date=person.birth_date, person_category="rural", tags=tags)
        )
        row = rows[person.pk]
        assert (row.payable_fen, row.subsidy_fen, row.rule) == (
            expected.payable_fen,
            expected.subsidy.subsidy_fen,
            expected.rule,
        ), person.birth_date


def _tunli_enrolled(name: str, index: int) -> Person:
    """A resident of 屯里村 with hukou there, enrolled, born 1970-05-01, numbered by ``index``."""
    person = make_person(
        TUNLI, name=name, id_number=resident_id(address="141002", birth="19700501", sequence=f"{index:03d}")
    )
    person.hukou_region_code = TUNLI
    person.save()
    make_enrollment(person, enrolled_on=dt.date(2010, 1, 1))  # before the presets' years
    return person


def test_given_tags_recognised_on_many_days_when_assessed_in_bulk_then_few_classes_and_each_the_engines_decision(
    world, no_nudge
):
    # Lanshan's categories need the tag recognised by 2015-12-31, and the reason names a later date.
    document = load_preset("lanshan-2016").to_document()
    document.update(code="lanshan-like-141000", region_code="141000")
    loaded = policy_save(document=document, note="test")
    rng = random.Random(11)
    deadline = dt.date(2015, 12, 31)
    persons = []
    for index in range(40):
        person = _tunli_enrolled(f"认定{index}", index)
        recognised = (
            deadline + dt.timedelta(days=rng.choice([-1, 0, 1, 2]))
            if index % 2
            else dt.date(2005, 1, 1) + dt.timedelta(days=rng.randint(0, 3800))
        )
        SubsidyTag.objects.create(
            person=person,
            category=rng.choice(["dibao", "wubao"]),
            region_code=TUNLI,
            source="t",
            valid_from=recognised,
            valid_to=rng.choice([None, dt.date(2016, 6, 30), dt.date(2020, 1, 1)]),
        )
        persons.append(person)

    run = assessment_run_now(county_code="141002", insurance_year=loaded.rules.insurance_year)

    # Two categories, each in time (one class whatever the day) or late (late tags keep their
    # day: the reason names it), each open or ending within or after the year.
    assert run.distinct_facts < 20
    rows = {row.person_id: row for row in Assessment.objects.select_related("decision")}
    for person in persons:
        tags = tuple(
            engine.Tag(tag.category, tag.valid_from, tag.valid_to) for tag in person.subsidy_tags.all()
        )
        expected = engine.assess(
            loaded.rules,
            engine.PersonFacts(birth_date=person.birth_date, person_category="rural", tags=tags),
        )
        row = rows[person.pk]
        assert (row.payable_fen, row.subsidy_fen, row.rule, row.decision.reason) == (
            expected.payable_fen,
            expected.subsidy.subsidy_fen,
            expected.rule,
            expected.reason,
        ), tags


def test_given_roster_tags_of_three_years_when_assessed_in_bulk_then_each_counts_for_its_rosters_year_as_the_engine_says(
    world, no_nudge
):
    # Lanshan 2016: every roster's tag reaches 2016 by its dates (recognised in time, valid to the
    # end of its own year's cover or later); only the 2016 roster's counts for 2016.
    document = load_preset("lanshan-2016").to_document()
    document.update(code="lanshan-years-141000", region_code="141000")
    loaded = policy_save(document=document, note="test")
    rosters = {
        year: SubsidyRoster.objects.create(region_code="141000000000", source="民政局", insurance_year=year)
        for year in (2015, 2016, 2017)
    }
    persons = {}
    for index, (year, valid_to) in enumerate(
        [
            (2015, dt.date(2016, 6, 30)),
            (2016, dt.date(2016, 12, 31)),
            (2017, dt.date(2017, 12, 31)),
            (None, None),
        ]
    ):
        person = _tunli_enrolled(f"名单{index}", index)
        SubsidyTag.objects.create(
            person=person,
            category="dibao",
            region_code=TUNLI,
            source="t",
            valid_from=dt.date(2009, 3, 4),
            valid_to=valid_to,
            roster=rosters.get(year),
        )
        persons[year] = person

    assessment_run_now(county_code="141002", insurance_year=2016)

    rows = {row.person_id: row for row in Assessment.objects.select_related("decision")}
    subsidised = {year: rows[person.pk].subsidy_fen for year, person in persons.items()}
    assert subsidised == {2015: 0, 2016: 15000, 2017: 0, None: 15000}
    for person in persons.values():
        tags = tuple(
            engine.Tag(
                tag.category, tag.valid_from, tag.valid_to, tag.roster.insurance_year if tag.roster else None
            )
            for tag in person.subsidy_tags.select_related("roster")
        )
        expected = engine.assess(
            loaded.rules, engine.PersonFacts(birth_date=person.birth_date, person_category="rural", tags=tags)
        )
        row = rows[person.pk]
        assert (row.payable_fen, row.subsidy_fen, row.rule, row.decision.reason) == (
            expected.payable_fen,
            expected.subsidy.subsidy_fen,
            expected.rule,
            expected.reason,
        ), tags


def _guigang_here() -> object:
    """Guigang's 2024 rules (a student's academic year 1 Sep 2024 – 31 Aug 2025) stored for 临汾市."""
    document = load_preset("guigang-2024").to_document()
    document.update(code="guigang-like-141000", region_code="141000")
    return policy_save(document=document, note="test")


def _tunli_of_category(name: str, index: int, category: str, birth: dt.date) -> Person:
    person = _tunli_enrolled(name, index)
    person.category, person.birth_date = category, birth
    person.save()
    return person


def test_given_guigang_students_paid_for_in_full_when_assessed_then_government_paid_with_the_academic_years_cover(
    world, no_nudge
):
    loaded = _guigang_here()
    student = _tunli_of_category("学生", 1, "student", dt.date(2010, 5, 1))
    child = _tunli_of_category("幼儿", 2, "preschool", dt.date(2020, 5, 1))
    adult = _tunli_of_category("成人", 3, "urban", dt.date(1970, 5, 1))
    for person in (student, child, adult):
        SubsidyTag.objects.create(
            person=person,
            category="dibao_sanwu",
            region_code=TUNLI,
            source="民政",
            valid_from=dt.date(2023, 6, 1),
        )

    assessment_run_now(county_code="141002", insurance_year=2024)

    rows = {row.person_id: row for row in Assessment.objects.filter(insurance_year=2024)}
    found = {
        person.pk: (
            rows[person.pk].status,
            rows[person.pk].paid_on,
            rows[person.pk].benefit_start,
            rows[person.pk].benefit_end,
        )
        for person in (student, child, adult)
    }
    assert found == {
        student.pk: ("government", dt.date(2024, 8, 20), dt.date(2024, 9, 1), dt.date(2025, 8, 31)),
        child.pk: ("government", dt.date(2024, 8, 20), dt.date(2024, 9, 1), dt.date(2025, 8, 31)),
        adult.pk: ("government", dt.date(2023, 10, 1), dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
    }
    expected = engine.assess(
        loaded.rules,
        engine.PersonFacts(
            birth_date=dt.date(2010, 5, 1),
            person_category="student",
            tags=(engine.Tag("dibao_sanwu", dt.date(2023, 6, 1)),),
        ),
    )
    assert rows[student.pk].benefit_reason == expected.government_benefit.reason
    # Covered on the first school day, not before it.
    scope = Scope.for_user_id(world.users["insurance_a"].pk)
    first_day = coverage_check(scope=scope, id_number=student.id_number, day=dt.date(2024, 9, 1))
    day_before = coverage_check(scope=scope, id_number=student.id_number, day=dt.date(2024, 8, 31))
    assert (first_day.decision.covered, first_day.decision.end) == (True, dt.date(2025, 8, 31))
    assert (day_before.decision.covered, day_before.decision.rule) == (False, "coverage.waiting")


def test_given_a_students_government_paid_year_recorded_without_cover_when_run_again_then_mended(
    world, no_nudge
):
    # As the run recorded it until 30 November 2026: paid on the adults' first day, no cover.
    _guigang_here()
    student = _tunli_of_category("学生", 4, "student", dt.date(2010, 5, 1))
    SubsidyTag.objects.create(
        person=student,
        category="dibao_sanwu",
        region_code=TUNLI,
        source="民政",
        valid_from=dt.date(2023, 6, 1),
    )
    assessment_run_now(county_code="141002", insurance_year=2024)
    Assessment.objects.filter(person=student).update(
        paid_on=dt.date(2023, 10, 1), benefit_start=None, benefit_end=None
    )

    run = assessment_run_now(county_code="141002", insurance_year=2024)

    row = Assessment.objects.get(person=student, insurance_year=2024)
    assert (row.status, row.paid_on, row.benefit_start, row.benefit_end) == (
        "government",
        dt.date(2024, 8, 20),
        dt.date(2024, 9, 1),
        dt.date(2025, 8, 31),
    )
    assert run.changed == 1
    # And a run with nothing to mend changes nothing.
    assert assessment_run_now(county_code="141002", insurance_year=2024).changed == 0


def test_given_students_and_adults_with_tags_around_both_years_when_assessed_in_bulk_then_each_the_engines_decision(
    world, no_nudge
):
    # The insurance year 2024 and the students' academic year from 1 Sep 2024: tags recognised and
    # ended around each start and end, held by students, preschool children and adults.
    loaded = _guigang_here()
    edges = [dt.date(2024, 1, 1), dt.date(2024, 9, 1), dt.date(2024, 12, 31), dt.date(2025, 8, 31)]
    rng = random.Random(13)
    persons = []
    for index in range(60):
        category = ("student", "preschool", "urban", "rural")[index % 4]
        person = _tunli_of_category(f"学年{index}", 100 + index, category, dt.date(2012, 3, 1))
        for code in rng.sample(["dibao", "dibao_sanwu", "low_income"], k=rng.choice([1, 1, 2])):
            recognised = rng.choice(edges) + dt.timedelta(days=rng.choice([-40, -1, 0, 1, 9]))
            ended = rng.choice([None, rng.choice(edges) + dt.timedelta(days=rng.choice([-200, -1, 0, 1]))])
            if ended is not None and ended < recognised:
                ended = None
            SubsidyTag.objects.create(
                person=person,
                category=code,
                region_code=TUNLI,
                source="t",
                valid_from=recognised,
                valid_to=ended,
            )
        persons.append(person)

    assessment_run_now(county_code="141002", insurance_year=2024)

    rows = {row.person_id: row for row in Assessment.objects.select_related("decision")}
    subsidised = {"student": 0, "urban": 0}
    for person in persons:
        tags = tuple(
            engine.Tag(tag.category, tag.valid_from, tag.valid_to) for tag in person.subsidy_tags.all()
        )
        expected = engine.assess(
            loaded.rules,
            engine.PersonFacts(birth_date=person.birth_date, person_category=person.category, tags=tags),
        )
        row = rows[person.pk]
        benefit = expected.government_benefit
        assert (
            row.payable_fen,
            row.subsidy_fen,
            row.status,
            row.rule,
            row.decision.reason,
            row.benefit_start,
            row.benefit_end,
        ) == (
            expected.payable_fen,
            expected.subsidy.subsidy_fen,
            "government" if expected.government_pays_all else "due",
            expected.rule,
            expected.reason,
            benefit.start if benefit else None,
            benefit.end if benefit else None,
        ), (person.category, tags)
        if person.category in subsidised and expected.subsidy.subsidy_fen:
            subsidised[person.category] += 1
    # Both kinds of year were exercised with subsidies granted.
    assert all(subsidised.values()), subsidised


def test_given_a_policy_whose_categories_need_no_tag_when_a_tagged_person_is_assessed_then_as_the_engine_says(
    world, no_nudge
):
    # The national preset grants nothing by roster tag: no category gives a tag a cut of its own.
    loaded = policy_save(document=load_preset("national-2025").to_document(), note="test")
    person = make_person(
        TUNLI, name="标识", id_number=resident_id(address="141002", birth="19800101", sequence="556")
    )
    make_enrollment(person)
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="t", valid_from=dt.date(2024, 5, 6)
    )

    assessment_run_now(county_code="141002", insurance_year=2025)

    expected = engine.assess(
        loaded.rules,
        engine.PersonFacts(
            birth_date=person.birth_date,
            person_category="rural",
            tags=(engine.Tag("dibao", dt.date(2024, 5, 6), None),),
        ),
    )
    row = Assessment.objects.select_related("decision").get(person=person)
    assert (row.payable_fen, row.subsidy_fen, row.decision.reason) == (
        expected.payable_fen,
        expected.subsidy.subsidy_fen,
        expected.reason,
    )


# --- the rulebook's storage ----------------------------------------------------------------------


def test_given_a_saved_policy_when_the_same_document_is_saved_again_then_no_new_version(world, linfen_2027):
    again = policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="again")

    assert (again.record.version, PolicyVersion.objects.filter(policy=again.record).count()) == (1, 1)


def test_given_a_saved_policy_when_changed_then_version_two_keeps_who_and_why(world, linfen_2027):
    document = _shifted("linfen-2027-test", 6, 40000, 70000)
    document["financing"]["individual_fen"] = 41000

    saved = policy_save(document=document, note="个人缴费标准调整", actor_id=world.users["admin"].pk)

    versions = list(
        PolicyVersion.objects.filter(policy=saved.record)
        .order_by("number")
        .values_list("number", "note", "saved_by_id")
    )
    assert versions == [(1, "test", None), (2, "个人缴费标准调整", world.users["admin"].pk)]


def test_given_an_invalid_document_when_saved_then_every_problem_is_listed_with_its_path(world):
    document = _shifted("broken", 6, 40000, 70000)
    document["coverage"]["from"] = "2027-02-30"
    document["pricing"][0]["situations"] = ["sleeping"]

    with pytest.raises(ValidationError) as raised:
        policy_save(document=document, note="x")

    messages = raised.value.messages
    assert any(message.startswith("policy.coverage.from:") for message in messages)
    assert any(message.startswith("policy.pricing[0].situations[0]:") for message in messages)


def test_given_a_document_taking_payments_no_benefit_rule_covers_when_saved_then_refused_with_the_days(world):
    # Qinbei copied to 2024 as the copy did until 30 November 2026: its grace period still ending
    # on the 28th, the 29th of February was priced at 350 yuan and covered by no rule.
    document = next_year_copy(load_preset("qinbei-2023").to_document())
    document.update(region_code="141000")
    assert document["collection"]["grace_until"] == "2024-02-29"  # the copy keeps the end of February
    document["collection"]["grace_until"] = "2024-02-28"

    with pytest.raises(ValidationError) as raised, translation.override("zh-hans"):
        policy_save(document=document, note="copied")

    assert raised.value.messages == [
        "policy.pricing[1]: 2024年2月29日至2024年2月29日收取的缴费（连续参保（上年度已缴费））没有任何待遇规则覆盖："
        "缴费不能换来任何保障"
    ]
    assert not Policy.objects.filter(code=document["code"]).exists()
    document["collection"]["grace_until"] = "2024-02-29"
    assert policy_save(document=document, note="copied").rules.collection.grace_until == dt.date(2024, 2, 29)


def test_given_city_and_nationwide_policies_when_a_county_asks_then_the_most_specific_applies(world):
    policy_save(document=_shifted("linfen-2025-test", 4, 40000, 70000), note="test")
    policy_save(document=load_preset("national-2025").to_document(), note="test")

    assert policy_for_county(county_code="141002", insurance_year=2025).record.code == "linfen-2025-test"
    assert policy_for_county(county_code="140105", insurance_year=2025).record.code == "national-2025"
    assert policy_for_county(county_code="140105", insurance_year=2026) is None


def test_given_a_city_policy_when_another_code_claims_the_same_region_and_year_then_refused(
    world, linfen_2027
):
    with pytest.raises(ValidationError):
        policy_save(document=_shifted("linfen-2027-other", 6, 40000, 70000), note="x")


def test_given_taiyuans_policy_when_linfens_administrator_saves_a_document_with_its_code_then_refused(
    world,
):
    taiyuan = _shifted("taiyuan-2027-test", 6, 40000, 70000)
    taiyuan["region_code"] = "140100"
    policy_save(document=taiyuan, note="taiyuan")
    moved = dict(taiyuan, region_code="141000", name="临汾市（冒名）")

    with pytest.raises(PermissionDenied):
        policy_save(document=moved, note="take over", scope=Scope.for_user(world.users["admin"]))

    stored = Policy.objects.get(code="taiyuan-2027-test")
    assert (stored.region_code, stored.version) == ("140100", 1)


@pytest.mark.parametrize("code", ["new", "import", "Linfen 2027", "../x", "-x", "a/b"])
def test_given_a_code_that_cannot_name_an_address_when_saved_then_refused_at_policy_code(world, code):
    with pytest.raises(ValidationError) as raised:
        policy_save(document=_shifted(code, 6, 40000, 70000), note="x")

    assert any(message.startswith("policy.code:") for message in raised.value.messages)


def test_given_a_saved_policy_when_exported_as_yaml_then_keys_come_in_the_documented_order(
    world, linfen_2027
):
    content, content_type, filename = policy_export(policy=linfen_2027.record, fmt="yaml")

    keys = [line.split(":")[0] for line in content.decode().splitlines() if line and line[0].isalpha()]
    assert (content_type, filename) == ("application/yaml", "linfen-2027-test-v1.yaml")
    assert keys == list(linfen_2027.rules.to_document().keys())
    assert policy_parse(document=yaml.safe_load(content)) == linfen_2027.rules


# --- the yearly run in parts at once -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_given_two_villages_when_the_county_runs_in_parallel_parts_then_each_owes_by_the_rules_once(
    world, linfen_2027, no_nudge, settings
):
    second = region_services.region_create(code="141002100202", name="二村", parent=world.regions["tunli"])
    plain = _enrolled("张三", 1)
    dibao = _enrolled("李四", 3)
    tekun = _enrolled("王五", 5, region=second.code)
    other = _enrolled("赵六", 7, region=second.code, birth="20100101")
    for person, category in ((dibao, "dibao"), (tekun, "tekun")):
        SubsidyTag.objects.create(
            person=person,
            category=category,
            region_code=person.region_code,
            source="民政",
            valid_from=dt.date(2026, 6, 1),
        )
    settings.ASSESSMENT_WORKERS = 2

    parts = _region_bounds("141002", 2)
    run = assessment_run_now(county_code="141002", insurance_year=YEAR)
    rerun = assessment_run_now(county_code="141002", insurance_year=YEAR)

    assert parts == [(None, "141002100202"), ("141002100202", None)]
    payable = dict(Assessment.objects.filter(insurance_year=YEAR).values_list("person_id", "payable_fen"))
    assert payable == {plain.pk: 40000, dibao.pk: 24000, tekun.pk: 0, other.pk: 40000}
    assert (run.enrollments, run.created, run.pushed, run.government_paid, run.payable_fen) == (
        4,
        4,
        3,
        1,
        104000,
    )
    assert sorted(message["person_id"] for message in _due_messages()) == sorted(
        person.id_number for person in (plain, dibao, other)
    )
    assert (rerun.created, rerun.changed, rerun.pushed) == (0, 0, 0)


def test_given_listed_persons_of_two_counties_when_reassessed_together_then_each_keeps_its_county(
    world, linfen_2027, no_nudge
):
    here = _enrolled("张三", 1)
    there = _enrolled("李四", 2, region=QINBI)
    for county in ("141002", "141024"):
        assessment_run_now(county_code=county, insurance_year=YEAR)
    SubsidyTag.objects.create(
        person=here, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    _listed(here, there)

    runs = assessment_reassess_persons(person_table="listed_persons", reason="roster", today=TODAY)

    rows = Assessment.objects.filter(insurance_year=YEAR)
    assert {row.person_id: (row.county_code, row.status, row.payable_fen) for row in rows} == {
        here.pk: ("141002", "due", 24000),
        there.pk: ("141024", "due", 40000),
    }
    assert [(run.county_code, run.enrollments, run.changed, run.cancelled) for run in runs] == [
        ("141002", 1, 1, 0),
        ("141024", 1, 0, 0),
    ]


def test_given_listed_persons_when_reassessed_then_one_due_batch_carries_the_changed_persons_items(
    world, linfen_2027, no_nudge
):
    tagged = _enrolled("张三", 1)
    unchanged = _enrolled("李四", 2)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    SubsidyTag.objects.create(
        person=tagged, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    _listed(tagged, unchanged)
    before = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0

    assessment_reassess_persons(person_table="listed_persons", reason="roster", today=TODAY)

    (batch,) = OutboxMessage.objects.filter(topic="assessment.due_batch", id__gt=before)
    assert batch.payload["part"].startswith("list-")
    assert (batch.payload["batch"], batch.payload["amount_fen"], batch.amount_fen) == (1, 24000, 24000)
    assert [
        (item["person_id"], item["amount_fen"], item["subsidy_fen"], item["subsidy_category"], item["status"],
         item["revision"])
        for item in batch.payload["items"]
    ] == [(tagged.id_number, 24000, 16000, "dibao", "due", 2)]  # fmt: skip


def test_given_an_assessed_county_when_two_listed_persons_are_reassessed_then_the_run_reports_them_not_the_county(
    world, linfen_2027, no_nudge
):
    plain = _enrolled("张三", 1)
    dibao = _enrolled("李四", 3)
    tekun = _enrolled("王五", 5)
    other = _enrolled("赵六", 7)
    for person, category in ((dibao, "dibao"), (tekun, "tekun")):
        SubsidyTag.objects.create(
            person=person, category=category, region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
        )
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    SubsidyTag.objects.create(
        person=plain, category="tekun", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    _listed(plain, other)

    (run,) = assessment_reassess_persons(person_table="listed_persons", reason="roster", today=TODAY)

    # The county now has 2 paid by the government (80,000) and 64,000 due; the run's 2 persons:
    # 张三 now government-paid (his 400 yuan), 赵六 still owing 400 yuan.
    assert (run.kind, run.enrollments, run.changed, run.unchanged) == ("persons", 2, 1, 1)
    assert (run.government_paid, run.government_paid_fen, run.payable_fen) == (1, 40000, 40000)


def test_given_2026_and_2027_assessed_when_tags_dated_in_november_2026_are_reassessed_then_both_years_change_by_the_rules(
    world, linfen_2027, no_nudge
):
    # Why a roster for 2027 starts a 2026 run: its tags begin on the recognition date (or the
    # roster's date), and a tag recognised before 2026's cover ends counts for 2026 as well.
    policy_save(document=_shifted("linfen-2026-test", 5, 40000, 70000), note="test")
    november = _enrolled("张三", 1)
    january = _enrolled("李四", 3)
    for year in (2026, YEAR):
        assessment_run_now(county_code="141002", insurance_year=year)
    for person, day in ((november, dt.date(2026, 11, 20)), (january, dt.date(2027, 1, 5))):
        SubsidyTag.objects.create(
            person=person, category="tekun", region_code=TUNLI, source="民政", valid_from=day
        )
    _listed(november, january)

    runs = assessment_reassess_persons(person_table="listed_persons", reason="roster", today=TODAY)

    # 2026: only the tag recognised in November 2026 counts; 2027: both.
    assert [
        (run.insurance_year, run.kind, run.enrollments, run.changed, run.government_paid, run.payable_fen)
        for run in runs
    ] == [(2026, "persons", 2, 1, 1, 40000), (YEAR, "persons", 2, 2, 2, 0)]
    status = {
        (row.person_id, row.insurance_year): row.status
        for row in Assessment.objects.filter(person__in=[november, january])
    }
    assert status == {
        (november.pk, 2026): "government",
        (january.pk, 2026): "due",
        (november.pk, YEAR): "government",
        (january.pk, YEAR): "government",
    }


def test_given_an_assessed_person_when_reassessed_alone_then_the_run_reports_that_person(
    world, linfen_2027, no_nudge
):
    dibao = _enrolled("李四", 3)
    _enrolled("王五", 5)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    SubsidyTag.objects.create(
        person=dibao, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )

    (run,) = assessment_reassess(person_id=dibao.pk, reason="tag added", today=TODAY)

    assert (run.kind, run.enrollments, run.changed) == ("person", 1, 1)
    assert (run.government_paid, run.government_paid_fen, run.payable_fen) == (0, 0, 24000)


def test_given_a_person_tagged_in_a_clerks_english_request_when_reassessed_then_the_decisions_reason_is_stored_in_chinese(
    world, linfen_2027, no_nudge
):
    person = _enrolled("李四", 3)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )

    # The reassessment runs in the request of whoever changed the person; their page may be in
    # English, and the decision it stores is read by every later user.
    with translation.override("en"):
        (run,) = assessment_reassess(person_id=person.pk, reason="tag added", today=TODAY)

    decision = Assessment.objects.select_related("decision").get(person=person, insurance_year=YEAR).decision
    assert (run.changed, decision.subsidy_category) == (1, "dibao")
    assert decision.reason.startswith("2026年9月1日缴费（首次参保）")
    assert "Paid" not in decision.reason


def test_given_the_yearly_batch_arriving_after_a_newer_reassessment_then_tax_keeps_the_newer_amount(
    world, linfen_2027, no_nudge, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = _enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    subsidy_tag_add(person=person, category="dibao", source="民政", valid_from=dt.date(2026, 11, 1))
    batch = OutboxMessage.objects.get(topic="assessment.due_batch")
    single = OutboxMessage.objects.get(topic="assessment.due")

    apply_assessment_due(Batch(topic="assessment.due", ids=[single.pk]))
    apply_assessment_due_batch(Batch(topic="assessment.due_batch", ids=[batch.pk]))

    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.amount_fen, item.subsidy_marker, item.revision) == (24000, "02", 2)
    assert (batch.payload["items"][0]["revision"], batch.payload["amount_fen"]) == (1, 40000)


def test_given_a_batch_with_a_broken_item_when_sent_then_nothing_is_sent(world):
    good = {
        "person_id": "141002198001011234", "region_code": TUNLI, "amount_fen": 40000, "standard_fen": 40000,
        "subsidy_fen": 0, "subsidy_category": "", "subsidy_marker": "", "schedule": [], "status": "due",
        "revision": 1,
    }  # fmt: skip
    payload = {
        "county_code": "141002", "insurance_year": YEAR, "region_code": "141002000000", "part": "",
        "batch": 1, "amount_fen": 40000, "items": [good, {**good, "amount_fen": -1}],
    }  # fmt: skip

    with pytest.raises(ValidationError) as raised:
        sharing.message_send_bulk(topic="assessment.due_batch", rows=[(None, None, payload)])

    assert "amount_fen" in " ".join(raised.value.messages)
    assert OutboxMessage.objects.filter(topic="assessment.due_batch").count() == 0


def test_given_an_assessed_payer_when_moved_to_a_household_in_another_village_of_the_county_then_the_enrollment_and_tax_follow(
    world, linfen_2027, no_nudge, monkeypatch
):
    # Given 张三 enrolled in 屯里村, assessed for 2027, and tax's payer and due item there
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)

    person = _enrolled("张三", 1)
    enrollment = Enrollment.objects.get(person=person)
    with transaction.atomic():
        services._send_registered(enrollment)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    sharing.delivery_drain(seconds=30)
    beili = "141002100202"
    region_services.region_create(code=beili, name="北里村", parent=world.regions["tunli"])
    target = Household.objects.create(number=f"{beili}00001", region_code=beili, kind="hukou")

    # When the county's insurance office moves him into a household of 北里村 (迁移)
    services.person_move(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        person_id=person.pk,
        household_id=target.pk,
        relation=Relation.HEAD,
    )
    sharing.delivery_drain(seconds=30)

    # Then the enrollment moved with him, the move is on its timeline, and tax's payer and due item moved too
    enrollment.refresh_from_db()
    change = EnrollmentChange.objects.filter(enrollment=enrollment).latest("pk")
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (enrollment.region_code, enrollment.status) == (beili, "normal")
    assert (change.kind, change.reason, change.effective_on, change.note) == (
        ChangeKind.MOVED, ChangeReason.MOVED_WITHIN_COUNTY, TODAY, f"{TUNLI} → {beili}",
    )  # fmt: skip
    assert (assessment.region_code, assessment.status, assessment.revision) == (beili, "due", 2)
    assert list(Payer.objects.values_list("person_id", "region_code", "status")) == [
        (person.id_number, beili, "normal")
    ]
    assert list(DueItem.objects.values_list("person_id", "region_code", "amount_fen", "status")) == [
        (person.id_number, beili, 40000, "due")
    ]


def _correction_to_an_id_card(person, id_number: str) -> services.MemberInput:
    return services.MemberInput(
        id_kind="resident_id",
        id_number=id_number,
        name=person.name,
        sex="male",
        birth_date=dt.date(1980, 1, 1),
        relation=Relation.HEAD,  # not kept: he belongs to no household
        category=person.category,
    )


def test_given_an_assessed_person_without_documents_when_the_clerk_enters_their_new_id_card_then_the_change_is_refused_and_tax_told_nothing(
    world, linfen_2027, no_nudge, monkeypatch
):
    # Given 张三, without documents (W…), enrolled and assessed for 2027: tax holds his due item under W…
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    generated = generate_identifier(TUNLI, 7)
    person = make_person(TUNLI, name="张三", id_number=generated)
    Person.objects.filter(pk=person.pk).update(id_kind="generated")
    person.refresh_from_db()
    make_enrollment(person)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    sent = OutboxMessage.objects.count()
    id_card = resident_id(address="141002", birth="19800101", sequence="011")

    # When the village clerk enters the ID card he got
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        services.person_update(
            scope=Scope.for_user_id(world.users["clerk_a"].pk),
            person_id=person.pk,
            member=_correction_to_an_id_card(person, id_card),
            revision=person.revision,
        )

    # Then it is refused on the identifier, saying why and what to do; nothing changes, tax is told nothing
    assert refused.value.message_dict == {
        "members.0.id_number": [
            "张三的参保识别码不能在此更改：张三已有缴费核定，税务部门按现识别码登记缴费人、"
            "应缴信息和缴费记录。请保留现识别码，并请县医保经办机构更正（人员页面上的“更正参保识别码”），"
            "同时通知税务部门。"
        ]
    }
    person.refresh_from_db()
    assert (person.id_number, person.id_kind) == (generated, "generated")
    assert OutboxMessage.objects.count() == sent


def test_given_an_enrolled_person_not_yet_assessed_when_the_clerk_corrects_the_identifier_then_it_is_saved(
    world, no_nudge, monkeypatch
):
    # Given 张三, enrolled without documents (W…) and never assessed
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    person = make_person(TUNLI, name="张三", id_number=generate_identifier(TUNLI, 7))
    Person.objects.filter(pk=person.pk).update(id_kind="generated")
    person.refresh_from_db()
    make_enrollment(person)
    id_card = resident_id(address="141002", birth="19800101", sequence="011")

    # When the village clerk enters the ID card he got
    services.person_update(
        scope=Scope.for_user_id(world.users["clerk_a"].pk),
        person_id=person.pk,
        member=_correction_to_an_id_card(person, id_card),
        revision=person.revision,
    )

    # Then the identifier is his ID card's
    person.refresh_from_db()
    assert (person.id_number, person.id_kind) == (id_card, "resident_id")


# --- a transfer in counts for the year it began in, not for ever ----------------------------------


def _transferred_in(name: str, sequence: int, on: dt.date) -> Person:
    """A person of 屯里村 whose enrollment began by transfer in on ``on``."""
    person = _enrolled(name, sequence)
    Enrollment.objects.filter(person=person).update(status_reason=ChangeReason.TRANSFER_IN, enrolled_on=on)
    return person


def _paid_2026(person: Person) -> None:
    policy_save(document=_shifted("linfen-2026-test", 5, 40000, 70000), note="test")
    assessment_run_now(county_code="141002", insurance_year=2026)
    assessment_record_deposits(
        deposits=[Deposit(person.id_number, 2026, 40000, dt.date(2025, 10, 10), "R26")]
    )
    assert Assessment.objects.get(person=person, insurance_year=2026).status == "paid"


def test_given_a_transfer_in_of_2024_and_2026_paid_when_2027_is_assessed_then_continuous(
    world, linfen_2027, no_nudge
):
    # given: 赵六 transferred into 屯里村 on 1 March 2024 and paid 2026
    person = _transferred_in("赵六", 21, dt.date(2024, 3, 1))
    _paid_2026(person)

    # when: the yearly run assesses 2027
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    # then: last year's payer, not a transfer (the transfer was three years ago)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).situation == "continuous"


@pytest.mark.parametrize(
    ("enrolled_on", "situation"),
    [
        (dt.date(2026, 8, 31), "first"),  # before 2027's collection period opened: it had all of it
        (dt.date(2026, 9, 1), "transfer"),  # the day it opened
        (dt.date(2027, 3, 10), "transfer"),  # within the year
    ],
)
def test_given_a_transfer_in_never_paid_here_when_2027_is_assessed_then_a_transfer_only_from_its_collection_period(
    world, linfen_2027, no_nudge, enrolled_on, situation
):
    # given: a person transferred into 屯里村 on ``enrolled_on``, with no year paid in the portal
    person = _transferred_in("钱七", 22, enrolled_on)

    # when: 2027 is assessed
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    # then: a transfer for 2027 only if the enrollment began once 2027's period had opened (1 Sep 2026)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).situation == situation


def test_given_a_transfer_in_of_2024_and_2026_paid_when_a_2027_back_payment_is_asked_then_allowed_as_continuous(
    world, linfen_2027, no_nudge
):
    # given: 赵六, transferred in on 1 March 2024, paid 2026, owes 2027
    person = _transferred_in("赵六", 23, dt.date(2024, 3, 1))
    _paid_2026(person)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)

    # when: insurance asks the rules for a back-payment on 1 March 2027
    answer = back_payment_decide(assessment=assessment, person=person, on=dt.date(2027, 3, 1))

    # then: allowed for last year's payer, at F = 1,100 yuan
    assert (answer.decision.allowed, answer.decision.rule, answer.decision.amount_fen) == (
        True,
        "back_payment",
        110000,
    )


def test_given_a_transfer_in_of_2024_and_2026_paid_when_a_2027_deposit_arrives_then_the_continuous_rule_sets_cover(
    world, linfen_2027, no_nudge
):
    # given: a 2027 policy whose late payers wait by situation: continuous 1 month, transferred 3 months
    document = _shifted("linfen-2027-test", 6, 40000, 70000)
    late = {"from": "2027-01-01", "to": "2027-12-31"}
    document["benefit"] += [
        {"situations": ["continuous"], "paid": late, "start": {"kind": "first_of_month", "months": 1}},
        {"situations": ["transfer"], "paid": late, "start": {"kind": "first_of_month", "months": 3}},
    ]
    policy_save(document=document, note="test: late payers by situation")
    # and: 赵六, transferred in on 1 March 2024, paid 2026, assessed for 2027
    person = _transferred_in("赵六", 24, dt.date(2024, 3, 1))
    _paid_2026(person)
    assessment_run_now(county_code="141002", insurance_year=YEAR)

    # when: tax reports his 2027 deposit of 10 March 2027
    assessment_record_deposits(deposits=[Deposit(person.id_number, YEAR, 40000, dt.date(2027, 3, 10), "R27")])

    # then: covered from 1 April as last year's payer, not from 1 June as a transfer
    assert Assessment.objects.get(person=person, insurance_year=YEAR).benefit_start == dt.date(2027, 4, 1)


def test_given_linfen_2021_stored_as_shipped_before_when_the_presets_load_then_first_enrollments_and_transfers_may_pay_back(
    world,
):
    # given: the Linfen 2021 preset stored as it shipped until 30 November 2026 (last year's payers only)
    document = load_preset("linfen-2021").to_document()
    document["back_payment"] = {**document["back_payment"], "eligible": ["continuous"]}
    policy_save(document=document, note="as shipped before")
    before = Policy.objects.get(code="linfen-2021").version

    # when: the presets load (manage.py load_policies)
    policy_load_presets()

    # then: a new version lets first enrollments and transfers apply for a back-payment
    record = Policy.objects.get(code="linfen-2021")
    assert record.version == before + 1
    assert record.document["back_payment"]["eligible"] == ["continuous", "first", "transfer"]
