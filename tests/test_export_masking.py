"""Masked personal data, generated over the URL configuration: for every role that does not hold
``person.full_view`` (tax, finance, administrators), no page, API answer or download — list, detail,
xlsx workbook or PDF — shows a full resident ID number or mobile number of its own area.

The area is filled with residents whose ID numbers and phones are real-looking (18 digits, 11-digit
mobiles) in every bureau's records; the positive control shows the scan finds them when shown."""

from __future__ import annotations

import io
import re
import subprocess

from django.urls import reverse

from accounts.roles import ROLE_ACTIONS, Action, Role
from tests.conftest import World
from tests.test_access_matrix import OBJECT_KWARGS, SCOPED

FULL_ID = re.compile(r"(?<![0-9A-Za-z*])\d{17}[\dX](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9*])1[3-9]\d{9}(?!\d)")
TAG = re.compile(r"<[^>]+>")
MASKED_ROLES = [role for role in Role.values if Action.PERSON_FULL_VIEW not in ROLE_ACTIONS[role]]
PAGES = [e for e in SCOPED if "get" in e.methods and e.name not in {"api-schema", "api-docs"}]
TUNLI = "141002100201"


def _area_with_residents(world: World) -> None:
    """屯里村 in every bureau's records: a registered household, a paid refund case, tax's payer,
    amount due and payment, all with 18-digit ID numbers and mobile numbers."""
    from django.utils import timezone

    from collection.models import DueItem, Payer, Payment
    from tests.matrix.enrollment_review import make_application, make_enrollment
    from tests.refunds.backpay_support import make_back_payment
    from tests.refunds.support import make_refund

    application = make_application(world, TUNLI, members=2)
    for person in application.persons.all():
        make_enrollment(person)
    make_refund(TUNLI, world.users["clerk_a"])
    make_back_payment(TUNLI, world.users["clerk_a"])
    tax = world.user_for(Role.TAX_STAFF)
    for number, person_id in enumerate(["141002198001010011", "141002198203030022"], start=1):
        Payer.objects.create(
            person_id=person_id, name="张三", region_code=TUNLI, source_message_id=number, sequence=1
        )
        item = DueItem.objects.create(
            person_id=person_id, insurance_year=2027, region_code=TUNLI, amount_fen=40000,
            source_message_id=number, sequence=1, status="paid",
        )  # fmt: skip
        Payment.objects.create(
            due_item=item, person_id=person_id, insurance_year=2027, region_code=TUNLI, amount_fen=40000,
            channel="counter_cash", paid_at=timezone.now(), paid_by="张三", agency=tax.agency, collector=tax,
            receipt_year=2026, receipt_number=800_000 + number,
        )  # fmt: skip


def _visible_text(response) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(kind, text): what a person reads in the answer — a page's text without its markup, a JSON
    body, a workbook's cells, a PDF's text."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/vnd.openxmlformats"):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(body), read_only=True)
        cells = (
            value for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for value in row
        )
        return "xlsx", " ".join(str(value) for value in cells if value is not None)
    if content_type.startswith("application/pdf"):
        text = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True).stdout
        return "pdf", text.decode()
    text = body.decode("utf-8", errors="replace")
    return ("json", text) if "json" in content_type else ("html", TAG.sub(" ", text))


def _shown(response) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    kind, text = _visible_text(response)
    return kind, sorted(set(FULL_ID.findall(text)) | set(MOBILE.findall(text)))


def test_given_the_scan_when_insurance_staff_list_persons_then_it_finds_the_full_numbers_they_may_see(
    world: World, client
):
    _area_with_residents(world)
    client.force_login(world.users["insurance_a"])
    kind, found = _shown(client.get(reverse("person-list")))
    assert kind == "json"
    assert "13912345678" in found
    assert MASKED_ROLES == [Role.TAX_STAFF, Role.FINANCE_STAFF, Role.ADMINISTRATOR]


def test_given_roles_without_full_view_when_they_open_every_page_api_and_download_then_numbers_are_masked(
    world: World, client
):
    _area_with_residents(world)
    shown, kinds = {}, {"html": 0, "json": 0, "xlsx": 0, "pdf": 0}
    for role in MASKED_ROLES:
        user = world.user_for(role)
        client.force_login(user)
        for endpoint in PAGES:
            if endpoint.methods["get"] not in ROLE_ACTIONS[role]:
                continue  # refused (the access matrix checks that)
            kwargs = OBJECT_KWARGS[endpoint.name](world, user, True) if endpoint.kwargs else {}
            response = client.get(reverse(endpoint.name, kwargs=kwargs))
            if response.status_code != 200:
                continue
            kind, found = _shown(response)
            kinds[kind] += 1
            if found:
                shown[(role, endpoint.name)] = found
        client.logout()
    assert shown == {}
    assert kinds["xlsx"] >= 5 and kinds["pdf"] >= 1 and kinds["json"] >= 10


def test_given_tax_staff_when_they_read_a_payment_by_api_then_the_identifier_is_masked_as_on_the_receipt(
    world: World, client
):
    from collection.models import Payment

    _area_with_residents(world)
    payment = Payment.objects.get(person_id="141002198001010011")
    client.force_login(world.users["tax_a"])
    answer = client.get(reverse("collection-payment-detail", args=[payment.pk])).json()
    assert (answer["person_id"], answer["receipt"]) == ("141002********0011", payment.receipt)
