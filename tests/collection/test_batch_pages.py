"""Tax's pages for many payments at once: the collective payment page, a batch with its ledger
(台账) to sign, the bank debit upload, and the reports as workbooks."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import DueItem, Payment, PaymentBatch, RefundPaid
from tests.collection.support import QINBI, TUNLI, YEAR, due, open_today, payer
from tests.exports_support import exported

pytestmark = pytest.mark.django_db

IDS = [f"14100219800101{n:04d}" for n in range(1, 4)]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def counter(world, client, settings):
    client.force_login(world.user_for(Role.TAX_STAFF))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for number, person_id in enumerate(IDS, start=1):
        payer(f"村民{number}", person_id)
        due(person_id, schedule=open_today())
    return client


def _workbook(response) -> list[list]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def _rows(book) -> list[list]:
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def _keys(persons: list[str]) -> list[str]:
    """The due items' keys the page posts for these persons (never their identifiers)."""
    keys = dict(DueItem.objects.filter(person_id__in=persons).values_list("person_id", "pk"))
    return [str(keys[person_id]) for person_id in persons]


def _record(counter, persons: list[str], total: str, key: str = "k1"):
    return _record_keys(counter, _keys(persons), total, key)


def _record_keys(counter, keys: list[str], total: str, key: str = "k1"):
    return counter.post(
        reverse("collection:collective"),
        {
            "record": "1",
            "year": YEAR,
            "village": TUNLI,
            "due_item": keys,
            "kind": "village",
            "unit_name": "屯里村",
            "paid_by": "李会计",
            "total_yuan": total,
            "idempotency_key": key,
        },
    )


def test_given_a_village_chosen_then_its_persons_due_today_are_listed_ticked_with_the_total(counter):
    page = counter.get(reverse("collection:collective"), {"year": YEAR, "village": TUNLI})

    assert [(c.item.person_id, amount, ticked) for c, _m, amount, ticked in page.context["candidates"]] == [
        (IDS[0], "400.00", True),
        (IDS[1], "400.00", True),
        (IDS[2], "400.00", True),
    ]
    assert page.context["total"] == "1,200.00"
    assert page.context["form"].initial["unit_name"] == "屯里村"


def test_given_a_schools_pasted_list_then_the_payable_ones_are_listed_and_the_others_named(counter):
    page = counter.post(
        reverse("collection:collective"), {"year": YEAR, "people": f"{IDS[1]}\n141002199901019999\n{IDS[0]}"}
    )

    assert [c.item.person_id for c, *_rest in page.context["candidates"]] == [IDS[1], IDS[0]]
    assert [(shown, entry.reason) for entry, shown in page.context["not_payable"]] == [
        ("141002********9999", "Not found in your area for 2027.")
    ]
    assert Payment.objects.count() == 0


def _window_from(days: int) -> tuple[list[dict], str]:
    """A schedule whose window opens ``days`` from today, and that day."""
    opening = timezone.localdate() + dt.timedelta(days=days)
    return [{"from": opening.isoformat(), "to": (opening + dt.timedelta(days=60)).isoformat(),
             "amount_fen": 40000, "subsidy_fen": 0, "rule": "on_time"}], opening.isoformat()  # fmt: skip


def test_given_a_schools_list_then_each_entry_not_payable_has_its_own_reason_and_a_typo_is_called_malformed(
    world, counter
):
    paid = services.payment_record(
        scope=Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk),
        due_item_id=DueItem.objects.get(person_id=IDS[1]).pk,
        amount_fen=40000,
        channel="counter_cash",
        paid_by="村民2",
    ).payment
    payer("村民7", "141002198001010007")
    due("141002198001010007", status="cancelled", schedule=open_today())
    payer("村民8", "141002198001010008")
    schedule, opening = _window_from(10)
    due("141002198001010008", schedule=schedule)
    listed = [IDS[0], "abc", IDS[1], "141002199901019999", "141002198001010007", "141002198001010008"]

    page = counter.post(reverse("collection:collective"), {"year": YEAR, "people": "\n".join(listed)})

    assert [c.item.person_id for c, *_rest in page.context["candidates"]] == [IDS[0]]
    assert [(shown, entry.name, entry.reason) for entry, shown in page.context["not_payable"]] == [
        ("abc", "", "Not an identifier: an identifier has 5 to 32 letters and digits."),
        (
            "141002********0002",
            "村民2",
            f"Already paid (receipt {paid.receipt}); a contribution is paid once.",
        ),
        ("141002********9999", "", "Not found in your area for 2027."),
        (
            "141002********0007",
            "村民7",
            "Nothing is due for 2027: the government pays this contribution, or insurance withdrew it (the "
            "enrollment ended, or began after the year could still be paid for).",
        ),
        (
            "141002********0008",
            "村民8",
            f"Payments for this year are accepted from {opening}. Come back from that day.",
        ),
    ]
    html = page.content.decode()
    assert html.count('data-testid="not-payable-person"') == 5
    assert "<code>abc</code>" in html and "AB*" not in html


