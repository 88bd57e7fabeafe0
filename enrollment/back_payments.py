"""Back-payments (补缴) on insurance's side: the facts the rule engine decides them on, and the
approval that makes an unpaid assessment payable as a back-payment and tells tax.

The application, its review and its timeline live in ``refunds`` (``refunds.services_backpay``);
this module owns what changes in enrollment: the assessment's back-payment columns and the
``backpayment.due`` message, written in the approval's transaction. A deposit for such an
assessment then buys the back-payment's benefit period (``assessment_record_deposits``).

Years paid back: a year paid as a back-payment counts as paid, like any other (the yearly run
and the deposits see it so too). So it shortens the break it repaired by one year, which under
the national rule (国办发〔2024〕38号: one month more per year of break, one less per year paid
back) is the same month; ``years_paid_back`` therefore stays 0 here so it is not counted twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from sharing.services import message_send

from .models import Assessment, AssessmentStatus, ChangeReason, Enrollment, Person
from .policies import LoadedPolicy, policy_for_county_held, policy_for_county_required
from .rules import engine
from .rules.policy import Policy

# The years that make a person "continuous" (as in the yearly run and the deposits).
_PAID = (AssessmentStatus.PAID, AssessmentStatus.GOVERNMENT)


def back_payment_facts(*, person: Person, insurance_year: int, rules: Policy) -> engine.PersonFacts:
    """The person's facts for a back-payment of ``insurance_year`` under ``rules``: birth, category,
    the last year paid before it, and whether the year's enrollment began by transfer (as the yearly
    run decides it: ``engine.transferred_in_for``)."""
    last_paid = Assessment.objects.filter(
        person=person, insurance_year__lt=insurance_year, status__in=_PAID
    ).aggregate(year=Max("insurance_year"))["year"]
    transfer = Enrollment.objects.filter(
        person=person,
        status_reason=ChangeReason.TRANSFER_IN,
        assessments__insurance_year=insurance_year,
        enrolled_on__gte=engine.transfer_counts_from(rules),
    ).exists()
    return engine.PersonFacts(
        birth_date=person.birth_date,
        person_category=person.category,
        last_paid_year=last_paid,
        transfer=transfer,
    )


@dataclass(frozen=True)
class BackPaymentAnswer:
    loaded: LoadedPolicy
    decision: engine.Decision
    # The last day tax accepts the payment, as the engine says (``engine.back_payment_pay_until``):
    # the policy's last day to apply (Linfen: the day before next year's collection opens), or
    # earlier the last day whose payment still starts cover within the year (national: a 3 months'
    # wait ends the year's payable days on 30 September). Said in the decision's reason, which the
    # line sent to tax carries. None when not allowed.
    pay_until: dt.date | None


def back_payment_decide(
    *, assessment: Assessment, person: Person, on: dt.date, held: bool = False
) -> BackPaymentAnswer:
    """The rule engine's answer for a back-payment of the assessment's year applied for (or approved) ``on``.

    ``held``: the policy's row is locked FOR SHARE until the caller's transaction ends
    (``policy_for_county_held``), so an extension of the collection period cannot commit between
    this answer and the caller's commit (the approval)."""
    where = {"county_code": assessment.county_code, "insurance_year": assessment.insurance_year}
    loaded = policy_for_county_held(**where) if held else None
    if loaded is None:
        loaded = policy_for_county_required(**where)  # refuses with the clerk's message when there is none
    facts = back_payment_facts(person=person, insurance_year=assessment.insurance_year, rules=loaded.rules)
    decision = engine.back_payment_on(loaded.rules, facts, on)
    pay_until = decision.extra.get("pay_until") if decision.allowed else None
    assert pay_until is None or isinstance(pay_until, dt.date)
    return BackPaymentAnswer(loaded, decision, pay_until)


def extension_running(*, loaded: LoadedPolicy, on: dt.date) -> dt.date | None:
    """The last day of an extended collection period that runs ``on`` and withdraws back-payments
    (``engine.back_payment_withdrawn_until``): until then the person pays the normal contribution,
    so a back-payment is neither approved nor kept. None when no such extension runs."""
    until = engine.back_payment_withdrawn_until(loaded.rules)
    return until if until is not None and on <= until else None


@transaction.atomic
def assessment_back_payment_approve(
    *,
    assessment_id: int,
    application_id: int,
    amount_fen: int,
    approved_on: dt.date,
    pay_until: dt.date,
    rule: str,
    reason: str,
) -> Assessment:
    """Make the unpaid assessment payable as a back-payment and send tax the due item (``backpayment.due``).

    Called by the back-payment approval inside its transaction. The assessment's revision goes up
    and the message carries it, so tax applies it over any older ``assessment.due`` of the item,
    and a later reassessment (a higher revision) over it.
    """
    assessment = (
        Assessment.objects.select_for_update(of=("self",)).select_related("person").get(pk=assessment_id)
    )
    if assessment.status != AssessmentStatus.DUE:
        raise ValidationError(
            _("The contribution for %(year)d is no longer due (%(status)s), so there is nothing to pay back.")
            % {"year": assessment.insurance_year, "status": assessment.get_status_display()}
        )
    assessment.back_payment_fen = amount_fen
    assessment.back_payment_approved_on = approved_on
    assessment.back_payment_pay_until = pay_until
    assessment.revision += 1
    assessment.save(
        update_fields=["back_payment_fen", "back_payment_approved_on", "back_payment_pay_until", "revision"]
    )
    message_send(
        topic="backpayment.due",
        payload={
            "person_id": assessment.person.id_number,
            "region_code": assessment.region_code,
            "insurance_year": assessment.insurance_year,
            "application_id": application_id,
            "amount_fen": amount_fen,
            "approved_on": approved_on.isoformat(),
            "pay_until": pay_until.isoformat(),
            "rule": rule[:64],
            "reason": reason[:500],
            "revision": assessment.revision,
        },
    )
    return assessment
