"""A year insurance holds no payment for, with tax's deposit standing on its ledger: the person was
found 特困 and reassessed, so the government pays the whole 2027 contribution, but tax took 400
yuan at its counter (payment 901) before its due item heard of it. The deposit matched no due
assessment; it stands on insurance's ledger, and what tax reports over-collected on it is judged
against that deposit alone (no refund application can give back a year that is not paid).
Linfen 2027 rules (tests/refunds/support.py): the government pays a 特困 person's contribution."""

from __future__ import annotations

import datetime as dt

import pytest

from enrollment.assessment import assessment_run_now
from enrollment.models import Assessment, DepositRecord
from sharing.models import OutboxMessage
from subsidies.models import SubsidyTag
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    KEPT,
    assessed,
    deliver,
    deposit_message,
    tax_reports,
    tax_reverses,
)
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


def government_paid_and_tax_took_400():  # type: ignore[no-untyped-def]
    person = assessed()
    SubsidyTag.objects.create(
        person=person, category="tekun", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )
    assessment_run_now(county_code=TUNLI[:6], insurance_year=YEAR)
    deposit_message(person, KEPT)
    deliver()
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.paid_fen, assessment.payable_fen) == ("government", 0, 0)
    assert DepositRecord.objects.get(payment_id=KEPT).reversed_on is None
    return person


def test_given_the_year_paid_by_the_government_when_tax_reports_its_400_yuan_deposit_over_collected_then_received(
    world,
):
    person = government_paid_and_tax_took_400()

    request = tax_reports(person, KEPT, 40000)

    assert (request.status, request.refusal, request.amount_fen) == ("received", "", 40000)
    (pushed,) = OutboxMessage.objects.filter(topic="refund.overcollection_status")
    assert (pushed.payload["request_id"], pushed.payload["status"]) == (7001, "received")


def test_given_the_year_paid_by_the_government_and_300_of_the_deposit_reported_when_tax_reports_150_more_then_refused(
    world,
):
    person = government_paid_and_tax_took_400()
    assert tax_reports(person, KEPT, 30000, request_id=7001).status == "received"

    request = tax_reports(person, KEPT, 15000, request_id=7002)

    assert (request.status, request.refusal) == (
        "refused",
        "本次申请退还150.00元，但该笔缴费（票据号7-2026-000901，所缴400.00元）只剩100.00元可退（已退或正在退还："
        "重复缴费退费0.00元，多征退费300.00元）。请按不超过可退金额重新申报。",
    )


def test_given_the_year_paid_by_the_government_and_tax_reversed_its_deposit_when_tax_reports_it_over_collected_then_refused(
    world,
):
    person = government_paid_and_tax_took_400()
    tax_reverses(person, KEPT)

    request = tax_reports(person, KEPT, 40000)

    assert (request.status, request.refusal) == (
        "refused",
        "医保局没有该参保人2027年度的缴费记录（税务的入库信息尚未到达，或该笔缴费已冲正），无法退费。"
        "请待医保局收到该笔缴费后重新申报。",
    )
