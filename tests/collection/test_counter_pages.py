"""Tax's counter in the portal: find the payer, take the amount due, print the receipt; and the API."""

from __future__ import annotations

import datetime as dt
import io
import re
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token

from accounts.models import User
from accounts.roles import Role
from collection.models import DueItem, Payer, Payment, RefundPaid, SubsidyMark
from tests.addresses import ID_NUMBER, KeptResponses
from tests.addresses import urls_of as _urls_of
from tests.collection.support import AMOUNT, QINBI, due, open_today, payer

pytestmark = pytest.mark.django_db

ZHANG = "141002198001010011"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def counter(world, client, settings):
    client.force_login(world.user_for(Role.TAX_STAFF))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the pages in English, whatever the catalogue holds
    payer("张三", ZHANG)
    payer("张三丰", "141002198001010022")
    return client


def _pay_form(client, item) -> dict[str, str]:
    page = client.get(reverse("collection:pay", args=[item.pk]))
    (row,) = [r for r in page.context["rows"] if r["item"].pk == item.pk]
    form = row["form"]
    return {
        form.add_prefix(name): str(form.initial[name])
        for name in ("amount_yuan", "channel", "paid_by", "idempotency_key")
    }


def test_given_a_name_prefix_then_the_matching_payers_are_listed_with_masked_identifiers(counter):
    response = counter.post(reverse("collection:counter"), {"q": "张三"})

    assert response.status_code == 302
    assert re.fullmatch(r"/collection/counter/\?search=[\w-]{12}", response["Location"])
    page = counter.get(response["Location"])
    assert [(r["payer"].name, r["masked"], r["place"]) for r in page.context["results"]] == [
        ("张三", "141002********0011", "屯里村"),
        ("张三丰", "141002********0022", "屯里村"),
    ]
    assert page.context["query"] == "张三"


def test_given_a_full_identifier_then_the_payer_opens_by_the_ledger_key_with_the_amount_due_today(counter):
    item = due(ZHANG, schedule=open_today())
    zhang = Payer.objects.get(person_id=ZHANG)

    response = counter.post(reverse("collection:counter"), {"q": ZHANG})

    assert response.status_code == 302 and response["Location"] == f"/collection/counter/?payer={zhang.pk}"
    page = counter.get(response["Location"])
    assert page.context["payer"].person_id == ZHANG
    (row,) = page.context["rows"]
    assert (row["item"].pk, row["accepted"].accepted, row["form"].initial["amount_yuan"]) == (
        item.pk,
        True,
        400,
    )
    assert row["form"].initial["paid_by"] == "张三"


def test_given_the_counter_flow_then_no_identifier_appears_in_any_address_the_pages_give(counter):
    """Search by identifier, by name, open the payer, a refused payment, pay, receipt (its reissue
    and its way back to the counter): every Location, href and action is free of ID numbers."""
    item = due(ZHANG, schedule=open_today())
    responses = KeptResponses()
    keep = responses.keep

    by_id = keep(counter.post(reverse("collection:counter"), {"q": ZHANG}))
    payer_page = keep(counter.get(by_id["Location"]))
    by_prefix = keep(counter.post(reverse("collection:counter"), {"q": ZHANG[:10]}))
    keep(counter.get(by_prefix["Location"]))
    by_name = keep(counter.post(reverse("collection:counter"), {"q": "张三"}))
    keep(counter.get(by_name["Location"]))
    keep(counter.get(reverse("collection:pay", args=[item.pk])))
    form = _pay_form(counter, item)
    keep(counter.post(reverse("collection:pay", args=[item.pk]), {**form, f"item{item.pk}-amount_yuan": "1"}))
    paid = keep(counter.post(reverse("collection:pay", args=[item.pk]), form))
    keep(counter.get(paid["Location"]))
    payment = Payment.objects.get()
    keep(counter.post(reverse("collection:void-receipt", args=[payment.pk]), {"void-reason": "打印错位"}))
    keep(counter.get(reverse("collection:receipt", args=[payment.pk])))
    keep(counter.post(reverse("collection:counter"), {"q": ZHANG}, follow=True))

    assert "141002********0011" in payer_page.content.decode()
    assert [r.status_code for r in responses] == [
        302,
        200,
        302,
        200,
        302,
        200,
        200,
        400,
        302,
        200,
        302,
        200,
        200,
    ]
    urls = [url for response in responses for url in _urls_of(response)]
    assert f"/collection/counter/?payer={Payer.objects.get(person_id=ZHANG).pk}" in urls  # the way back
    assert len(urls) > 40
    assert [url for url in urls if ID_NUMBER.search(url)] == []
    assert ID_NUMBER.search(f"/collection/counter/?person={ZHANG}")  # the pattern finds what it looks for


