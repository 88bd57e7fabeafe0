"""Recording payments at tax's counter: paid once and in full, within the window, numbered receipts,
idempotency keys, and the deposit record that goes to insurance."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import DueItem, Payment, ReceiptCounter
from sharing.models import OutboxMessage
from tests.collection.support import AMOUNT, LATE_AMOUNT, QINBI, due, open_today, payer

pytestmark = pytest.mark.django_db

ON_TIME = timezone.make_aware(dt.datetime(2026, 11, 20, 10, 30))
LATE = timezone.make_aware(dt.datetime(2027, 3, 10, 9, 0))
TOO_LATE = timezone.make_aware(dt.datetime(2027, 7, 2, 9, 0))


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def tax(world) -> Scope:
    return Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)


@pytest.fixture
def zhang(world):
    payer("张三", "141002198001010011")
    return due("141002198001010011")


def record(scope: Scope, item: DueItem, amount: int = AMOUNT, **kwargs) -> services.Recorded:
    return services.payment_record(
        scope=scope,
        due_item_id=item.pk,
        amount_fen=amount,
        channel=kwargs.pop("channel", "counter_cash"),
        paid_by=kwargs.pop("paid_by", "张三"),
        paid_at=kwargs.pop("paid_at", ON_TIME),
        # The tests of the rules pay on fixed days of the schedule; the limit has tests of its own.
        backdate_limit=kwargs.pop("backdate_limit", None),
        **kwargs,
    )


def test_given_a_due_item_when_paid_then_one_read_and_one_write_run_and_both_are_in_the_query_log(tax, zhang):
    # The two statements run through prepared cursors; a query count sees them as any other.
    with CaptureQueriesContext(connection) as queries:
        record(tax, zhang)

    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert [sql.split()[0] for sql in statements] == ["SELECT", "WITH"]
    assert "FROM collection_dueitem d WHERE d.id = " in statements[0]
    assert "INSERT INTO collection_payment" in statements[1]


def test_given_a_due_item_when_paid_then_the_payment_returned_is_the_row_stored_with_nothing_left_to_load(
    tax, zhang
):
    # The service builds the payment from what its statement wrote, without reading it back.
    from django.forms.models import model_to_dict

    recorded = record(tax, zhang, idempotency_key="key-1")

    stored = Payment.objects.get()
    assert recorded.payment.get_deferred_fields() == set()
    assert (recorded.payment._state.adding, recorded.payment._state.db) == (False, "default")
    assert model_to_dict(recorded.payment) | {"id": recorded.payment.pk} == model_to_dict(stored) | {
        "id": stored.pk
    }
    assert recorded.payment.recorded_at == stored.recorded_at


def test_given_a_due_item_when_paid_in_full_then_the_payment_has_receipt_one_and_insurance_is_told(
    tax, zhang
):
    recorded = record(tax, zhang)

    payment = recorded.payment
    year = timezone.localdate().year
    assert (recorded.replayed, payment.amount_fen, payment.receipt_number, payment.receipt_year) == (
        False, AMOUNT, 1, year,
    )  # fmt: skip
    assert payment.receipt == f"{tax.agency_id:04d}-{year}-000001"
    zhang.refresh_from_db()
    assert zhang.status == "paid"
    (message,) = OutboxMessage.objects.filter(topic="payment.deposited")
    assert message.payload == {
        "payment_id": payment.pk,
        "person_id": "141002198001010011",
        "region_code": "141002100201",
        "insurance_year": 2027,
        "amount_fen": AMOUNT,
        "channel": "counter_cash",
        "receipt_number": payment.receipt,
        "paid_at": timezone.localtime(ON_TIME).isoformat(),
    }


def test_given_a_late_payment_then_the_late_amount_is_due_and_the_on_time_amount_refused(tax, zhang):
    with (
        mock.patch("django.utils.timezone.now", return_value=LATE),
        pytest.raises(ValidationError) as refused,
    ):
        record(tax, zhang, AMOUNT, paid_at=LATE)

    assert refused.value.message_dict == {
        "amount_fen": ["A contribution is paid in full: 450.00 yuan are due on 2027-03-10, not 400.00."]
    }
    with mock.patch("django.utils.timezone.now", return_value=LATE):
        assert record(tax, zhang, LATE_AMOUNT, paid_at=LATE).payment.amount_fen == LATE_AMOUNT


def test_given_more_than_due_then_it_is_refused(tax, zhang):
    with pytest.raises(ValidationError) as refused:
        record(tax, zhang, AMOUNT + 1)

    assert refused.value.message_dict == {
        "amount_fen": [
            "400.01 yuan is more than the 400.00 yuan due on 2026-11-20; take exactly the amount due."
        ]
    }
    assert Payment.objects.count() == 0


def test_given_a_payment_after_the_window_then_it_is_refused_with_the_way_to_a_back_payment(tax, zhang):
    with (
        mock.patch("django.utils.timezone.now", return_value=TOO_LATE),
        pytest.raises(ValidationError) as refused,
    ):
        record(tax, zhang, LATE_AMOUNT, paid_at=TOO_LATE)

    (message,) = refused.value.message_dict["paid_at"]
    assert message.startswith(
        "The collection period ended on 2027-06-30. Ask the medical insurance office whether"
    )
    zhang.refresh_from_db()
    assert (zhang.status, Payment.objects.count(), ReceiptCounter.objects.count()) == ("due", 0, 0)


def _window_sent(
    *, code: str, version: int, prefix: str, takes: bool = True, until: str = "2027-08-31"
) -> None:
    """Insurance's policy.back_payment_window, delivered to tax's handler."""
    from collection.handlers import apply_back_payment_window
    from sharing import services as sharing
    from sharing.handlers import Batch

    message = sharing.message_send(
        topic="policy.back_payment_window",
        payload={
            "policy_code": code,
            "policy_version": version,
            "region_code": prefix.ljust(12, "0"),
            "region_prefix": prefix,
            "insurance_year": 2027,
            "back_payment": takes,
            "apply_from": "2027-01-01" if takes else None,
            "apply_until": until if takes else None,
        },
    )
    apply_back_payment_window(Batch(topic="policy.back_payment_window", ids=[message]))


def test_given_insurances_back_payment_window_when_paying_after_the_period_then_the_refusal_names_it(
    tax, zhang
):
    _window_sent(code="linfen-2027", version=1, prefix="1410")  # the city's policy
    _window_sent(code="yaodu-2027", version=3, prefix="141002", until="2027-09-30")  # the county's, nearer
    _window_sent(code="yaodu-2027", version=2, prefix="141002", until="2027-07-15")  # an older version, late

    with (
        mock.patch("django.utils.timezone.now", return_value=TOO_LATE),
        pytest.raises(ValidationError) as refused,
    ):
        record(tax, zhang, LATE_AMOUNT, paid_at=TOO_LATE)

    assert refused.value.message_dict["paid_at"] == [
        "The collection period ended on 2027-06-30. The medical insurance office takes back-payment (补缴) "
        "applications for 2027 from 2027-01-01 until 2027-09-30; once one is approved, it can be paid here."
    ]


def test_given_a_payment_dated_more_than_a_day_back_then_it_is_refused_and_nothing_is_written(tax, zhang):
    paid_at = timezone.now() - dt.timedelta(hours=25)

    with pytest.raises(ValidationError) as refused:
        record(tax, zhang, paid_at=paid_at, backdate_limit=services.BACKDATE_LIMIT)

    assert refused.value.message_dict == {
        "paid_at": [
            "A payment can be dated at most 24 hours back (a payment channel's late notice); this one is "
            f"dated {timezone.localtime(paid_at):%Y-%m-%d %H:%M}. A payment is recorded when it is taken, "
            "at that day's amount and within that day's window."
        ]
    }
    zhang.refresh_from_db()
    assert (zhang.status, Payment.objects.count(), ReceiptCounter.objects.count()) == ("due", 0, 0)


def test_given_a_payment_channels_late_notice_within_a_day_then_it_is_recorded_with_its_time(tax, world):
    payer("李四", "141002198001010022")
    item = due("141002198001010022", schedule=open_today())
    paid_at = timezone.now() - dt.timedelta(hours=23)

    payment = record(tax, item, paid_at=paid_at, backdate_limit=services.BACKDATE_LIMIT).payment

    assert (payment.paid_at, payment.amount_fen) == (paid_at, AMOUNT)


def test_given_a_payment_dated_after_now_then_it_is_refused(tax, zhang):
    with pytest.raises(ValidationError) as refused:
        record(tax, zhang, paid_at=timezone.now() + dt.timedelta(minutes=10))

    assert refused.value.message_dict == {"paid_at": ["A payment cannot be dated in the future."]}
    assert Payment.objects.count() == 0


def test_given_a_paid_item_when_paid_again_then_the_conflict_names_the_first_receipt(tax, zhang):
    first = record(tax, zhang).payment

    with pytest.raises(services.PaymentConflictError) as conflict:
        record(tax, zhang, paid_by="李四")

    assert conflict.value.message == (
        f"Already paid on 2026-11-20 (receipt {first.receipt}); a contribution is paid once."
    )
    assert Payment.objects.count() == 1


def test_given_a_fully_subsidised_item_then_there_is_nothing_to_collect(tax):
    item = due("141002198001010022", status="cancelled")

    with pytest.raises(ValidationError) as refused:
        record(tax, item)

    assert refused.value.messages == [
        "Nothing is due for 2027: the government pays this person's contribution, or insurance withdrew it "
        "(the enrollment ended, or began after the year could still be paid for)."
    ]


@pytest.mark.parametrize(
    ("channel", "label"),
    [("village", "Village collection"), ("school", "School collection"), ("bank_batch", "Bank batch debit")],
)
def test_given_a_batch_s_channel_when_a_single_payment_is_recorded_then_it_is_refused_and_nothing_written(
    tax, zhang, channel, label
):
    with pytest.raises(ValidationError) as refused:
        record(tax, zhang, channel=channel)

    assert refused.value.message_dict == {
        "channel": [
            f"“{label}” is only for collective payments and bank debit files; a single payment is taken in "
            "cash at the counter, by bank card, WeChat Pay, Alipay or bank POS."
        ]
    }
    zhang.refresh_from_db()
    assert (zhang.status, Payment.objects.count(), ReceiptCounter.objects.count()) == ("due", 0, 0)


@pytest.mark.parametrize("channel", ["counter_cash", "bank_card", "wechat", "alipay", "bank_pos"])
def test_given_a_counter_channel_when_a_single_payment_is_recorded_then_it_stands_with_that_channel(
    tax, zhang, channel
):
    payment = record(tax, zhang, channel=channel).payment

    assert (payment.channel, payment.receipt_number) == (channel, 1)


def test_given_the_same_key_twice_then_the_second_answers_with_the_first_payment(tax, zhang):
    first = record(tax, zhang, idempotency_key="k-1")

    again = record(tax, zhang, idempotency_key="k-1")

    assert (again.replayed, again.payment.pk) == (True, first.payment.pk)
    assert (Payment.objects.count(), OutboxMessage.objects.filter(topic="payment.deposited").count()) == (
        1,
        1,
    )


def test_given_a_key_used_for_another_payment_then_it_is_a_conflict(tax, zhang):
    record(tax, zhang, idempotency_key="k-2")
    other = due("141002198001010033")

    with pytest.raises(services.PaymentConflictError):
        record(tax, other, idempotency_key="k-2")

    other.refresh_from_db()
    assert other.status == "due"


def test_given_payments_of_two_agencies_then_each_numbers_its_own_receipts(world, tax, zhang):
    other_tax = Scope.for_user_id(world.user_for(Role.TAX_STAFF, "b").pk)
    li = due("141002198001010044")
    wang = due("141024198001010055", region=QINBI)

    numbers = [
        record(tax, zhang).payment.receipt_number,
        record(tax, li).payment.receipt_number,
        record(other_tax, wang).payment.receipt_number,
    ]

    assert numbers == [1, 2, 1]


def test_given_an_item_of_another_county_then_it_is_not_found(world, zhang):
    other_tax = Scope.for_user_id(world.user_for(Role.TAX_STAFF, "b").pk)

    with pytest.raises(Http404):
        record(other_tax, zhang)


@pytest.mark.parametrize(
    "role", [Role.INSURANCE_STAFF, Role.VILLAGE_CLERK, Role.FINANCE_STAFF, Role.ADMINISTRATOR]
)
def test_given_a_role_other_than_tax_then_it_may_not_record_payments(world, zhang, role):
    with pytest.raises(PermissionDenied):
        record(Scope.for_user_id(world.user_for(role).pk), zhang)


# --- reversal (冲正) ---------------------------------------------------------------------------


def test_given_a_payment_when_reversed_then_it_is_kept_with_the_reason_and_the_item_is_due_again(
    world, tax, zhang
):
    payment = record(tax, zhang).payment

    reversed_ = services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收款金额录入错误")

    assert (reversed_.status, reversed_.reversal_reason, reversed_.reversed_by_id) == (
        "reversed", "收款金额录入错误", world.user_for(Role.TAX_STAFF).pk,
    )  # fmt: skip
    zhang.refresh_from_db()
    assert zhang.status == "due"
    (message,) = OutboxMessage.objects.filter(topic="payment.reversed")
    assert {key: message.payload[key] for key in ("payment_id", "person_id", "insurance_year", "amount_fen", "reason")} == {
        "payment_id": payment.pk, "person_id": zhang.person_id, "insurance_year": 2027, "amount_fen": AMOUNT,
        "reason": "收款金额录入错误",
    }  # fmt: skip


def test_given_a_reversed_payment_then_the_item_can_be_paid_again_with_the_next_receipt(tax, zhang):
    first = record(tax, zhang, idempotency_key="first").payment
    services.payment_reverse(scope=tax, payment_id=first.pk, reason="重复收费")

    second = record(tax, zhang, idempotency_key="second").payment

    assert (second.receipt_number, Payment.objects.filter(status="recorded").count()) == (2, 1)


def test_given_a_reversed_payment_when_reversed_again_then_it_is_a_conflict(tax, zhang):
    payment = record(tax, zhang).payment
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="重复收费")

    with pytest.raises(services.PaymentConflictError):
        services.payment_reverse(scope=tax, payment_id=payment.pk, reason="再次冲正")

    assert OutboxMessage.objects.filter(topic="payment.reversed").count() == 1


def test_given_no_reason_then_a_reversal_is_refused(tax, zhang):
    payment = record(tax, zhang).payment

    with pytest.raises(ValidationError) as refused:
        services.payment_reverse(scope=tax, payment_id=payment.pk, reason=" ")

    assert refused.value.message_dict == {"reason": ["Say why the payment is reversed."]}


# --- voided receipts (作废) ---------------------------------------------------------------------


def test_given_a_receipt_when_voided_then_its_number_is_kept_and_never_given_again(tax, zhang):
    payment = record(tax, zhang).payment

    services.receipt_void(scope=tax, payment_id=payment.pk, reason="打印错位")
    other = record(tax, due("141002198001010044")).payment

    payment.refresh_from_db()
    assert (payment.receipt_number, other.receipt_number) == (2, 3)
    assert list(payment.voided_receipts.values_list("receipt_number", "reason")) == [(1, "打印错位")]
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 2  # nothing new for the void


def test_given_a_reversed_payment_then_its_receipt_cannot_be_reissued(tax, zhang):
    payment = record(tax, zhang).payment
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="重复收费")

    with pytest.raises(services.PaymentConflictError):
        services.receipt_void(scope=tax, payment_id=payment.pk, reason="打印错位")


def test_given_the_payment_statement_then_it_is_short_enough_for_psycopg_to_cache_its_parsing(tax, zhang):
    # Longer, psycopg would parse the statement's parameters again on every payment.
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    item = services._read(scope=tax, due_item_id=zhang.pk, key="k" * 64, lock=False)
    sent = services.deposit_record(
        item=item,
        amount_fen=AMOUNT,
        channel="counter_cash",
        paid_at=ON_TIME,
        agency_id=tax.agency_id,
        year=2026,
    )

    statement = services.record_statement(sent)

    assert len(statement.encode()) <= MAX_CACHED_STATEMENT_LENGTH
    assert len(set(re.findall(r"%\((\w+)\)s", statement))) <= MAX_CACHED_STATEMENT_PARAMS
