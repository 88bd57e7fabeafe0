"""The back-payment pages and API through the test client: apply (search, the person's history,
evidence), the engine's decision shown on the spot, approve (the amount and rule of today shown
first) / reject / withdraw by the right people, a conflict answered 409, four-eyes explained,
the list's tabs, and the API with the refunds API's error semantics. The test policy opens the
applications around the real date (``window_around_today``), since pages decide "today"."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from refunds.models import BackPaymentApplication, BackPaymentEvidence
from sharing.models import OutboxMessage
from tests.addresses import KeptResponses, searched, urls_of, with_id_numbers
from tests.conftest import World
from tests.matrix.enrollment_review import PDF_BYTES, QINBI, TUNLI
from tests.refunds.backpay_support import AMOUNT, YEAR, due_person, make_back_payment, window_around_today

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)<', html, re.S)
    return found.group(1).strip() if found else ""


def test_given_a_clerk_when_searching_then_only_persons_of_the_village_are_offered(world: World, client):
    own = due_person(TUNLI, "王补缴")
    due_person(QINBI, "王另村")
    client.force_login(world.users["clerk_a"])

    html = searched(client, "/refunds/back-payments/apply/", "王", find="1").content.decode()

    assert html.count('data-testid="person-result"') == 1
    assert f"?person={own.pk}" in html


def test_given_the_back_payment_flow_then_no_id_number_appears_in_any_address_the_pages_give(
    world: World, client
):
    """Find the person by full identifier, identifier prefix and name; choose them; a refused and
    an accepted application; the application, the list: every Location, href and action is free
    of ID numbers."""
    window_around_today()
    person = due_person(TUNLI, "赵补缴")
    client.force_login(world.users["clerk_a"])
    responses = KeptResponses()
    keep = responses.keep

    def search(query: str):  # type: ignore[no-untyped-def]
        posted = keep(client.post("/refunds/back-payments/apply/", {"find": "1", "q": query}))
        return keep(client.get(posted["Location"]))

    pages = [search(person.id_number), search(person.id_number[:10]), search("赵补")]
    keep(client.get(f"/refunds/back-payments/apply/?person={person.pk}"))
    refused = keep(
        client.post("/refunds/back-payments/apply/", {"person": person.pk, "insurance_year": YEAR})
    )
    applied = keep(
        client.post(
            "/refunds/back-payments/apply/",
            {"person": person.pk, "insurance_year": YEAR, "reason": "在外地务工，错过了集中征缴期"},
        )
    )
    keep(client.get(applied["Location"]))
    keep(client.get("/refunds/back-payments/"))

    assert [[row["person"].pk for row in page.context["found"]] for page in pages] == [[person.pk]] * 3
    assert [page.context["query"] for page in pages] == [person.id_number, person.id_number[:10], "赵补"]
    assert (refused.status_code, applied.status_code) == (400, 302)
    assert BackPaymentApplication.objects.filter(person=person).count() == 1
    assert len(responses) == 11
    assert sum(len(urls_of(response)) for response in responses) > 60
    assert with_id_numbers(responses) == []


def test_given_a_search_key_of_another_user_then_the_finder_asks_to_search_again(world: World, client):
    due_person(TUNLI, "王补缴")
    client.force_login(world.users["clerk_a"])
    kept = client.post("/refunds/back-payments/apply/", {"find": "1", "q": "王补"})["Location"]
    other_user = Client()
    other_user.force_login(world.users["clerk_b"])

    page = other_user.get(kept)

    assert (page.status_code, page.context["query"], page.context["found"]) == (200, "", [])
    assert _testid(page.content.decode(), "search-notice") == "这次查询已不再保留，请重新查询。"
    assert "王补" not in page.content.decode()


def test_given_a_person_when_chosen_then_the_history_shows_paid_and_unpaid_years_and_the_form_offers_2027(
    world: World, client
):
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    html = client.get(f"/refunds/back-payments/apply/?person={person.pk}").content.decode()

    assert (_testid(html, "history-paid"), _testid(html, "history-unpaid")) == ("2026", "2027")
    assert f'<option value="{YEAR}" selected>' in html


def test_given_a_person_when_chosen_then_each_unpaid_year_says_what_the_rules_answer_today(
    world: World, client
):
    # Given a person owing 2027, whose back-payment applications are not open
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])
    closed = client.get(f"/refunds/back-payments/apply/?person={person.pk}").context["form"]

    # When the applications open around today
    window_around_today()
    opened = client.get(f"/refunds/back-payments/apply/?person={person.pk}").context["form"]

    # Then the year's choice says first why not, then the amount it may be paid back at
    (label_closed,) = [label for _value, label in closed.fields["insurance_year"].choices]
    (label_open,) = [label for _value, label in opened.fields["insurance_year"].choices]
    assert label_closed.startswith("2027 — ") and "可以补缴" not in label_closed
    assert label_open == "2027 — 可以补缴：1100.00元"


def test_given_a_clerk_when_applying_with_a_pdf_then_the_detail_shows_the_rule_the_evidence_and_the_timeline(
    world: World, client
):
    until = window_around_today()
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/refunds/back-payments/apply/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "外出务工错过缴费期",
         "evidence": SimpleUploadedFile("证明.pdf", PDF_BYTES, content_type="application/pdf")},
    )  # fmt: skip

    application = BackPaymentApplication.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/refunds/back-payments/{application.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert re.search(r'data-testid="backpay-status" data-status="submitted"', html)
    assert _testid(html, "engine-rule") == "back_payment"
    assert 'data-testid="backpay-amount" data-fen="110000"' in html
    assert _testid(html, "pay-until") == until.isoformat()
    assert html.count('data-testid="timeline-event"') == 1
    evidence = BackPaymentEvidence.objects.get()
    assert f'href="/refunds/back-payments/evidence/{evidence.pk}/"' in html
    download = client.get(f"/refunds/back-payments/evidence/{evidence.pk}/")
    assert (download.status_code, b"".join(download.streaming_content)) == (200, PDF_BYTES)
    assert 'data-testid="four-eyes"' not in html  # a clerk does not review


def test_given_the_applicant_withdraws_then_the_rules_box_is_dated_and_no_pay_by_day_is_offered(
    world: World, client
):
    # given: the village clerk's allowed application, waiting, with its pay-by day
    window_around_today()
    application = make_back_payment(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["clerk_a"])

    # when: the clerk withdraws it on its page
    html = client.post(
        f"/refunds/back-payments/{application.pk}/", {"step": "withdraw", "note": "已在外地参保"}, follow=True
    ).content.decode()

    # then: the rules' box is dated to the application, and no pay-by day is offered
    application.refresh_from_db()
    day = timezone.localtime(application.applied_at).strftime("%Y-%m-%d")
    assert application.status == "withdrawn"
    assert _testid(html, "engine-heading") == f"申请时的规则判定（{day}）"
    assert 'data-testid="pay-until"' not in html


def _refused_application(world: World, client):  # type: ignore[no-untyped-def]
    """The village clerk applies for a person who paid 2025 but not 2026 (after a break: the rules
    refuse); the answer, followed to the application's page."""
    person = due_person(TUNLI, paid_last_year=False, paid_2025=True)
    window_around_today()
    client.force_login(world.users["clerk_a"])
    return client.post(
        "/refunds/back-payments/apply/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "断缴后续保"},
        follow=True,
    )


