"""Refund test data made the real way: a stored policy, a person enrolled, the county assessed by
the yearly run, and tax's deposit recorded — so the assessment is paid with the benefit period the
rule engine computed.

The policy is the Linfen 2021 preset moved to insurance year 2027 (I 400 / S 700 yuan; collection
1 Sep – 25 Dec 2026 on days 1–25; benefit from 1 Jan 2027; refunds only for ``paid_twice`` and
``agency_error``, within 5 working days), stored for a city so it applies to its counties.
"""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from enrollment.assessment import Deposit, _assess, assessment_record_deposits, assessment_run_now
from enrollment.demo import _shifted
from enrollment.deposits import ReceivedDeposit, deposit_records_receive
from enrollment.models import Assessment, DepositRecord, Person, Policy
from enrollment.policies import policy_for_county, policy_save
from refunds.models import RefundApplication, RefundStatus, WorkflowEvent
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import make_enrollment, make_person

YEAR = 2027
PAID_ON = dt.date(2026, 10, 10)
AMOUNT = 40000
_sequence = itertools.count(101)


def policy_for(city6: str = "141000") -> None:
    """The 2027 Linfen rules for a city (stored once per test database)."""
    code = f"refund-test-{city6}"
    if Policy.objects.filter(code=code).exists():
        return
    document = _shifted(code, 6, 40000, 70000)
    document["region_code"] = city6
    policy_save(document=document, note="refund tests")


def paid_person(
    region: str,
    name: str = "张三",
    *,
    paid_on: dt.date = PAID_ON,
    deposits: int = 1,
    id_number: str | None = None,
    amount_fen: int = AMOUNT,
    county_run: bool = True,
) -> Person:
    """A person of ``region`` (a village code) who paid ``amount_fen`` (400 yuan) for 2027 on
    ``paid_on``; insurance's ledger holds ``deposits`` deposit records of tax's for it (2: the person
    paid twice, the second deposit matching no assessment), as the ``payment.deposited`` handler
    leaves them. ``id_number``: the identifier tax knows the payer by, when tax's side has one.
    The county's 2027 policy, if the test stored one already (a tour's), else the Linfen rules.
    ``county_run``: assessed by the county's yearly run (which opens the year: later enrolments are
    assessed at once); else the person alone, as a reassessment does, leaving the year to a run
    the test makes itself."""
    if policy_for_county(county_code=region[:6], insurance_year=YEAR) is None:
        policy_for(region[:4] + "00")
    sequence = next(_sequence)
    person = make_person(
        region,
        name=name,
        id_number=id_number
        or resident_id(address=region[:6], birth="19800101", sequence=f"{sequence % 1000:03d}"),
    )
    person.hukou_region_code = region
    person.save()
    make_enrollment(person)
    if county_run:
        assessment_run_now(county_code=region[:6], insurance_year=YEAR)
    else:
        loaded = policy_for_county(county_code=region[:6], insurance_year=YEAR)
        _assess(county_code=region[:6], insurance_year=YEAR, loaded=loaded, person_id=person.pk)
    assessment_record_deposits(
        deposits=[Deposit(person.id_number, YEAR, amount_fen, paid_on, f"R{sequence}")]
    )
    deposit_records_receive(
        deposits=[
            ReceivedDeposit(
                payment_id=sequence * 10 + n, id_number=person.id_number, insurance_year=YEAR,
                region_code=region, amount_fen=amount_fen, channel="counter_cash",
                receipt_number=f"R{sequence}-{n}", paid_on=paid_on, source_message_id=sequence * 10 + n,
            )
            for n in range(deposits)
        ]
    )  # fmt: skip
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "paid"
    return person


def make_refund(
    region: str, applied_by, *, status: str = RefundStatus.SUBMITTED, due_on: dt.date | None = None
):  # type: ignore[no-untyped-def]
    """A refundable "paid twice" application for a person of ``region`` who paid twice, written
    straight to the tables; it gives back the second deposit, as ``refund_apply`` names it."""
    person = paid_person(region, deposits=2)
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    second = DepositRecord.objects.filter(id_number=person.id_number, insurance_year=YEAR).latest(
        "payment_id"
    )
    version = policy_for_county(county_code=region[:6], insurance_year=YEAR).version
    application = RefundApplication.objects.create(
        person=person, assessment=assessment, insurance_year=YEAR, region_code=assessment.region_code,
        reason="paid_twice", event_on=dt.date(2026, 10, 12), amount_fen=AMOUNT, paid_fen=assessment.paid_fen,
        deposit_reference=assessment.deposit_reference, given_back_deposit=second, refundable=True,
        rule="refunds.reasons.paid_twice", rule_reason="可退", policy_version=version, status=status,
        applied_by=applied_by, applied_at=timezone.now(), due_on=due_on or dt.date(2026, 12, 4),
    )  # fmt: skip
    WorkflowEvent.objects.create(
        kind="refund", object_id=application.pk, region_code=application.region_code, action="apply",
        from_state="", to_state="submitted", actor=applied_by, at=timezone.now(),
    )  # fmt: skip
    return application