def test_given_a_village_whose_persons_are_all_outside_the_window_then_the_page_says_why_no_one_is_payable(
    counter,
):
    schedule, opening = _window_from(10)
    DueItem.objects.update(schedule=schedule)

    page = counter.get(reverse("collection:collective"), {"year": YEAR, "village": TUNLI})

    assert page.context["candidates"] == []
    reason = f"Payments for this year are accepted from {opening}. Come back from that day."
    assert [(entry.person_id, entry.reason) for entry, _shown in page.context["not_payable"]] == [
        (IDS[0], reason),
        (IDS[1], reason),
        (IDS[2], reason),
    ]
    html = page.content.decode()
    assert f"No one here can be paid for today: {reason}" in html
    assert "No one here can be paid for today.<" not in html
    assert 'data-testid="not-payable"' not in html  # one reason for all: said once, not per person


def test_given_the_ticked_persons_and_the_cash_when_recorded_then_the_batch_page_follows(counter):
    response = _record(counter, IDS[:2], "800.00")

    batch = PaymentBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "collection:batch", args=[batch.pk]
    )
    page = counter.get(response["Location"])
    assert [line.payment.person_id for line, _m, _a in page.context["lines"]] == IDS[:2]
    assert page.context["total"] == "800.00"


def test_given_the_wrong_cash_total_when_recorded_then_the_page_says_so_and_nothing_is_paid(counter):
    response = _record(counter, IDS, "1000.00")

    assert response.status_code == 409
    assert response.context["error"] == (
        "Nothing was recorded: the amounts due add up to 1,200.00 yuan, but 1,000.00 yuan were counted."
    )
    assert Payment.objects.count() == 0


def test_given_a_village_chosen_then_the_page_holds_no_full_identifier_and_ticks_by_due_item_key(counter):
    page = counter.get(reverse("collection:collective"), {"year": YEAR, "village": TUNLI})

    html = page.content.decode()
    assert [person_id for person_id in IDS if person_id in html] == []
    keys = _keys(IDS)
    assert [f'data-due-item="{key}"' in html for key in keys] == [True, True, True]
    assert [f'name="due_item" value="{key}"' in html for key in keys] == [True, True, True]
    assert html.count("141002********000") == 3


def test_given_a_refused_collective_payment_then_the_refusal_names_the_persons_masked(world, counter):
    services.payment_record(
        scope=Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk),
        due_item_id=DueItem.objects.get(person_id=IDS[1]).pk,
        amount_fen=40000,
        channel="counter_cash",
        paid_by="村民2",
    )

    response = _record(counter, IDS, "1200.00")

    html = response.content.decode()
    assert response.status_code == 409
    assert [(shown, problem.line.person_id) for problem, shown in response.context["problems"]] == [
        ("141002********0002", IDS[1])
    ]
    assert '<tr data-testid="batch-problem"><td><code>141002********0002</code></td>' in html
    assert [person_id for person_id in IDS if person_id in html] == []


def test_given_the_key_of_a_due_item_of_another_county_when_posted_then_nothing_is_recorded(counter):
    payer("外县人", "141024198001010099", region=QINBI)
    outsider = due("141024198001010099", region=QINBI, schedule=open_today())

    response = _record_keys(counter, [*_keys(IDS[:1]), str(outsider.pk)], "800.00")

    assert response.status_code == 409
    assert [(shown, problem.reason) for problem, shown in response.context["problems"]] == [
        ("", "Not found in your area for 2027.")
    ]
    assert '<tr data-testid="batch-problem"><td>—</td><td>Not found in your area for 2027.</td></tr>' in (
        response.content.decode()
    )
    assert "141024198001010099" not in response.content.decode()
    assert (Payment.objects.count(), PaymentBatch.objects.count()) == (0, 0)


@pytest.mark.parametrize("no_key", [IDS[1], "²", "٣", "abc"])
def test_given_a_posted_value_that_is_no_key_when_recorded_then_nothing_is_recorded(counter, no_key):
    response = _record_keys(counter, [*_keys(IDS[:1]), no_key], "800.00")

    assert response.status_code == 409
    assert [problem.reason for problem, _shown in response.context["problems"]] == [
        "Not found in your area for 2027."
    ]
    assert Payment.objects.count() == 0


