"""The year's payment and a second payment are given back apart: what a refund by application
(death, an agency's error) may give back is the payment the year keeps, less what went back of
*that* payment — refunds by application and tax's over-collections on its payment id — never less
what went back of the second payment, which its own deposit bounds (a refund for paying twice, tax's
over-collections on it).

The person paid 400 yuan for 2027 twice: tax's payments 901 (the one the year keeps) and 902, both
on insurance's ledger as tax's deposit messages left them. The Linfen 2027 rules
(tests/refunds/support.py), except that a death before the benefit period (1 January 2027) is
refunded, as the national rule does."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.roles import Role
from enrollment.demo import _shifted
from enrollment.models import Assessment
from enrollment.policies import policy_save
from refunds import services
from refunds.models import RefundApplication
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    KEPT,
    SECOND,
    TODAY,
    apply_paid_twice,
    paid_twice,
    pay_out,
    receipt,
    scope_of,
    tax_reports,
    tax_reverses,
)
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


@pytest.fixture(autouse=True)
def death_refunded_before_the_benefit_period() -> None:
    """Linfen's 2027 rules for the city, with a death before the benefit period refundable."""
    document = _shifted("refund-test-death-141000", 6, 40000, 70000)
    document["region_code"] = "141000"
    document["refunds"]["reasons"]["death"] = "before_benefit_start"
    policy_save(document=document, note="refund tests: death refunded before the benefit period")


def apply_for_death(world: World, person) -> RefundApplication:  # type: ignore[no-untyped-def]
    return services.refund_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="death", event_on=dt.date(2026, 11, 15), today=TODAY,
    )  # fmt: skip


def test_given_the_second_payment_over_collected_in_full_when_death_is_applied_for_then_the_whole_kept_payment(
    world,
):
    person = paid_twice()
    assert tax_reports(person, SECOND, 40000).status == "received"

    application = apply_for_death(world, person)
    pay_out(world, application)

    application.refresh_from_db()
    assert (application.status, application.refundable, application.amount_fen, application.paid_fen) == (
        "paid_out",
        True,
        40000,
        40000,
    )
    assert (application.deposit_reference, application.given_back_deposit) == (receipt(KEPT), None)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "refunded"


def test_given_the_year_refunded_for_death_when_tax_reports_the_second_payment_over_collected_then_received(
    world,
):
    person = paid_twice()
    pay_out(world, apply_for_death(world, person))
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "refunded"

    request = tax_reports(person, SECOND, 40000)

    assert (request.status, request.refusal, request.amount_fen) == ("received", "", 40000)
    (pushed,) = OutboxMessage.objects.filter(topic="refund.overcollection_status")
    assert (pushed.payload["request_id"], pushed.payload["status"]) == (7001, "received")


def test_given_a_death_application_open_when_the_second_payment_is_over_collected_then_both_go_ahead(world):
    person = paid_twice()
    application = apply_for_death(world, person)

    request = tax_reports(person, SECOND, 40000)
    pay_out(world, application)

    application.refresh_from_db()
    assert (request.status, application.status, application.amount_fen) == ("received", "paid_out", 40000)


def test_given_the_year_refunded_for_death_when_tax_reports_the_kept_payment_over_collected_then_refused(
    world,
):
    person = paid_twice()
    pay_out(world, apply_for_death(world, person))

    request = tax_reports(person, KEPT, 10000)

    assert (request.status, request.refusal) == (
        "refused",
        "本次申请退还100.00元，但该笔缴费（2027年度所缴400.00元）只剩0.00元可退（已退或正在退还：退费申请"
        "400.00元，多征退费0.00元）。请按不超过可退金额重新申报。",
    )


def test_given_over_collections_on_both_payments_when_death_is_applied_for_then_only_the_kept_ones_count(
    world,
):
    person = paid_twice()
    assert tax_reports(person, KEPT, 10000, request_id=7001).status == "received"
    assert tax_reports(person, SECOND, 15000, request_id=7002).status == "received"

    application = apply_for_death(world, person)

    assert (application.status, application.amount_fen) == ("submitted", 30000)


def test_given_an_over_collection_on_the_kept_payment_when_death_is_applied_for_then_the_rest(world):
    person = paid_twice()
    assert tax_reports(person, KEPT, 10000).status == "received"

    application = apply_for_death(world, person)
    pay_out(world, application)

    application.refresh_from_db()
    assert (application.status, application.amount_fen) == ("paid_out", 30000)


def test_given_a_paid_twice_refund_when_read_through_the_api_then_both_receipts_are_shown(world, client):
    person = paid_twice()
    application = apply_paid_twice(world, person)
    client.force_login(world.users["insurance_a"])

    detail = client.get(f"/api/refunds/{application.pk}/").json()
    (listed,) = client.get("/api/refunds/").json()["results"]

    assert (detail["deposit_reference"], detail["given_back_receipt"]) == ("7-2026-000901", "7-2026-000902")
    assert (listed["deposit_reference"], listed["given_back_receipt"]) == ("7-2026-000901", "7-2026-000902")


def test_given_a_death_refund_when_read_through_the_api_then_the_kept_receipt_and_no_given_back_one(
    world, client
):
    person = paid_twice()
    application = apply_for_death(world, person)
    client.force_login(world.users["insurance_a"])

    detail = client.get(f"/api/refunds/{application.pk}/").json()

    assert (detail["deposit_reference"], detail["given_back_receipt"]) == ("7-2026-000901", None)


def test_given_the_second_payment_refunded_as_paid_twice_when_tax_reverses_the_first_then_nothing_is_left_for_an_agencys_error(
    world,
):
    person = paid_twice()
    pay_out(world, apply_paid_twice(world, person))
    tax_reverses(person, KEPT)
    # The year is paid by the one payment left standing: the second, already given back.
    assert Assessment.objects.get(person=person, insurance_year=YEAR).deposit_reference == receipt(SECOND)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.refund_apply(
            scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
            reason="agency_error", event_on=dt.date(2026, 10, 12), today=TODAY,
        )  # fmt: skip

    assert refused.value.message_dict == {
        "insurance_year": [
            f"Nothing is left to refund of {person.name}'s contribution for {YEAR}: the 400.00 yuan paid were "
            "already given back or are being given back (earlier refunds, over-collections tax reported)."
        ]
    }
    assert RefundApplication.objects.filter(person=person).count() == 1
