"""The refund pages through the test client: apply (search, form, evidence), the decision shown
on the spot, approve / reject / pay out / withdraw by the right people, a conflict answered 409,
the list's filters and the home page's overdue count. Checks read data-testid hooks."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.scope import Scope
from enrollment.models import Policy
from enrollment.policies import policy_save
from refunds import selectors, services
from refunds.models import RefundApplication, RefundEvidence
from tests.addresses import KeptResponses, searched, urls_of, with_id_numbers
from tests.conftest import World, queued_runs_execute
from tests.matrix.enrollment_review import PDF_BYTES, QINBI, TUNLI
from tests.refunds.support import YEAR, make_refund, paid_person

pytestmark = pytest.mark.django_db


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)<', html, re.S)
    return found.group(1).strip() if found else ""


def _apply(client, person, reason: str = "paid_twice", **files):  # type: ignore[no-untyped-def]
    return client.post(
        "/refunds/apply/",
        {
            "person": person.pk,
            "insurance_year": YEAR,
            "reason": reason,
            "event_on": "2026-10-12",
            "note": "",
            **files,
        },
    )


def test_given_a_clerk_when_searching_then_only_persons_of_the_village_are_offered(world: World, client):
    own = paid_person(TUNLI, "张三")
    paid_person(QINBI, "张四")
    client.force_login(world.users["clerk_a"])

    html = searched(client, "/refunds/apply/", "张", find="1").content.decode()

    assert html.count('data-testid="person-result"') == 1
    assert f"?person={own.pk}" in html


def test_given_the_refund_flow_then_no_id_number_appears_in_any_address_the_pages_give(world: World, client):
    """Find the person by full identifier, identifier prefix and name; choose them; a refused and
    an accepted application; the application, the list: every Location, href and action is free
    of ID numbers."""
    person = paid_person(TUNLI, "李四", deposits=2)
    client.force_login(world.users["clerk_a"])
    responses = KeptResponses()
    keep = responses.keep

    def search(query: str):  # type: ignore[no-untyped-def]
        posted = keep(client.post("/refunds/apply/", {"find": "1", "q": query}))
        return keep(client.get(posted["Location"]))

    pages = [search(person.id_number), search(person.id_number[:10]), search("李四")]
    keep(client.get(f"/refunds/apply/?person={person.pk}"))
    refused = keep(_apply(client, person, reason="no_such_reason"))
    applied = keep(_apply(client, person))
    keep(client.get(applied["Location"]))
    keep(client.get("/refunds/"))

    assert [[row["person"].pk for row in page.context["found"]] for page in pages] == [[person.pk]] * 3
    assert [page.context["query"] for page in pages] == [person.id_number, person.id_number[:10], "李四"]
    assert person.id_number in pages[0].content.decode()  # shown in the page, not in an address
    assert (refused.status_code, applied.status_code) == (400, 302)
    assert RefundApplication.objects.filter(person=person).count() == 1
    assert len(responses) == 11
    assert sum(len(urls_of(response)) for response in responses) > 60
    assert with_id_numbers(responses) == []


def test_given_an_empty_search_then_the_finder_asks_for_something_to_search(world: World, client):
    client.force_login(world.users["clerk_a"])

    response = client.post("/refunds/apply/", {"find": "1", "q": " "})

    assert response.status_code == 400
    assert _testid(response.content.decode(), "search-notice") == "请输入参保识别码或姓名后再查询。"
    assert RefundApplication.objects.count() == 0


def test_given_a_search_key_of_another_session_or_user_then_the_finder_asks_to_search_again(
    world: World, client
):
    paid_person(TUNLI, "李四")
    client.force_login(world.users["clerk_a"])
    kept = client.post("/refunds/apply/", {"find": "1", "q": "李四"})["Location"]
    elsewhere, other_user = Client(), Client()
    elsewhere.force_login(world.users["clerk_a"])
    other_user.force_login(world.users["clerk_b"])

    pages = [elsewhere.get(kept), other_user.get(kept), client.get("/refunds/apply/?search=forgotten123")]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert [(page.context["query"], page.context["found"]) for page in pages] == [("", [])] * 3
    assert [_testid(page.content.decode(), "search-notice") for page in pages] == [
        "这次查询已不再保留，请重新查询。"
    ] * 3
    assert ["李四" in page.content.decode() for page in pages] == [False] * 3
    assert client.get(kept).context["query"] == "李四"  # the session that searched still has it


def test_given_an_agency_error_application_then_its_page_shows_no_note_on_paying_twice(world: World, client):
    # given: Linfen's rules, whose one refund note is the paid-twice reason's ("重复缴费可申请退费…")
    person = paid_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    # when: the clerk applies for a refund for an agency's error and opens the application
    response = _apply(client, person, reason="agency_error")
    html = client.get(response["Location"]).content.decode()

    # then: refundable, under the agency-error rule, with no policy note (none of its own)
    assert 'data-refundable="yes"' in html
    assert 'data-rule="refunds.reasons.agency_error"' in html
    assert 'data-testid="policy-note"' not in html and "重复缴费可申请退费" not in html


def test_given_a_note_of_the_agency_error_reason_then_its_application_shows_that_note_alone(
    world: World, client
):
    # given: the city's rules give the agency-error reason a note of its own
    paid_person(TUNLI)  # stores the Linfen rules for 临汾市
    record = Policy.objects.get(code="refund-test-141000")
    document = dict(record.document)
    document["refunds"] = {
        **document["refunds"],
        "reason_notes": {**document["refunds"]["reason_notes"], "agency_error": "经办差错多缴的，核实后退还"},
    }
    policy_save(document=document, note="经办差错退费的说明")
    queued_runs_execute()  # the county's reassessment the new version queues
    person = paid_person(TUNLI, "李四")
    client.force_login(world.users["clerk_a"])

    # when: the clerk applies for a refund for an agency's error and opens the application
    html = client.get(_apply(client, person, reason="agency_error")["Location"]).content.decode()

    # then: the page shows the agency-error note, not the paid-twice one
    assert _testid(html, "policy-note") == "经办差错多缴的，核实后退还"
    assert "重复缴费可申请退费" not in html


def test_given_a_clerk_when_applying_with_evidence_then_the_detail_shows_the_rule_and_the_timeline(
    world: World, client
):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["clerk_a"])
    assert (
        f'<option value="{YEAR}" selected>'
        in client.get(f"/refunds/apply/?person={person.pk}").content.decode()
    )

    response = _apply(client, person, evidence=SimpleUploadedFile("second.pdf", PDF_BYTES, "application/pdf"))

    application = RefundApplication.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/refunds/{application.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert 'data-refundable="yes"' in html
    assert _testid(html, "engine-rule") == "重复缴费：均可退费"
    assert 'data-rule="refunds.reasons.paid_twice"' in html
    assert _testid(html, "policy-note") == "重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由"
    assert _testid(html, "refund-amount") == "400.00元"
    assert html.count('data-testid="timeline-event"') == 1
    assert 'data-testid="withdraw-form"' in html and 'data-testid="approve-form"' not in html
    evidence = RefundEvidence.objects.get()
    assert client.get(f"/refunds/evidence/{evidence.pk}/").getvalue() == PDF_BYTES


def test_given_a_death_in_linfen_when_the_clerk_applies_then_the_reason_is_shown_on_the_spot(
    world: World, client
):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["clerk_a"])

    response = _apply(client, person, "death")

    html = client.get(response["Location"]).content.decode()
    application = RefundApplication.objects.get()
    assert application.status == "rejected"
    assert 'data-refundable="no"' in html and 'data-status="rejected"' in html
    assert application.rule_reason in html  # in the flash message and in the rules' box
    assert html.count(application.rule_reason) >= 2
    assert 'data-testid="steps"' not in html


def _refused_as_recorded_before(world: World) -> RefundApplication:
    """A paid-twice refusal as the demo's /refunds/7/ holds it: the reason stored with the policy's
    general note glued on, as the engine wrote it before it kept the note apart."""
    application = make_refund(TUNLI, world.users["clerk_a"])
    glued = (
        "不予退费：医保经办机构入库记录中，该参保人本年度只有1笔缴费，重复缴费须有2笔以上入库记录"
        "；重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由"
    )
    RefundApplication.objects.filter(pk=application.pk).update(
        status="rejected", refundable=False, rule="refunds.reasons.paid_twice.deposits",
        rule_reason=glued, decision_note=glued, decided_at=dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC),
    )  # fmt: skip
    return application


def test_given_a_refusal_stored_with_the_policy_note_glued_on_when_shown_then_the_reason_stands_alone_in_words(
    world: World, client
):
    application = _refused_as_recorded_before(world)
    client.force_login(world.users["insurance_a"])

    html = client.get(f"/refunds/{application.pk}/").content.decode()

    assert _testid(html, "engine-reason") == (
        "不予退费：医保经办机构入库记录中，该参保人本年度只有1笔缴费，重复缴费须有2笔以上入库记录"
    )
    assert "重复缴费可申请退费" not in html  # the general note would contradict the refusal
    assert (
        _testid(html, "engine-rule")
        == "重复缴费：须经医保入库记录核验，本年度除保留的一笔外还有入库缴费方可退还"
    )
    assert 'data-rule="refunds.reasons.paid_twice.deposits"' in html
    assert 'data-testid="decision-note"' not in html  # the rules' reason, not said twice


def test_given_english_when_a_refusal_is_shown_then_its_rule_reads_in_english(world: World, client, settings):
    application = _refused_as_recorded_before(world)
    client.force_login(world.users["insurance_a"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    html = client.get(f"/refunds/{application.pk}/").content.decode()

    assert _testid(html, "engine-rule") == (
        "Paid twice: refunded only when insurance&#x27;s deposit records hold a payment beyond the one "
        "the year keeps"
    )


def test_given_an_unpaid_year_when_posted_then_the_form_says_so_with_400(world: World, client):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/refunds/apply/",
        {"person": person.pk, "insurance_year": 2026, "reason": "paid_twice", "event_on": "2026-10-12"},
    )

    assert response.status_code == 400
    assert RefundApplication.objects.count() == 0


def test_given_insurance_staff_when_approving_and_paying_out_then_the_page_shows_the_payout(
    world: World, client
):
    application = make_refund(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])
    html = client.get(f"/refunds/{application.pk}/").content.decode()
    assert 'data-testid="approve-form"' in html and 'data-testid="reject-form"' in html
    assert 'data-testid="withdraw-form"' not in html

    assert client.post(f"/refunds/{application.pk}/", {"step": "approve"}).status_code == 302
    assert (
        client.post(f"/refunds/{application.pk}/", {"step": "pay_out", "bank_reference": ""}).status_code
        == 400
    )
    assert (
        client.post(f"/refunds/{application.pk}/", {"step": "pay_out", "bank_reference": "B-77"}).status_code
        == 302
    )

    html = client.get(f"/refunds/{application.pk}/").content.decode()
    assert 'data-status="paid_out"' in html and "B-77" in html
    assert [m for m in re.findall(r'data-testid="timeline-event" data-action="(\w+)"', html)] == [
        "apply",
        "approve",
        "pay_out",
    ]


def test_given_a_decided_application_when_approved_again_from_a_stale_page_then_409_naming_the_decider(
    world: World, client
):
    application = make_refund(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])
    client.post(f"/refunds/{application.pk}/", {"step": "reject", "reason": "收据不清"})

    response = client.post(f"/refunds/{application.pk}/", {"step": "approve"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    assert "医保a" in _testid(response.content.decode(), "step-error")


def test_given_insurance_staff_who_applied_then_the_page_offers_no_decision_and_says_why(
    world: World, client
):
    application = make_refund(TUNLI, world.users["insurance_a"])
    client.force_login(world.users["insurance_a"])

    html = client.get(f"/refunds/{application.pk}/").content.decode()
    refused = client.post(f"/refunds/{application.pk}/", {"step": "approve"})

    assert 'data-testid="four-eyes"' in html and 'data-testid="approve-form"' not in html
    assert refused.status_code == 400
    application.refresh_from_db()
    assert application.status == "submitted"


def test_given_an_overdue_application_then_the_list_filter_and_the_home_page_show_it(world: World, client):
    late = make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2099, 1, 5))
    make_refund(QINBI, world.users["clerk_b"], due_on=dt.date(2026, 1, 5))  # another county
    client.force_login(world.users["insurance_a"])

    overdue = client.get("/refunds/?overdue=1").content.decode()
    every = client.get("/refunds/").content.decode()
    home = client.get("/").content.decode()

    assert re.findall(r'data-testid="refund-row" data-pk="(\d+)"', overdue) == [str(late.pk)]
    assert every.count('data-testid="refund-row"') == 2
    assert 'data-testid="overdue-refunds" data-count="1"' in home
    assert 'href="/refunds/?overdue=1"' in home


def test_given_roles_without_refunds_then_the_home_page_has_no_refund_alert(world: World, client):
    make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    client.force_login(world.users["tax_a"])

    assert 'data-testid="overdue-refunds"' not in client.get("/").content.decode()


def test_given_an_approved_application_not_yet_paid_out_after_its_due_date_then_it_is_still_overdue(
    world: World,
):
    late = make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    paid = make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    scope = Scope.for_user_id(world.users["insurance_a"].pk)
    services.refund_approve(scope=scope, application_id=late.pk)
    services.refund_approve(scope=scope, application_id=paid.pk)
    services.refund_pay_out(scope=scope, application_id=paid.pk, bank_reference="TRF-1")

    overdue = selectors.refund_overdue(scope=scope, today=dt.date(2026, 1, 6))

    assert [(row.pk, row.status) for row in overdue] == [(late.pk, "approved")]


def test_given_an_approved_refund_past_its_deadline_then_the_row_and_the_page_say_overdue(world, client):
    late = make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    services.refund_approve(scope=Scope.for_user_id(world.users["insurance_a"].pk), application_id=late.pk)
    client.force_login(world.users["insurance_a"])

    listed = client.get("/refunds/").content.decode()
    page = client.get(f"/refunds/{late.pk}/").content.decode()

    assert re.findall(
        r'data-pk="(\d+)" data-status="approved" class="refund-overdue" data-overdue="1"', listed
    ) == [str(late.pk)]
    assert 'data-testid="due-on" data-date="2026-01-05"' in page
    assert re.search(r'class="overdue" data-testid="due-on"', page)
