"""Imports: the employee-insurance list (terminations pushed to tax) and households from an old system.

The spreadsheets are written by the tests with openpyxl (or as CSV text), never committed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from accounts.scope import Scope
from collection.models import DueItem
from enrollment import imports, services
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import (
    ApplicationStatus,
    Assessment,
    AssessmentRun,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    HouseholdCounter,
    ImportedHousehold,
    ImportJob,
    ImportKind,
    ImportOutcome,
    ImportRow,
    ImportStatus,
    Person,
    RegistrationApplication,
)
from enrollment.policies import policy_save
from sharing import services as sharing
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.matrix.enrollment_bulk import (
    HONGDONG_VILLAGE,
    YAODU_VILLAGE,
    make_enrollment,
    make_job,
    make_person,
    resident_id,
)

EMPLOYEE_HEADER = ["身份证号码", "姓名", "参保日期", "单位名称"]
HOUSEHOLD_HEADER = [
    "户编号", "与户主关系", "姓名", "证件类型", "证件号码", "性别", "出生日期", "民族", "联系电话", "人员类别",
    "村（社区）代码",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _english() -> Any:
    """Messages are asserted in English (the msgids), whatever the catalogue holds."""
    with translation.override("en"):
        yield


# --- helpers ------------------------------------------------------------------------------------


def xlsx_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(content: bytes, name: str = "名单.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def scope_of(world: World, key: str = "insurance_a") -> Scope:
    return Scope.for_user(world.users[key])


def run(
    world: World, kind: str, content: bytes, *, name: str = "名单.xlsx", user: str = "insurance_a"
) -> ImportJob:
    """Upload and let the worker's service process the file, as the task would."""
    scope = scope_of(world, user)
    job = services.import_job_create(scope=scope, kind=kind, upload=upload(content, name), language="en")
    services.import_job_process(scope=scope, job_id=job.pk)
    job.refresh_from_db()
    return job


def rows_of(job: ImportJob) -> dict[int, tuple[str, str]]:
    return {r.row_number: (r.outcome, r.message) for r in ImportRow.objects.filter(job=job)}


def member(
    key: str, relation: str, name: str, birth: dt.date, *, male: bool = True, village: str = YAODU_VILLAGE,
    number: str | None = None, kind: str = "居民身份证", category: str = "农村居民", phone: str = "13800001111",
) -> list[Any]:  # fmt: skip
    number = number or resident_id(birth, male=male, county=village[:6])
    return [
        key,
        relation,
        name,
        kind,
        number,
        "男" if male else "女",
        birth,
        "汉族",
        phone,
        category,
        village,
    ]


# --- employee insurance -------------------------------------------------------------------------


@pytest.fixture
def enrolled(world: World) -> Enrollment:
    person = make_person(name="王五", birth=dt.date(1985, 5, 6))
    return make_enrollment(person, enrolled_on=dt.date(2023, 1, 1))


def test_given_a_person_enrolled_in_the_area_when_the_employee_list_is_imported_then_the_enrollment_ends_the_day_before(
    world: World, enrolled: Enrollment
):
    content = xlsx_bytes(
        [EMPLOYEE_HEADER, [enrolled.person.id_number, "王五", dt.date(2025, 3, 1), "临汾钢铁"]]
    )

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    enrolled.refresh_from_db()
    assert (job.status, job.counts) == (ImportStatus.DONE, {"terminated": 1})
    assert (enrolled.status, enrolled.ended_on, enrolled.status_reason) == (
        EnrollmentStatus.TERMINATED, dt.date(2025, 2, 28), ChangeReason.EMPLOYEE_INSURANCE,
    )  # fmt: skip


def test_given_a_terminated_enrollment_from_the_list_then_a_change_row_records_it(
    world: World, enrolled: Enrollment
):
    content = xlsx_bytes([EMPLOYEE_HEADER, [enrolled.person.id_number, "王五", "2025-03-01", "临汾钢铁"]])

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    change = EnrollmentChange.objects.get(enrollment=enrolled)
    assert (change.kind, change.reason, change.effective_on, change.created_by_id) == (
        ChangeKind.TERMINATED, ChangeReason.EMPLOYEE_INSURANCE, dt.date(2025, 2, 28), world.users["insurance_a"].pk,
    )  # fmt: skip
    assert change.note == f"Joined employee insurance on 2025-03-01 (临汾钢铁); import no. {job.pk}."


def test_given_a_terminated_enrollment_from_the_list_then_tax_is_told_in_one_message(
    world: World, enrolled: Enrollment
):
    content = xlsx_bytes([EMPLOYEE_HEADER, [enrolled.person.id_number, "王五", "2025-03-01"]])

    run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    message = OutboxMessage.objects.get(topic="enrollment.terminated")
    assert message.payload == {
        "person_id": enrolled.person.id_number,
        "region_code": YAODU_VILLAGE,
        "enrollment_id": enrolled.pk,
        "person_name": "王五",
        "category": "rural",
        "terminated_on": "2025-02-28",
        "reason": "employee_insurance",
    }


