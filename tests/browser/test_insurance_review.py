"""County insurance staff at work in a real Chromium: the queue, approving and rejecting a
household, the person's timeline with a suspension and its evidence, a transfer in; and the
village clerk seeing the rejection reason in a second browser context.

Households are submitted through the services by the village clerk, as the registration pages
would; every check reads data-testid hooks or data, so it holds in Chinese and in English.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.scope import Scope
from enrollment import services
from enrollment.models import Enrollment, Person, PersonCategory, RegistrationApplication, Relation
from tests.addresses import ID_NUMBER, record_addresses
from tests.browser_fixtures import CSP_LISTENER, SCREENSHOTS, VIEWPORT, PageLog, full_page_screenshot
from tests.conftest import PASSWORD, World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import PNG_BYTES, QINBI, TUNLI, make_enrollment, make_person

pytestmark = pytest.mark.browser


def _member(sequence: int, name: str, relation: str) -> services.MemberInput:
    return services.MemberInput(
        id_kind="resident_id",
        id_number=resident_id(address="141002", birth="19800101", sequence=f"{sequence:03d}"),
        name=name,
        sex="male" if sequence % 2 else "female",
        birth_date=dt.date(1980, 1, 1),
        relation=relation,
        category=PersonCategory.RURAL,
        phone="13912345678",
    )


def _submit(world: World, *members: services.MemberInput) -> RegistrationApplication:
    return services.household_register(
        scope=Scope.for_user_id(world.users["clerk_a"].pk), region_code=TUNLI, members=list(members)
    )


def _path(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url).split("?")[0]


def _sign_in_elsewhere(browser: Browser, base_url: str, username: str, log: PageLog) -> Page:
    """A second person at another desk: their own browser context and session."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url, locale="zh-CN")
    context.add_init_script(CSP_LISTENER)
    tab = context.new_page()
    tab.on("console", log.on_console)
    tab.goto("/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", PASSWORD)
    with tab.expect_navigation():
        tab.press("#id_password", "Enter")
    return tab