def test_given_a_payer_key_outside_the_clerks_area_then_404_and_nothing_of_them(counter):
    outsider = payer("李四", "141024198001010033", region=QINBI)  # 洪洞县: tax_a's area is 尧都区

    response = counter.get(reverse("collection:counter"), {"payer": outsider.pk})

    assert response.status_code == 404
    assert "李四" not in response.content.decode()
    assert counter.get(reverse("collection:counter"), {"payer": "9" * 30}).status_code == 404
    assert counter.get(reverse("collection:counter"), {"payer": "abc"}).status_code == 404


def test_given_a_search_key_not_kept_in_this_session_then_the_counter_asks_to_search_again(counter, settings):
    kept = counter.post(reverse("collection:counter"), {"q": "张三"})["Location"]
    other = Client()  # the same clerk signed in elsewhere: another session
    other.force_login(User.objects.get(pk=counter.session["_auth_user_id"]))
    other.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = other.get(kept)

    assert page.status_code == 200
    assert (page.context["searched"], page.context["results"]) == (False, [])
    assert page.context["notice"] == "That search is no longer kept. Search again."


def test_given_the_form_as_shown_when_submitted_then_the_receipt_follows(counter):
    item = due(ZHANG, schedule=open_today())

    response = counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))

    payment = Payment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "collection:receipt", args=[payment.pk]
    )
    receipt = counter.get(response["Location"])
    assert receipt.context["amount"] == "400.00"
    assert payment.receipt in receipt.content.decode()
    assert '<dd data-testid="receipt-amount-words">肆佰元整</dd>' in receipt.content.decode()
    assert [str(m) for m in receipt.context["messages"]] == [
        f"Payment of ¥400.00 recorded; receipt {payment.receipt}."
    ]


def test_given_a_double_submission_of_one_form_then_one_payment_and_the_same_receipt(counter):
    item = due(ZHANG, schedule=open_today())
    form = _pay_form(counter, item)

    first = counter.post(reverse("collection:pay", args=[item.pk]), form)
    second = counter.post(reverse("collection:pay", args=[item.pk]), form)

    assert first["Location"] == second["Location"]
    assert Payment.objects.count() == 1


def test_given_less_than_due_then_the_form_says_how_much_is_due(counter):
    item = due(ZHANG, schedule=open_today())
    form = {**_pay_form(counter, item), f"item{item.pk}-amount_yuan": "300"}

    response = counter.post(reverse("collection:pay", args=[item.pk]), form)

    assert response.status_code == 400
    day = timezone.localdate().isoformat()
    (row,) = response.context["rows"]
    assert row["form"].errors["amount_yuan"] == [
        f"A contribution is paid in full: 400.00 yuan are due on {day}, not 300.00."
    ]
    assert Payment.objects.count() == 0


def test_given_a_paid_item_when_another_form_is_submitted_then_the_conflict_is_shown(counter):
    item = due(ZHANG, schedule=open_today())
    stale = _pay_form(counter, item)
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))

    response = counter.post(reverse("collection:pay", args=[item.pk]), stale)

    assert response.status_code == 409
    assert response.context["error"].startswith("Already paid on ")