def test_given_a_due_year_when_the_employee_list_ends_the_enrollment_then_the_year_is_cancelled_here_and_at_tax(
    world: World, enrolled: Enrollment, monkeypatch: pytest.MonkeyPatch
):
    # Given 王五 assessed for 2027 (400 yuan due, at tax too), today 20 November 2026.
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: dt.date(2026, 11, 20))
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")
    assessment_run_now(county_code="141002", insurance_year=2027)
    sharing.delivery_drain(seconds=30)
    assert DueItem.objects.get(person_id=enrolled.person.id_number).status == "due"
    content = xlsx_bytes([EMPLOYEE_HEADER, [enrolled.person.id_number, "王五", "2026-11-01", "临汾钢铁"]])

    # When the employee-insurance list ends his enrollment on 31 October 2026,
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    # then his 2027 assessment is cancelled, and so is the item at tax.
    row = Assessment.objects.get(person=enrolled.person, insurance_year=2027)
    assert (job.counts, row.status, row.payable_fen, row.revision) == (
        {"terminated": 1},
        "cancelled",
        40000,
        2,
    )
    run_ = AssessmentRun.objects.get(kind="persons")
    assert (run_.insurance_year, run_.cancelled, run_.pushed) == (2027, 1, 1)
    sharing.delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=enrolled.person.id_number)
    assert (item.status, item.amount_fen) == ("cancelled", 0)


def test_given_every_kind_of_row_when_the_employee_list_is_imported_then_each_is_reported_with_its_outcome(
    world: World, enrolled: Enrollment
):
    not_enrolled = make_person(name="赵六")
    make_enrollment(not_enrolled, status=EnrollmentStatus.TERMINATED, enrolled_on=dt.date(2020, 1, 1))
    elsewhere = make_enrollment(make_person(name="钱七", region_code=HONGDONG_VILLAGE))
    late = make_enrollment(make_person(name="孙八"), enrolled_on=dt.date(2025, 6, 1))
    unknown = resident_id(dt.date(1991, 1, 1))
    content = xlsx_bytes([
        EMPLOYEE_HEADER,
        [enrolled.person.id_number, "王五", "2025-03-01"],      # row 2
        [unknown, "周九", "2025-03-01"],                          # row 3
        [not_enrolled.id_number, "赵六", "2025-03-01"],           # row 4
        [elsewhere.person.id_number, "钱七", "2025-03-01"],       # row 5
        [late.person.id_number, "孙八", "2025-03-01"],            # row 6
        [enrolled.person.id_number, "王五", "2025-04-01"],        # row 7: twice in the file
        ["141002199001011230", "吴十", "2025-03-01"],             # row 8: wrong check digit
        [not_enrolled.id_number, "赵 六", "2025-03-01"],          # row 9: repeated (after row 4)
    ])  # fmt: skip

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    outcomes = {number: outcome for number, (outcome, _message) in rows_of(job).items()}
    assert outcomes == {
        2: "terminated", 3: "not_found", 4: "not_enrolled", 5: "outside_area", 6: "date_conflict", 7: "error",
        8: "error", 9: "error",
    }  # fmt: skip
    assert job.counts == {
        "terminated": 1, "not_found": 1, "not_enrolled": 1, "outside_area": 1, "date_conflict": 1, "error": 3,
    }  # fmt: skip


def test_given_a_name_that_differs_from_the_registry_then_the_row_is_listed_and_not_applied(
    world: World, enrolled: Enrollment
):
    content = xlsx_bytes([EMPLOYEE_HEADER, [enrolled.person.id_number, "王武", "2025-03-01"]])

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    enrolled.refresh_from_db()
    assert rows_of(job) == {
        2: ("name_mismatch", "The registry has the name “王五” for this identifier; check the row.")
    }
    assert enrolled.status == EnrollmentStatus.NORMAL


def test_given_a_person_enrolled_in_another_county_then_the_list_does_not_end_it(world: World):
    elsewhere = make_enrollment(make_person(name="钱七", region_code=HONGDONG_VILLAGE))
    content = xlsx_bytes([EMPLOYEE_HEADER, [elsewhere.person.id_number, "钱七", "2025-03-01"]])

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    elsewhere.refresh_from_db()
    assert rows_of(job) == {
        2: ("outside_area", "Enrolled in 洪洞县, outside your area; that county's insurance staff end it.")
    }
    assert elsewhere.status == EnrollmentStatus.NORMAL


def test_given_a_suspended_enrollment_with_an_earlier_end_then_the_list_keeps_that_end(world: World):
    person = make_person(name="郑一")
    suspended = make_enrollment(
        person,
        status=EnrollmentStatus.SUSPENDED,
        enrolled_on=dt.date(2022, 1, 1),
        ended_on=dt.date(2023, 6, 30),
    )
    content = xlsx_bytes([EMPLOYEE_HEADER, [person.id_number, "郑一", "2025-03-01"]])

    run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    suspended.refresh_from_db()
    assert (suspended.status, suspended.ended_on) == (EnrollmentStatus.TERMINATED, dt.date(2023, 6, 30))


