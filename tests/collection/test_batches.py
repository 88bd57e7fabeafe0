"""Many payments at once: a village's or school's collective payment (whole or nothing, against the
cash counted) and a bank's batch-debit file (matched lines paid, the rest reported with the reason)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import BatchProblem, DueItem, Payer, Payment, PaymentBatch, ReceiptCounter
from sharing.models import OutboxMessage
from tests.collection.support import AMOUNT, QINBI, TUNLI, YEAR, due, open_today, payer

pytestmark = pytest.mark.django_db

IDS = [f"14100219800101{n:04d}" for n in range(1, 6)]
DEBIT_DAY = dt.date(2026, 11, 5)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def tax(world) -> Scope:
    return Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)


@pytest.fixture
def village(world):
    """Five payers of 屯里村, each with 400 yuan due for 2027, payable today."""
    items = []
    for number, person_id in enumerate(IDS, start=1):
        payer(f"村民{number}", person_id)
        items.append(due(person_id, schedule=open_today()))
    return items


def collective(scope: Scope, persons: list[str], total: int, **kwargs) -> PaymentBatch:
    return services.collective_payment_record(
        scope=scope,
        kind=kwargs.pop("kind", "village"),
        region_code=kwargs.pop("region_code", TUNLI),
        unit_name=kwargs.pop("unit_name", "屯里村"),
        paid_by=kwargs.pop("paid_by", "村会计 李四"),
        persons=[(person_id, YEAR) for person_id in persons] or None,
        total_fen=total,
        **kwargs,
    )


# --- collective payments -----------------------------------------------------------------------


def test_given_five_persons_due_when_the_village_pays_for_them_then_five_payments_with_consecutive_receipts(
    tax, village
):
    batch = collective(tax, IDS, 5 * AMOUNT)

    payments = list(Payment.objects.filter(batch=batch).order_by("receipt_number"))
    assert [(p.person_id, p.amount_fen, p.channel, p.receipt_number) for p in payments] == [
        (person_id, AMOUNT, "village", number) for number, person_id in enumerate(IDS, start=1)
    ]
    assert (batch.payment_count, batch.total_fen, batch.problem_count, batch.region_code) == (
        5,
        200000,
        0,
        TUNLI,
    )
    assert set(DueItem.objects.values_list("status", flat=True)) == {"paid"}
    assert ReceiptCounter.objects.get(agency_id=tax.agency_id).last_number == 5


def test_given_a_collective_payment_then_insurance_gets_one_deposit_record_per_person(tax, village):
    batch = collective(tax, IDS[:2], 2 * AMOUNT)

    messages = OutboxMessage.objects.filter(topic="payment.deposited").order_by("id")
    payments = {p.pk: p for p in Payment.objects.filter(batch=batch)}
    assert [(m.payload["person_id"], m.payload["amount_fen"], m.payload["channel"]) for m in messages] == [
        (IDS[0], AMOUNT, "village"),
        (IDS[1], AMOUNT, "village"),
    ]
    assert {m.payload["receipt_number"] for m in messages} == {p.receipt for p in payments.values()}


def test_given_the_cash_counted_differs_from_the_amounts_due_when_recorded_then_nothing_is_recorded(
    tax, village
):
    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, IDS, 5 * AMOUNT - 100)

    assert refused.value.message == (
        "Nothing was recorded: the amounts due add up to 2,000.00 yuan, but 1,999.00 yuan were counted."
    )
    assert (Payment.objects.count(), PaymentBatch.objects.count(), OutboxMessage.objects.count()) == (0, 0, 0)
    assert not ReceiptCounter.objects.exists()


def test_given_one_person_paid_already_when_the_village_pays_for_all_then_nothing_is_recorded_and_the_person_named(
    tax, village
):
    services.payment_record(
        scope=tax, due_item_id=village[2].pk, amount_fen=AMOUNT, channel="counter_cash", paid_by="村民3"
    )

    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, IDS, 5 * AMOUNT)

    assert refused.value.message == "Nothing was recorded: 1 of the listed persons cannot be paid."
    (problem,) = refused.value.problems
    receipt = Payment.objects.get().receipt
    assert (problem.line.person_id, problem.reason) == (
        IDS[2],
        f"Already paid (receipt {receipt}); a contribution is paid once.",
    )
    assert Payment.objects.count() == 1
    assert ReceiptCounter.objects.get(agency_id=tax.agency_id).last_number == 1


def test_given_a_person_listed_twice_when_recorded_then_nothing_is_recorded(tax, village):
    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, [IDS[0], IDS[0]], 2 * AMOUNT)

    assert [p.reason for p in refused.value.problems] == ["This person and year appear twice in the list."]
    assert Payment.objects.count() == 0


def test_given_a_person_of_another_county_when_listed_then_the_batch_is_refused(tax, village):
    payer("外县人", "141024198001010099", region=QINBI)
    due("141024198001010099", region=QINBI, schedule=open_today())

    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, [IDS[0], "141024198001010099"], 2 * AMOUNT, kind="school", region_code="141002")

    assert [p.reason for p in refused.value.problems] == ["Not found in your area for 2027."]


def test_given_due_item_keys_when_the_village_pays_for_them_then_their_persons_are_paid(tax, village):
    batch = collective(tax, [], 2 * AMOUNT, due_items=[(village[0].pk, YEAR), (village[3].pk, YEAR)])

    assert sorted(Payment.objects.filter(batch=batch).values_list("person_id", flat=True)) == [IDS[0], IDS[3]]


def test_given_the_key_of_a_due_item_of_another_county_when_listed_then_the_batch_is_refused_unnamed(
    tax, village
):
    payer("外县人", "141024198001010099", region=QINBI)
    outsider = due("141024198001010099", region=QINBI, schedule=open_today())

    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, [], 2 * AMOUNT, due_items=[(village[0].pk, YEAR), (outsider.pk, YEAR)])

    assert [(p.line.person_id, p.reason) for p in refused.value.problems] == [
        ("", "Not found in your area for 2027.")
    ]
    assert Payment.objects.count() == 0


def test_given_a_due_item_key_with_another_year_when_listed_then_the_batch_is_refused(tax, village):
    with pytest.raises(services.BatchRefusedError) as refused:
        collective(tax, [], AMOUNT, due_items=[(village[0].pk, YEAR + 1)])

    assert [p.reason for p in refused.value.problems] == ["Not found in your area for 2028."]
    assert Payment.objects.count() == 0


def test_given_the_same_form_submitted_twice_then_one_batch_is_recorded(tax, village):
    first = collective(tax, IDS[:2], 2 * AMOUNT, idempotency_key="form-1")
    second = collective(tax, IDS[:2], 2 * AMOUNT, idempotency_key="form-1")

    assert first.pk == second.pk
    assert Payment.objects.count() == 2


def test_given_a_village_of_another_county_when_recorded_then_it_is_refused(tax, village):
    with pytest.raises(PermissionDenied):
        collective(tax, IDS[:1], AMOUNT, region_code=QINBI)


def test_given_an_insurance_clerk_when_recording_a_collective_payment_then_it_is_refused(world, village):
    insurance = Scope.for_user_id(world.user_for(Role.INSURANCE_STAFF).pk)

    with pytest.raises(PermissionDenied):
        collective(insurance, IDS[:1], AMOUNT)


# --- bank debit files --------------------------------------------------------------------------

HEADER = "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期,失败原因\n"


def bank_file(*lines: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO((HEADER + "".join(line + "\n" for line in lines)).encode(encoding))


def import_bank(scope: Scope, handle: io.BytesIO) -> PaymentBatch:
    """The clerk uploads the file, then a worker matches it (the task's service, called here)."""
    upload = SimpleUploadedFile("debit.csv", handle.getvalue(), content_type="text/csv")
    batch = services.bank_debit_submit(scope=scope, bank_name="中国农业银行尧都支行", upload=upload)
    return services.bank_debit_process(scope=scope, batch_id=batch.pk)


def _key(scope: Scope, reference: str, person_id: str) -> str:
    whom = hashlib.sha256(f"{person_id}\x1f{YEAR}".encode()).hexdigest()[:8]
    return f"bank:{scope.agency_id}:{whom}:{reference}"


@pytest.fixture
def debtors():
    """Five payers due 400 yuan for 2027 with the ordinary on-time window (1 Sep – 31 Dec 2026)."""
    for number, person_id in enumerate(IDS, start=1):
        payer(f"村民{number}", person_id)
        due(person_id)


def test_given_a_bank_file_when_imported_then_matched_lines_are_paid_on_the_debit_day_and_the_rest_reported(
    tax, debtors
):
    handle = bank_file(
        f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,",
        f"B002,{IDS[1]},村民2,2027,400.00,成功,20261105,",
        f"B003,{IDS[2]},村民3,2027,350.00,成功,2026-11-05,",
        f"B004,{IDS[3]},村民4,2027,400.00,失败,2026-11-05,余额不足",
        "B005,141002199901010000,无此人,2027,400.00,成功,2026-11-05,",
        f"B006,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,",
        f"B007,{IDS[4]},村民5,2027,abc,成功,2026-11-05,",
    )

    batch = import_bank(tax, handle)

    paid = list(Payment.objects.filter(batch=batch).order_by("receipt_number"))
    assert [
        (p.person_id, p.channel, p.idempotency_key, timezone.localtime(p.paid_at).date()) for p in paid
    ] == [
        (IDS[0], "bank_batch", _key(tax, "B001", IDS[0]), DEBIT_DAY),
        (IDS[1], "bank_batch", _key(tax, "B002", IDS[1]), DEBIT_DAY),
    ]
    problems = [(p.line_number, p.money_taken, p.reason) for p in BatchProblem.objects.filter(batch=batch)]
    assert problems == [
        (4, True, "350.00 yuan was taken but 400.00 yuan are due on 2026-11-05."),
        (5, False, "The bank's debit failed: 余额不足"),
        (6, True, "Not found in your area for 2027."),
        (7, True, "This person and year appear twice in the list."),
        (8, True, "The amount is not an amount in yuan."),
    ]
    assert (batch.payment_count, batch.total_fen, batch.problem_count, batch.region_code) == (
        2, 80000, 5, "141002000000",
    )  # fmt: skip
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 2


def test_given_a_gbk_bank_file_when_imported_then_it_is_read(tax, debtors):
    batch = import_bank(tax, bank_file(f"G001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,", encoding="gbk"))

    assert (batch.payment_count, Payment.objects.get().paid_by) == (1, "村民1")


def test_given_the_same_file_twice_then_the_second_import_is_refused(tax, debtors):
    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    with pytest.raises(ValidationError) as refused:
        import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    assert refused.value.messages[0].startswith("This file was imported already, on ")
    assert Payment.objects.count() == 1


def test_given_a_debit_repeated_in_a_later_file_then_it_is_reported_and_not_paid_again(tax, debtors):
    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    later = import_bank(
        tax,
        bank_file(
            f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,",
            f"B009,{IDS[1]},村民2,2027,400.00,成功,2026-11-06,",
        ),
    )

    assert [(p.line_number, p.money_taken, p.reason) for p in later.problems.all()] == [
        (2, False, "This debit (bank reference B001) was recorded from an earlier file.")
    ]
    assert (later.payment_count, Payment.objects.count()) == (1, 2)


def test_given_another_banks_file_reusing_a_reference_for_another_person_then_that_debit_is_paid(
    tax, debtors
):
    import_bank(tax, bank_file(f"000001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))
    upload = SimpleUploadedFile(
        "debit.csv", bank_file(f"000001,{IDS[1]},村民2,2027,400.00,成功,2026-11-05,").getvalue()
    )

    batch = services.bank_debit_submit(scope=tax, bank_name="尧都农商银行", upload=upload)
    batch = services.bank_debit_process(scope=tax, batch_id=batch.pk)

    assert (batch.payment_count, batch.problem_count) == (1, 0)
    assert Payment.objects.get(batch=batch).person_id == IDS[1]
    assert DueItem.objects.get(person_id=IDS[1]).status == "paid"


def test_given_one_reference_on_two_lines_for_two_persons_then_both_are_paid(tax, debtors):
    batch = import_bank(
        tax,
        bank_file(
            f"R7,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,",
            f"R7,{IDS[1]},村民2,2027,400.00,成功,2026-11-05,",
        ),
    )

    assert (batch.status, batch.payment_count, batch.problem_count) == ("done", 2, 0)


def test_given_a_key_recorded_before_the_keys_named_the_person_when_migrated_then_it_takes_the_new_form(
    tax, debtors
):
    from importlib import import_module

    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))
    Payment.objects.update(idempotency_key=f"bank:{tax.agency_id}:B001")  # as keys were written before

    with connection.cursor() as cursor:
        cursor.execute(import_module("collection.migrations.0016_bank_debit_keys").FORWARD)
        cursor.execute(
            import_module("collection.migrations.0016_bank_debit_keys").FORWARD
        )  # and again: unchanged

    assert Payment.objects.get().idempotency_key == _key(tax, "B001", IDS[0])


def _on_time(first: str, last: str) -> list[dict]:
    return [{"from": first, "to": last, "amount_fen": AMOUNT, "subsidy_fen": 0, "rule": "on_time"}]


def test_given_a_debit_after_the_window_then_the_line_is_reported_with_the_way_forward(tax):
    payer("村民1", IDS[0])
    due(IDS[0], schedule=_on_time("2026-09-01", "2026-10-31"))

    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    (problem,) = batch.problems.all()
    assert (problem.money_taken, batch.payment_count) == (True, 0)
    assert problem.reason == (
        "The collection period ended on 2026-10-31. Ask the medical insurance office whether a back-payment "
        "(补缴) can still be applied for; once it is approved, it can be paid here."
    )


def test_given_a_debit_before_the_window_then_the_line_says_why_without_asking_the_payer_to_come_back(tax):
    payer("村民1", IDS[0])
    due(IDS[0], schedule=_on_time("2026-11-10", "2026-12-31"))

    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    assert [(p.money_taken, p.reason) for p in batch.problems.all()] == [
        (True, "Payments for this year are accepted from 2026-11-10.")
    ]


def test_given_a_debit_dated_after_today_then_the_line_is_refused(tax, debtors):
    # Two days ahead, not tomorrow: in the last minutes before midnight, tomorrow's 00:00 is within
    # the clock skew a payment's time is allowed, whatever day the test started on.
    later = timezone.localdate() + dt.timedelta(days=2)

    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,{later.isoformat()},"))

    assert [(p.money_taken, p.reason) for p in batch.problems.all()] == [
        (
            True,
            f"The debit date {later.isoformat()} is after today; a payment cannot be dated in the future.",
        )
    ]
    assert Payment.objects.count() == 0


def test_given_a_bank_file_with_the_day_only_then_the_payment_is_dated_at_its_start_and_marked_without_time(
    tax, debtors
):
    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    payment = Payment.objects.get()
    assert (timezone.localtime(payment.paid_at), payment.paid_time_known) == (
        timezone.make_aware(dt.datetime(2026, 11, 5, 0, 0)),
        False,
    )


@pytest.mark.parametrize(
    ("header", "cells"),
    [
        ("扣款日期", "2026-11-05 09:41:07"),
        ("扣款日期", "20261105094107"),
        ("扣款日期,扣款时间", "2026-11-05,09:41:07"),
        ("扣款日期,交易时间", "20261105,2026-11-05 09:41:07"),
    ],
)
def test_given_a_bank_file_with_the_debit_time_then_the_payment_is_dated_at_that_moment(
    tax, debtors, header, cells
):
    content = f"流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,{header}\nB001,{IDS[0]},村民1,2027,400.00,成功,{cells}\n"

    import_bank(tax, io.BytesIO(content.encode()))

    payment = Payment.objects.get()
    assert (timezone.localtime(payment.paid_at), payment.paid_time_known) == (
        timezone.make_aware(dt.datetime(2026, 11, 5, 9, 41, 7)),
        True,
    )


def test_given_a_debit_time_that_is_no_time_then_the_line_is_reported_and_not_paid(tax, debtors):
    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05 25:10,"))

    assert [(p.money_taken, p.reason) for p in batch.problems.all()] == [
        (True, "The debit time is not a time.")
    ]
    assert Payment.objects.count() == 0


def test_given_bank_debits_recorded_before_times_were_read_when_migrated_then_they_are_marked_date_only(
    tax, debtors
):
    from importlib import import_module

    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))
    Payment.objects.update(paid_time_known=True)  # as the column's default gave every earlier one
    migration = import_module("collection.migrations.0019_payment_paid_time_known")

    with connection.cursor() as cursor:
        cursor.execute(migration.DATE_ONLY_BANK_DEBITS)

    assert Payment.objects.get().paid_time_known is False