def test_given_the_rules_refuse_then_the_page_says_why_and_the_application_is_closed(world: World, client):
    response = _refused_application(world, client)

    html = response.content.decode()
    assert 'data-status="rejected"' in html
    assert _testid(html, "engine-rule") == "back_payment.eligible"


def _heading(html: str) -> str:
    """The line under the page's title."""
    found = re.search(r'</h1>\s*<p class="muted"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


def test_given_the_rules_refuse_then_the_heading_names_the_person_s_id_alone_and_the_amount_says_none(
    world: World, client
):
    # given: an application the rules refused (the person paid 2025 but not 2026: not eligible)
    # when: the clerk applies and the application's page opens
    response = _refused_application(world, client)

    # then: the heading is the ID number alone, with no dash for the amount there is not
    html = response.content.decode()
    assert 'data-status="rejected"' in html
    assert _heading(html) == f"<code>{response.context['id_number']}</code>"
    # and: the amount says in words that there is none
    assert _testid(html, "backpay-amount") == "无：规则不允许补缴"


def test_given_the_rules_allow_then_the_heading_gives_the_amount_after_the_id(world: World, client):
    # given: last year's payer who missed 2027, the applications open
    window_around_today()
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    # when: the clerk applies and the application's page opens
    response = client.post(
        "/refunds/back-payments/apply/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "外出务工错过缴费期"},
        follow=True,
    )

    # then: the heading is the ID number and the back-payment's amount
    assert _heading(response.content.decode()) == f"<code>{response.context['id_number']}</code> · 1100.00元"


def test_given_insurance_staff_when_opening_then_todays_amount_is_shown_and_approving_tells_tax(
    world: World, client
):
    window_around_today()
    application = make_back_payment(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])

    html = client.get(f"/refunds/back-payments/{application.pk}/").content.decode()
    assert 'data-testid="today-amount" data-fen="110000"' in html
    assert 'data-testid="approve-form"' in html and 'data-testid="reject-form"' in html
    assert 'data-testid="withdraw-form"' not in html
    response = client.post(f"/refunds/back-payments/{application.pk}/", {"step": "approve"})

    application.refresh_from_db()
    assert (response.status_code, application.status, application.amount_fen) == (302, "approved", AMOUNT)
    assert OutboxMessage.objects.filter(topic="backpayment.due").count() == 1
    again = client.post(f"/refunds/back-payments/{application.pk}/", {"step": "approve"}, **EN)
    assert again.status_code == 409
    assert "医保a" in _testid(again.content.decode(), "step-error")  # who approved first