def test_given_a_gb18030_csv_with_a_title_row_then_it_is_read_like_a_workbook(
    world: World, enrolled: Enrollment
):
    text = f"某某公司职工参保名单\n身份证号码,姓名,参保日期\n{enrolled.person.id_number},王五,2025/3/1\n"

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, text.encode("gb18030"), name="名单.csv")

    assert (job.status, job.file_format, job.counts) == (ImportStatus.DONE, "csv", {"terminated": 1})


def test_given_a_list_that_was_applied_when_the_worker_gets_it_again_then_nothing_more_happens(
    world: World, enrolled: Enrollment
):
    content = xlsx_bytes([EMPLOYEE_HEADER, [enrolled.person.id_number, "王五", "2025-03-01"]])
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    services.import_job_process(scope=scope_of(world), job_id=job.pk)

    assert OutboxMessage.objects.filter(topic="enrollment.terminated").count() == 1
    assert EnrollmentChange.objects.filter(enrollment=enrolled).count() == 1


@pytest.mark.django_db(transaction=True)
def test_given_a_list_another_delivery_is_applying_when_the_task_is_delivered_again_then_it_is_left_without_waiting(
    transactional_world: World, monkeypatch: pytest.MonkeyPatch
):
    # Given an employee-insurance list a worker is applying: its row locked, its progress reported
    monkeypatch.setattr(services, "_queue_import", lambda job, user_id: None)
    scope = scope_of(transactional_world)
    content = xlsx_bytes([EMPLOYEE_HEADER, ["141002198001010011", "王五", "2025-03-01"]])
    job = services.import_job_create(
        scope=scope, kind=ImportKind.EMPLOYEE_INSURANCE, upload=upload(content), language="en"
    )
    imports.progress_set(job.pk, phase="reading", done=2000, total=5000)
    applying = connections.create_connection("default")
    with applying.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT id FROM enrollment_importjob WHERE id = %s FOR UPDATE", [job.pk])
    try:
        # When a second delivery runs, waiting for a lock at most two seconds
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            left = services.import_job_process(scope=scope, job_id=job.pk)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        applying.close()

    # Then it leaves the list to that worker at once, and the worker's progress stays
    assert (left.pk, left.status) == (job.pk, ImportStatus.PENDING)
    assert imports.progress_of(job.pk) == {"phase": "reading", "done": 2000, "total": 5000}


# --- broken files -------------------------------------------------------------------------------


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (50 * 1024 * 1024))
    return buffer.getvalue()


def _formulas() -> bytes:
    return xlsx_bytes([EMPLOYEE_HEADER, ["=A1&B1", "=1+1", "=TODAY()", "某公司"]])


def _merged() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(EMPLOYEE_HEADER)
    sheet.append([resident_id(dt.date(1980, 1, 1)), "甲", "2025-01-01"])
    sheet.append([None, "乙", None])
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("C2:C3")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


BROKEN_FILES: list[tuple[str, str, bytes | Any, str]] = [
    ("empty", "a.xlsx", b"", "The file is empty."),
    ("not-a-spreadsheet", "a.csv", b"\x00\x01\x02binary", "The file is neither an Excel workbook (.xlsx) nor a CSV text file."),
    ("png-named-xlsx", "a.xlsx", b"\x89PNG\r\n\x1a\n0000", "The file is damaged or is not an Excel workbook (.xlsx)."),
    ("old-xls", "a.csv", bytes.fromhex("d0cf11e0a1b11ae1") + b"0" * 100,
     "This is an old Excel file (.xls) or another Office file; save it as an Excel workbook (.xlsx)."),
    ("truncated-zip", "a.xlsx", b"PK\x03\x04" + b"0" * 100, "The file is damaged or is not an Excel workbook (.xlsx)."),
    ("wrong-columns", "a.xlsx", xlsx_bytes([["甲", "乙"], ["1", "2"]]),
     "No header row with the required columns was found; missing: 身份证号码、姓名、参保日期. Download the template to see them."),
    ("header-only", "a.xlsx", xlsx_bytes([EMPLOYEE_HEADER]), "The file has a header but no data rows."),
    ("zip-bomb", "a.xlsx", _zip_bomb(),
     "The workbook unpacks to far more data than a roster holds; it is refused as unsafe."),
    ("csv-wrong-columns", "a.csv", "姓名,号码\n张三,1\n".encode(),
     "No header row with the required columns was found; missing: 身份证号码、参保日期. Download the template to see them."),
    ("csv-broken-encoding", "a.csv", "身份证号码,姓名,参保日期\n".encode() + b"\xff\xfe\xfa,\xff\n",
     "Row 2 contains text that is neither UTF-8 nor GB18030; save the file as UTF-8 CSV."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "message"), [c[1:] for c in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES]
)
def test_given_a_broken_file_when_it_is_uploaded_or_processed_then_it_gets_a_clear_message_and_nothing_changes(
    world: World, enrolled: Enrollment, name: str, content: bytes, message: str
):
    scope = scope_of(world)
    try:
        job = services.import_job_create(
            scope=scope, kind=ImportKind.EMPLOYEE_INSURANCE, upload=upload(content, name), language="en"
        )
    except Exception as error:  # refused at upload
        got = error.message_dict["file"][0]  # type: ignore[attr-defined]
    else:
        services.import_job_process(scope=scope, job_id=job.pk)
        job.refresh_from_db()
        assert job.status == ImportStatus.FAILED
        got = job.message
    enrolled.refresh_from_db()
    assert (got, enrolled.status) == (message, EnrollmentStatus.NORMAL)