def test_given_two_submitted_households_when_insurance_approves_one_and_rejects_the_other_then_the_clerk_sees_why(
    page, sign_in, shoot, page_log, browser, live_server, transactional_world
):
    world = transactional_world
    approved = _submit(world, _member(11, "王大山", Relation.HEAD), _member(22, "李秀英", Relation.SPOUSE))
    rejected = _submit(world, _member(33, "张三", Relation.HEAD))
    page.on("dialog", lambda dialog: dialog.accept())

    sign_in("insurance_a")
    page.goto(reverse("enrollment:application-queue"))

    rows = page.locator("[data-testid=application-row]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-household", approved.household.number)  # oldest first
    expect(page.locator("[data-testid=count-submitted]")).to_have_text("2")
    expect(rows.first).to_contain_text("屯里村")
    expect(rows.first).to_contain_text("村经办a")
    shoot("1-queue")

    rows.first.get_by_role("link").click()
    expect(page.locator("[data-testid=member-row]")).to_have_count(2)
    expect(page.locator("[data-testid=member-table]")).to_contain_text(
        approved.persons.get(name="王大山").id_number
    )
    expect(page.locator("#id_enrollment_date")).to_have_value(timezone.localdate().isoformat())
    page.fill("#id_enrollment_date", "2026-03-01")
    shoot("2-decision")
    page.locator("[data-testid=approve-form] button[type=submit]").click()

    expect(page.locator(".message.success")).to_be_visible()
    assert _path(page) == reverse("enrollment:application-queue")
    expect(page.locator("[data-testid=application-row]")).to_have_count(1)
    shoot("3-queue-after-approval")

    husband = Person.objects.get(name="王大山")
    page.goto(reverse("enrollment:person-detail", args=[husband.pk]))
    expect(page.locator("[data-testid=enrollment-row]")).to_have_attribute("data-status", "normal")
    expect(page.locator("[data-testid=timeline-item]")).to_have_attribute("data-kind", "registered")
    shoot("4-person-enrolled")
    assert sorted(Enrollment.objects.values_list("person__name", "status", "enrolled_on")) == [
        ("李秀英", "normal", dt.date(2026, 3, 1)),
        ("王大山", "normal", dt.date(2026, 3, 1)),
    ]

    page.goto(reverse("enrollment:application-detail", args=[rejected.pk]))
    page.fill("#id_reject_reason", "户口簿与身份证姓名不一致，请核对")
    page.locator("[data-testid=reject-form] button[type=submit]").click()
    expect(page.locator(".message.success")).to_be_visible()
    expect(page.locator("[data-testid=application-row]")).to_have_count(0)
    shoot("5-queue-empty")

    clerk = _sign_in_elsewhere(browser, live_server.url, "clerk_a", page_log)
    try:
        try:
            clerk.goto(reverse("enrollment:workspace"))
        except NoReverseMatch:  # the clerk's workspace not built yet: the person's page says it too
            clerk.goto(reverse("enrollment:person-detail", args=[rejected.persons.get().pk]))
        expect(clerk.locator("main")).to_contain_text("户口簿与身份证姓名不一致，请核对")
        full_page_screenshot(clerk, SCREENSHOTS / "clerk-sees-rejection-reason.png")
    finally:
        clerk.context.close()
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_a_normal_enrollment_when_insurance_suspends_it_with_evidence_then_the_timeline_shows_it_with_a_download(
    page, sign_in, shoot, page_log, transactional_world
):
    person = make_person(name="周八")
    enrollment = make_enrollment(person, enrolled_on=dt.date(2025, 1, 1))
    page.on("dialog", lambda dialog: dialog.accept())

    sign_in("insurance_a")
    page.goto(reverse("enrollment:person-detail", args=[person.pk]))
    shoot("1-person")
    with page.expect_navigation(wait_until="load"):  # the page's script listens before a file is chosen
        page.locator("[data-testid=change-suspend]").click()

    page.set_input_files(
        "#id_evidence", files=[{"name": "setup.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}]
    )
    expect(page.locator(".js-evidence-error")).to_be_visible()  # told at once, before sending
    shoot("2-wrong-file")
    page.select_option("#id_reason", "employment")
    page.fill("#id_effective_on", "2026-03-01")
    page.fill("#id_note", "入职临汾某公司，参加职工医保前暂停")
    page.set_input_files(
        "#id_evidence", files=[{"name": "劳动合同.png", "mimeType": "image/png", "buffer": PNG_BYTES}]
    )
    expect(page.locator(".js-evidence-error")).to_be_hidden()
    shoot("3-form")
    page.locator("[data-testid=change-form] button[type=submit]").click()

    assert _path(page) == reverse("enrollment:person-detail", args=[person.pk])
    expect(page.locator("[data-testid=enrollment-row]")).to_have_attribute("data-status", "suspended")
    items = page.locator("[data-testid=timeline-item]")
    expect(items).to_have_count(2)
    expect(items.last).to_have_attribute("data-kind", "suspended")
    expect(items.last).to_contain_text("入职临汾某公司，参加职工医保前暂停")
    expect(items.last).to_contain_text("医保a")
    shoot("4-timeline")

    with page.expect_download() as download:
        items.last.locator("[data-testid=evidence-link]").click()
    assert download.value.suggested_filename.endswith(".png")
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == PNG_BYTES
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.status_changed_on) == ("suspended", dt.date(2026, 3, 1))
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_a_person_enrolled_in_the_other_county_when_insurance_transfers_them_in_then_cover_continues_without_gap(
    page, sign_in, shoot, page_log, transactional_world
):
    person = make_person(
        QINBI, name="吴九", id_number=resident_id(address="141024", birth="19700707", sequence="091")
    )
    make_enrollment(person, enrolled_on=dt.date(2024, 1, 1))

    sign_in("insurance_a")
    page.goto(reverse("enrollment:transfer-in"))
    addresses = record_addresses(page)
    page.fill("#id_lookup", person.id_number)
    with page.expect_navigation():
        page.locator("[data-testid=lookup-form] button").click()  # POSTed: the address holds a key
    assert re.search(r"/enrollment/transfers/new/\?search=[\w-]{12}$", page.url), page.url
    expect(page.locator("[data-testid=found]")).to_contain_text("洪洞县")
    expect(page.locator("[data-testid=found]")).to_contain_text("吴*")
    expect(page.locator("#id_id_number")).to_have_value(person.id_number)
    page.select_option("#id_to_region_code", TUNLI)
    page.fill("#id_effective_on", "2026-07-01")
    shoot("1-transfer-form")
    page.locator("[data-testid=transfer-form] button[type=submit]").click()

    assert _path(page) == reverse("enrollment:person-detail", args=[person.pk])
    expect(page.locator("[data-testid=enrollment-row]")).to_have_count(2)
    expect(page.locator("[data-testid=timeline-item]")).to_have_count(3)
    shoot("2-person-after-transfer")
    assert [address for address in addresses if ID_NUMBER.search(address)] == []
    assert list(
        person.enrollments.order_by("enrolled_on").values_list("status", "enrolled_on", "ended_on")
    ) == [
        ("terminated", dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
        ("normal", dt.date(2026, 7, 1), None),
    ]
    assert page_log.errors == [] and page_log.csp_violations() == []