def test_given_insurance_staff_who_applied_then_the_page_explains_four_eyes_and_offers_no_decision(
    world: World, client
):
    window_around_today()
    application = make_back_payment(TUNLI, world.users["insurance_a"])
    client.force_login(world.users["insurance_a"])

    html = client.get(f"/refunds/back-payments/{application.pk}/", **EN).content.decode()
    refused = client.post(f"/refunds/back-payments/{application.pk}/", {"step": "approve"}, **EN)

    assert _testid(html, "four-eyes")
    assert 'data-testid="approve-form"' not in html
    assert refused.status_code == 400
    application.refresh_from_db()
    assert application.status == "submitted"


def test_given_a_rejection_without_reason_then_400_and_with_reason_rejected(world: World, client):
    application = make_back_payment(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])

    empty = client.post(f"/refunds/back-payments/{application.pk}/", {"step": "reject", "reason": ""})
    done = client.post(
        f"/refunds/back-payments/{application.pk}/", {"step": "reject", "reason": "疑似带病参保"}
    )

    application.refresh_from_db()
    assert (empty.status_code, done.status_code) == (400, 302)
    assert (application.status, application.decision_note) == ("rejected", "疑似带病参保")


def test_given_the_list_then_tabs_count_each_status_and_filter(world: World, client):
    make_back_payment(TUNLI, world.users["clerk_a"])
    rejected = make_back_payment(TUNLI, world.users["clerk_a"])
    BackPaymentApplication.objects.filter(pk=rejected.pk).update(status="rejected", decision_note="不符合")
    client.force_login(world.users["insurance_a"])

    html = client.get("/refunds/back-payments/").content.decode()
    only = client.get("/refunds/back-payments/?status=rejected").content.decode()

    assert (_testid(html, "count-submitted"), _testid(html, "count-rejected")) == ("1", "1")
    assert html.count('data-testid="backpay-row"') == 2
    assert only.count('data-testid="backpay-row"') == 1 and f'data-pk="{rejected.pk}"' in only


# --- the API --------------------------------------------------------------------------------------


def _post(client, url: str, body: dict):  # type: ignore[no-untyped-def]
    return client.post(url, body, content_type="application/json", **EN)


def test_given_a_clerk_when_creating_by_json_then_201_with_the_decision_timeline_and_steps(
    world: World, client
):
    until = window_around_today()
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    response = _post(
        client, "/api/back-payments/", {"person": person.pk, "insurance_year": YEAR, "reason": "外出务工"}
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["allowed"], body["amount_fen"], body["rule"], body["pay_until"]) == (
        "submitted", True, AMOUNT, "back_payment", until.isoformat(),
    )  # fmt: skip
    assert [(e["action"], e["to_state"], e["actor"]) for e in body["timeline"]] == [
        ("apply", "submitted", "clerk_a")
    ]
    assert body["allowed_steps"] == ["withdraw"]


def test_given_multipart_with_evidence_then_the_file_is_kept(world: World, client):
    window_around_today()
    person = due_person(TUNLI)
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/api/back-payments/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "外出务工",
         "evidence": [SimpleUploadedFile("证明.pdf", PDF_BYTES, content_type="application/pdf")]},
    )  # fmt: skip

    assert response.status_code == 201
    assert list(BackPaymentEvidence.objects.values_list("name", flat=True)) == ["证明.pdf"]


def test_given_the_api_steps_then_approve_200_again_409_four_eyes_400_outside_404(world: World, client):
    window_around_today()
    application = make_back_payment(TUNLI, world.users["clerk_a"])
    own = make_back_payment(TUNLI, world.users["insurance_a"])
    other = make_back_payment(QINBI, world.users["clerk_b"])
    client.force_login(world.users["insurance_a"])

    approved = _post(client, f"/api/back-payments/{application.pk}/approve/", {})
    again = _post(client, f"/api/back-payments/{application.pk}/approve/", {})
    four_eyes = _post(client, f"/api/back-payments/{own.pk}/approve/", {})
    outside = _post(client, f"/api/back-payments/{other.pk}/approve/", {})
    no_reason = _post(client, f"/api/back-payments/{own.pk}/reject/", {})

    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert again.status_code == 409
    assert "already Approved, payable at tax" in again.json()["error"]["message"]
    assert (four_eyes.status_code, outside.status_code, no_reason.status_code) == (400, 404, 400)


def test_given_the_list_api_then_status_filters(world: World, client):
    make_back_payment(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])

    assert client.get("/api/back-payments/?status=submitted").json()["count"] == 1
    assert client.get("/api/back-payments/?status=approved").json()["count"] == 0


def test_given_the_openapi_schema_then_every_back_payment_endpoint_is_described():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert {
        "/api/back-payments/", "/api/back-payments/{id}/", "/api/back-payments/{id}/approve/",
        "/api/back-payments/{id}/reject/", "/api/back-payments/{id}/withdraw/",
    } <= set(paths)  # fmt: skip