def test_given_formula_cells_without_values_then_each_row_is_an_error_not_a_crash(world: World):
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, _formulas())

    assert (job.status, job.counts) == (ImportStatus.DONE, {"error": 1})
    saved = "holds a formula whose result was never saved; open the file in Excel and save it again, or paste the values."
    assert rows_of(job)[2][1] == (
        f"Cell A2 {saved}; Cell B2 {saved}; Cell C2 {saved}; "
        "The identifier is missing.; The name is missing.; The employee-insurance start date is missing."
    )


def test_given_merged_cells_then_the_rows_under_the_merge_are_errors(world: World):
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, _merged())

    # Which person the merged cells meant cannot be known: every row under them is an error.
    rows = rows_of(job)
    assert {n: outcome for n, (outcome, _m) in rows.items()} == {2: "error", 3: "error"}
    assert rows[2][1].startswith("Row 2 lies in the merged cells ")
    assert rows[3][1].startswith("Row 3 lies in the merged cells ")


def test_given_an_identifier_stored_as_a_number_then_the_row_says_the_digits_were_lost(world: World):
    content = xlsx_bytes([EMPLOYEE_HEADER, [141002199001011234.0, "王五", "2025-03-01"]])

    job = run(world, ImportKind.EMPLOYEE_INSURANCE, content)

    assert rows_of(job)[2] == (
        "error",
        "The identifier was stored as a number and has lost its last digits; format the column as text and type it again.",
    )


# --- households ---------------------------------------------------------------------------------


def _two_households() -> list[list[Any]]:
    return [
        HOUSEHOLD_HEADER,
        member("H001", "户主", "刘大", dt.date(1970, 3, 4)),
        member("H001", "配偶", "陈二", dt.date(1972, 5, 6), male=False),
        member("H001", "子女", "刘小", dt.date(2015, 7, 8), category="学生"),
        member("H002", "01", "黄一", dt.date(1980, 1, 2), phone=""),
    ]


def test_given_a_valid_household_file_when_it_is_checked_then_the_preview_counts_it_and_nothing_is_created(
    world: World,
):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))

    assert (job.status, job.rows_total, job.counts) == (ImportStatus.CHECKED, 4, {"ok": 4, "households": 2})
    assert (Household.objects.count(), Person.objects.count()) == (0, 0)


def test_given_a_confirmed_household_file_then_households_persons_and_one_application_each_are_created(
    world: World,
):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))
    scope = scope_of(world)
    services.import_job_confirm(scope=scope, job_id=job.pk)

    services.import_job_process(scope=scope, job_id=job.pk)

    job.refresh_from_db()
    households = {h.old_number: h.household for h in ImportedHousehold.objects.filter(job=job)}
    assert job.status == ImportStatus.DONE
    assert {key: h.number for key, h in households.items()} == {
        "H001": f"{YAODU_VILLAGE}00001", "H002": f"{YAODU_VILLAGE}00002",
    }  # fmt: skip
    members = sorted((p.name, p.relation, p.category) for p in households["H001"].members.all())
    assert members == [("刘大", "head", "rural"), ("刘小", "child", "student"), ("陈二", "spouse", "rural")]


def test_given_an_imported_household_then_its_application_is_submitted_with_all_its_members(world: World):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))
    scope = scope_of(world)
    services.import_job_confirm(scope=scope, job_id=job.pk)

    services.import_job_process(scope=scope, job_id=job.pk)

    applications = RegistrationApplication.objects.order_by("household__number")
    assert [(a.status, a.region_code, a.persons.count(), a.submitted_by_id) for a in applications] == [
        (ApplicationStatus.SUBMITTED, YAODU_VILLAGE, 3, world.users["insurance_a"].pk),
        (ApplicationStatus.SUBMITTED, YAODU_VILLAGE, 1, world.users["insurance_a"].pk),
    ]
    assert HouseholdCounter.objects.get(pk=YAODU_VILLAGE).last_number == 2


