"""Back-payment services under the Linfen 2027 rules (tests/refunds/backpay_support.py): the engine
decides at once (last year's payer within 26 Dec 2026 – 31 Aug 2027 → F = 1,100 yuan; otherwise
closed on the spot with its words), insurance approves (never the applicant) or rejects with a
reason, the applicant withdraws; approval tells tax once, tax makes the item payable at the
back-payment amount in its window only, and the deposit buys cover 90 days later."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services as collection_services
from collection.models import DueItem
from collection.rules import acceptance_on
from enrollment.assessment import assessment_reassess
from enrollment.models import Assessment, Policy
from enrollment.policies import policy_extend_collection, policy_for_county, policy_save
from enrollment.rules import engine
from enrollment.rules.engine import say_date
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication, BackPaymentEvidence, WorkflowEvent
from refunds.services_backpay import TransitionConflictError
from sharing.models import OutboxMessage
from sharing.services import delivery_drain, message_send
from tests.conftest import World
from tests.matrix.enrollment_review import PDF_BYTES, QINBI, TUNLI
from tests.refunds.backpay_support import (
    AMOUNT,
    APPLY_ON,
    APPROVE_ON,
    DUE_ON_TIME,
    PAY_UNTIL,
    YEAR,
    due_person,
)

pytestmark = pytest.mark.django_db


def scope_of(world: World, role: str, side: str = "a") -> Scope:
    return Scope.for_user(world.user_for(role, side))


def apply(world: World, person, *, role: str = Role.VILLAGE_CLERK, today: dt.date = APPLY_ON, **extra):  # type: ignore[no-untyped-def]
    return services.back_payment_apply(
        scope=scope_of(world, role), person_id=person.pk, insurance_year=YEAR,
        reason=extra.pop("reason", "外出务工，错过了集中征缴期"), today=today, **extra,
    )  # fmt: skip


def approve(
    world: World, application: BackPaymentApplication, *, today: dt.date = APPROVE_ON, note: str = ""
):  # type: ignore[no-untyped-def]
    return services.back_payment_approve(
        scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk, today=today, note=note
    )


def events(application: BackPaymentApplication) -> list[tuple[str, str, str, str | None]]:
    return [
        (e.action, e.from_state, e.to_state, e.actor.username if e.actor else None)
        for e in WorkflowEvent.objects.filter(kind="back_payment", object_id=application.pk).order_by(
            "at", "pk"
        )
    ]


def sent() -> list[dict]:
    return list(OutboxMessage.objects.filter(topic="backpayment.due").values_list("payload", flat=True))


# --- applying ------------------------------------------------------------------------------------


def test_given_last_years_payer_who_missed_2027_when_the_clerk_applies_in_march_then_allowed_at_1100_yuan(
    world,
):
    person = due_person(TUNLI)
    rules = policy_for_county(county_code="141002", insurance_year=YEAR).rules
    pdf = SimpleUploadedFile("务工证明.pdf", PDF_BYTES, content_type="application/pdf")

    application = apply(world, person, evidence=[pdf])

    expected = engine.back_payment_on(
        rules, engine.PersonFacts(birth_date=dt.date(1980, 1, 1), last_paid_year=2026), APPLY_ON
    )
    assert (application.status, application.allowed, application.amount_fen, application.rule) == (
        "submitted", True, AMOUNT, "back_payment",
    )  # fmt: skip
    assert application.rule_reason == expected.reason
    assert "1100元" in application.rule_reason
    assert (application.pay_until, application.region_code) == (PAY_UNTIL, TUNLI)
    assert application.policy_version == policy_for_county(county_code="141002", insurance_year=YEAR).version
    assert list(
        BackPaymentEvidence.objects.filter(application=application).values_list("name", flat=True)
    ) == ["务工证明.pdf"]
    assert events(application) == [("apply", "", "submitted", "clerk_a")]
    assert sent() == []


def test_given_an_application_on_1_september_then_closed_by_the_rules_since_next_years_collection_opened(
    world,
):
    person = due_person(TUNLI)

    application = apply(world, person, today=dt.date(2027, 9, 1))

    application.refresh_from_db()
    assert (application.status, application.allowed, application.amount_fen, application.rule) == (
        "rejected", False, 0, "back_payment.apply_until",
    )  # fmt: skip
    assert say_date(dt.date(2027, 8, 31)) in application.rule_reason
    assert application.decision_note == application.rule_reason[:500]
    assert events(application) == [
        ("apply", "", "submitted", "clerk_a"),
        ("rule_reject", "submitted", "rejected", None),
    ]


def test_given_someone_who_paid_2025_but_not_2026_then_closed_on_the_spot_as_not_eligible(world):
    person = due_person(TUNLI, paid_last_year=False, paid_2025=True)

    application = apply(world, person)

    application.refresh_from_db()
    assert (application.status, application.rule) == ("rejected", "back_payment.eligible")


def test_given_a_first_enrollment_who_missed_the_period_when_the_clerk_applies_in_march_then_allowed_at_1100_yuan(
    world,
):
    # given: a person enrolled for the first time, never paid, owing 2027 after the period ended
    person = due_person(TUNLI, paid_last_year=False)

    # when: the clerk applies on 15 March 2027
    application = apply(world, person, reason="首次参保，错过集中征缴期")

    # then: allowed as Linfen's back-payment — F, cover 90 days after the deposit, pay by 31 August
    assert (application.status, application.allowed, application.amount_fen, application.rule) == (
        "submitted", True, AMOUNT, "back_payment",
    )  # fmt: skip
    assert application.pay_until == PAY_UNTIL


def test_given_a_year_already_paid_then_there_is_nothing_to_pay_back(world):
    person = due_person(TUNLI)

    with pytest.raises(ValidationError) as refused:
        services.back_payment_apply(
            scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=2026,
            reason="补缴", today=APPLY_ON,
        )  # fmt: skip

    assert "insurance_year" in refused.value.message_dict
    assert not BackPaymentApplication.objects.exists()


def test_given_an_open_application_when_applying_again_for_the_year_then_refused_with_its_status(world):
    person = due_person(TUNLI)
    apply(world, person)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        apply(world, person, role=Role.INSURANCE_STAFF)

    assert "already has an open back-payment application for 2027 (Submitted" in refused.value.messages[0]


def test_given_no_reason_then_the_application_is_refused(world):
    with pytest.raises(ValidationError) as refused:
        apply(world, due_person(TUNLI), reason="  ")
    assert list(refused.value.message_dict) == ["reason"]


def test_given_a_person_of_another_county_then_the_clerk_cannot_apply(world):
    person = due_person(QINBI)
    with pytest.raises(ValidationError) as refused:
        apply(world, person)
    assert list(refused.value.message_dict) == ["person"]


# --- deciding ------------------------------------------------------------------------------------


def test_given_an_approval_then_the_assessment_is_marked_and_tax_is_sent_exactly_one_due_message(world):
    person = due_person(TUNLI)
    application = apply(world, person)
    before = Assessment.objects.get(person=person, insurance_year=YEAR)

    approved = approve(world, application, note="核实外出务工")

    approved.refresh_from_db()
    assessment = Assessment.objects.get(pk=before.pk)
    assert (approved.status, approved.decided_by.username, approved.decision_note) == (
        "approved", "insurance_a", "核实外出务工",
    )  # fmt: skip
    assert (assessment.status, assessment.back_payment_fen, assessment.back_payment_approved_on) == (
        "due", AMOUNT, APPROVE_ON,
    )  # fmt: skip
    assert (assessment.back_payment_pay_until, assessment.revision) == (PAY_UNTIL, before.revision + 1)
    assert sent() == [
        {
            "person_id": person.id_number,
            "region_code": TUNLI,
            "insurance_year": YEAR,
            "application_id": application.pk,
            "amount_fen": AMOUNT,
            "approved_on": "2027-03-18",
            "pay_until": "2027-08-31",
            "rule": "back_payment",
            "reason": approved.rule_reason,
            "revision": before.revision + 1,
        }
    ]
    message = OutboxMessage.objects.get(topic="backpayment.due")
    assert message.version == 2
    assert events(approved)[-1] == ("approve", "submitted", "approved", "insurance_a")


def test_given_the_rules_no_longer_allow_it_on_the_approval_day_then_the_approval_is_refused_and_nothing_sent(
    world,
):
    application = apply(world, due_person(TUNLI))

    with pytest.raises(ValidationError) as refused:
        approve(world, application, today=dt.date(2027, 9, 1))

    application.refresh_from_db()
    assert say_date(dt.date(2027, 8, 31)) in refused.value.messages[0]
    assert (application.status, sent()) == ("submitted", [])


def extend_2027_collection_to_25_january() -> None:
    record = Policy.objects.get(code="refund-test-141000")
    policy_extend_collection(policy=record, extended_to=dt.date(2027, 1, 25), note="医保税务协商延长")


def test_given_the_collection_period_extended_to_25_january_when_the_clerk_applies_on_10_january_then_closed_by_the_rules(
    world,
):
    # given: last year's payer who owes 2027; insurance and tax extended the period to 25 January 2027
    person = due_person(TUNLI)
    extend_2027_collection_to_25_january()

    # when: the clerk applies for a back-payment on 10 January, within the extension
    application = apply(world, person, today=dt.date(2027, 1, 10))

    # then: refused on the spot — the period is not missed, the person pays 400 at the counter
    application.refresh_from_db()
    assert (application.status, application.allowed, application.amount_fen, application.rule) == (
        "rejected", False, 0, "back_payment.apply_from",
    )  # fmt: skip
    assert say_date(dt.date(2027, 1, 26)) in application.rule_reason
    assert sent() == []


def test_given_an_application_of_27_december_when_the_period_is_then_extended_then_approval_on_12_january_is_refused(
    world,
):
    # given: an application made on 27 December 2026, after the period's original end, allowed then
    person = due_person(TUNLI)
    application = apply(world, person, today=dt.date(2026, 12, 27))
    assert (application.status, application.allowed) == ("submitted", True)
    # and: the period extended to 25 January afterwards
    extend_2027_collection_to_25_january()

    # when: insurance approves on 12 January
    with pytest.raises(ValidationError) as refused:
        approve(world, application, today=dt.date(2027, 1, 12))

    # then: refused and nothing sent to tax: no back-payment line goes ahead of the period's 400 yuan
    application.refresh_from_db()
    assert say_date(dt.date(2027, 1, 26)) in refused.value.messages[0]
    assert (application.status, sent()) == ("submitted", [])


def test_given_an_extension_then_tax_is_told_back_payment_applications_open_the_day_after_it(world):
    # given: the 2027 policy, back-payments from 26 December 2026
    due_person(TUNLI)

    # when: the period is extended to 25 January 2027
    extend_2027_collection_to_25_january()

    # then: tax's counter is told applications open on 26 January (its way forward after the period)
    payload = (
        OutboxMessage.objects.filter(
            topic="policy.back_payment_window", payload__policy_code="refund-test-141000"
        )
        .latest("id")
        .payload
    )
    assert (payload["apply_from"], payload["apply_until"]) == ("2027-01-26", "2027-08-31")


def test_given_insurance_staff_applied_then_they_may_not_approve_their_own_application(world):
    application = apply(world, due_person(TUNLI), role=Role.INSURANCE_STAFF)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        approve(world, application)

    assert "four-eyes" in refused.value.messages[0]
    application.refresh_from_db()
    assert (application.status, sent()) == ("submitted", [])


def test_given_a_village_clerk_then_they_may_not_approve(world):
    application = apply(world, due_person(TUNLI), role=Role.INSURANCE_STAFF)
    with pytest.raises(PermissionDenied):
        services.back_payment_approve(
            scope=scope_of(world, Role.VILLAGE_CLERK), application_id=application.pk
        )


def test_given_a_rejection_then_the_reason_is_required_and_recorded(world):
    application = apply(world, due_person(TUNLI))
    reviewer = scope_of(world, Role.INSURANCE_STAFF)

    with pytest.raises(ValidationError):
        services.back_payment_reject(scope=reviewer, application_id=application.pk, reason=" ")
    rejected = services.back_payment_reject(
        scope=reviewer, application_id=application.pk, reason="住院后才申请，疑似带病参保"
    )

    assert (rejected.status, rejected.decision_note, rejected.decided_by_id) == (
        "rejected", "住院后才申请，疑似带病参保", reviewer.user_id,
    )  # fmt: skip
    assert events(rejected)[-1] == ("reject", "submitted", "rejected", "insurance_a")
    assert sent() == []


def test_given_an_approved_application_when_approved_or_withdrawn_again_then_409_with_who_and_when(world):
    application = approve(world, apply(world, due_person(TUNLI)))

    with translation.override("en"), pytest.raises(TransitionConflictError) as conflict:
        approve(world, application)
    with pytest.raises(TransitionConflictError):
        services.back_payment_withdraw(
            scope=scope_of(world, Role.VILLAGE_CLERK), application_id=application.pk
        )

    assert conflict.value.message.startswith(
        "This application is already Approved, payable at tax: 医保a chose “Approve”"
    )
    assert len(sent()) == 1


def test_given_only_the_applicant_withdraws(world):
    application = apply(world, due_person(TUNLI))

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.back_payment_withdraw(
            scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk
        )
    withdrawn = services.back_payment_withdraw(
        scope=scope_of(world, Role.VILLAGE_CLERK), application_id=application.pk
    )

    assert "Only the person who applied" in refused.value.messages[0]
    assert withdrawn.status == "withdrawn"
    assert events(withdrawn)[-1] == ("withdraw", "submitted", "withdrawn", "clerk_a")


# --- tax, the payment and the cover --------------------------------------------------------------


def test_given_an_approval_delivered_then_tax_takes_1100_yuan_from_approval_to_pay_by_day_and_cover_starts_90_days_after(
    world,
):
    person = due_person(TUNLI)
    delivery_drain(seconds=30)  # the yearly run's assessment.due: tax holds the on-time item
    assert DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR).amount_fen == DUE_ON_TIME

    approve(world, apply(world, person))
    delivery_drain(seconds=30)

    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.amount_fen, item.status, item.schedule[0]["rule"]) == (AMOUNT, "due", "back_payment")
    assert (item.schedule[0]["from"], item.schedule[0]["to"]) == ("2027-03-18", "2027-08-31")
    on = {day: acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day) for day in (
        dt.date(2027, 3, 17), dt.date(2027, 3, 18), dt.date(2027, 8, 31), dt.date(2027, 9, 1))}  # fmt: skip
    assert [(a.accepted, a.amount_fen) for a in on.values()] == [
        (False, 0),
        (True, AMOUNT),
        (True, AMOUNT),
        (False, 0),
    ]

    paid_at = timezone.make_aware(dt.datetime(2027, 4, 2, 10, 0))
    with mock.patch("django.utils.timezone.now", return_value=paid_at):  # a payment is never dated ahead
        collection_services.payment_record(
            scope=scope_of(world, Role.TAX_STAFF), due_item_id=item.pk, amount_fen=AMOUNT, channel="counter_cash",
            paid_by=person.name, paid_at=paid_at,
        )  # fmt: skip
    delivery_drain(seconds=30)

    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.paid_fen, assessment.paid_on) == (
        "paid",
        AMOUNT,
        dt.date(2027, 4, 2),
    )
    assert (assessment.benefit_start, assessment.benefit_end) == (dt.date(2027, 7, 1), dt.date(2027, 12, 31))
    assert "自缴费入库之日起90天后享受待遇" in assessment.benefit_reason


def test_given_applications_taken_to_the_years_end_when_approved_then_tax_takes_it_only_while_it_still_buys_cover(
    world,
):
    # Linfen's rule with applications open to 31 December: cover starts 90 days after payment, so
    # a payment on 2 October is covered from 31 December and one on the 3rd would buy nothing.
    person = due_person(TUNLI)
    record = Policy.objects.get(code="refund-test-141000")
    document = dict(record.document)
    document["back_payment"] = {**document["back_payment"], "apply_until": "2027-12-31"}
    policy_save(document=document, note="back-payment tests: applications to the year's end")
    delivery_drain(seconds=30)

    approved = approve(world, apply(world, person))
    delivery_drain(seconds=30)

    approved.refresh_from_db()
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert approved.pay_until == assessment.back_payment_pay_until == dt.date(2027, 10, 2)
    assert "最迟于2027年10月2日缴费" in approved.rule_reason
    assert "2028年1月1日" in approved.rule_reason
    [message] = sent()
    assert (message["pay_until"], message["reason"]) == ("2027-10-02", approved.rule_reason)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.schedule[0]["rule"], item.schedule[0]["to"]) == ("back_payment", "2027-10-02")
    assert "最迟于2027年10月2日缴费" in item.schedule[0]["note"]
    on = [
        acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day).accepted
        for day in (dt.date(2027, 10, 2), dt.date(2027, 10, 3), dt.date(2027, 12, 31))
    ]
    assert on == [True, False, False]
    # Each day tax takes it still buys cover within 2027.
    rules = policy_for_county(county_code="141002", insurance_year=YEAR).rules
    facts = engine.PersonFacts(birth_date=dt.date(1980, 1, 1), last_paid_year=2026)
    last = engine.benefit_period(rules, facts, dt.date(2027, 10, 2), back_payment=True)
    assert (last.start, last.end) == (dt.date(2027, 12, 31), dt.date(2027, 12, 31))


def test_given_an_older_assessment_due_after_the_back_payment_then_tax_keeps_the_back_payment(world):
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approve(world, apply(world, person))
    delivery_drain(seconds=30)
    old = Assessment.objects.get(person=person, insurance_year=YEAR)

    message_send(  # a repeated, older message about the item (revision before the approval)
        topic="assessment.due",
        payload={"person_id": person.id_number, "insurance_year": YEAR, "region_code": TUNLI,
                 "amount_fen": DUE_ON_TIME, "schedule": [], "revision": old.revision - 1},
    )  # fmt: skip
    delivery_drain(seconds=30)

    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.amount_fen, item.schedule[0]["rule"], item.revision) == (
        AMOUNT,
        "back_payment",
        old.revision,
    )


def test_given_an_approved_back_payment_when_the_person_is_reassessed_then_tax_keeps_its_line_first(world):
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approve(world, apply(world, person))
    delivery_drain(seconds=30)
    record = Policy.objects.get(code="refund-test-141000")
    document = dict(record.document)
    document["financing"] = {**document["financing"], "individual_fen": 42000}
    policy_save(document=document, note="a new individual standard: every due person is reassessed")

    assessment_reassess(person_id=person.pk, reason="new standard", today=APPROVE_ON)
    delivery_drain(seconds=30)

    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (assessment.payable_fen, assessment.back_payment_fen) == (42000, AMOUNT)
    assert (item.revision, item.amount_fen) == (assessment.revision, AMOUNT)
    assert (item.schedule[0]["rule"], item.schedule[0]["from"], item.schedule[0]["to"]) == (
        "back_payment",
        "2027-03-18",
        "2027-08-31",
    )
    accepted = acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=dt.date(2027, 4, 2))
    assert (accepted.accepted, accepted.amount_fen) == (True, AMOUNT)


def test_given_a_back_payment_message_older_than_the_item_then_tax_changes_nothing(world):
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)

    message_send(
        topic="backpayment.due",
        payload={"person_id": person.id_number, "region_code": TUNLI, "insurance_year": YEAR, "application_id": 1,
                 "amount_fen": AMOUNT, "approved_on": "2027-03-18", "pay_until": "2027-08-31",
                 "rule": "back_payment", "reason": "旧消息", "revision": item.revision},
    )  # fmt: skip
    delivery_drain(seconds=30)

    item.refresh_from_db()
    assert (item.amount_fen, item.revision) == (
        DUE_ON_TIME,
        Assessment.objects.get(person=person, insurance_year=YEAR).revision,
    )
    assert [line["rule"] for line in item.schedule if line.get("back_payment")] == []
