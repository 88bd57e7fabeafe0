"""Subsidy fund totals, insurance → finance: computed from the assessments in one GROUP BY (what
counts and what does not), sent as ``subsidy.fund_totals`` version 2, kept by finance (the newest
per county and year replaces the older, lines and all), shown and exported in finance's area; and
finance's transfers per month from its own record of the plans."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.roles import Role
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.fund_totals import fund_totals, fund_totals_send
from enrollment.models import Assessment
from enrollment.policies import policy_save
from refunds.finance.handlers import record_subsidy_funds
from refunds.finance.models import PlanStatus, ReceivedPlan, SubsidyFunds
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from sharing.services import message_send
from subsidies.services import subsidy_tag_add
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person

pytestmark = pytest.mark.django_db

YEAR = 2027
COUNTY = "141002000000"
DIBAO_FEN = 16000  # the Linfen preset's fixed 160 yuan
STANDARD_FEN = 40000  # tekun: the whole individual contribution


@pytest.fixture
def no_nudge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)


def _enrolled(sequence: int):  # type: ignore[no-untyped-def]
    person = make_person(
        TUNLI, name=f"人{sequence}", id_number=resident_id(address="141002", sequence=f"{sequence:03d}")
    )
    make_enrollment(person)
    return person


@pytest.fixture
def assessed(world, no_nudge, monkeypatch):
    """尧都区 2027: three dibao (one of them refunded), one tekun (paid by the government), one
    without subsidy, one dibao cancelled."""
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: dt.date(2026, 11, 20))
    policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")
    people = {n: _enrolled(n) for n in range(1, 7)}
    for n in (1, 2, 3, 6):
        subsidy_tag_add(person=people[n], category="dibao", source="民政", valid_from=dt.date(2026, 1, 1))
    subsidy_tag_add(person=people[4], category="tekun", source="民政", valid_from=dt.date(2026, 1, 1))
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    Assessment.objects.filter(person=people[3]).update(status="refunded")
    Assessment.objects.filter(person=people[6]).update(status="cancelled")
    return people


def test_given_assessments_then_the_totals_count_due_paid_and_government_but_not_cancelled_or_refunded(
    assessed,
):
    (county,) = fund_totals(years=[YEAR])

    assert (county.county_code, county.insurance_year) == ("141002", YEAR)
    assert [(c.category, c.name, c.person_count, c.amount_fen) for c in county.categories] == [
        ("dibao", "城乡低保对象", 2, 2 * DIBAO_FEN),
        ("tekun", "特困供养人员", 1, STANDARD_FEN),
    ]


def _deliver_funds() -> None:
    ids = list(
        OutboxMessage.objects.filter(topic="subsidy.fund_totals").order_by("id").values_list("id", flat=True)
    )
    record_subsidy_funds(Batch(topic="subsidy.fund_totals", ids=ids))


def _held() -> list[tuple]:
    return [
        (report.region_code, report.insurance_year, report.person_count, report.amount_fen,
         sorted((line.category, line.person_count, line.amount_fen) for line in report.lines.all()))
        for report in SubsidyFunds.objects.order_by("region_code", "insurance_year")
    ]  # fmt: skip


def test_given_the_totals_sent_and_delivered_then_finance_holds_each_category(assessed):
    assert fund_totals_send(years=[YEAR]) == 1

    _deliver_funds()

    assert _held() == [
        (COUNTY, YEAR, 3, 2 * DIBAO_FEN + STANDARD_FEN, [("dibao", 2, 32000), ("tekun", 1, 40000)])
    ]


def _report(as_of: str, categories: list[tuple[str, int, int]]) -> None:
    message_send(
        topic="subsidy.fund_totals",
        payload={
            "region_code": COUNTY, "insurance_year": YEAR, "as_of": as_of,
            "person_count": sum(c[1] for c in categories), "amount_fen": sum(c[2] for c in categories),
            "categories": [{"category": c, "name": c, "person_count": n, "amount_fen": f} for c, n, f in categories],
        },
    )  # fmt: skip


def test_given_a_newer_report_without_a_category_then_the_category_disappears(world, no_nudge):
    _report("2026-11-20T10:00:00+08:00", [("dibao", 2, 32000), ("tekun", 1, 40000)])
    _deliver_funds()
    OutboxMessage.objects.all().delete()
    _report("2026-11-21T10:00:00+08:00", [("dibao", 3, 48000)])

    _deliver_funds()

    assert _held() == [(COUNTY, YEAR, 3, 48000, [("dibao", 3, 48000)])]


def test_given_an_older_report_arriving_late_then_finance_keeps_the_newer(world, no_nudge):
    _report("2026-11-21T10:00:00+08:00", [("dibao", 3, 48000)])
    _deliver_funds()
    OutboxMessage.objects.all().delete()
    _report("2026-11-20T10:00:00+08:00", [("tekun", 1, 40000)])

    _deliver_funds()

    assert _held() == [(COUNTY, YEAR, 3, 48000, [("dibao", 3, 48000)])]


@pytest.fixture
def reported(world, no_nudge):
    _report("2026-11-21T10:00:00+08:00", [("dibao", 2, 32000), ("tekun", 1, 40000)])
    message_send(
        topic="subsidy.fund_totals",
        payload={
            "region_code": "141024000000", "insurance_year": YEAR, "as_of": "2026-11-21T10:00:00+08:00",
            "person_count": 5, "amount_fen": 80000,
            "categories": [{"category": "dibao", "name": "城乡低保对象", "person_count": 5, "amount_fen": 80000}],
        },
    )  # fmt: skip
    _deliver_funds()


@pytest.fixture
def finance_client(world, client, settings):
    client.force_login(world.user_for(Role.FINANCE_STAFF))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_given_two_counties_reported_then_finance_of_one_county_sees_only_its_own(reported, finance_client):
    page = finance_client.get(reverse("finance:subsidy-funds"))

    funds = page.context["funds"]
    assert [(c.county_code, c.person_count, c.amount_fen) for c in funds.counties] == [("141002", 3, 72000)]
    html = page.content.decode()
    assert html.count('class="chart chart-bars"') == 2
    assert 'style="' not in html


def test_given_a_category_of_one_person_then_its_bar_says_1_person_and_the_others_persons(
    reported, finance_client
):
    html = finance_client.get(reverse("finance:subsidy-funds")).content.decode()

    assert '<text class="value" x="575.0" y="59.0">¥400.00 · 1 person</text>' in html
    assert "<title>dibao: ¥320.00 · 2 persons</title>" in html
    assert "1 persons" not in html


def test_given_two_counties_reported_then_the_city_administrator_sees_both_per_category(
    reported, world, client
):
    client.force_login(world.user_for(Role.ADMINISTRATOR))

    funds = client.get(reverse("finance:subsidy-funds")).context["funds"]

    assert funds.per_category() == [("dibao", "dibao", 7, 112000), ("tekun", "tekun", 1, 40000)]


def test_given_the_funds_when_exported_then_each_county_and_category_is_a_row(reported, finance_client):
    response = finance_client.get(reverse("finance:subsidy-funds-xlsx"), {"year": YEAR})

    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = [list(row)[:6] for row in book.worksheets[0].iter_rows(min_row=3, values_only=True)]
    assert rows == [
        ["141002", "尧都区", "dibao", "dibao", 2, 320],
        ["141002", "尧都区", "tekun", "tekun", 1, 400],
        [None, "Total", None, None, 3, 720],
    ]


def _plan(world, plan_id: int, county: str, refunds: int, fen: int, on: dt.date | None):  # type: ignore[no-untyped-def]
    finance = world.user_for(Role.FINANCE_STAFF)
    now = timezone.now()
    transferred = on is not None
    return ReceivedPlan.objects.create(
        plan_id=plan_id, region_code=county, period=f"{YEAR - 1}-10", refund_count=refunds, amount_fen=fen,
        received_at=now, source_message_id=plan_id,
        status=PlanStatus.TRANSFERRED if transferred else PlanStatus.APPROVED,
        decided_by=finance, decided_at=now,
        transferred_by=finance if transferred else None, transferred_at=now if transferred else None,
        transferred_on=on, voucher=f"V{plan_id}" if transferred else "",
    )  # fmt: skip


def test_given_transferred_plans_then_each_month_and_county_has_its_plans_refunds_and_money(
    world, finance_client
):
    _plan(world, 1, COUNTY, 3, 1200, dt.date(2026, 10, 5))
    _plan(world, 2, COUNTY, 2, 800, dt.date(2026, 10, 28))
    _plan(world, 3, COUNTY, 1, 400, dt.date(2026, 11, 2))
    _plan(world, 4, COUNTY, 5, 2000, None)  # approved, not transferred yet
    _plan(world, 5, "141024000000", 1, 500, dt.date(2026, 10, 6))  # another county

    page = finance_client.get(reverse("finance:transfers"), {"year": 2026})

    assert [
        (row.month, row.county_code, row.plans, row.refunds, row.amount_fen)
        for row, _a in page.context["rows"]
    ] == [
        (dt.date(2026, 10, 1), "141002", 2, 5, 2000),
        (dt.date(2026, 11, 1), "141002", 1, 1, 400),
    ]
    assert 'class="chart chart-columns"' in page.content.decode()
    workbook = finance_client.get(reverse("finance:transfers-xlsx"), {"year": 2026})
    book = load_workbook(io.BytesIO(b"".join(workbook.streaming_content)), read_only=True)
    assert [list(r) for r in book.worksheets[0].iter_rows(min_row=3, values_only=True)] == [
        ["2026-10", "141002", "尧都区", 2, 5, 20],
        ["2026-11", "141002", "尧都区", 1, 1, 4],
        ["Total", None, None, 3, 6, 24],
    ]


def test_given_a_yearly_run_when_it_finishes_then_finance_is_told_that_county_and_year(
    world, no_nudge, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: queued.append(kwargs))
    policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")
    _enrolled(1)

    with django_capture_on_commit_callbacks(execute=True):
        assessment_run_now(county_code="141002", insurance_year=YEAR)

    assert queued == [{"county_code": "141002", "years": [YEAR]}]


@pytest.mark.parametrize(("language", "unit"), [("en", "yuan"), ("zh-hans", "元")])
def test_given_transferred_plans_then_the_charts_money_axis_says_its_unit_in_the_language(
    world, finance_client, settings, language, unit
):
    _plan(world, 1, COUNTY, 3, 1200, dt.date(2026, 10, 5))
    finance_client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = finance_client.get(reverse("finance:transfers"), {"year": 2026}).content.decode()

    assert f'<text class="tick axis-unit" x="58" y="22" text-anchor="end">{unit}</text>' in html
    assert f"<title>2026-10 尧都区: 12 {unit}</title>" in html