def test_given_a_payment_of_another_channel_then_the_database_refuses_it_without_a_time(tax, debtors):
    import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    with pytest.raises(IntegrityError, match="collection_payment_date_only_bank_debit"):
        Payment.objects.update(channel="counter_cash")


def test_given_a_debit_result_the_bank_did_not_state_then_no_money_is_counted_as_taken(tax, debtors):
    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,未知,2026-11-05,"))

    assert [(p.money_taken, p.reason) for p in batch.problems.all()] == [
        (False, "The debit result is neither 成功 nor 失败.")
    ]


def test_given_a_file_without_the_columns_then_nothing_is_recorded_and_the_batch_names_them(tax, debtors):
    handle = io.BytesIO("身份证号,姓名\n141002198001010001,村民1\n".encode())

    batch = import_bank(tax, handle)

    assert (batch.status, batch.message, batch.file_sha256) == (
        "failed",
        "The file is not a bank debit result: the columns 流水号、缴费年度、扣款金额、扣款结果、扣款日期 are "
        "missing from its first row.",
        "",
    )
    assert Payment.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (HEADER.encode(), "The file has no debit lines."),
        (b"PK\x03\x04\x00\x00\x00binary\x00zip", "The file is not a bank debit result"),
    ],
)
def test_given_a_file_that_is_not_a_bank_csv_then_nothing_is_written_and_the_batch_says_why(
    tax, debtors, content, message
):
    batch = import_bank(tax, io.BytesIO(content))

    assert batch.status == "failed" and batch.message.startswith(message)
    assert (Payment.objects.count(), BatchProblem.objects.count(), OutboxMessage.objects.count()) == (0, 0, 0)


