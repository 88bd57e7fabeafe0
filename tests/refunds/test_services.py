"""Refund services under the Linfen 2027 rules (tests/refunds/support.py): the engine decides at
once (paid twice → refundable; death → not refundable in Linfen, closed on the spot with the
reason), the deadline is 5 official working days, insurance approves or rejects (never the
applicant), the applicant withdraws, insurance records the payout; every step is an event."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from enrollment.deposits import deposits_standing
from enrollment.models import Assessment, DepositRecord
from enrollment.policies import policy_for_county
from enrollment.rules import engine
from refunds import services
from refunds.models import RefundApplication, RefundEvidence, WorkflowEvent
from refunds.services import TransitionConflictError
from sharing.models import OutboxMessage
from sharing.services import delivery_drain, message_send
from tests.conftest import World
from tests.matrix.enrollment_review import PDF_BYTES, QINBI, TUNLI
from tests.refunds.support import AMOUNT, YEAR, paid_person

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)  # a Friday; 5 working days later is Friday 27 November


def scope_of(world: World, role: str, side: str = "a") -> Scope:
    return Scope.for_user(world.user_for(role, side))


def apply(world: World, person, reason: str = "paid_twice", *, role: str = Role.VILLAGE_CLERK, **extra):  # type: ignore[no-untyped-def]
    return services.refund_apply(
        scope=scope_of(world, role), person_id=person.pk, insurance_year=YEAR, reason=reason,
        event_on=extra.pop("event_on", dt.date(2026, 10, 12)), today=extra.pop("today", TODAY), **extra,
    )  # fmt: skip


def events(application: RefundApplication) -> list[tuple[str, str, str, str | None]]:
    return [
        (e.action, e.from_state, e.to_state, e.actor.username if e.actor else None)
        for e in WorkflowEvent.objects.filter(kind="refund", object_id=application.pk).order_by("at", "pk")
    ]


def test_given_a_payer_who_paid_twice_when_the_clerk_applies_then_refundable_due_in_five_working_days(world):
    person = paid_person(TUNLI, deposits=2)

    with translation.override("en"):
        application = apply(world, person)

    assert (application.status, application.refundable, application.amount_fen) == ("submitted", True, AMOUNT)
    assert (application.rule, application.region_code, application.insurance_year) == (
        "refunds.reasons.paid_twice",
        TUNLI,
        YEAR,
    )
    assert application.rule_reason == "Refundable: paid twice"
    assert (application.due_on, application.due_note) == (dt.date(2026, 11, 27), "")
    assert application.policy_version == policy_for_county(county_code="141002", insurance_year=YEAR).version
    assert events(application) == [("apply", "", "submitted", "clerk_a")]


def test_given_a_death_in_linfen_when_applied_then_closed_on_the_spot_with_the_engines_reason(world):
    person = paid_person(TUNLI)
    rules = policy_for_county(county_code="141002", insurance_year=YEAR).rules

    with translation.override("en"):
        application = apply(world, person, "death")
        expected = engine.refund_on(rules, "death", dt.date(2026, 10, 12), dt.date(2027, 1, 1)).reason

    application.refresh_from_db()
    assert expected.startswith("Not refundable: this region does not refund contributions for death")
    assert (application.status, application.refundable, application.rule) == (
        "rejected",
        False,
        "refunds.reasons.death",
    )
    assert (application.rule_reason, application.decision_note, application.decided_by) == (
        expected,
        expected,
        None,
    )
    assert events(application) == [
        ("apply", "", "submitted", "clerk_a"),
        ("rule_reject", "submitted", "rejected", None),
    ]


def test_given_a_submitted_application_when_insurance_approves_and_pays_out_then_each_step_is_recorded(world):
    application = apply(world, paid_person(TUNLI, deposits=2))
    insurance = scope_of(world, Role.INSURANCE_STAFF)

    services.refund_approve(scope=insurance, application_id=application.pk, note="核对两张收据")
    services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference=" BANK-2026-0001 ")

    application.refresh_from_db()
    assert (application.status, application.decided_by.username, application.decision_note) == (
        "paid_out",
        "insurance_a",
        "核对两张收据",
    )
    assert (application.paid_out_by.username, application.bank_reference) == ("insurance_a", "BANK-2026-0001")
    assert application.paid_out_at is not None and application.decided_at is not None
    assert events(application) == [
        ("apply", "", "submitted", "clerk_a"),
        ("approve", "submitted", "approved", "insurance_a"),
        ("pay_out", "approved", "paid_out", "insurance_a"),
    ]


def test_given_insurance_staff_who_applied_when_they_approve_then_four_eyes_refuses(world):
    application = apply(world, paid_person(TUNLI, deposits=2), role=Role.INSURANCE_STAFF)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.refund_approve(scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk)

    assert refused.value.messages == ["You applied for this, so someone else must decide it (four-eyes)."]
    application.refresh_from_db()
    assert application.status == "submitted"
    assert events(application) == [("apply", "", "submitted", "insurance_a")]


def test_given_a_village_clerk_when_they_approve_then_their_role_may_not(world):
    application = apply(world, paid_person(TUNLI, deposits=2), role=Role.INSURANCE_STAFF)

    with pytest.raises(PermissionDenied):
        services.refund_approve(scope=scope_of(world, Role.VILLAGE_CLERK), application_id=application.pk)


def test_given_a_rejection_without_reason_then_refused_and_with_a_reason_then_shown(world):
    application = apply(world, paid_person(TUNLI, deposits=2))
    insurance = scope_of(world, Role.INSURANCE_STAFF)

    with pytest.raises(ValidationError) as refused:
        services.refund_reject(scope=insurance, application_id=application.pk, reason="  ")
    services.refund_reject(scope=insurance, application_id=application.pk, reason="第二笔缴费未入库")

    assert "reason" in refused.value.message_dict
    application.refresh_from_db()
    assert (application.status, application.decision_note) == ("rejected", "第二笔缴费未入库")
    assert events(application)[-1] == ("reject", "submitted", "rejected", "insurance_a")


def test_given_an_application_when_someone_else_withdraws_then_refused_and_the_applicant_may(world):
    application = apply(world, paid_person(TUNLI, deposits=2))

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.refund_withdraw(scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk)
    services.refund_withdraw(
        scope=scope_of(world, Role.VILLAGE_CLERK), application_id=application.pk, note="已协商"
    )

    assert refused.value.messages == ["Only the person who applied may do this."]
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert events(application)[-1] == ("withdraw", "submitted", "withdrawn", "clerk_a")


def test_given_a_submitted_application_when_paid_out_before_approval_then_a_conflict(world):
    application = apply(world, paid_person(TUNLI, deposits=2))

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_pay_out(
            scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk, bank_reference="B1"
        )

    assert refused.value.message.startswith(
        "This application is already Submitted: 村经办a chose “Apply” at "
    )
    assert refused.value.message.endswith(", so “Record the payout” is not possible now.")


def test_given_an_approved_application_when_a_second_reviewer_approves_then_told_who_decided_and_when(world):
    application = apply(world, paid_person(TUNLI, deposits=2))
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    approved = WorkflowEvent.objects.get(object_id=application.pk, action="approve")

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_approve(scope=insurance, application_id=application.pk)

    from django.utils import timezone

    when = timezone.localtime(approved.at).strftime("%Y-%m-%d %H:%M:%S")
    assert refused.value.message == (
        f"This application is already Approved, awaiting payout: 医保a chose “Approve” at {when}, "
        "so “Approve” is not possible now."
    )


def test_given_an_application_of_another_county_when_decided_then_not_found(world):
    application = apply(world, paid_person(TUNLI, deposits=2))

    with pytest.raises(Http404):
        services.refund_approve(
            scope=scope_of(world, Role.INSURANCE_STAFF, "b"), application_id=application.pk
        )


def test_given_an_open_application_when_the_same_year_is_applied_for_again_then_refused_until_closed(world):
    person = paid_person(TUNLI, deposits=2)
    first = apply(world, person)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        apply(world, person, role=Role.INSURANCE_STAFF)
    services.refund_withdraw(scope=scope_of(world, Role.VILLAGE_CLERK), application_id=first.pk)
    second = apply(world, person)

    assert refused.value.messages[0].startswith(
        "This person already has an open refund application for 2027 (Submitted, applied on "
    )
    assert second.status == "submitted"
    assert RefundApplication.objects.filter(person=person).count() == 2


def test_given_a_person_without_a_paid_year_when_applied_then_refused_naming_the_year(world):
    person = paid_person(TUNLI, deposits=2)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.refund_apply(
            scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=2026,
            reason="paid_twice", event_on=dt.date(2026, 10, 1), today=TODAY,
        )  # fmt: skip

    assert refused.value.message_dict == {
        "insurance_year": ["张三 has no paid contribution for 2026 in your area."]
    }


def test_given_a_person_of_another_village_when_the_clerk_applies_then_no_such_person(world):
    person = paid_person(QINBI)

    with pytest.raises(ValidationError) as refused:
        apply(world, person)

    assert list(refused.value.message_dict) == ["person"]


def test_given_a_future_event_date_or_unknown_reason_then_both_fields_refused(world):
    with pytest.raises(ValidationError) as refused:
        apply(world, paid_person(TUNLI), "lottery", event_on=dt.date(2026, 11, 21))

    assert sorted(refused.value.message_dict) == ["event_on", "reason"]
    assert RefundApplication.objects.count() == 0


def test_given_evidence_when_applied_then_a_pdf_is_kept_and_a_disguised_file_refuses_everything(world):
    person = paid_person(TUNLI, deposits=2)
    fake = SimpleUploadedFile("receipt.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        apply(world, person, evidence=[fake])
    application = apply(
        world,
        person,
        evidence=[SimpleUploadedFile("second-receipt.pdf", PDF_BYTES, content_type="application/pdf")],
    )

    assert refused.value.message_dict == {
        "evidence": ["receipt.pdf: The file's content is not a PDF, whatever its name says."]
    }
    stored = RefundEvidence.objects.get()
    assert (stored.application_id, stored.name, stored.uploaded_by.username) == (
        application.pk,
        "second-receipt.pdf",
        "clerk_a",
    )
    assert stored.file.read() == PDF_BYTES


def test_given_an_application_near_new_year_then_the_deadline_says_2027_is_counted_monday_to_friday(
    world, monkeypatch
):
    import chinese_calendar

    known = chinese_calendar.is_workday

    def until_2026(day):  # type: ignore[no-untyped-def]
        if day.year >= 2027:
            raise NotImplementedError("no available data for year 2027")
        return known(day)

    monkeypatch.setattr(chinese_calendar, "is_workday", until_2026)
    person = paid_person(TUNLI, deposits=2)

    with translation.override("en"):
        application = apply(world, person, today=dt.date(2026, 12, 28))

    assert application.due_on == dt.date(2027, 1, 4)
    assert application.due_note.startswith("The official holiday calendar for 2027 is not published yet")


def test_given_the_national_rule_when_death_falls_before_or_on_the_benefit_start_then_refundable_only_before(
    world,
):
    from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now
    from enrollment.models import Assessment
    from enrollment.policies import policy_save
    from enrollment.rules.presets import load_preset
    from tests.enrollment import resident_id
    from tests.matrix.enrollment_review import make_enrollment, make_person

    # The national 2025 preset (医保办函〔2021〕11号): death refundable only before the benefit period.
    policy_save(document=load_preset("national-2025").to_document(), note="test")
    person = make_person(
        TUNLI, name="赵六", id_number=resident_id(address="141002", birth="19800101", sequence="555")
    )
    make_enrollment(person)
    assessment_run_now(county_code="141002", insurance_year=2025)
    # Paid after the collection period: the benefit period starts after a waiting period.
    assessment_record_deposits(deposits=[Deposit(person.id_number, 2025, 40000, dt.date(2025, 3, 10), "N1")])
    start = Assessment.objects.get(person=person, insurance_year=2025).benefit_start
    clerk = scope_of(world, Role.VILLAGE_CLERK)

    def apply_for_death(on: dt.date) -> RefundApplication:
        return services.refund_apply(
            scope=clerk, person_id=person.pk, insurance_year=2025, reason="death", event_on=on,
            today=dt.date(2025, 11, 3),
        )  # fmt: skip

    with translation.override("en"):
        before = apply_for_death(start - dt.timedelta(days=1))
        services.refund_withdraw(scope=clerk, application_id=before.pk)
        on_start = apply_for_death(start)

    assert start > dt.date(2025, 3, 10)
    assert (before.refundable, before.status, before.due_on) == (True, "submitted", dt.date(2025, 11, 10))
    assert (on_start.refundable, on_start.status, on_start.rule) == (
        False,
        "rejected",
        "refunds.reasons.death",
    )
    assert on_start.rule_reason.startswith(
        f"Not refundable: the benefit period had already started on {start.isoformat()} (death on {start.isoformat()})"
    )


def test_given_a_refund_paid_out_then_tax_is_told_in_the_months_refund_details(world):
    """Paid twice: the receipt is the second payment's, the one given back (tax caps its
    over-collections and reversals of that payment by it), not the one the year keeps."""
    person = paid_person(TUNLI, deposits=2)
    application = apply(world, person)
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)

    services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-1")

    application.refresh_from_db()
    paid_on = timezone.localtime(application.paid_out_at).date()
    (message,) = OutboxMessage.objects.filter(topic="refund.monthly_details")
    receipt = DepositRecord.objects.filter(id_number=person.id_number).latest("payment_id").receipt_number
    assert receipt != Assessment.objects.get(person=person, insurance_year=YEAR).deposit_reference
    assert message.payload == {
        "refund_id": application.pk,
        "person_id": person.id_number,
        "region_code": application.region_code,
        "month": f"{paid_on:%Y-%m}",
        "amount_fen": AMOUNT,
        "receipt_number": receipt,
        "paid_on": paid_on.isoformat(),
        "kind": "application",
    }
    assert (message.version, message.subject) == (2, f"refund:application:{application.pk}")
    assert receipt.startswith("R")


def test_given_a_death_before_the_benefit_period_when_the_refund_is_paid_out_then_the_year_is_refunded_and_uncovered(
    world,
):
    from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now, coverage_check
    from enrollment.policies import policy_save
    from enrollment.rules.presets import load_preset
    from tests.enrollment import resident_id
    from tests.matrix.enrollment_review import make_enrollment, make_person

    # The national 2025 preset: a death before the benefit period began makes the year refundable.
    policy_save(document=load_preset("national-2025").to_document(), note="test")
    person = make_person(
        TUNLI, name="钱七", id_number=resident_id(address="141002", birth="19800101", sequence="556")
    )
    make_enrollment(person)
    assessment_run_now(county_code="141002", insurance_year=2025)
    assessment_record_deposits(deposits=[Deposit(person.id_number, 2025, 40000, dt.date(2025, 3, 10), "N2")])
    paid = Assessment.objects.get(person=person, insurance_year=2025)
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    application = services.refund_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=2025, reason="death",
        event_on=paid.benefit_start - dt.timedelta(days=1), today=dt.date(2025, 11, 3),
    )  # fmt: skip
    services.refund_approve(scope=insurance, application_id=application.pk)

    with translation.override("en"):
        services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-D1")

    refunded = Assessment.objects.get(pk=paid.pk)
    paid_out_on = timezone.localtime(RefundApplication.objects.get(pk=application.pk).paid_out_at).date()
    assert (refunded.status, refunded.benefit_start, refunded.benefit_end) == ("refunded", None, None)
    assert (refunded.paid_on, refunded.paid_fen, refunded.revision) == (
        dt.date(2025, 3, 10),
        40000,
        paid.revision + 1,
    )
    assert refunded.benefit_reason == (f"退费于{engine.say_date(paid_out_on)}（死亡）：不享受待遇")
    answer = coverage_check(scope=insurance, id_number=person.id_number, day=paid.benefit_start)
    assert answer.decision.covered is False


def test_given_a_refund_for_paying_twice_when_paid_out_then_the_year_stays_paid_and_covered(world):
    person = paid_person(TUNLI, deposits=2)
    application = apply(world, person)
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    before = Assessment.objects.get(person=person, insurance_year=YEAR)

    services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-2")

    after = Assessment.objects.get(pk=before.pk)
    assert (after.status, after.benefit_start, after.revision) == (
        "paid",
        before.benefit_start,
        before.revision,
    )


# --- paid twice: verified against insurance's own deposit records ------------------------------------


def _tax_deposits(person, *payment_ids: int) -> None:  # type: ignore[no-untyped-def]
    """Deposit records as tax's payments send them, delivered by the sharing platform's worker."""
    for payment_id in payment_ids:
        message_send(
            topic="payment.deposited",
            payload={
                "payment_id": payment_id, "person_id": person.id_number, "region_code": person.region_code,
                "insurance_year": YEAR, "amount_fen": AMOUNT, "channel": "wechat",
                "receipt_number": f"7-2026-{payment_id:06d}", "paid_at": "2026-10-12T09:30:00+08:00",
            },
        )  # fmt: skip
    assert delivery_drain(seconds=30)["dead"] == 0


def test_given_one_deposit_from_tax_when_paid_twice_is_claimed_then_refused_until_a_second_one_arrives(
    world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    person = paid_person(TUNLI, deposits=0)
    _tax_deposits(person, 501)

    with translation.override("en"):
        refused = apply(world, person)

    assert (refused.status, refused.refundable, refused.rule) == (
        "rejected",
        False,
        "refunds.reasons.paid_twice.deposits",
    )
    # The reason alone: the policy's note ("重复缴费可申请退费…") no longer contradicts it.
    assert refused.rule_reason == (
        "Not refundable as paid twice: the medical insurance bureau's deposit records for this person "
        "and year count 1; a duplicate payment needs at least 2"
    )
    assert refused.decision_note == refused.rule_reason
    assert [e[:3] for e in events(refused)] == [
        ("apply", "", "submitted"),
        ("rule_reject", "submitted", "rejected"),
    ]

    _tax_deposits(person, 502, 502)  # the second payment's record, delivered twice: kept once
    assert DepositRecord.objects.filter(id_number=person.id_number, insurance_year=YEAR).count() == 2

    accepted = apply(world, person)
    assert (accepted.status, accepted.refundable, accepted.rule) == (
        "submitted",
        True,
        "refunds.reasons.paid_twice",
    )

    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=accepted.pk)
    services.refund_pay_out(scope=insurance, application_id=accepted.pk, bank_reference="BK-20261125-01")
    with translation.override("en"):
        again = apply(world, person)  # the one duplicate was paid back: nothing left to refund
    assert (again.status, again.rule) == ("rejected", "refunds.reasons.paid_twice.deposits")
    assert "count 2, of which 1 already paid back as duplicates" in again.rule_reason


def test_given_a_deposit_tax_reversed_then_it_no_longer_counts_as_a_second_payment(world, monkeypatch):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    person = paid_person(TUNLI, deposits=0)
    _tax_deposits(person, 601, 602)
    message_send(
        topic="payment.reversed",
        payload={
            "payment_id": 602, "person_id": person.id_number, "region_code": person.region_code,
            "insurance_year": YEAR, "amount_fen": AMOUNT, "reason": "重复收费，冲正",
            "reversed_at": "2026-10-13T10:00:00+08:00",
        },
    )  # fmt: skip
    assert delivery_drain(seconds=30)["dead"] == 0

    assert list(
        DepositRecord.objects.filter(id_number=person.id_number)
        .order_by("payment_id")
        .values_list("payment_id", "reversed_on", "reversal_reason")
    ) == [(601, None, ""), (602, dt.date(2026, 10, 13), "重复收费，冲正")]
    assert deposits_standing(id_number=person.id_number, insurance_year=YEAR) == 1


def _tax_reversal(person, payment_id: int) -> None:  # type: ignore[no-untyped-def]
    message_send(
        topic="payment.reversed",
        payload={
            "payment_id": payment_id, "person_id": person.id_number, "region_code": person.region_code,
            "insurance_year": YEAR, "amount_fen": AMOUNT, "reason": "收错了，冲正",
            "reversed_at": "2026-10-13T10:00:00+08:00",
        },
    )  # fmt: skip
    assert delivery_drain(seconds=30)["dead"] == 0


def test_given_two_deposits_when_tax_reverses_one_then_the_year_is_paid_by_the_other_and_owed_after_both(
    world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    person = paid_person(TUNLI, deposits=0)
    _tax_deposits(person, 701, 702)

    _tax_reversal(person, 701)
    after_one = Assessment.objects.get(person=person, insurance_year=YEAR)
    _tax_reversal(person, 702)
    after_both = Assessment.objects.get(person=person, insurance_year=YEAR)

    assert (after_one.status, after_one.deposit_reference, after_one.paid_on, after_one.paid_fen) == (
        "paid",
        "7-2026-000702",
        dt.date(2026, 10, 12),
        AMOUNT,
    )
    assert after_one.benefit_start is not None
    assert (
        after_both.status,
        after_both.deposit_reference,
        after_both.paid_on,
        after_both.benefit_start,
    ) == (
        "due",
        "",
        None,
        None,
    )