def test_given_a_household_import_then_the_counts_say_what_was_created(world: World):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))
    scope = scope_of(world)
    services.import_job_confirm(scope=scope, job_id=job.pk)

    services.import_job_process(scope=scope, job_id=job.pk)

    job.refresh_from_db()
    assert job.counts == {
        "ok": 4, "households": 2, "households_created": 2, "persons_created": 4, "applications_created": 2,
    }  # fmt: skip


def test_given_rows_with_errors_then_every_row_gets_its_reason_and_their_households_are_held_back(
    world: World,
):
    existing = make_person(name="老户", birth=dt.date(1960, 1, 1))
    rows = [
        HOUSEHOLD_HEADER,
        member("A", "户主", "甲", dt.date(1970, 1, 1), number="141002197001010010"),   # 2 wrong check digit
        member("A", "配偶", "乙", dt.date(1971, 1, 1), male=False),                    # 3 household held back
        member("B", "户主", "丙", dt.date(1972, 1, 1)),                                # 4 two heads
        member("B", "户主", "丁", dt.date(1973, 1, 1)),                                # 5 two heads
        member("C", "户主", "戊", dt.date(1974, 1, 1), village=HONGDONG_VILLAGE),      # 6 outside the area
        member("D", "户主", "己", dt.date(1975, 1, 1)),                                # 7 fine
        member("D", "表亲", "庚", dt.date(1976, 1, 1)),                                # 8 unknown relation
        member("E", "户主", "辛", dt.date(1977, 1, 1), male=False),                    # 9 fine
        member("E", "子女", "壬", dt.date(2000, 1, 1)),                                # 10 fine
        ["E", "子女", "癸", "居民身份证", resident_id(dt.date(2001, 1, 1)), "男", "2001-02-02", "", "", "学生",
         YAODU_VILLAGE],                                                               # 11 birth date mismatch
        ["F", "户主", "老户", "居民身份证", existing.id_number, "男", existing.birth_date, "", "", "农村居民",
         YAODU_VILLAGE],                                                               # 12 already registered head
        member("F", "子女", "新丁", dt.date(2010, 1, 1)),                              # 13 head already registered
    ]  # fmt: skip

    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    outcomes = {n: outcome for n, (outcome, _m) in rows_of(job).items()}
    assert outcomes == {
        2: "error", 3: "household_error", 4: "error", 5: "error", 6: "error", 7: "household_error", 8: "error",
        9: "household_error", 10: "household_error", 11: "error", 12: "existing", 13: "error",
    }  # fmt: skip


def test_given_two_heads_then_the_reason_says_a_household_has_exactly_one(world: World):
    rows = [
        HOUSEHOLD_HEADER,
        member("B", "户主", "丙", dt.date(1972, 1, 1)),
        member("B", "户主", "丁", dt.date(1973, 1, 1)),
    ]

    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    assert rows_of(job)[3] == ("error", "A household has exactly one head (户主); this one has 2.")


def test_given_the_same_identifier_twice_in_the_file_then_the_second_row_names_the_first(world: World):
    number = resident_id(dt.date(1970, 1, 1))
    rows = [
        HOUSEHOLD_HEADER,
        member("A", "户主", "甲", dt.date(1970, 1, 1), number=number),
        member("B", "户主", "甲", dt.date(1970, 1, 1), number=number),
    ]

    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    assert rows_of(job)[3] == ("error", "This identifier is already in row 2.")


def test_given_a_person_already_in_the_registry_then_the_row_is_listed_apart_and_the_rest_imported(
    world: World,
):
    existing = make_person(name="老张")
    rows = [
        HOUSEHOLD_HEADER,
        member("A", "户主", "甲", dt.date(1970, 1, 1)),
        ["A", "子女", "老张", "居民身份证", existing.id_number, "男", existing.birth_date, "", "", "农村居民",
         YAODU_VILLAGE],
    ]  # fmt: skip

    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    assert rows_of(job) == {3: ("existing", "Already in the registry; not imported again.")}
    assert job.counts == {"ok": 1, "existing": 1, "households": 1}


def test_given_a_failure_in_the_middle_of_the_import_then_nothing_is_half_imported(world: World, monkeypatch):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))
    scope = scope_of(world)
    services.import_job_confirm(scope=scope, job_id=job.pk)

    def broken_report(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_write_report", broken_report)
    services.import_job_process(scope=scope, job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.message) == (
        ImportStatus.FAILED,
        "An unexpected error stopped the import; nothing was imported.",
    )
    assert (Household.objects.count(), Person.objects.count(), RegistrationApplication.objects.count()) == (
        0,
        0,
        0,
    )


def test_given_a_checked_file_when_someone_registers_a_member_before_the_import_then_that_member_is_skipped(
    world: World,
):
    rows = _two_households()
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))
    scope = scope_of(world)
    services.import_job_confirm(scope=scope, job_id=job.pk)
    make_person(name="黄一", id_number=rows[4][4], birth=dt.date(1980, 1, 2))

    services.import_job_process(scope=scope, job_id=job.pk)

    job.refresh_from_db()
    assert (job.counts["households_created"], job.counts["existing"]) == (1, 1)


