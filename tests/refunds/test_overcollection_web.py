"""The over-collection pages and API of the three bureaus, one flow each way: tax reports through
the API and its pages show the outcome; insurance prepares, submits and pays out on its pages and
API; finance approves, rejects and transfers on its own; 409 with who did what when for a lost
step; every endpoint in the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.roles import Role
from collection import services as collection
from collection.models import OvercollectionRequest
from refunds.finance.models import ReceivedPlan
from refunds.models import FundPlan
from tests.conftest import World
from tests.refunds.overcollection_support import deliver, no_nudge, scope, tax_payment, this_month  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


def login(client, user) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings

    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the pages in English, whatever the catalogue holds


EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _post(client, url: str, body: dict):  # type: ignore[no-untyped-def]
    return client.post(url, body, content_type="application/json", **EN)


def _reported(world: World, client, *amounts: int) -> list[int]:  # type: ignore[no-untyped-def]
    login(client, world.users["tax_a"])
    ids = []
    for amount in amounts:
        payment = tax_payment(world)
        response = _post(
            client,
            "/api/collection/overcollections/",
            {"receipt": payment.receipt, "amount_fen": amount, "reason": "charged_twice"},
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    client.logout()
    deliver()
    return ids


def test_given_tax_staff_when_reporting_by_api_then_201_with_the_timeline(world: World, client):
    payment = tax_payment(world)
    login(client, world.users["tax_a"])

    response = _post(
        client,
        "/api/collection/overcollections/",
        {"receipt": payment.receipt, "amount_fen": 12000, "reason": "wrong_amount", "note": "按旧标准收取"},
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["amount_fen"], body["receipt_number"], body["person_id"].count("*") > 0) == (
        "requested",
        12000,
        payment.receipt,
        True,
    )
    assert [e["status"] for e in body["timeline"]] == ["requested"]


def test_given_a_receipt_that_does_not_exist_then_400_naming_the_field(world: World, client):
    login(client, world.users["tax_a"])

    response = _post(
        client,
        "/api/collection/overcollections/",
        {"receipt": "0001-2026-999999", "amount_fen": 1, "reason": "charged_twice"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["receipt"] == ["No payment with this receipt in your area."]


def test_given_the_new_request_page_when_a_receipt_is_looked_up_and_posted_then_the_request_is_shown(
    world: World, client
):
    payment = tax_payment(world)
    login(client, world.users["tax_a"])

    page = client.get(f"/collection/overcollections/new/?receipt={payment.receipt}", **EN)
    posted = client.post(
        "/collection/overcollections/new/",
        {"receipt": payment.receipt, "amount_yuan": "120.50", "reason": "bank_debited_twice", "note": ""},
        **EN,
    )

    assert page.status_code == 200 and b'data-testid="payment"' in page.content
    request = OvercollectionRequest.objects.get()
    assert (posted.status_code, posted["Location"]) == (302, f"/collection/overcollections/{request.pk}/")
    assert request.amount_fen == 12050
    detail = client.get(posted["Location"], **EN).content.decode()
    assert 'data-status="requested"' in detail and "120.50" in detail


def _report_on_page(client, receipt: str, amount_yuan: str):  # type: ignore[no-untyped-def]
    """Tax's form for a charged-twice over-collection on ``receipt``, posted in English."""
    return client.post(
        "/collection/overcollections/new/",
        {"receipt": receipt, "amount_yuan": amount_yuan, "reason": "charged_twice"},
        **EN,
    )


def test_given_too_much_on_the_page_then_400_with_the_amount_left_next_to_the_field(world: World, client):
    payment = tax_payment(world, amount_fen=40000)
    login(client, world.users["tax_a"])

    response = _report_on_page(client, payment.receipt, "400.01")

    assert response.status_code == 400
    assert "At most 400.00 yuan can be refunded on this receipt" in response.content.decode()


def test_given_a_reversed_payment_on_the_page_then_400_saying_nothing_is_left_to_refund(world: World, client):
    payment = tax_payment(world)
    collection.payment_reverse(scope=scope(world, Role.TAX_STAFF), payment_id=payment.pk, reason="收错了人")
    login(client, world.users["tax_a"])

    response = _report_on_page(client, payment.receipt, "400.00")

    assert response.status_code == 400
    assert "This payment was reversed; nothing is left to refund." in response.content.decode()
    assert OvercollectionRequest.objects.count() == 0