def test_given_the_api_when_a_payment_is_posted_twice_with_one_key_then_201_then_200_with_the_same_payment(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "alipay", "paid_by": "张三"}
    url = reverse("collection-payment-list")

    first = counter.post(url, body, content_type="application/json", headers={"Idempotency-Key": "api-1"})
    second = counter.post(url, body, content_type="application/json", headers={"Idempotency-Key": "api-1"})
    third = counter.post(url, body, content_type="application/json", headers={"Idempotency-Key": "api-2"})

    assert (first.status_code, second.status_code, third.status_code) == (201, 200, 409)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["receipt"] == Payment.objects.get().receipt
    assert third.json()["error"]["message"].startswith("Already paid on ")


def test_given_the_counter_form_then_it_offers_only_the_channels_of_a_single_payment(counter):
    item = due(ZHANG, schedule=open_today())

    page = counter.get(reverse("collection:pay", args=[item.pk]))

    (row,) = page.context["rows"]
    assert list(row["form"].fields["channel"].choices) == [
        ("counter_cash", "Cash at the counter"),
        ("bank_card", "Bank card"),
        ("wechat", "WeChat Pay"),
        ("alipay", "Alipay"),
        ("bank_pos", "Bank POS"),
    ]
    html = page.content.decode()
    assert [value for value in ("village", "school", "bank_batch") if f'value="{value}"' in html] == []


def test_given_a_bank_batch_channel_posted_to_the_counter_then_it_is_refused_and_nothing_recorded(counter):
    item = due(ZHANG, schedule=open_today())
    form = {**_pay_form(counter, item), f"item{item.pk}-channel": "bank_batch"}

    response = counter.post(reverse("collection:pay", args=[item.pk]), form)

    assert response.status_code == 400
    (row,) = response.context["rows"]
    assert row["form"].errors["channel"] == [
        "Select a valid choice. bank_batch is not one of the available choices."
    ]
    assert Payment.objects.count() == 0


def test_given_the_api_when_a_payment_names_a_village_s_channel_then_400_says_why_and_nothing_is_recorded(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "village", "paid_by": "张三"}

    response = counter.post(
        reverse("collection-payment-list"),
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "v-1"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "channel": [
            "“Village collection” is only for collective payments and bank debit files; a single payment is "
            "taken in cash at the counter, by bank card, WeChat Pay, Alipay or bank POS."
        ]
    }
    assert Payment.objects.count() == 0


def test_given_a_receipt_in_chinese_then_its_number_is_called_as_on_the_certificate(counter, settings):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    counter.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = counter.get(reverse("collection:receipt", args=[payment.pk])).content.decode()

    assert f'<dt>票据号码</dt><dd><code data-testid="receipt-number">{payment.receipt}</code></dd>' in page
    assert "票据号<" not in page


def test_given_a_receipt_when_the_clerk_reverses_it_with_a_reason_then_the_receipt_says_so(counter):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()

    response = counter.post(reverse("collection:reverse", args=[payment.pk]), {"reverse-reason": "重复收费"})

    assert response.status_code == 302
    receipt = counter.get(response["Location"])
    assert (receipt.context["payment"].status, receipt.context["can_change"]) == ("reversed", False)
    assert "重复收费" in receipt.content.decode()


def _refunded_by_insurance(payment: Payment, refund_id: int = 9) -> None:
    RefundPaid.objects.create(
        refund_id=refund_id, person_id=payment.person_id, region_code=payment.region_code, month="2026-11",
        amount_fen=payment.amount_fen, receipt_number=payment.receipt, paid_on=dt.date(2026, 11, 25),
        source_message_id=1,
    )  # fmt: skip


