"""Back-payment test data made the real way: stored policies, a person enrolled, 2026 assessed and
paid (tax's deposit record), 2027 assessed by the yearly run and left unpaid — so the person is
"continuous" and owes 2027, which is what the Linfen rule lets them pay back.

The policies are the Linfen 2021 preset moved to 2026 and 2027 (I 400 / S 700 yuan, so the
back-payment is F = 1,100 yuan; applications for 2027 from 26 December 2026 to 31 August 2027;
cover 90 days after the deposit). Tests that go through pages or the API (which decide "today"
themselves) move the 2027 window around the real date with ``window_around_today`` — a test
policy, saved as a new version, as an administrator would.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING
from unittest import mock

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.scope import Scope
from collection import services as collection_services
from collection.models import DueItem
from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Assessment, Person, Policy
from enrollment.policies import policy_for_county, policy_save
from refunds.models import BackPaymentApplication, WorkflowEvent
from sharing.services import delivery_drain
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import make_enrollment, make_person
from tests.refunds.support import policy_for

if TYPE_CHECKING:
    from tests.conftest import World

YEAR = 2027
LAST_YEAR = 2026
AMOUNT = 110000  # F = 400 + 700 yuan
DUE_ON_TIME = 40000
APPLY_ON = dt.date(2027, 3, 15)
APPROVE_ON = dt.date(2027, 3, 18)
PAY_UNTIL = dt.date(2027, 8, 31)
_sequence = itertools.count(301)


def policies_for(city6: str = "141000") -> None:
    policy_for(city6)  # 2027, shared with the refund tests
    code = f"refund-test-{city6}-2026"
    if not Policy.objects.filter(code=code).exists():
        document = _shifted(code, 5, 40000, 70000)
        document["region_code"] = city6
        policy_save(document=document, note="back-payment tests")


def window_around_today(city6: str = "141000", *, days_before: int = 10, days_after: int = 60) -> dt.date:
    """Open the 2027 back-payment applications around today (a new version of the test policy);
    returns the last day to apply (and to pay)."""
    policies_for(city6)
    record = Policy.objects.get(code=f"refund-test-{city6}")
    document = dict(record.document)
    today = timezone.localdate()
    until = today + dt.timedelta(days=days_after)
    document["back_payment"] = {
        **document["back_payment"],
        "apply_from": (today - dt.timedelta(days=days_before)).isoformat(),
        "apply_until": until.isoformat(),
    }
    policy_save(document=document, note="back-payment tests: applications open around today")
    return until


def due_person(
    region: str,
    name: str = "李四",
    *,
    paid_last_year: bool = True,
    paid_2025: bool = False,
    birth: str = "19800101",
) -> Person:
    """A person of ``region`` (a village code) who owes 2027; paid 2026 on 10 October 2025 unless told
    not; ``paid_2025``: paid 2025 on 10 October 2024 (so, without 2026, after a break)."""
    policies_for(region[:4] + "00")
    sequence = next(_sequence)
    person = make_person(
        region,
        name=name,
        id_number=resident_id(address=region[:6], birth=birth, sequence=f"{sequence % 1000:03d}"),
    )
    person.hukou_region_code = region
    person.birth_date = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    person.save()
    make_enrollment(person)
    if paid_2025:
        code = f"refund-test-{region[:4]}00-2025"
        if not Policy.objects.filter(code=code).exists():
            document = _shifted(code, 4, 40000, 70000)
            document["region_code"] = region[:4] + "00"
            policy_save(document=document, note="back-payment tests")
        assessment_run_now(county_code=region[:6], insurance_year=2025)
        assessment_record_deposits(
            deposits=[Deposit(person.id_number, 2025, 40000, dt.date(2024, 10, 10), f"Q{sequence}")]
        )
    if paid_last_year:
        assessment_run_now(county_code=region[:6], insurance_year=LAST_YEAR)
        assessment_record_deposits(
            deposits=[Deposit(person.id_number, LAST_YEAR, 40000, dt.date(2025, 10, 10), f"P{sequence}")]
        )
    assessment_run_now(county_code=region[:6], insurance_year=YEAR)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "due"
    return person


def make_back_payment(region: str, applied_by, *, status: str = "submitted") -> BackPaymentApplication:  # type: ignore[no-untyped-def]
    """An allowed application for a person of ``region`` who owes 2027, written straight to the tables."""
    person = due_person(region)
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    version = policy_for_county(county_code=region[:6], insurance_year=YEAR).version
    application = BackPaymentApplication.objects.create(
        person=person, assessment=assessment, insurance_year=YEAR, region_code=assessment.region_code,
        reason="外出务工错过缴费期", allowed=True, amount_fen=AMOUNT, rule="back_payment", rule_reason="可补缴",
        policy_version=version, pay_until=PAY_UNTIL, status=status, applied_by=applied_by,
        applied_at=timezone.now(),
    )  # fmt: skip
    WorkflowEvent.objects.create(
        kind="back_payment", object_id=application.pk, region_code=application.region_code, action="apply",
        from_state="", to_state="submitted", actor=applied_by, at=timezone.now(),
    )  # fmt: skip
    return application


def scope_of(world: World, role: str) -> Scope:
    """The scope of the role's user in county a (尧都区)."""
    return Scope.for_user(world.user_for(role, "a"))


def pay_at_tax(world: World, person: Person, amount_fen: int, day: dt.date) -> None:
    """Tax's counter takes ``amount_fen`` for the person's due item of ``YEAR`` on ``day`` at 10:00,
    and what tax sends is applied."""
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    paid_at = timezone.make_aware(dt.datetime(day.year, day.month, day.day, 10, 0))
    with mock.patch("django.utils.timezone.now", return_value=paid_at):
        collection_services.payment_record(
            scope=scope_of(world, Role.TAX_STAFF), due_item_id=item.pk, amount_fen=amount_fen,
            channel="counter_cash", paid_by=person.name, paid_at=paid_at,
        )  # fmt: skip
    delivery_drain(seconds=30)


def timeline(application: BackPaymentApplication) -> list[tuple[str, str, str, str | None, str]]:
    """The application's steps: (action, from, to, who or None for the rules, note)."""
    return [
        (e.action, e.from_state, e.to_state, e.actor.username if e.actor else None, e.note)
        for e in WorkflowEvent.objects.filter(kind="back_payment", object_id=application.pk).order_by(
            "at", "pk"
        )
    ]


def withdrawn_page_says(
    world: World, application: BackPaymentApplication, *, note: str, action: str, label: str
) -> bool:
    """Whether the application's page, as insurance staff open it, says it was withdrawn by the
    rules today with ``note`` at the top, dates the rules' judgement to the application, shows the
    step ``action`` with its ``label`` on the timeline, and no longer offers a pay-by day."""
    client = Client()
    client.force_login(world.user_for(Role.INSURANCE_STAFF, "a"))
    page = client.get(reverse("refunds:backpay-detail", args=[application.pk]))
    text = page.content.decode()
    today = timezone.localdate().strftime("%Y-%m-%d")
    applied = timezone.localtime(application.applied_at).strftime("%Y-%m-%d")
    return (
        page.status_code == 200
        and 'data-status="withdrawn"' in text
        # The rules' judgement shown is the one made when it was applied for, and says so.
        and f'<h2 data-testid="engine-heading">申请时的规则判定（{applied}）</h2>' in text
        and f"{today}按规则撤销： {note}" in text
        and f'data-action="{action}"' in text
        and label in text
        and 'data-testid="pay-until"' not in text
    )