def test_given_a_household_file_that_is_not_checked_yet_then_it_cannot_be_confirmed(world: World):
    job = make_job(user=world.users["insurance_a"], region_code="141002000000")

    with pytest.raises(Exception) as refused:
        services.import_job_confirm(scope=scope_of(world), job_id=job.pk)

    assert refused.value.messages == [  # type: ignore[attr-defined]
        "This import is “Waiting to be checked”; only a checked household file can be confirmed."
    ]


# --- reports and templates ----------------------------------------------------------------------


def _report_rows(job: ImportJob, scope: Scope) -> list[tuple[Any, ...]]:
    handle = imports.report_workbook(scope=scope, job=job)
    book = load_workbook(handle, read_only=True)
    return [tuple(row) for row in book.worksheets[1].iter_rows(values_only=True)]


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def test_given_a_cell_that_starts_like_a_formula_then_the_report_escapes_it(world: World):
    rows = [
        HOUSEHOLD_HEADER,
        [
            '=HYPERLINK("http://x")',
            "户主",
            "@甲",
            "居民身份证",
            "",
            "男",
            "1970-01-01",
            "-",
            "+1",
            "农村居民",
            YAODU_VILLAGE,
        ],
    ]
    job = run(world, ImportKind.HOUSEHOLDS, csv_bytes(rows), name="a.csv")

    report = _report_rows(job, scope_of(world))

    assert report[1][3:6] == ('\'=HYPERLINK("http://x")', "户主", "'@甲")
    assert report[1][10:12] == ("'-", "'+1")


def test_given_an_administrator_without_full_view_then_the_report_masks_identifiers_and_phones(world: World):
    number = resident_id(dt.date(1970, 1, 1))
    rows = [
        HOUSEHOLD_HEADER,
        member("A", "表亲", "甲", dt.date(1970, 1, 1), number=number, phone="13800001111"),
    ]
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    staff = _report_rows(job, scope_of(world))[1]
    admin = _report_rows(job, scope_of(world, "admin"))[1]

    assert (staff[7], staff[11]) == (number, "13800001111")
    assert (admin[7], admin[11]) == (number[:6] + "********" + number[-4:], "138****1111")


def test_given_the_household_template_then_its_header_is_the_columns_the_import_reads(world: World):
    book = load_workbook(imports.template_workbook(ImportKind.HOUSEHOLDS), read_only=True)

    header = next(book.worksheets[0].iter_rows(values_only=True))

    assert list(header) == [*HOUSEHOLD_HEADER, "国籍"]


@pytest.mark.parametrize(
    ("language", "relation_help"),
    [
        ("zh-hans", "户主、配偶、子女、父母、孙子女、祖父母、兄弟姐妹、其他（也可填写GB/T 4761代码）"),
        ("en", "户主、配偶、子女、父母、孙子女、祖父母、兄弟姐妹、其他 (GB/T 4761 codes accepted)"),
    ],
)
def test_given_the_household_template_then_the_relation_instruction_is_in_the_language_of_the_page(
    world: World, language: str, relation_help: str
):
    # Given the household template written in the language of the page
    with translation.override(language):
        book = load_workbook(imports.template_workbook(ImportKind.HOUSEHOLDS), read_only=True)

    # When its instructions sheet is read
    rows = {row[0]: row[2] for row in book.worksheets[1].iter_rows(values_only=True)}

    # Then the relation column's instruction has no English left in Chinese (and the values stay Chinese)
    assert rows["与户主关系"] == relation_help


# --- pages --------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, world: World):
    client.force_login(world.users["insurance_a"])
    return client


def test_given_an_upload_on_the_page_then_a_job_is_queued_and_the_detail_page_opens(
    staff_client, world: World, django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "enrollment.tasks.process_import.apply_async", lambda **kw: queued.append(kw["kwargs"])
    )
    content = xlsx_bytes(_two_households())

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("enrollment:household-import"), {"file": upload(content)})

    job = ImportJob.objects.get()
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:import-detail", args=[job.pk]),
    )
    assert queued == [{"job_id": job.pk, "user_id": world.users["insurance_a"].pk}]


def test_given_no_worker_can_be_reached_then_the_job_says_so(
    staff_client, django_capture_on_commit_callbacks, monkeypatch
):
    def down(**kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("enrollment.tasks.process_import.apply_async", down)

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("enrollment:household-import"), {"file": upload(xlsx_bytes(_two_households()))}
        )

    assert ImportJob.objects.get().status == ImportStatus.FAILED


def test_given_a_file_of_the_wrong_type_then_the_upload_page_answers_400(staff_client):
    response = staff_client.post(
        reverse("enrollment:household-import"), {"file": upload(b"%PDF-1.4", "a.pdf")}
    )

    assert (response.status_code, ImportJob.objects.count()) == (400, 0)