def test_given_a_payment_insurance_paid_back_when_the_clerk_reverses_it_then_it_is_refused_and_stands(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    _refunded_by_insurance(payment)

    response = counter.post(reverse("collection:reverse", args=[payment.pk]), {"reverse-reason": "重复收费"})

    assert response.status_code == 409
    assert response.context["reverse_form"].non_field_errors() == [
        "The medical insurance bureau paid this contribution back on 2026-11-25 (refund 9); it cannot be reversed."
    ]
    payment.refresh_from_db()
    item.refresh_from_db()
    assert (payment.status, item.status) == ("recorded", "paid")


def test_given_a_payment_insurance_paid_back_then_its_receipt_offers_no_reversal_and_says_why(counter):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    _refunded_by_insurance(payment)

    receipt = counter.get(reverse("collection:receipt", args=[payment.pk])).content.decode()

    assert 'data-testid="reverse-form"' not in receipt
    assert (
        '<p class="muted" data-testid="reverse-refused">The medical insurance bureau paid this contribution '
        "back on 2026-11-25 (refund 9); it cannot be reversed.</p>"
    ) in receipt
    assert 'data-testid="void-form"' in receipt  # a spoiled receipt can still be reissued


def test_given_the_api_when_a_payment_dated_a_month_back_is_sent_then_400_names_the_limit(counter):
    item = due(ZHANG, schedule=open_today())
    body = {
        "due_item": item.pk, "amount_fen": AMOUNT, "channel": "alipay", "paid_by": "张三",
        "paid_at": (timezone.now() - dt.timedelta(days=30)).isoformat(),
    }  # fmt: skip

    response = counter.post(reverse("collection-payment-list"), body, content_type="application/json")

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["paid_at"]
    assert message.startswith("A payment can be dated at most 24 hours back")
    assert Payment.objects.count() == 0


def test_given_a_receipt_when_the_clerk_reverses_it_then_a_success_message_names_the_receipt(counter):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    counter.get(reverse("collection:receipt", args=[payment.pk]))  # the payment's own message, read

    response = counter.post(
        reverse("collection:reverse", args=[payment.pk]), {"reverse-reason": "重复收费"}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        f"Payment with receipt {payment.receipt} reversed: the year is due again and insurance is told."
    ]


def test_given_a_spoiled_receipt_when_voided_then_a_success_message_names_the_old_and_the_new_number(
    counter, settings
):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    counter.get(reverse("collection:receipt", args=[payment.pk]))
    counter.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = counter.post(
        reverse("collection:void-receipt", args=[payment.pk]), {"void-reason": "打印错位"}, follow=True
    )

    payment.refresh_from_db()
    old = f"{payment.agency_id:04d}-{payment.receipt_year}-000001"
    assert payment.receipt == f"{payment.agency_id:04d}-{payment.receipt_year}-000002"
    assert [str(m) for m in response.context["messages"]] == [
        f"票据 {old} 已作废，这笔缴费改用票据号码 {payment.receipt}。"
    ]


def test_given_a_spoiled_receipt_when_voided_then_the_payment_has_the_next_number_and_the_old_one_is_listed(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    old = payment.receipt

    response = counter.post(
        reverse("collection:void-receipt", args=[payment.pk]), {"void-reason": "打印错位"}
    )

    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.receipt_number, payment.status) == (2, "recorded")
    receipt = counter.get(response["Location"])
    assert [(str(v), v.reason) for v in receipt.context["voided"]] == [(old, "打印错位")]


def test_given_a_receipt_reissued_and_the_payment_refunded_by_insurance_then_the_receipt_shows_the_refund(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    counter.post(reverse("collection:pay", args=[item.pk]), _pay_form(counter, item))
    payment = Payment.objects.get()
    first_number = payment.receipt  # the number the deposit record carried to insurance
    counter.post(reverse("collection:void-receipt", args=[payment.pk]), {"void-reason": "打印错位"})
    RefundPaid.objects.create(
        refund_id=9, person_id=ZHANG, region_code=item.region_code, month="2026-11", amount_fen=AMOUNT,
        receipt_number=first_number, paid_on=timezone.localdate(), source_message_id=1,
    )  # fmt: skip

    receipt = counter.get(reverse("collection:receipt", args=[payment.pk]))

    assert [(refund.refund_id, amount) for refund, amount in receipt.context["refunds"]] == [(9, "400.00")]
    assert 'data-testid="refunded" data-fen="40000"' in receipt.content.decode()


# --- reports ------------------------------------------------------------------------------------


def test_given_a_day_of_payments_then_the_daily_report_sums_them_by_channel_and_collector(world, counter):
    from accounts.scope import Scope
    from collection import services

    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    at = timezone.make_aware(timezone.datetime(2026, 11, 20, 10, 0))
    for number, channel in enumerate(["wechat", "wechat", "counter_cash"], start=1):
        item = due(f"14100219800101{number:04d}")
        services.payment_record(
            scope=scope,
            due_item_id=item.pk,
            amount_fen=AMOUNT,
            channel=channel,
            paid_by="本人",
            paid_at=at,
            backdate_limit=None,
        )

    page = counter.get(reverse("collection:daily"), {"day": "2026-11-20"})

    report = page.context["report"]
    assert [(line.label, line.count, line.fen) for line in report.by_channel] == [
        ("Cash at the counter", 1, AMOUNT),
        ("WeChat Pay", 2, 2 * AMOUNT),
    ]
    assert [(line.count, line.fen) for line in report.by_collector] == [(3, 3 * AMOUNT)]
    assert (report.count, report.fen, report.reversed.count, report.net_fen) == (3, 3 * AMOUNT, 0, 3 * AMOUNT)


def test_given_a_closed_day_when_one_of_its_payments_is_reversed_later_then_that_day_stays_as_it_was(
    world, counter
):
    # Given two payments taken on 20 November
    from accounts.scope import Scope
    from collection import services

    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    at = timezone.make_aware(timezone.datetime(2026, 11, 20, 10, 0))
    for number in (1, 2):
        item = due(f"14100219800101{number:04d}")
        services.payment_record(
            scope=scope,
            due_item_id=item.pk,
            amount_fen=AMOUNT,
            channel="wechat",
            paid_by="本人",
            paid_at=at,
            backdate_limit=None,
        )

    # When one of them is reversed today
    services.payment_reverse(
        scope=scope, payment_id=Payment.objects.order_by("pk").first().pk, reason="重复收费"
    )

    # Then 20 November still shows both, and the reversal is in today's report with the day's net
    closed = counter.get(reverse("collection:daily"), {"day": "2026-11-20"}).context["report"]
    assert (closed.count, closed.fen, closed.reversed.count) == (2, 2 * AMOUNT, 0)
    today = counter.get(reverse("collection:daily"), {"day": timezone.localdate().isoformat()})
    report = today.context["report"]
    assert (report.count, report.reversed.count, report.reversed.fen, report.net_fen) == (
        0,
        1,
        AMOUNT,
        -AMOUNT,
    )
    assert f'data-net-fen="{-AMOUNT}"' in today.content.decode()
    assert "net takings of the day -¥400.00." in today.content.decode()


# The last and first days a date can hold, and a day that does not exist: each answered alike.
BAD_DAYS = ["9999-12-31", "0001-01-01", "2026-02-30"]


@pytest.mark.parametrize("day", BAD_DAYS)
def test_given_a_day_out_of_range_when_the_daily_report_is_asked_for_then_it_shows_today(counter, day):
    page = counter.get(reverse("collection:daily"), {"day": day})

    today = timezone.localdate()
    assert page.status_code == 200
    assert (page.context["report"].day, page.context["previous"], page.context["next"]) == (
        today,
        today - dt.timedelta(days=1),
        None,
    )


def test_given_the_daily_report_of_today_then_it_offers_no_next_day_but_yesterday_s_offers_today(counter):
    # Given today's report and yesterday's
    today = timezone.localdate()
    page = counter.get(reverse("collection:daily"))
    earlier = counter.get(reverse("collection:daily"), {"day": (today - dt.timedelta(days=1)).isoformat()})

    # Then today's has no link to a day to come, and yesterday's leads to today
    assert page.context["next"] is None and 'data-testid="next-day"' not in page.content.decode()
    assert earlier.context["next"] == today and 'data-testid="next-day"' in earlier.content.decode()


@pytest.mark.parametrize("day", BAD_DAYS)
def test_given_a_day_out_of_range_when_the_daily_report_is_exported_then_the_workbook_is_today_s(
    counter, day
):
    response = counter.get(reverse("collection:daily-xlsx"), {"day": day})

    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert response.status_code == 200
    assert next(book.worksheets[0].iter_rows(values_only=True))[:2] == (
        "Daily collection report",
        timezone.localdate().isoformat(),
    )


def test_given_the_api_when_a_payment_is_reversed_then_it_answers_the_reversed_payment_and_a_second_time_409(
    counter,
):
    item = due(ZHANG, schedule=open_today())
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "alipay", "paid_by": "张三"}
    payment = counter.post(reverse("collection-payment-list"), body, content_type="application/json").json()
    url = reverse("collection-payment-reverse", args=[payment["id"]])

    first = counter.post(url, {"reason": "重复收费"}, content_type="application/json")
    second = counter.post(url, {"reason": "重复收费"}, content_type="application/json")

    assert (first.status_code, first.json()["status"], second.status_code) == (200, "reversed", 409)


def test_given_a_payment_through_the_api_with_a_token_then_its_history_names_the_clerk_and_the_address(
    world, counter
):
    clerk = world.user_for(Role.TAX_STAFF)
    token = Token.objects.create(user=clerk).key
    item = due(ZHANG, schedule=open_today())
    url = reverse("collection-payment-list")
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "wechat", "paid_by": "张三"}

    response = Client(HTTP_AUTHORIZATION=f"Token {token}").post(url, body, content_type="application/json")

    assert response.status_code == 201
    payment_event = Payment.pgh_event_model.objects.get(pgh_obj_id=response.json()["id"], pgh_label="insert")
    item_event = DueItem.pgh_event_model.objects.get(pgh_obj_id=item.pk, pgh_label="update")
    assert payment_event.pgh_context_id == item_event.pgh_context_id
    metadata = payment_event.pgh_context.metadata
    assert (metadata["user"], metadata["role"], metadata["url"], metadata["method"], metadata["source"]) == (
        clerk.pk,
        "tax_staff",
        url,
        "POST",
        "web",
    )