def test_given_the_whole_flow_on_the_pages_then_each_bureau_sees_its_part(world: World, client):
    _reported(world, client, 12000, 3050)

    login(client, world.users["insurance_a"])
    pool = client.get("/refunds/plans/", **EN).content.decode()
    assert 'data-county="141002"' in pool
    prepared = client.post("/refunds/plans/", {"county": "141002", "period": this_month()}, **EN)
    plan = FundPlan.objects.get()
    assert prepared["Location"] == f"/refunds/plans/{plan.pk}/"
    draft = client.get(prepared["Location"], **EN).content.decode()
    assert draft.count('data-testid="plan-line"') == 2 and 'data-testid="submit-form"' in draft
    submitted = client.post(prepared["Location"], {"step": "submit", "amount_fen": "15050"}, **EN)
    assert submitted.status_code == 302
    deliver()

    login(client, world.users["finance_a"])
    received = ReceivedPlan.objects.get()
    listing = client.get("/finance/plans/", **EN).content.decode()
    assert f'data-pk="{received.pk}" data-status="received"' in listing
    assert received.plan_id == plan.pk
    page = client.get(f"/finance/plans/{plan.pk}/", **EN).content.decode()
    assert page.count('data-testid="plan-line"') == 2 and "150.50" in page
    assert (
        client.post(
            f"/finance/plans/{plan.pk}/", {"step": "approve", "amount_fen": "15050"}, **EN
        ).status_code
        == 302
    )
    again = client.post(f"/finance/plans/{plan.pk}/", {"step": "reject", "reason": "迟了"}, **EN)
    assert again.status_code == 409
    assert (
        "This plan is already Approved, waiting for the transfer: 财政a chose “Approve” at "
        in again.content.decode()
    )
    assert (
        client.post(f"/finance/plans/{plan.pk}/", {"step": "transfer", "voucher": "财拨-9"}, **EN).status_code
        == 302
    )
    deliver()

    login(client, world.users["insurance_a"])
    funded = client.get(f"/refunds/plans/{plan.pk}/", **EN).content.decode()
    assert 'data-status="funded"' in funded and "财拨-9" in funded
    assert (
        client.post(
            f"/refunds/plans/{plan.pk}/", {"step": "pay_out", "bank_reference": "BK-1"}, **EN
        ).status_code
        == 302
    )
    deliver()

    login(client, world.users["tax_a"])
    tax_list = client.get("/collection/overcollections/?status=paid_out", **EN).content.decode()
    assert tax_list.count('data-testid="overcollection-row"') == 2
    details = client.get("/collection/refunds/", **EN).content.decode()
    assert details.count('data-testid="refund-row"') == 2


def test_given_a_submitted_plan_then_both_bureaus_name_the_county_and_call_the_plan_by_insurances_number(
    world: World, client
):
    _reported(world, client, 12000)
    login(client, world.users["insurance_a"])
    client.post("/refunds/plans/", {"county": "141002", "period": this_month()}, **EN)
    plan = FundPlan.objects.get()
    client.post(f"/refunds/plans/{plan.pk}/", {"step": "submit", "amount_fen": "12000"}, **EN)
    with connection.cursor() as cursor:  # finance's own key for the plan is another number
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('finance_receivedplan', 'id'), %s)", [plan.pk + 1000]
        )
    deliver()
    assert ReceivedPlan.objects.get().pk == plan.pk + 1001

    insurance_list = client.get("/refunds/plans/", **EN).content.decode()
    insurance_page = client.get(f"/refunds/plans/{plan.pk}/", **EN).content.decode()
    login(client, world.users["finance_a"])
    finance_list = client.get("/finance/plans/", **EN).content.decode()
    finance_page = client.get(f"/finance/plans/{plan.pk}/", **EN)

    assert '<td data-testid="plan-county">尧都区</td>' in insurance_list
    assert '<span data-testid="plan-county">尧都区</span>' in insurance_page
    assert f'href="/finance/plans/{plan.pk}/"' in finance_list
    assert finance_page.status_code == 200
    body = finance_page.content.decode()
    assert f"<h1>Fund-usage plan {plan.pk} · {this_month()}</h1>" in body
    assert '<span data-testid="plan-region">尧都区</span> · ' in body
    assert "141002000000" not in body


def test_given_a_submitted_plan_then_finances_page_head_says_its_amount_in_yuan_as_insurances_does(
    world: World, client
):
    _reported(world, client, 12000, 500)
    login(client, world.users["insurance_a"])
    client.post("/refunds/plans/", {"county": "141002", "period": this_month()}, **EN)
    plan = FundPlan.objects.get()
    client.post(f"/refunds/plans/{plan.pk}/", {"step": "submit", "amount_fen": "12500"}, **EN)
    deliver()
    insurance_page = client.get(f"/refunds/plans/{plan.pk}/", **EN).content.decode()
    login(client, world.users["finance_a"])

    finance_page = client.get(f"/finance/plans/{plan.pk}/", **EN).content.decode()

    assert "2 refunds · 125.00 yuan</p>" in insurance_page
    assert '2 refunds · <span data-testid="plan-head-amount">125.00 yuan</span></p>' in finance_page