def test_given_a_line_with_binary_bytes_then_it_is_reported_and_the_others_paid(tax, debtors):
    content = (
        HEADER.encode() + f"B1,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,\n".encode() + b"B2,\x00\x01,x\n"
    )

    batch = import_bank(tax, io.BytesIO(content))

    (problem,) = batch.problems.all()
    assert (batch.payment_count, problem.line_number) == (1, 3)
    assert problem.reason.startswith("The line holds bytes that are not text; is the file a CSV text file?")


def test_given_a_file_failed_by_an_unexpected_error_then_nothing_is_recorded_and_it_can_be_loaded_again(
    tax, debtors, monkeypatch
):
    content = bank_file(f"B1,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,")
    with monkeypatch.context() as patched:
        patched.setattr(services, "message_send_bulk", lambda **kwargs: 1 / 0)
        failed = import_bank(tax, content)

    again = import_bank(tax, content)

    assert (failed.status, failed.message, failed.file_sha256) == (
        "failed",
        "An unexpected error stopped the import; nothing was recorded.",
        "",
    )
    assert (again.status, again.payment_count, Payment.objects.count()) == ("done", 1, 1)


def test_given_a_matched_file_when_the_task_is_delivered_again_then_nothing_more_happens(tax, debtors):
    batch = import_bank(tax, bank_file(f"B001,{IDS[0]},村民1,2027,400.00,成功,2026-11-05,"))

    assert services.bank_debit_process(scope=tax, batch_id=batch.pk) is None
    assert Payment.objects.count() == 1


def test_given_5000_lines_when_imported_then_they_are_settled_in_a_few_statements_per_chunk(
    tax, django_assert_max_num_queries
):
    persons = [f"1410021980{n:08d}" for n in range(5000)]
    Payer.objects.bulk_create(
        [
            Payer(person_id=p, name="某", region_code=TUNLI, source_message_id=n, sequence=1)
            for n, p in enumerate(persons)
        ]
    )
    DueItem.objects.bulk_create(
        [
            DueItem(
                person_id=p,
                insurance_year=YEAR,
                region_code=TUNLI,
                amount_fen=AMOUNT,
                schedule=open_today(),
                source_message_id=n,
                sequence=1,
            )
            for n, p in enumerate(persons)
        ]
    )
    day = timezone.localdate().isoformat()
    handle = bank_file(*(f"R{n},{p},某,2027,400.00,成功,{day}," for n, p in enumerate(persons)))

    with django_assert_max_num_queries(60):
        batch = import_bank(tax, handle)

    assert (batch.payment_count, batch.total_fen, batch.problem_count) == (5000, 5000 * AMOUNT, 0)
    numbers = sorted(Payment.objects.values_list("receipt_number", flat=True))
    assert numbers == list(range(1, 5001))