def _statements_of_a_token_payment(world, *, item_as_text: bool) -> tuple[int, list[str]]:
    """A payment through the API with a token: its answer's status and the statements it ran."""
    from django.test.utils import CaptureQueriesContext

    token = Token.objects.create(user=world.user_for(Role.TAX_STAFF)).key
    item = due(ZHANG, schedule=open_today())
    due_item = str(item.pk) if item_as_text else item.pk
    body = {"due_item": due_item, "amount_fen": AMOUNT, "channel": "wechat", "paid_by": "张三"}
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")

    with CaptureQueriesContext(connection) as queries:
        response = api.post(reverse("collection-payment-list"), body, content_type="application/json")

    return response.status_code, [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_given_a_payment_through_the_api_with_a_token_then_two_statements_run_the_token_with_the_item_the_write(
    world, counter
):
    # The token's expiry is read from the row its one statement already returns, and the usual
    # call reads the due item in that statement too (collection.api_counter): no statement added.
    status, statements = _statements_of_a_token_payment(world, item_as_text=False)

    assert status == 201
    assert len(statements) == 2
    assert 'FROM "authtoken_token" t' in statements[0]
    assert "LEFT JOIN collection_dueitem d ON d.id = " in statements[0]
    assert "INSERT INTO collection_payment" in statements[1]


def test_given_a_payment_through_the_api_as_rest_framework_reads_it_then_the_token_the_item_and_the_write(
    world, counter
):
    # A number sent as text is the serializer's to read: the call takes REST framework's way, whose
    # token, due item and write are three statements.
    status, statements = _statements_of_a_token_payment(world, item_as_text=True)

    assert status == 201
    assert len(statements) == 3
    assert 'FROM "authtoken_token" t' in statements[0]
    assert "FROM collection_dueitem d WHERE d.id = " in statements[1]
    assert "INSERT INTO collection_payment" in statements[2]


def test_given_two_payments_through_the_api_then_their_write_is_prepared_once_on_the_connection(counter):
    url = reverse("collection-payment-list")
    for person in (ZHANG, "141002198001010022"):
        item = due(person, schedule=open_today())
        body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "wechat", "paid_by": "张三"}
        assert counter.post(url, body, content_type="application/json").status_code == 201

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(generic_plans + custom_plans) FROM pg_prepared_statements "
            "WHERE statement LIKE '%%INSERT INTO collection_receiptcounter%%'"
        )
        assert cursor.fetchone() == (1, 2)


