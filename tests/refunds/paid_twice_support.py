"""A person who paid a year twice, as tax's deposit messages leave it on insurance's ledger, and
tax's over-collection requests on those payments; the checks read insurance's tables."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.roles import Role
from accounts.scope import Scope
from enrollment.assessment import assessment_run_now
from enrollment.handlers import apply_payment_deposited
from enrollment.models import Assessment, DepositRecord, Person
from enrollment.policies import policy_for_county
from refunds import services
from refunds.handlers import record_overcollection_requests
from refunds.models import OvercollectionRefund, RefundApplication
from sharing.handlers import Batch
from sharing.services import delivery_drain, message_send
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person
from tests.refunds.support import AMOUNT, YEAR, policy_for

TODAY = dt.date(2026, 11, 20)
KEPT, SECOND = 901, 902


def receipt(payment_id: int) -> str:
    return f"7-2026-{payment_id:06d}"


def deliver() -> None:
    delivery_drain(seconds=30)


def tax_reverses(person: Person, payment_id: int, reason: str = "冲正") -> None:
    """Tax reverses (冲正) the person's payment ``payment_id`` of the year on 21 November 2026, and
    insurance applies it."""
    message_send(
        topic="payment.reversed",
        payload={
            "payment_id": payment_id, "person_id": person.id_number, "region_code": person.region_code,
            "insurance_year": YEAR, "amount_fen": AMOUNT, "reason": reason,
            "reversed_at": "2026-11-21T10:00:00+08:00",
        },
    )  # fmt: skip
    deliver()


def assessed(name: str = "张三") -> Person:
    """A person of Tunli assessed for 2027 by the county's run: 400 yuan due, nothing paid yet."""
    if policy_for_county(county_code=TUNLI[:6], insurance_year=YEAR) is None:
        policy_for("141000")
    person = make_person(
        TUNLI, name=name, id_number=resident_id(address=TUNLI[:6], birth="19750303", sequence="902")
    )
    person.hukou_region_code = TUNLI
    person.save()
    make_enrollment(person)
    assessment_run_now(county_code=TUNLI[:6], insurance_year=YEAR)
    return person


def deposit_message(person: Person, payment_id: int, amount_fen: int = AMOUNT) -> int:
    """Tax's deposit record (入库) of its payment ``payment_id`` for the person's 2027 contribution,
    paid on 1x October (x: the id's last digit); the message's id, not delivered yet."""
    return message_send(
        topic="payment.deposited",
        payload={
            "payment_id": payment_id, "person_id": person.id_number, "region_code": person.region_code,
            "insurance_year": YEAR, "amount_fen": amount_fen, "channel": "wechat",
            "receipt_number": receipt(payment_id), "paid_at": f"2026-10-1{payment_id % 10}T09:30:00+08:00",
        },
    )  # fmt: skip


def deposit_arrives(message_id: int) -> None:
    """Insurance's handler applies tax's deposit record, as the platform's worker would: in one
    transaction (the delivery's). What it pushes back to tax stays in the outbox: tax's side of
    these tests holds no requests."""
    with transaction.atomic():
        apply_payment_deposited(Batch(topic="payment.deposited", ids=[message_id]))


def paid_once(name: str = "张三") -> Person:
    """The person assessed for 2027 who paid it once: tax's payment 901, delivered as tax sends it."""
    person = assessed(name)
    deposit_message(person, KEPT)
    deliver()
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.deposit_reference) == ("paid", receipt(KEPT))
    return person


def paid_twice(name: str = "张三") -> Person:
    """A person of Tunli assessed for 2027 by the county's run, who paid 400 yuan twice: tax's
    payments 901 and 902, delivered as tax sends them; the year is paid by the first (901)."""
    person = assessed(name)
    for payment_id in (KEPT, SECOND):
        deposit_message(person, payment_id)
    deliver()
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.deposit_reference) == ("paid", receipt(KEPT))
    assert DepositRecord.objects.filter(id_number=person.id_number, reversed_on__isnull=True).count() == 2
    return person


def tax_request(person: Person, payment_id: int, amount_fen: int, request_id: int = 7001) -> int:
    """Tax reports an over-collection on one of its payments (``refund.overcollection_requested``);
    the message's id, not delivered yet."""
    return message_send(
        topic="refund.overcollection_requested",
        payload={
            "request_id": request_id, "payment_id": payment_id, "person_id": person.id_number,
            "region_code": person.region_code, "insurance_year": YEAR, "amount_fen": amount_fen,
            "reason": "重复收费", "receipt_number": receipt(payment_id), "reason_code": "charged_twice",
            "requested_on": TODAY.isoformat(),
        },
    )  # fmt: skip


def record(message_id: int) -> None:
    """Insurance's handler applies tax's request, as the platform's worker would (what it pushes
    back to tax stays in the outbox)."""
    record_overcollection_requests(Batch(topic="refund.overcollection_requested", ids=[message_id]))


def tax_reports(
    person: Person, payment_id: int, amount_fen: int, request_id: int = 7001
) -> OvercollectionRefund:
    """Tax's request, recorded by insurance."""
    record(tax_request(person, payment_id, amount_fen, request_id))
    return OvercollectionRefund.objects.get(request_id=request_id)


def scope_of(world: World, role: str) -> Scope:
    return Scope.for_user(world.user_for(role, "a"))


def apply_paid_twice(world: World, person: Person) -> RefundApplication:
    return services.refund_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="paid_twice", event_on=dt.date(2026, 10, 12), today=TODAY,
    )  # fmt: skip


def pay_out(world: World, application: RefundApplication) -> None:
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-7")


def given_back_of_second(person: Person) -> int:
    """What left the fund, or is on its way out, of the second payment (902)."""
    deposit = DepositRecord.objects.get(payment_id=SECOND)
    refunds = RefundApplication.objects.filter(
        given_back_deposit=deposit, status__in=("submitted", "approved", "paid_out")
    ).values_list("amount_fen", flat=True)
    overcollections = (
        OvercollectionRefund.objects.filter(payment_id=SECOND)
        .exclude(status="refused")
        .values_list("amount_fen", flat=True)
    )
    return sum(refunds) + sum(overcollections)
