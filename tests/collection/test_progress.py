"""The collection-progress dashboard: the summary computed from tax's ledger (exact figures from a
hand-made ledger with a reversed payment and a second payment day), the pages reading only the
summary, the drill-down within the caller's area, and the workbook."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import ProgressArea, ProgressDay
from collection.progress import progress_dashboard, progress_refresh
from tests.collection.support import AMOUNT, LATE_AMOUNT, QINBI, TUNLI, YEAR, due, payer

pytestmark = pytest.mark.django_db

XICUN = "141002100202"
TOWNSHIP = "141002100000"
COUNTY = "141002000000"
DAY_ONE, DAY_TWO = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def ledger(world):
    """屯里村: A paid (WeChat, day one); B paid in cash on day one, reversed, paid again by WeChat on
    day two; C due; D withdrawn (the government pays). 西村: E paid in cash on day two; F due.
    秦壁村 (another county): G paid by WeChat on day two."""
    accounts_services.region_create(code=XICUN, name="西村", parent=world.regions["tunli"])
    tax_a = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    tax_b = Scope.for_user_id(world.user_for(Role.TAX_STAFF, "b").pk)
    items = {}
    for key, person, region, status in (
        ("A", "141002198001010011", TUNLI, "due"),
        ("B", "141002198001010022", TUNLI, "due"),
        ("C", "141002198001010033", TUNLI, "due"),
        ("D", "141002198001010044", TUNLI, "cancelled"),
        ("E", "141002198001010055", XICUN, "due"),
        ("F", "141002198001010066", XICUN, "due"),
        ("G", "141024198001010077", QINBI, "due"),
    ):
        payer(key, person, region)
        items[key] = due(person, region=region, status=status)

    def pay(scope, key, channel, day):  # type: ignore[no-untyped-def]
        return services.payment_record(
            scope=scope,
            due_item_id=items[key].pk,
            amount_fen=AMOUNT,
            channel=channel,
            paid_by=key,
            paid_at=_at(day),
            backdate_limit=None,  # a month of collection, made up today
        ).payment

    pay(tax_a, "A", "wechat", DAY_ONE)
    mistaken = pay(tax_a, "B", "counter_cash", DAY_ONE)
    services.payment_reverse(scope=tax_a, payment_id=mistaken.pk, reason="收错人")
    pay(tax_a, "B", "wechat", DAY_TWO)
    pay(tax_a, "E", "counter_cash", DAY_TWO)
    pay(tax_b, "G", "wechat", DAY_TWO)
    progress_refresh()
    return items


def _areas(board):  # type: ignore[no-untyped-def]
    return [
        (row.code, row.persons_due, row.persons_paid, row.due_fen, row.paid_fen, row.persons_withdrawn)
        for row in board.children
    ]


def test_given_the_ledger_when_the_county_opens_the_dashboard_then_the_reversed_payment_counts_nowhere(
    world, ledger
):
    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)

    board = progress_dashboard(scope=scope, code=None, year=YEAR)

    area = board.area
    assert (area.code, area.persons_due, area.persons_paid, area.due_fen, area.paid_fen, area.persons_withdrawn) == (
        COUNTY, 5, 3, 5 * AMOUNT, 3 * AMOUNT, 1,
    )  # fmt: skip
    assert _areas(board) == [(TOWNSHIP, 5, 3, 5 * AMOUNT, 3 * AMOUNT, 1)]


def test_given_the_ledger_when_drilling_down_to_the_township_then_each_village_has_its_figures(world, ledger):
    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)

    board = progress_dashboard(scope=scope, code=TOWNSHIP, year=YEAR)

    assert _areas(board) == [
        (TUNLI, 3, 2, 3 * AMOUNT, 2 * AMOUNT, 1),
        (XICUN, 2, 1, 2 * AMOUNT, AMOUNT, 0),
    ]
    assert [name for _code, name in board.path] == ["尧都区", "屯里镇"]


def test_given_the_ledger_then_the_days_hold_each_channel_and_the_reversal_is_gone(world, ledger):
    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)

    board = progress_dashboard(scope=scope, code=None, year=YEAR, date_from=DAY_ONE, date_to=DAY_TWO)

    assert [value for value, _label in board.channels] == ["counter_cash", "wechat"]
    assert [(day.day, day.by_channel) for day in board.days] == [
        (DAY_ONE, {"counter_cash": (0, 0), "wechat": (1, AMOUNT)}),
        (DAY_TWO, {"counter_cash": (1, AMOUNT), "wechat": (1, AMOUNT)}),
    ]


def test_given_the_ledger_when_the_city_administrator_looks_then_each_county_is_a_row(world, ledger):
    scope = Scope.for_user_id(world.user_for(Role.ADMINISTRATOR).pk)

    board = progress_dashboard(scope=scope, code=None, year=YEAR)

    assert _areas(board) == [
        (COUNTY, 5, 3, 5 * AMOUNT, 3 * AMOUNT, 1),
        ("141024000000", 1, 1, AMOUNT, AMOUNT, 0),
    ]
    assert (board.area.persons_due, board.area.persons_paid) == (6, 4)


def test_given_an_unchanged_ledger_when_refreshed_again_then_nothing_is_written(ledger):
    again = progress_refresh()

    assert (again.written, again.deleted) == (0, 0)


def test_given_a_payment_reversed_after_a_refresh_when_refreshed_then_its_day_and_channel_disappear(
    world, ledger
):
    tax_a = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    cash = services.payment_record(
        scope=tax_a, due_item_id=ledger["C"].pk, amount_fen=AMOUNT, channel="alipay", paid_by="C",
        paid_at=_at(dt.date(2026, 11, 22)), backdate_limit=None,
    ).payment  # fmt: skip
    progress_refresh()
    services.payment_reverse(scope=tax_a, payment_id=cash.pk, reason="重复缴费")

    progress_refresh()

    assert not ProgressDay.objects.filter(channel="alipay").exists()
    village = ProgressArea.objects.get(level=5, area_code=TUNLI, insurance_year=YEAR)
    assert (village.persons_paid, village.paid_fen) == (2, 2 * AMOUNT)


@pytest.fixture
def tax_client(world, client, settings):
    client.force_login(world.user_for(Role.TAX_STAFF))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_given_the_dashboard_when_requested_then_its_queries_read_only_the_summary_and_region_names(
    ledger, tax_client
):
    url = reverse("collection:progress-area", args=[TOWNSHIP])
    with CaptureQueriesContext(connection) as captured:
        page = tax_client.get(url, {"year": YEAR, "from": "2026-11-01", "to": "2026-11-30"})

    assert page.status_code == 200
    tables = {
        table
        for query in captured.captured_queries
        for table in re.findall(r'(?:FROM|JOIN)\s+"(\w+)"', query["sql"])
    }
    assert tables == {
        "django_session",
        "accounts_user",
        "accounts_agency",
        "accounts_region",
        "collection_progressarea",
        "collection_progressday",
        "collection_progressrefresh",
    }


def test_given_the_dashboard_then_it_draws_the_ring_the_bars_with_the_target_and_the_days(ledger, tax_client):
    page = tax_client.get(
        reverse("collection:progress"), {"year": YEAR, "from": "2026-11-20", "to": "2026-11-21"}
    )

    html = page.content.decode()
    assert html.count('class="chart chart-ring"') == 2
    assert html.count('class="chart chart-bars"') == 2
    assert html.count('class="target"') == 2
    assert 'class="chart chart-columns"' in html
    assert '<text class="tick axis-unit" x="58" y="22" text-anchor="end">yuan</text>' in html
    assert "60.0%" in html  # 3 of 5 persons
    assert 'style="' not in html


def test_given_another_countys_area_when_asked_for_then_it_is_not_found(ledger, tax_client):
    assert tax_client.get(reverse("collection:progress-area", args=["141024100000"])).status_code == 404


def test_given_the_refresh_button_without_an_area_then_it_is_refused(tax_client):
    assert tax_client.post(reverse("collection:progress"), {}).status_code == 400


def test_given_the_dashboard_when_exported_then_the_workbook_has_the_areas_and_the_days(ledger, tax_client):
    response = tax_client.get(
        reverse("collection:progress-area-xlsx", args=[TOWNSHIP]),
        {"year": YEAR, "from": "2026-11-20", "to": "2026-11-21"},
    )

    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    areas = [list(row) for row in book["Per area"].iter_rows(min_row=3, values_only=True)]
    assert areas == [
        ["Area", "Region code", "Persons due", "Persons paid", "Persons (%)", "Money due (yuan)", "Money paid (yuan)", "Money (%)", "Not due through tax"],
        ["屯里村", TUNLI, 3, 2, 66.7, 1200, 800, 66.7, 1],
        ["西村", XICUN, 2, 1, 50.0, 800, 400, 50.0, 0],
        ["Total", TOWNSHIP, 5, 3, 60.0, 2000, 1200, 60.0, 1],
    ]  # fmt: skip
    days = [list(row) for row in book["Per day"].iter_rows(min_row=2, values_only=True)]
    assert days[1:] == [
        [dt.datetime(2026, 11, 20), 0, 0, 1, 400, 1, 400],
        [dt.datetime(2026, 11, 21), 1, 400, 1, 400, 2, 800],
    ]


@pytest.fixture
def paid_late(world):
    """屯里村: A owes 400 yuan on time and paid 450 yuan late (the late price); B owes 400 yuan, unpaid."""
    today = timezone.localdate()
    late = [
        {"from": (today - dt.timedelta(days=90)).isoformat(), "to": (today - dt.timedelta(days=31)).isoformat(),
         "amount_fen": AMOUNT, "subsidy_fen": 0, "rule": "on_time"},
        {"from": (today - dt.timedelta(days=30)).isoformat(), "to": (today + dt.timedelta(days=30)).isoformat(),
         "amount_fen": LATE_AMOUNT, "subsidy_fen": 0, "rule": "late"},
    ]  # fmt: skip
    payer("A", "141002198001010011")
    payer("B", "141002198001010022")
    item = due("141002198001010011", schedule=late)
    due("141002198001010022", schedule=late)
    services.payment_record(
        scope=Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk),
        due_item_id=item.pk,
        amount_fen=LATE_AMOUNT,
        channel="counter_cash",
        paid_by="A",
    )
    progress_refresh()


def test_given_a_payment_at_the_late_price_when_refreshed_then_money_due_counts_what_was_paid(
    world, paid_late
):
    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)

    board = progress_dashboard(scope=scope, code=TOWNSHIP, year=YEAR)

    (village,) = board.children
    assert (village.code, village.due_fen, village.paid_fen, village.money_percent) == (
        TUNLI, 85000, 45000, "52.9",
    )  # fmt: skip
    assert (board.area.due_fen, board.area.paid_fen, board.area.money_percent) == (85000, 45000, "52.9")


def test_given_a_payment_at_the_late_price_then_the_page_the_chart_and_the_workbook_show_the_same_figures(
    paid_late, tax_client
):
    query = {"year": YEAR}

    html = tax_client.get(reverse("collection:progress-area", args=[TOWNSHIP]), query).content.decode()
    response = tax_client.get(reverse("collection:progress-area-xlsx", args=[TOWNSHIP]), query)

    row = html[html.index('data-testid="area-row"') :].split("</tr>")[0]
    assert f'data-code="{TUNLI}"' in row and 'data-due-fen="85000" data-paid-fen="45000"' in row
    assert '<td class="num">850.00</td><td class="num">450.00</td><td class="num">52.9%</td>' in row
    assert "52.9%  (¥450.00)" in html  # the money chart's bar
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    areas = [list(row) for row in book["Per area"].iter_rows(min_row=4, values_only=True)]
    assert areas == [
        ["屯里村", TUNLI, 2, 1, 50.0, 850, 450, 52.9, 0],
        ["Total", TOWNSHIP, 2, 1, 50.0, 850, 450, 52.9, 0],
    ]


# Before the first day and after the last a date can hold, and a day that does not exist.
BAD_DAYS = [
    {"to": "0001-01-05"},
    {"from": "0001-01-05"},
    {"to": "9999-12-31"},
    {"from": "9999-12-31", "to": "9999-12-31"},
    {"to": "2026-11-31"},
]


@pytest.mark.parametrize("days", BAD_DAYS)
def test_given_a_day_out_of_range_when_the_dashboard_is_asked_for_then_it_shows_the_default_days(
    ledger, tax_client, days
):
    page = tax_client.get(reverse("collection:progress"), {"year": YEAR, **days})

    assert page.status_code == 200
    board = page.context["board"]
    assert (board.date_from, board.date_to) == (DAY_TWO - dt.timedelta(days=29), DAY_TWO)


@pytest.mark.parametrize("days", BAD_DAYS)
def test_given_a_day_out_of_range_when_the_dashboard_is_exported_then_the_workbook_has_the_default_days(
    ledger, tax_client, days
):
    response = tax_client.get(reverse("collection:progress-xlsx"), {"year": YEAR, **days})

    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert response.status_code == 200
    assert next(book["Per day"].iter_rows(values_only=True))[2:] == (
        str(DAY_TWO - dt.timedelta(days=29)),
        str(DAY_TWO),
    )