def test_given_a_collective_payment_refused_then_the_ticks_posted_stay_ticked(counter):
    response = _record(counter, IDS[:2], "1000.00")

    assert response.status_code == 409
    assert [(c.item.person_id, ticked) for c, _m, _a, ticked in response.context["candidates"]] == [
        (IDS[0], True),
        (IDS[1], True),
        (IDS[2], False),
    ]


def test_given_a_batch_then_its_page_holds_no_full_identifier_and_marks_lines_by_due_item_key(counter):
    _record(counter, IDS, "1200.00")
    batch = PaymentBatch.objects.get()

    html = counter.get(reverse("collection:batch", args=[batch.pk])).content.decode()

    assert [person_id for person_id in IDS if person_id in html] == []
    assert [f'data-testid="line" data-due-item="{key}"' in html for key in _keys(IDS)] == [True, True, True]
    assert [f"<code>{masked}</code>" in html for masked in ("141002********0001", "141002********0002")] == [
        True,
        True,
    ]


def test_given_a_bank_batch_then_its_page_holds_no_full_identifier_of_its_payments_or_lines_not_matched(
    counter,
):
    batch = _bank_batch(counter, second_amount="300.00")  # the second line not matched

    html = counter.get(reverse("collection:batch", args=[batch.pk])).content.decode()

    assert html.count('data-testid="line"') == 1 and html.count('data-testid="problem"') == 1
    assert [person_id for person_id in IDS if person_id in html] == []


def test_given_a_batch_then_its_ledger_has_a_line_per_payer_to_sign_and_the_signature_lines(counter):
    _record(counter, IDS, "1200.00")
    batch = PaymentBatch.objects.get()

    rows = _workbook(counter.get(reverse("collection:batch-ledger", args=[batch.pk])))

    assert rows[0][0] == "屯里村 — collective payment ledger"
    assert rows[3] == ["No.", "Name", "Identifier", "Year", "Amount (yuan)", "Receipt", "Payer's signature"]
    receipts = [p.receipt for p in Payment.objects.order_by("receipt_number")]
    assert rows[4:7] == [
        [1, "村民1", "141002********0001", 2027, 400, receipts[0], None],
        [2, "村民2", "141002********0002", 2027, 400, receipts[1], None],
        [3, "村民3", "141002********0003", 2027, 400, receipts[2], None],
    ]
    assert rows[7][:5] == ["Total", "3 persons", None, None, 1200]
    assert rows[9][:6] == [
        "Collecting clerk (signature):",
        None,
        None,
        "Village head (signature):",
        None,
        "Date:",
    ]


def test_given_a_bank_file_uploaded_then_the_batch_shows_the_payments_and_the_lines_not_matched(counter):
    day = timezone.localdate().isoformat()
    content = (
        "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期\n"
        f"B1,{IDS[0]},村民1,2027,400.00,成功,{day}\n"
        f'B2,{IDS[1]},=HYPERLINK("x"),2027,300.00,成功,{day}\n'
    ).encode()

    response = counter.post(
        reverse("collection:bank"),
        {"bank_name": "农业银行", "file": SimpleUploadedFile("debit.csv", content, content_type="text/csv")},
    )

    batch = PaymentBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "collection:batch", args=[batch.pk]
    )
    queued = counter.get(response["Location"])
    assert (queued.context["batch"].status, queued.context["progress"]["finished"]) == ("queued", False)
    services.bank_debit_process(scope=Scope.for_user_id(batch.created_by_id), batch_id=batch.pk)  # the worker
    batch.refresh_from_db()
    assert (batch.payment_count, batch.problem_count, batch.file_name) == (1, 1, "debit.csv")
    assert counter.get(reverse("collection:batch-progress", args=[batch.pk])).json()["finished"] is True
    rows = _workbook(counter.get(reverse("collection:batch-problems", args=[batch.pk])))
    assert rows[1] == [
        3, "141002********0002", "'=HYPERLINK(\"x\")", 2027, 300, "B2", "yes",
        f"300.00 yuan was taken but 400.00 yuan are due on {day}.",
    ]  # fmt: skip