def test_given_a_checked_job_then_the_detail_page_lists_each_row_with_an_error(staff_client, world: World):
    rows = [
        HOUSEHOLD_HEADER,
        member("B", "户主", "丙", dt.date(1972, 1, 1)),
        member("B", "户主", "丁", dt.date(1973, 1, 1)),
    ]
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(rows))

    response = staff_client.get(reverse("enrollment:import-detail", args=[job.pk]))

    assert response.status_code == 200
    assert [r["row_number"] for r in response.context["rows"]] == [2, 3]


def test_given_a_checked_job_when_it_is_confirmed_on_the_page_then_it_is_queued_for_import(
    staff_client, world: World, django_capture_on_commit_callbacks, monkeypatch
):
    job = run(world, ImportKind.HOUSEHOLDS, xlsx_bytes(_two_households()))
    monkeypatch.setattr("enrollment.tasks.process_import.apply_async", lambda **kw: None)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("enrollment:import-confirm", args=[job.pk]), {"decision": "confirm"}
        )

    job.refresh_from_db()
    assert (response.status_code, job.status, job.confirmed_by_id) == (
        302, ImportStatus.CONFIRMED, world.users["insurance_a"].pk,
    )  # fmt: skip


def test_given_a_job_then_its_report_downloads_as_xlsx(staff_client, world: World):
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, xlsx_bytes([EMPLOYEE_HEADER, ["X1", "甲", "2025-01-01"]]))

    response = staff_client.get(reverse("enrollment:import-errors", args=[job.pk]))

    assert (response.status_code, response["Content-Type"]) == (200, imports.XLSX_CONTENT_TYPE)
    assert response["Content-Disposition"] == (
        f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''%E5%AF%BC%E5%85%A5%E6%8A%A5%E5%91%8A-{job.pk}.xlsx"
    )


def test_given_a_job_in_progress_then_the_progress_endpoint_reports_the_rows_read(staff_client, world: World):
    job = make_job(user=world.users["insurance_a"], region_code="141002000000")
    imports.progress_set(job.pk, phase="reading", done=4000, total=10000)

    response = staff_client.get(reverse("enrollment:import-progress", args=[job.pk]))

    assert response.json() == {
        "status": "pending", "phase": "reading", "done": 4000, "done_text": "4,000", "total": 10000, "percent": 40,
        "finished": False,
    }  # fmt: skip


def test_given_the_template_link_then_the_households_template_downloads(staff_client):
    response = staff_client.get(reverse("enrollment:import-template") + "?kind=households")

    assert (response.status_code, response["Content-Type"]) == (200, imports.XLSX_CONTENT_TYPE)


# --- in the browser -----------------------------------------------------------------------------
# All of this task's browser tests live here, the duplicate queue's too: the browser fixture is
# per session, and a second module importing it would start a second Playwright.


@pytest.fixture
def ui(page, sign_in, shoot, page_log):
    """The browser, signed-in helper, screenshots and console log, in one."""
    return SimpleNamespace(page=page, sign_in=sign_in, shoot=shoot, log=page_log)


@pytest.fixture
def worker_inline(monkeypatch):
    """The live server runs the worker's part at once (the task would, a moment later)."""

    def run_now(*, kwargs: dict[str, Any], **options: Any) -> None:
        services.import_job_process(scope=Scope.for_user_id(kwargs["user_id"]), job_id=kwargs["job_id"])

    monkeypatch.setattr("enrollment.tasks.process_import.apply_async", run_now)


@pytest.mark.browser
def test_given_a_household_file_in_the_browser_when_checked_and_confirmed_then_the_households_are_created(
    ui, transactional_world, worker_inline, tmp_path
):
    from playwright.sync_api import expect

    rows = [
        *_two_households(),
        member("H003", "户主", "错号", dt.date(1990, 1, 1), number="141002199001010010"),
        member("H003", "子女", "错号子", dt.date(2015, 1, 1), category="学生"),
    ]
    path = tmp_path / "迁移名单.xlsx"
    path.write_bytes(xlsx_bytes(rows))
    ui.sign_in("insurance_a")
    ui.page.goto(reverse("enrollment:household-import"))
    ui.shoot("1-upload")

    ui.page.set_input_files("[data-testid=file-input]", str(path))
    with ui.page.expect_navigation():
        ui.page.get_by_test_id("upload-submit").click()
    expect(ui.page.get_by_test_id("job-status")).to_have_attribute("data-status", "checked")
    expect(ui.page.get_by_test_id("report-row")).to_have_count(2)
    ui.shoot("2-preview")

    with ui.page.expect_navigation():
        ui.page.get_by_test_id("confirm").click()
    expect(ui.page.get_by_test_id("job-status")).to_have_attribute("data-status", "done")
    expect(ui.page.get_by_test_id("households-table").locator("tbody tr")).to_have_count(2)
    ui.shoot("3-result")
    assert (ui.log.errors, ui.log.csp_violations()) == ([], [])