def test_given_a_plan_in_english_then_the_reasons_labels_are_english_and_the_typed_note_is_kept(
    world: World, client
):
    for reason, note in (("bank_debited_twice", ""), ("other", "柜台找零错误")):
        collection.overcollection_request(
            scope=scope(world, Role.TAX_STAFF), receipt=tax_payment(world).receipt, amount_fen=1000,
            reason=reason, note=note,
        )  # fmt: skip
    deliver()
    login(client, world.users["insurance_a"])
    client.post("/refunds/plans/", {"county": "141002", "period": this_month()}, **EN)
    plan = FundPlan.objects.get()
    client.post(f"/refunds/plans/{plan.pk}/", {"step": "submit", "amount_fen": "2000"}, **EN)
    deliver()
    insurance_page = client.get(f"/refunds/plans/{plan.pk}/", **EN).content.decode()
    insurance_list = client.get("/refunds/plans/", **EN).content.decode()
    login(client, world.users["finance_a"])

    finance_list = client.get("/finance/plans/", **EN).content.decode()
    finance_page = client.get(f"/finance/plans/{plan.pk}/", **EN).content.decode()

    shown = ['<td data-testid="line-reason">Bank debited twice</td>',
             '<td data-testid="line-reason">Other (see the note): 柜台找零错误</td>']  # fmt: skip
    assert all(line in finance_page for line in shown), finance_page
    assert all(line in insurance_page for line in shown)
    assert '<p class="muted">Fund-usage plans the medical insurance bureau submitted' in finance_list
    assert "用款计划" not in finance_list
    assert '<p class="muted">A fund-usage plan: a county\'s over-collection refunds' in insurance_list
    assert "用款计划" not in insurance_list


def test_given_the_api_flow_then_each_bureau_moves_the_plan_and_a_lost_step_is_409(world: World, client):
    _reported(world, client, 500)
    login(client, world.users["insurance_a"])
    created = _post(client, "/api/fund-plans/", {"county": "141002", "period": this_month()})
    plan_id = created.json()["id"]
    assert (created.status_code, created.json()["allowed_steps"]) == (201, ["submit", "discard"])
    assert (
        _post(client, f"/api/fund-plans/{plan_id}/submit/", {"amount_fen": 500}).json()["status"]
        == "submitted"
    )
    deliver()

    login(client, world.users["finance_a"])
    received = client.get("/api/finance/plans/").json()["results"][0]
    assert (received["plan_id"], received["status"]) == (plan_id, "received")
    rejected = _post(client, f"/api/finance/plans/{received['id']}/reject/", {"reason": "科目不对"})
    late = _post(client, f"/api/finance/plans/{received['id']}/approve/", {"amount_fen": 500})
    assert rejected.json()["status"] == "rejected"
    assert (late.status_code, late.json()["error"]["code"]) == (409, "conflict")
    deliver()

    login(client, world.users["insurance_a"])
    plan = client.get(f"/api/fund-plans/{plan_id}/").json()
    assert (plan["status"], plan["finance_reason"], [e["action"] for e in plan["timeline"]]) == (
        "rejected",
        "科目不对",
        ["apply", "submit", "finance_reject"],
    )
    assert [r["status"] for r in client.get("/api/overcollections/").json()["results"]] == ["received"]
    login(client, world.users["tax_a"])
    (request,) = client.get("/api/collection/overcollections/").json()["results"]
    assert (request["status"], request["status_note"]) == ("rejected", "科目不对")


def test_given_another_countys_plan_then_404_for_insurance_and_finance(world: World, client):
    _reported(world, client, 500)
    login(client, world.users["insurance_a"])
    plan_id = _post(client, "/api/fund-plans/", {"county": "141002", "period": this_month()}).json()["id"]

    login(client, world.users["insurance_b"])
    assert client.get(f"/api/fund-plans/{plan_id}/").status_code == 404
    assert _post(client, f"/api/fund-plans/{plan_id}/submit/", {"amount_fen": 500}).status_code == 404


def test_given_the_schema_then_every_over_collection_endpoint_is_documented(world: World):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert {
        "/api/collection/overcollections/",
        "/api/collection/overcollections/{id}/",
        "/api/overcollections/",
        "/api/overcollections/{id}/",
        "/api/fund-plans/",
        "/api/fund-plans/{id}/",
        "/api/fund-plans/{id}/submit/",
        "/api/fund-plans/{id}/discard/",
        "/api/fund-plans/{id}/pay-out/",
        "/api/finance/plans/",
        "/api/finance/plans/{id}/",
        "/api/finance/plans/{id}/approve/",
        "/api/finance/plans/{id}/reject/",
        "/api/finance/plans/{id}/transfer/",
    } <= set(paths)
    assert "409" in paths["/api/finance/plans/{id}/approve/"]["post"]["responses"]
    assert "409" in paths["/api/fund-plans/{id}/submit/"]["post"]["responses"]


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    return " ".join(found.group(1).split()) if found else ""