def _bank_batch(counter, second_amount: str = "400.00") -> PaymentBatch:
    """A bank file of two debits (both paid unless the second's amount is not the amount due),
    matched as the worker would."""
    day = timezone.localdate().isoformat()
    content = (
        "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期\n"
        f"B1,{IDS[0]},村民1,2027,400.00,成功,{day}\n"
        f"B2,{IDS[1]},村民2,2027,{second_amount},成功,{day}\n"
    ).encode()
    counter.post(
        reverse("collection:bank"),
        {"bank_name": "农业银行", "file": SimpleUploadedFile("debit.csv", content, content_type="text/csv")},
    )
    batch = PaymentBatch.objects.get()
    services.bank_debit_process(scope=Scope.for_user_id(batch.created_by_id), batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def test_given_bank_debits_with_and_without_their_time_then_receipts_and_the_api_print_only_what_the_file_gave(
    counter,
):
    # Yesterday: a debit at 09:41 today could still be ahead of the clock when the test runs.
    day = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    content = (
        "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期\n"
        f"B1,{IDS[0]},村民1,2027,400.00,成功,{day}\n"
        f"B2,{IDS[1]},村民2,2027,400.00,成功,{day} 09:41:07\n"
    ).encode()
    counter.post(
        reverse("collection:bank"),
        {"bank_name": "农业银行", "file": SimpleUploadedFile("debit.csv", content, content_type="text/csv")},
    )
    batch = PaymentBatch.objects.get()
    services.bank_debit_process(scope=Scope.for_user_id(batch.created_by_id), batch_id=batch.pk)
    day_only, timed = Payment.objects.filter(batch=batch).order_by("person_id")

    day_only_receipt = counter.get(reverse("collection:receipt", args=[day_only.pk])).content.decode()
    timed_receipt = counter.get(reverse("collection:receipt", args=[timed.pk])).content.decode()

    assert (
        f'<dd><span data-testid="paid-day-only">{day}</span> '
        '<span class="muted small">(the bank\'s file gives the day only)</span></dd>'
    ) in day_only_receipt
    assert f"{day} 00:00" not in day_only_receipt
    assert f"<dd>{day} 09:41</dd>" in timed_receipt
    assert "paid-day-only" not in timed_receipt
    api = [counter.get(f"/api/collection/payments/{payment.pk}/").json() for payment in (day_only, timed)]
    assert [(answer["paid_at"][:10], answer["paid_time_known"]) for answer in api] == [
        (day, False),
        (day, True),
    ]


def test_given_a_bank_batch_then_its_ledger_is_the_bank_s_debits_signed_off_by_the_collector_and_a_reviewer(
    counter,
):
    batch = _bank_batch(counter)

    rows = _workbook(counter.get(reverse("collection:batch-ledger", args=[batch.pk])))

    today = timezone.localdate()
    assert rows[0][0] == "农业银行 — bank batch debit ledger"
    assert rows[1][0] == (
        f"Debited by: 农业银行 · file debit.csv · {today.isoformat()} · {batch.agency.name}"
    )
    assert rows[3] == ["No.", "Name", "Identifier", "Year", "Amount (yuan)", "Receipt", "Debit date"]
    receipts = [p.receipt for p in Payment.objects.order_by("receipt_number")]
    midnight = dt.datetime.combine(today, dt.time.min)
    assert rows[4:6] == [
        [1, "村民1", "141002********0001", 2027, 400, receipts[0], midnight],
        [2, "村民2", "141002********0002", 2027, 400, receipts[1], midnight],
    ]
    assert rows[6][:5] == ["Total", "2 persons", None, None, 800]
    assert rows[8][:6] == ["Tax collector (signature):", None, None, "Reviewer (signature):", None, "Date:"]
    cells = {cell for row in rows for cell in row}
    assert {
        "Payer's signature",
        "Village head (signature):",
        "Collecting clerk (signature):",
    } & cells == set()


def test_given_a_bank_batch_in_chinese_then_its_page_and_ledger_name_persons_and_the_bank_s_sign_off(
    counter, settings
):
    batch = _bank_batch(counter)
    counter.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = counter.get(reverse("collection:batch", args=[batch.pk])).content.decode()
    rows = _workbook(counter.get(reverse("collection:batch-ledger", args=[batch.pk])))

    assert '<h2 data-testid="lines-heading">本批缴费明细</h2>' in page
    assert '<th class="num">序号</th><th>姓名</th>' in page
    assert "征收人员（签字）：" in page and "复核人（签字）：" in page and "缴费人签字" not in page
    assert rows[0][0] == "农业银行银行批量扣款台账"
    assert rows[3][:2] == ["序号", "姓名"] and rows[3][6] == "扣款日期"
    assert rows[8][:6] == ["征收人员（签字）：", None, None, "复核人（签字）：", None, "日期："]


def test_given_a_village_batch_in_chinese_then_the_payments_table_names_the_person(counter, settings):
    _record(counter, IDS, "1200.00")
    batch = PaymentBatch.objects.get()
    counter.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = counter.get(reverse("collection:batch", args=[batch.pk])).content.decode()
    rows = _workbook(counter.get(reverse("collection:batch-ledger", args=[batch.pk])))

    assert '<th class="num">序号</th><th>姓名</th>' in page
    assert "<h2>笔数</h2>" not in page
    assert rows[0][0] == "屯里村集体缴费台账"
    assert rows[3][:2] == ["序号", "姓名"] and rows[3][6] == "缴费人签字"


def test_given_a_bank_file_that_is_not_csv_then_the_upload_page_says_why(counter):
    response = counter.post(
        reverse("collection:bank"),
        {"bank_name": "农业银行", "file": SimpleUploadedFile("debit.csv", b"", content_type="text/csv")},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["The submitted file is empty."]


def test_given_payments_today_then_the_daily_report_exports_by_channel(counter):
    _record(counter, IDS[:2], "800.00")
    day = timezone.localdate().isoformat()

    rows = _workbook(counter.get(reverse("collection:daily-xlsx"), {"day": day}))

    assert rows[0] == ["Daily collection report", day]
    assert rows[2:5] == [
        ["Channel", "Payments", "Amount (yuan)"],
        ["Village collection", 2, 800],
        ["Total", 2, 800],
    ]
    assert rows[-1] == ["Net takings of the day", None, 800]


def test_given_an_insurance_clerk_then_the_collective_page_is_refused(world, client):
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    assert client.get(reverse("collection:collective")).status_code == 403


def _refund(refund_id: int, person_id: str, region: str, month: str, fen: int) -> RefundPaid:
    return RefundPaid.objects.create(
        refund_id=refund_id, person_id=person_id, region_code=region, month=month, amount_fen=fen,
        receipt_number=f"R{refund_id}", paid_on=f"{month}-10", source_message_id=refund_id,
    )  # fmt: skip


def test_given_refunds_reported_then_tax_sees_the_months_in_its_area_and_exports_them(counter):
    _refund(1, IDS[0], TUNLI, "2026-11", 40000)
    _refund(2, IDS[1], TUNLI, "2026-11", 35000)
    _refund(3, IDS[2], TUNLI, "2026-10", 40000)
    _refund(4, "141024198001019999", "141024100201", "2026-11", 40000)  # another county

    page = counter.get(reverse("collection:refunds"))
    rows = _rows(exported(counter, "collection.refund_details", month="2026-11"))

    assert (page.context["months"], page.context["month"], page.context["count"], page.context["total"]) == (
        ["2026-11", "2026-10"], "2026-11", 2, "750.00",
    )  # fmt: skip
    assert rows[3:6] == [
        [dt.datetime(2026, 11, 10), "141002********0001", TUNLI, 400, "R1", 1],
        [dt.datetime(2026, 11, 10), "141002********0002", TUNLI, 350, "R2", 2],
        ["Total", 2, None, 750],
    ]


def _unsaved_refund(number: int) -> RefundPaid:
    return RefundPaid(
        refund_id=number, person_id=IDS[0], region_code=TUNLI, month="2026-11", amount_fen=100,
        receipt_number=f"R{number}", paid_on="2026-11-10", source_message_id=number,
    )  # fmt: skip


def test_given_a_month_of_many_refunds_then_the_page_shows_a_hundred_at_a_time_and_the_months_totals(counter):
    RefundPaid.objects.bulk_create(_unsaved_refund(number) for number in range(1, 206))
    _refund(900, IDS[1], TUNLI, "2026-10", 40000)

    first = counter.get(reverse("collection:refunds"), {"month": "2026-11"})
    last = counter.get(reverse("collection:refunds"), {"month": "2026-11", "page": 3})

    assert [refund.refund_id for refund, _masked, _yuan in first.context["rows"]] == list(range(1, 101))
    assert (first.context["count"], first.context["total"]) == (205, "205.00")
    assert 'href="?month=2026-11&amp;page=2" rel="next"' in first.content.decode()
    assert [refund.refund_id for refund, _masked, _yuan in last.context["rows"]] == list(range(201, 206))
    assert (last.context["count"], last.context["total"]) == (205, "205.00")


def test_given_a_schools_list_in_the_address_then_it_is_not_read_and_no_one_is_listed(counter):
    page = counter.get(reverse("collection:collective"), {"year": YEAR, "people": f"{IDS[1]}\n{IDS[0]}"})

    assert page.status_code == 200
    assert page.context["people"] == ""
    assert page.context["candidates"] == []
    assert page.context["not_payable"] == []