@pytest.mark.browser
def test_given_an_employee_list_in_the_browser_then_the_report_lists_who_was_affected(
    ui, transactional_world, worker_inline, tmp_path
):
    from playwright.sync_api import expect

    enrolled = make_enrollment(make_person(name="王五"), enrolled_on=dt.date(2023, 1, 1))
    elsewhere = make_enrollment(make_person(name="钱七", region_code=HONGDONG_VILLAGE))
    path = tmp_path / "职工参保名单.xlsx"
    path.write_bytes(
        xlsx_bytes([
            ["某某公司2025年职工参保名单"],
            EMPLOYEE_HEADER,
            [enrolled.person.id_number, "王五", dt.date(2025, 3, 1), "临汾钢铁"],
            [elsewhere.person.id_number, "钱七", dt.date(2025, 3, 1), "临汾钢铁"],
            [resident_id(dt.date(1991, 1, 1)), "周九", dt.date(2025, 3, 1), "临汾钢铁"],
        ])
    )  # fmt: skip
    ui.sign_in("insurance_a")
    ui.page.goto(reverse("enrollment:employee-import"))
    ui.page.set_input_files("[data-testid=file-input]", str(path))
    with ui.page.expect_navigation():
        ui.page.get_by_test_id("upload-submit").click()

    expect(ui.page.get_by_test_id("job-status")).to_have_attribute("data-status", "done")
    expect(ui.page.get_by_test_id("report-row")).to_have_count(3)
    ui.shoot("report")
    assert (ui.log.errors, ui.log.csp_violations()) == ([], [])


@pytest.mark.browser
def test_given_a_job_waiting_for_a_worker_then_its_page_shows_the_progress(ui, transactional_world):
    from playwright.sync_api import expect

    job = make_job(user=transactional_world.users["insurance_a"], region_code="141002000000")
    imports.progress_set(job.pk, phase="reading", done=36000, total=100000)
    ui.sign_in("insurance_a")

    ui.page.goto(reverse("enrollment:import-detail", args=[job.pk]))

    expect(ui.page.locator("[data-progress-bar]")).to_have_attribute("value", "36")
    ui.shoot("progress")
    assert (ui.log.errors, ui.log.csp_violations()) == ([], [])


@pytest.mark.browser
def test_given_a_case_in_the_browser_when_staff_keep_one_then_the_case_shows_as_resolved(
    ui, transactional_world
):
    from playwright.sync_api import expect

    from enrollment.models import DuplicateCase
    from tests.enrollment.test_duplicates import find_everywhere, twins

    a, b = twins()
    twins(region_a=HONGDONG_VILLAGE, region_b=YAODU_VILLAGE, name="吴芳")
    find_everywhere()
    ui.sign_in("insurance_a")
    ui.page.goto(reverse("enrollment:duplicate-queue"))
    expect(ui.page.get_by_test_id("case-row")).to_have_count(2)
    ui.shoot("1-queue")

    case = DuplicateCase.objects.get(enrollment_a=a)
    ui.page.goto(reverse("enrollment:duplicate-detail", args=[case.pk]))
    ui.shoot("2-case")
    ui.page.locator(f"input[name=keep][value='{b.pk}']").check()
    ui.page.locator("input[name=basis][value='habitual_residence']").check()
    with ui.page.expect_navigation():
        ui.page.get_by_test_id("resolve").click()

    expect(ui.page.get_by_test_id("case-status")).to_have_attribute("data-status", "resolved")
    ui.shoot("3-resolved")
    assert (ui.log.errors, ui.log.csp_violations()) == ([], [])


def test_given_the_household_import_page_then_the_row_limit_is_written_with_its_digits_grouped(staff_client):
    # When the insurance staff open the household import page (in Chinese, the portal's default)
    page = staff_client.get(reverse("enrollment:household-import")).content.decode()

    # Then the limit reads as every other count on the portal's pages, not as 1000000
    assert "不超过 200 MB、1,000,000 行。" in page


@pytest.mark.parametrize(
    "employer",
    [
        "某公司",
        "",
        "第一行\n第二行\t缩进",
        "单元\x1f分隔",
        "记录\x1e分隔",
        '\\x1f 反斜杠与引号"',
        " 前后空格 ",
        "\x1f开头的分隔",
        "末尾制表\t",
    ],
)
def test_given_a_list_row_not_imported_then_its_cells_are_kept_exactly_as_read(world: World, employer: str):
    # Given an employee list whose person is not registered, with an employer of any characters
    # (a CSV file: a workbook cannot hold control characters)
    cells = [resident_id(dt.date(1980, 1, 9)), "无名氏", "2025-01-01", employer]

    # When it is imported
    job = run(world, ImportKind.EMPLOYEE_INSURANCE, csv_bytes([EMPLOYEE_HEADER, cells]), name="名单.csv")

    # Then the report row holds the four cells as the file had them
    (reported,) = ImportRow.objects.filter(job=job)
    assert (reported.outcome, reported.values) == (ImportOutcome.NOT_FOUND, cells)