def _next_month() -> tuple[str, str]:
    after = (timezone.localdate().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return f"{after:%Y-%m}", f"{after:%Y-%m-%d}"


def test_given_a_new_request_and_the_months_plan_still_a_draft_when_added_on_the_page_then_the_draft_takes_it(
    world: World, client
):
    _reported(world, client, 12000)
    client.force_login(world.users["insurance_a"])  # the pages in Chinese, as the clerk has them
    client.post("/refunds/plans/", {"county": "141002", "period": this_month()})
    plan = FundPlan.objects.get()
    _reported(world, client, 3000)
    client.force_login(world.users["insurance_a"])

    pool = client.get("/refunds/plans/").content.decode()
    draft = client.get(f"/refunds/plans/{plan.pk}/").content.decode()
    added = client.post(f"/refunds/plans/{plan.pk}/", {"step": "gather"})

    assert 'data-testid="prepare-form"' not in pool
    assert f'action="/refunds/plans/{plan.pk}/"' in pool
    assert _testid(pool, "gather-submit") == f"纳入 {this_month()} 草稿计划（编号 {plan.pk}）"
    assert (
        _testid(draft, "waiting-count")
        == f"该县（区）有 1 笔截至 {this_month()} 申请的多征退费尚未纳入本草稿。"
    )
    assert (added.status_code, added["Location"]) == (302, f"/refunds/plans/{plan.pk}/")
    after = client.get(added["Location"]).content.decode()
    assert "已纳入 1 笔退费，本计划现申请 150.00元。请核对明细后报送财政。" in after
    assert re.findall(
        r'data-action="gather".*?<strong>(.*?)</strong>.*?<p class="tl-note">(.*?)</p>', after, re.S
    ) == [("纳入待处理退费", "纳入 1 笔退费（30.00元），本计划现申请 150.00元。")]
    assert after.count('data-testid="plan-line"') == 2 and 'data-testid="waiting"' not in after
    plan.refresh_from_db()
    assert (plan.refund_count, plan.amount_fen) == (2, 15000)
    assert 'data-testid="pool-row"' not in client.get("/refunds/plans/").content.decode()


def test_given_the_months_plan_submitted_when_a_new_request_waits_then_the_page_says_which_plan_takes_it(
    world: World, client
):
    _reported(world, client, 12000)
    client.force_login(world.users["insurance_a"])
    client.post("/refunds/plans/", {"county": "141002", "period": this_month()})
    plan = FundPlan.objects.get()
    client.post(f"/refunds/plans/{plan.pk}/", {"step": "submit", "amount_fen": "12000"})
    _reported(world, client, 3000)
    client.force_login(world.users["insurance_a"])
    next_month, first = _next_month()

    pool = client.get("/refunds/plans/").content.decode()
    prepared = client.post("/refunds/plans/", {"county": "141002", "period": this_month()})

    assert 'data-testid="prepare-form"' not in pool and 'data-testid="gather-form"' not in pool
    assert _testid(pool, "pool-waits").startswith(
        f"{this_month()} 的计划（编号 {plan.pk}）已报送财政，只有草稿计划才能再纳入退费。"
        f"待纳入的退费将纳入 {next_month} 的计划，{first} 起可编制。 <a href="
    )
    assert prepared.status_code == 400
    assert _testid(prepared.content.decode(), "plan-error") == (
        f"尧都区已有 {this_month()} 的计划（编号 {plan.pk}，已报送财政，编制于 "
        f"{timezone.localtime(plan.prepared_at):%Y-%m-%d}），不能再纳入退费。"
        f"待纳入的退费将纳入 {next_month} 的计划，{first} 起可编制。"
    )


def test_given_a_new_request_and_a_draft_plan_when_gathered_through_the_api_then_the_draft_takes_it_on_its_timeline(
    world: World, client
):
    _reported(world, client, 12000)
    login(client, world.users["insurance_a"])
    plan_id = _post(client, "/api/fund-plans/", {"county": "141002", "period": this_month()}).json()["id"]
    _reported(world, client, 3000)
    login(client, world.users["insurance_a"])

    added = _post(client, f"/api/fund-plans/{plan_id}/gather/", {})
    again = _post(client, f"/api/fund-plans/{plan_id}/gather/", {})

    body = added.json()
    assert (added.status_code, body["status"], body["refund_count"], body["amount_fen"]) == (
        200,
        "draft",
        2,
        15000,
    )
    assert [(e["action"], e["note"]) for e in body["timeline"]] == [
        ("apply", ""),
        ("gather", "1 refund added (30.00 yuan); the plan now asks for 150.00 yuan."),
    ]
    assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid")
