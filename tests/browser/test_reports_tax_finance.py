"""Tax's collection-progress dashboard and finance's reports in a real Chromium: the charts are
drawn (server-side SVG, no script), nothing breaks the content-security policy, the drill-down
follows the area's link; screenshots of each page under test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.progress import progress_refresh
from refunds.finance.handlers import record_subsidy_funds
from refunds.finance.models import PlanStatus, ReceivedPlan
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from sharing.services import message_send
from tests.collection.support import AMOUNT, YEAR, due, payer

pytestmark = pytest.mark.browser

CHANNELS = ["wechat", "counter_cash", "alipay", "bank_card"]
VILLAGES = [
    ("141002100201", None),
    ("141002100202", "西关村"),
    ("141002100203", "南街村"),
    ("141002101201", "北城村"),
]


def _ledger(world) -> None:  # type: ignore[no-untyped-def]
    """Four villages of 尧都区 (two townships), 40 persons due, 27 paid over twelve days through four
    channels, one payment reversed."""
    second = accounts_services.region_create(code="141002101", name="北城街道", parent=world.regions["yaodu"])
    for code, name in VILLAGES[1:3]:
        accounts_services.region_create(code=code, name=name, parent=world.regions["tunli"])
    accounts_services.region_create(code=VILLAGES[3][0], name=VILLAGES[3][1], parent=second)
    scope = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    start = dt.date(2026, 11, 10)
    for n in range(40):
        person = f"1410021980010{n:05d}"
        region = VILLAGES[n % 4][0]
        payer(f"人{n}", person, region)
        item = due(person, region=region)
        if n % 3 == 2 and n != 5:
            continue
        day = start + dt.timedelta(days=n % 12)
        paid_at = timezone.make_aware(dt.datetime.combine(day, dt.time(10)))
        payment = services.payment_record(
            scope=scope,
            due_item_id=item.pk,
            amount_fen=AMOUNT,
            channel=CHANNELS[n % 4],
            paid_by="本人",
            paid_at=paid_at,
            backdate_limit=None,
        ).payment
        if n == 5:
            services.payment_reverse(scope=scope, payment_id=payment.pk, reason="收错人")
    progress_refresh()


def _finance(world) -> None:  # type: ignore[no-untyped-def]
    for county, lines in (
        ("141002000000", [("dibao", "城乡低保对象", 812, 812 * 16000), ("tekun", "特困供养人员", 96, 96 * 40000),
                          ("severe_disability", "重度残疾人", 143, 143 * 20000)]),
        ("141024000000", [("dibao", "城乡低保对象", 433, 433 * 16000)]),
    ):  # fmt: skip
        message_send(
            topic="subsidy.fund_totals",
            payload={
                "region_code": county, "insurance_year": YEAR, "as_of": "2026-11-21T03:10:00+08:00",
                "person_count": sum(line[2] for line in lines), "amount_fen": sum(line[3] for line in lines),
                "categories": [{"category": c, "name": n, "person_count": p, "amount_fen": f} for c, n, p, f in lines],
            },
        )  # fmt: skip
    ids = list(OutboxMessage.objects.filter(topic="subsidy.fund_totals").values_list("id", flat=True))
    record_subsidy_funds(Batch(topic="subsidy.fund_totals", ids=ids))
    finance = world.user_for(Role.FINANCE_STAFF)
    now = timezone.now()
    for plan_id, refunds, fen, on in ((1, 4, 160000, dt.date(2026, 9, 8)), (2, 2, 52000, dt.date(2026, 10, 12)),
                                      (3, 6, 240000, dt.date(2026, 11, 3))):  # fmt: skip
        ReceivedPlan.objects.create(
            plan_id=plan_id, region_code="141002000000", period=f"{on:%Y-%m}", refund_count=refunds, amount_fen=fen,
            received_at=now, source_message_id=plan_id, status=PlanStatus.TRANSFERRED, decided_by=finance,
            decided_at=now, transferred_by=finance, transferred_at=now, transferred_on=on, voucher=f"财拨{plan_id}",
        )  # fmt: skip


def test_given_collection_and_finance_figures_when_their_pages_open_then_the_charts_render_without_errors(
    page, sign_in, shoot, page_log, transactional_world
):
    world = transactional_world
    _ledger(world)
    _finance(world)

    sign_in(world.user_for(Role.TAX_STAFF).username)
    page.goto(f"/collection/reports/progress/?year={YEAR}&from=2026-11-08&to=2026-11-23")
    expect(page.get_by_test_id("persons-card")).to_have_attribute("data-paid", "27")
    expect(page.get_by_test_id("persons-card")).to_have_attribute("data-due", "40")
    expect(page.locator("svg.chart-ring")).to_have_count(2)
    expect(page.locator("svg.chart-bars")).to_have_count(2)
    expect(page.locator("[data-testid=days-chart] svg.chart-columns rect")).not_to_have_count(0)
    shoot("county")

    page.get_by_test_id("areas").get_by_role("link", name="屯里镇").click()
    expect(page.get_by_test_id("area-name")).to_have_text("屯里镇")
    expect(page.get_by_test_id("area-row")).to_have_count(3)
    shoot("township")

    page.context.clear_cookies()
    sign_in(world.user_for(Role.FINANCE_STAFF).username)
    page.goto("/finance/subsidies/")
    expect(page.get_by_test_id("funds-total")).to_have_attribute("data-persons", "1051")
    expect(page.locator("svg.chart-bars")).to_have_count(2)
    shoot("subsidy-funds")
    page.goto("/finance/transfers/?year=2026")
    expect(page.get_by_test_id("transfer-row")).to_have_count(3)
    expect(page.locator("[data-testid=transfers-chart] svg.chart-columns rect")).not_to_have_count(0)
    shoot("transfers")

    assert page_log.errors == []
    assert page_log.console == []