def test_given_an_empty_search_then_the_counter_asks_for_something_to_search_with_400(counter):
    page = counter.post(reverse("collection:counter"), {"q": "  "})

    assert page.status_code == 400
    assert page.context["notice"] == "Type an identifier or a name to search."


def test_given_an_item_past_its_collection_period_then_the_counter_says_why_and_the_back_payment_window(
    counter,
):
    from collection.models import BackPaymentWindow

    due(ZHANG)  # the 2027 schedule, whose last line ended on 2027-06-30
    BackPaymentWindow.objects.create(
        policy_code="linfen-2027",
        policy_version=1,
        region_prefix="1410",
        insurance_year=2027,
        back_payment=True,
        apply_from=dt.date(2027, 1, 1),
        apply_until=dt.date(2027, 6, 30),
    )
    zhang = Payer.objects.get(person_id=ZHANG)

    with mock.patch("django.utils.timezone.localdate", return_value=dt.date(2027, 7, 2)):
        page = counter.get(reverse("collection:counter") + f"?payer={zhang.pk}")

    assert re.search(r'data-testid="not-accepted">([^<]*)<', page.content.decode()).group(1) == (
        "The collection period ended on 2027-06-30. Back-payment (补缴) applications for 2027 closed on "
        "2027-06-30; one made before then can be paid here once it is approved."
    )


