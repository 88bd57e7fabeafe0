"""A value from outside that str.isdigit() accepts but int() refuses ("²", "①") is answered as any
other invalid value ("abc"): the page's own answer, never a 500; a file's cell holding one is a
problem of its line, never a failed import. (str.isdigit() is true for superscripts and circled
digits; the checks take ASCII digits only: accounts.digits.ascii_digits.)"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from collection import services as collection_services
from collection.models import BatchProblem, Payment
from enrollment import imports, spreadsheets
from enrollment.models import Person, Relation
from refunds.finance.models import ReceivedPlan
from tests.collection.support import due, payer
from tests.conftest import World
from tests.enrollment.test_registration_pages import FAMILY, HEAD_ID, form_data, member, register_family
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.test_overcollections import planned, submitted
from tests.rules.test_policy_documents import edited, paths_of

pytestmark = pytest.mark.django_db

NOT_ASCII_DIGITS = ["²", "①", "²⁰²⁷"]


def _client(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _head(world: World) -> Person:
    register_family(world, FAMILY[:1])
    return Person.objects.get(id_number=HEAD_ID)


def _edit_row() -> dict[str, str]:
    return member("王建国", HEAD_ID, Relation.HEAD, sex="male", birth_date="1975-04-12", phone="13800000001")


# Each page: who asks, and how the value is sent (method, address, data) given the world and the value.
Ask = Callable[[World, str], tuple[str, str, dict[str, Any]]]


def _person_edit(world: World, value: str) -> tuple[str, str, dict[str, Any]]:
    head = _head(world)
    url = reverse("enrollment:person-edit", kwargs={"pk": head.pk})
    return "post", url, {**form_data([_edit_row()]), "revision": value}


def _person_move(world: World, value: str) -> tuple[str, str, dict[str, Any]]:
    head = _head(world)
    url = reverse("enrollment:person-move", kwargs={"pk": head.pk})
    return "post", url, {"household": value, "relation": Relation.SPOUSE}


def _fund_plan_submit(world: World, value: str) -> tuple[str, str, dict[str, Any]]:
    plan = planned(world, 12000)
    return "post", f"/refunds/plans/{plan.pk}/", {"step": "submit", "amount_fen": value, "note": ""}


def _finance_plan_approve(world: World, value: str) -> tuple[str, str, dict[str, Any]]:
    plan = submitted(world, 12000)
    assert ReceivedPlan.objects.filter(plan_id=plan.pk).exists()
    return "post", f"/finance/plans/{plan.pk}/", {"step": "approve", "amount_fen": value, "note": ""}


def _admin_person(world: World, value: str) -> tuple[str, str, dict[str, Any]]:
    _head(world)
    return "get", f"/admin/enrollment/person/{quote(value)}/change/", {}


PAGES: dict[str, tuple[str, Ask, int]] = {
    # name: (user, request, the status "abc" gets)
    "collection progress ?year": (
        "tax_a",
        lambda w, v: ("get", "/collection/reports/progress/", {"year": v}),
        200,
    ),
    "collection collective ?year": (
        "tax_a",
        lambda w, v: ("get", "/collection/collective/", {"year": v}),
        200,
    ),
    "collection counter ?payer": ("tax_a", lambda w, v: ("get", "/collection/counter/", {"payer": v}), 404),
    "collection progress area": (
        "tax_a",
        lambda w, v: ("get", f"/collection/reports/progress/{quote(v * 12)}/", {}),
        404,
    ),
    "enrollment coverage ?year": (
        "insurance_a",
        lambda w, v: ("get", "/enrollment/reports/coverage/", {"year": v}),
        200,
    ),
    "enrollment unpaid ?year": (
        "insurance_a",
        lambda w, v: ("get", "/enrollment/reports/unpaid/", {"year": v}),
        200,
    ),
    "enrollment coverage recount": (
        "insurance_a",
        lambda w, v: ("post", "/enrollment/reports/coverage/", {"year": v}),
        400,
    ),
    "API assessment runs ?insurance_year": (
        "insurance_a",
        lambda w, v: ("get", "/api/assessment-runs/", {"insurance_year": v}),
        400,
    ),
    "person edit revision": ("clerk_a", _person_edit, 400),
    "person move household": ("clerk_a", _person_move, 400),
    "school roster ?application": (
        "school_a",
        lambda w, v: ("get", "/enrollment/school-roster/", {"application": v}),
        404,
    ),
    "refund apply ?person": ("insurance_a", lambda w, v: ("get", "/refunds/apply/", {"person": v}), 200),
    "fund plan submit amount": ("insurance_a", _fund_plan_submit, 400),
    "finance subsidy funds ?year": (
        "finance_a",
        lambda w, v: ("get", "/finance/subsidies/", {"year": v}),
        200,
    ),
    "finance transfers ?year": ("finance_a", lambda w, v: ("get", "/finance/transfers/", {"year": v}), 200),
    "finance plan approve amount": ("finance_a", _finance_plan_approve, 400),
    "export progress": ("insurance_a", lambda w, v: ("get", f"/exports/{quote(v)}/progress/", {}), 404),
    "region page": ("admin", lambda w, v: ("get", f"/regions/{quote(v * 6)}/", {}), 404),
    "admin person change": ("admin", _admin_person, 302),
}


@pytest.mark.usefixtures("no_nudge")
@pytest.mark.parametrize("value", ["abc", *NOT_ASCII_DIGITS])
@pytest.mark.parametrize("page", list(PAGES))
def test_given_a_value_of_no_ascii_digits_when_asked_then_the_page_answers_as_for_abc(world, page, value):
    user, ask, status = PAGES[page]
    method, url, data = ask(world, value)

    response = getattr(_client(world, user), method)(url, data)

    assert response.status_code == status


def test_given_a_roster_import_name_of_no_ascii_digits_when_the_admin_confirms_then_answered_as_for_abc(
    world, monkeypatch
):
    monkeypatch.setattr("subsidies.services._queue", lambda job, user_id: None)
    url = reverse("admin:subsidies_rosterimport_process_import")
    form = {"original_file_name": "低保名单.xlsx", "format": "0", "resource": "", "mode": "valid_rows"}

    answers = [
        _client(world, "admin").post(url, {**form, "import_file_name": value})
        for value in ("abc", *NOT_ASCII_DIGITS)
    ]

    assert [response.status_code for response in answers] == [302] * 4
    assert [[str(message) for message in get_messages(response.wsgi_request)] for response in answers] == [
        ["No such roster import in your area."]
    ] * 4


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_given_a_region_code_of_no_ascii_digits_then_it_is_refused(value):
    with pytest.raises(ValidationError):
        accounts_services.normalise_region_code((value * 12)[:12])


# --- files -----------------------------------------------------------------------------------------


PERSON_ID = "141002198001010001"


@pytest.mark.parametrize("year", NOT_ASCII_DIGITS)
def test_given_a_bank_file_line_with_a_year_of_no_ascii_digits_then_that_line_is_a_problem(world, year):
    payer("村民1", PERSON_ID)
    due(PERSON_ID)
    tax = Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)
    content = (
        "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期,失败原因\n"
        f"B001,{PERSON_ID},村民1,{year},400.00,成功,2026-11-05,\n"
    ).encode()
    upload = SimpleUploadedFile("debit.csv", content, content_type="text/csv")

    with translation.override("en"):
        batch = collection_services.bank_debit_submit(
            scope=tax, bank_name="中国农业银行尧都支行", upload=upload
        )
        batch = collection_services.bank_debit_process(scope=tax, batch_id=batch.pk)

    assert [(p.line_number, p.reason) for p in BatchProblem.objects.filter(batch=batch)] == [
        (2, "The insurance year is not a year.")
    ]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("number", NOT_ASCII_DIGITS)
def test_given_an_xlsx_row_numbered_with_no_ascii_digits_when_streamed_then_it_follows_the_row_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number
):
    # The streaming reader (sheets over CALAMINE_MAX_SHEET_BYTES) reads the row's number itself.
    monkeypatch.setattr(spreadsheets, "CALAMINE_MAX_SHEET_BYTES", 0)
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号"])
    sheet.append(["张三", PERSON_ID])
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "名单.xlsx"
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<row r="2"', f'<row r="{number}"'.encode())
                assert f'r="{number}"'.encode() in data
            target.writestr(item, data)

    rows = list(spreadsheets.read_sheet(path, "xlsx").rows)

    assert [(row_number, [str(value) for value in values]) for row_number, values in rows] == [
        (1, ["姓名", "身份证号"]),
        (2, ["张三", PERSON_ID]),
    ]


@pytest.mark.parametrize("relation", ["²²", "①", "²"])
def test_given_a_relation_cell_of_no_ascii_digits_then_it_is_no_relation(relation):
    assert imports._relation(relation) is None
    assert imports._relation("20") == Relation.CHILD  # a code of ASCII digits is read as before


@pytest.mark.parametrize("code", ["²²", "①①①①①①"])
def test_given_a_policy_region_code_of_no_ascii_digits_then_it_is_a_problem(code):
    assert "policy.region_code" in paths_of(edited("linfen-2021", lambda d: d.update({"region_code": code})))


def test_given_a_region_code_of_ascii_digits_then_it_is_read_as_before():
    assert accounts_services.normalise_region_code("141002") == "141002000000"