def _mark(year: int, marker: str, kind: str, fen: int, **fields: object) -> SubsidyMark:
    """A mark in tax's ledger as insurance's ``subsidy.marks_batch`` leaves it."""
    return SubsidyMark.objects.create(
        person_id=ZHANG, insurance_year=year, category=fields.pop("category", "dibao"),
        region_code="141002001001", marker=marker, subsidy_kind=kind, subsidy_fen=fen,
        valid_from=dt.date(2026, 3, 1), source_message_id=1, sequence=1, **fields,
    )  # fmt: skip


def test_given_subsidy_marks_from_insurance_when_the_payer_opens_then_the_counter_lists_them(counter):
    # Given: 张三 marked 低保 (fixed ¥160) for 2027, 特困 (full) for 2027, and 低保 withdrawn for 2026
    _mark(2027, "02", "fixed", 16000, roster="民政局窗口")
    _mark(2027, "03", "full", 40000, category="tekun", roster="特困名单")
    _mark(2026, "02", "fixed", 16000, roster="低保名单", status="withdrawn",
          valid_to=dt.date(2026, 6, 30), reason="退出低保")  # fmt: skip
    zhang = Payer.objects.get(person_id=ZHANG)

    # When: tax staff open him at the counter
    page = counter.get(f"{reverse('collection:counter')}?payer={zhang.pk}")

    # Then: every mark, newest year first, the kind in words and the government's amount where it
    # is not all of it; a full subsidy says tax collects nothing, a withdrawal its reason
    rows = re.findall(r'<tr data-testid="subsidy-mark".*?</tr>', page.content.decode(), re.S)
    assert [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows] == [
        "2027 02 Fixed subsidy ¥160.00 2026-03-01 – 民政局窗口 Subsidised",
        "2027 03 Full subsidy Paid in full by the government: nothing is collected at tax. 2026-03-01 – "
        "特困名单 Subsidised",
        "2026 02 Fixed subsidy ¥160.00 2026-03-01 – 2026-06-30 低保名单 Withdrawn 退出低保",
    ]


def test_given_no_subsidy_mark_when_the_payer_opens_then_the_counter_shows_no_marks_table(counter):
    zhang = Payer.objects.get(person_id=ZHANG)

    page = counter.get(f"{reverse('collection:counter')}?payer={zhang.pk}")

    assert page.context["marks"] == []
    assert 'data-testid="subsidy-marks"' not in page.content.decode()
