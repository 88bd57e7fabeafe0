"""A school's list of its students (学生名册): the school's clerk sees whom they are responsible for,
each student with their enrollment and the insurance year's payment, filtered, searched, paged by
keyset and exported — only their own school's students, in one statement a page.

The scene is tests/enrollment/school_students_support.py's: six students of 学校a (尧都区).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services as account_services
from accounts.masking import mask_id_number
from accounts.models import Agency
from accounts.roles import AgencyKind, Role
from enrollment import students
from enrollment.models import Person
from tests.addresses import ID_NUMBER, SEARCH_ADDRESS, urls_of, with_id_numbers
from tests.conftest import World
from tests.enrollment.school_students_support import (
    ENROLLED_ON,
    SCHOOL_REGION,
    make_school_scene,
    student_id,
)
from tests.exports_support import workbook_of
from tests.matrix.enrollment_registration import resident_id
from tests.matrix.enrollment_review import make_person
from tests.refunds.support import YEAR

pytestmark = pytest.mark.django_db

# By name in the index's byte order (C collation): 张 < 李 < 王, 一 < 三 < 二, 五 < 四.
ALL = ["张六", "李五", "李四", "王一", "王三", "王二"]


@pytest.fixture
def scene(world: World) -> dict[str, Person]:
    return make_school_scene(world)


def list_url(world: World, school: str = "school_a", **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"year": str(YEAR), **params}.items())
    return f"{reverse('enrollment:school-students', kwargs={'pk': world.agencies[school].pk})}?{query}"


def signed_in(client: Client, world: World, key: str) -> Client:
    client.force_login(world.users[key])
    return client


def names(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["row"].name for item in response.context["rows"]]


# --- what the list shows ---------------------------------------------------------------------------


def test_given_the_school_clerk_when_opening_the_list_then_each_student_shows_enrollment_and_payment(
    client, world: World, scene
):
    response = signed_in(client, world, "school_a").get(list_url(world))

    assert response.status_code == 200
    assert [
        (item["row"].name, item["row"].id_number, item["row"].state_label, item["row"].payment_label,
         item["payment_text"])
        for item in response.context["rows"]
    ] == [
        ("张六", student_id(16), "未参保", "未核定", ""),
        ("李五", student_id(15), "待审核", "未核定", ""),
        ("李四", student_id(14), "终止参保", "未核定", ""),
        ("王一", student_id(11), "正常参保", "已缴", "2026-10-10 · 400.00 元"),
        ("王三", student_id(13), "暂停参保", "未核定", ""),
        ("王二", student_id(12), "正常参保", "待缴", "应缴 400.00 元"),
    ]  # fmt: skip


def test_given_the_list_then_a_normal_enrollment_says_since_when_in_its_row(client, world: World, scene):
    html = signed_in(client, world, "school_a").get(list_url(world)).content.decode()

    rows = [" ".join(row.split()) for row in re.findall(r'<tr data-testid="student-row".*?</tr>', html, re.S)]
    assert (
        '<span class="badge badge-normal" data-status="normal">正常参保</span> '
        f'<span class="muted small">自{ENROLLED_ON.isoformat()}起</span>'
    ) in rows[3]
    assert '<span class="badge badge-pay-paid">已缴</span>' in rows[3]
    assert '<span class="badge badge-pay-none">未核定</span>' in rows[0]


def test_given_the_school_then_the_tabs_and_figures_count_its_students_exactly(client, world: World, scene):
    response = signed_in(client, world, "school_a").get(list_url(world))

    assert [(tab["value"], tab["label"], tab["count"]) for tab in response.context["tabs"]] == [
        ("all", "全部学生", 6),
        ("normal", "正常参保", 2),
        ("suspended", "暂停参保", 1),
        ("terminated", "终止参保", 1),
        ("unenrolled", "尚未参保", 2),
    ]
    assert [(p["value"], p["count"]) for p in response.context["payments"]] == [
        ("", 6),
        ("paid", 1),
        ("due", 1),
        ("unassessed", 4),
    ]
    assert response.context["counts"].awaiting == 1


def test_given_the_not_yet_enrolled_tab_then_only_students_without_an_enrollment_are_listed(
    client, world: World, scene
):
    response = signed_in(client, world, "school_a").get(list_url(world, status="unenrolled"))

    assert [(item["row"].name, item["row"].state) for item in response.context["rows"]] == [
        ("张六", "none"),
        ("李五", "submitted"),
    ]


def test_given_a_status_tab_then_only_that_status_is_listed(client, world: World, scene):
    client = signed_in(client, world, "school_a")

    listed = {status: names(client.get(list_url(world, status=status))) for status in students.STATUS_FILTERS}

    assert listed == {
        "normal": ["王一", "王二"],
        "suspended": ["王三"],
        "terminated": ["李四"],
        "unenrolled": ["张六", "李五"],
    }


def test_given_the_payment_filter_then_the_year_s_paid_due_and_unassessed_are_listed(
    client, world: World, scene
):
    client = signed_in(client, world, "school_a")

    listed = {
        payment: names(client.get(list_url(world, payment=payment))) for payment in students.PAYMENT_FILTERS
    }

    assert listed == {"paid": ["王一"], "due": ["王二"], "unassessed": ["张六", "李五", "李四", "王三"]}


def test_given_a_filter_of_no_meaning_then_the_whole_list_is_shown(client, world: World, scene):
    response = signed_in(client, world, "school_a").get(list_url(world, status="x", payment="y"))

    assert names(response) == ALL


# --- search ----------------------------------------------------------------------------------------


def test_given_a_name_prefix_when_searched_then_the_address_holds_a_key_and_the_students_are_found(
    client, world: World, scene
):
    client = signed_in(client, world, "school_a")
    url = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})

    posted = client.post(url, {"q": "王", "year": str(YEAR)})
    page = client.get(posted["Location"])

    assert re.fullmatch(re.escape(url) + SEARCH_ADDRESS + f"&year={YEAR}", posted["Location"])
    assert names(page) == ["王一", "王三", "王二"]
    assert page.context["tabs"][0]["count"] == 6  # the counts are the school's, whatever is searched


def test_given_an_id_number_prefix_when_searched_then_no_address_holds_it(client, world: World, scene):
    client = signed_in(client, world, "school_a")
    url = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})
    posted = client.post(url, {"q": student_id(12), "year": str(YEAR)})

    page = client.get(posted["Location"])

    assert names(page) == ["王二"]
    assert with_id_numbers([posted, page]) == []
    assert ID_NUMBER.search(student_id(12))


def test_given_a_search_and_a_tab_then_both_narrow_the_list(client, world: World, scene):
    client = signed_in(client, world, "school_a")
    url = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})
    posted = client.post(url, {"q": "李", "status": "unenrolled", "year": str(YEAR)})

    page = client.get(posted["Location"])

    assert names(page) == ["李五"]
    assert "status=unenrolled" in posted["Location"]


def test_given_an_empty_search_then_the_page_asks_for_something_to_search(client, world: World, scene):
    url = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})

    response = signed_in(client, world, "school_a").post(url, {"q": "  "})

    assert response.status_code == 400
    assert response.context["notice"] == "请输入姓名或身份证号码进行查找。"


# --- pages -----------------------------------------------------------------------------------------


def test_given_pages_of_two_when_following_next_then_every_student_is_shown_once_in_order(
    client, world: World, scene, monkeypatch
):
    monkeypatch.setattr(students, "PAGE_SIZE", 2)
    client = signed_in(client, world, "school_a")
    pages, url, responses = [], list_url(world), []
    while url:
        response = client.get(url)
        responses.append(response)
        pages.append(names(response))
        url = response.context["next_url"]

    assert pages == [["张六", "李五"], ["李四", "王一"], ["王三", "王二"]]
    assert all("after=" in u for r in responses[:-1] for u in [r.context["next_url"]])
    # The cursor (a name and an ID number) stays in the session: no address names a student.
    assert not any(name in u for r in responses for u in urls_of(r) for name in ALL)
    assert with_id_numbers(responses) == []


def test_given_a_page_key_this_session_does_not_keep_then_the_list_starts_again_and_says_so(
    client, world: World, scene
):
    response = signed_in(client, world, "school_a").get(list_url(world, after="unknownkey12"))

    assert names(response) == ALL
    assert response.context["notice"] == "该页已不再保留，名单从第一页重新显示。"


def test_given_a_school_of_many_students_then_a_page_costs_the_same_queries_as_a_school_of_few(
    client, world: World, scene
):
    client = signed_in(client, world, "school_a")
    client.get(list_url(world))  # the session and the caches as a clerk's second request finds them
    with CaptureQueriesContext(connection) as few:
        client.get(list_url(world))
    school = world.agencies["school_a"]
    for sequence in range(40):
        make_person(SCHOOL_REGION, name=f"赵{sequence:02d}", id_number=resident_id("141002", ENROLLED_ON, 100 + sequence), school=school)  # fmt: skip

    with CaptureQueriesContext(connection) as many:
        response = client.get(list_url(world))

    assert len(response.context["rows"]) == 46
    # session, user, agency and region (the scope), the school, the years (twice), the page, the counts
    assert (len(few), len(many)) == (9, 9)


# --- who may see which school ----------------------------------------------------------------------


def test_given_another_school_of_the_same_county_then_its_clerk_gets_404_for_ours_and_we_for_theirs(
    client, world: World, scene
):
    other = account_services.agency_create(
        name="尧都区第二中学", kind=AgencyKind.SCHOOL, region=world.regions["yaodu"]
    )
    make_person(SCHOOL_REGION, name="王他校", id_number=resident_id("141002", ENROLLED_ON, 90), school=other)
    clerk = account_services.user_create(
        username="school_c", password="Test-pass-2026!", full_name="学校c", agency=other,
        role=Role.SCHOOL_CLERK, check_password=False,
    )  # fmt: skip
    ours = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})
    theirs = reverse("enrollment:school-students", kwargs={"pk": other.pk})

    client.force_login(world.users["school_a"])
    from_ours = (client.get(theirs).status_code, client.get(f"{theirs[:-1]}.xlsx").status_code)
    client.force_login(clerk)
    from_theirs = client.get(ours).status_code
    their_list = names(client.get(theirs))

    assert from_ours == (404, 404)
    assert from_theirs == 404
    assert their_list == ["王他校"]


@pytest.mark.parametrize(
    ("user", "status"),
    [
        ("school_b", 404),  # another county's school
        ("clerk_a", 404),  # a village of the county: the school lies outside it
        ("insurance_b", 404),  # another county
        ("tax_a", 403),  # tax never reads insurance's records
        ("finance_a", 403),
    ],
)
def test_given_a_user_outside_the_school_then_its_list_and_export_are_refused(
    client, world: World, scene, user: str, status: int
):
    client.force_login(world.users[user])
    page = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})
    xlsx = reverse("enrollment:school-students-xlsx", kwargs={"pk": world.agencies["school_a"].pk})

    assert (client.get(page).status_code, client.get(xlsx).status_code) == (status, status)


def test_given_the_county_s_insurance_staff_then_they_see_the_school_s_students_in_full(
    client, world: World, scene
):
    response = signed_in(client, world, "insurance_a").get(list_url(world))

    assert [item["row"].id_number for item in response.context["rows"]][:2] == [
        student_id(16),
        student_id(15),
    ]
    assert names(response) == ALL


def test_given_the_city_administrator_then_the_students_are_listed_with_masked_id_numbers(
    client, world: World, scene
):
    response = signed_in(client, world, "admin").get(list_url(world))

    assert [(item["row"].id_number, item["row"].birth_date) for item in response.context["rows"]][:2] == [
        (mask_id_number(student_id(16)), "1980"),
        (mask_id_number(student_id(15)), "2010"),
    ]
    assert with_id_numbers([response]) == []
    assert student_id(16) not in response.content.decode()


def test_given_a_school_of_the_county_with_no_students_then_its_list_is_empty_not_missing(
    client, world: World, scene
):
    empty = Agency.objects.create(
        name="尧都区第三中学", kind=AgencyKind.SCHOOL, region=world.regions["yaodu"]
    )

    response = signed_in(client, world, "insurance_a").get(
        reverse("enrollment:school-students", kwargs={"pk": empty.pk})
    )

    assert (response.status_code, names(response)) == (200, [])
    assert "还没有学生" in response.content.decode()


def test_given_an_agency_that_is_no_school_then_it_has_no_student_list(client, world: World, scene):
    village = world.agencies["village_a"]

    response = signed_in(client, world, "insurance_a").get(
        reverse("enrollment:school-students", kwargs={"pk": village.pk})
    )

    assert response.status_code == 404


# --- the way there ---------------------------------------------------------------------------------


def test_given_the_school_clerk_s_workspace_then_it_links_to_the_school_s_list(client, world: World):
    html = signed_in(client, world, "school_a").get("/enrollment/").content.decode()

    assert (
        f'<a class="button" href="/enrollment/schools/{world.agencies["school_a"].pk}/students/" '
        'data-testid="school-students">学生名册</a>'
    ) in html


def test_given_a_village_clerk_s_workspace_then_it_has_no_student_list(client, world: World):
    html = signed_in(client, world, "clerk_a").get("/enrollment/").content.decode()

    assert 'data-testid="school-students"' not in html


# --- the export ------------------------------------------------------------------------------------


def _xlsx(client: Client, world: World, **params: str):  # type: ignore[no-untyped-def]
    school = world.agencies["school_a"].pk
    query = "&".join(f"{key}={value}" for key, value in {"year": str(YEAR), **params}.items())
    response = client.get(f"{reverse('enrollment:school-students-xlsx', kwargs={'pk': school})}?{query}")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return [list(row) for row in workbook_of(response).worksheets[0].iter_rows(values_only=True)]


def test_given_the_export_then_the_workbook_lists_the_filtered_students_with_exact_values(
    client, world: World, scene
):
    import datetime as dt
    from decimal import Decimal

    rows = _xlsx(signed_in(client, world, "school_a"), world, status="normal")

    assert rows[0][0].startswith("尧都区第一中学 — 学生名单，2027年度")
    assert rows[1][0] == "正常参保"
    assert rows[2] == [
        "姓名", "证件号码", "出生日期", "性别", "人员类别", "参保状态", "参保日期", "2027年度缴费",
        "应缴金额（元）", "缴费日期", "已缴金额（元）",
    ]  # fmt: skip
    assert rows[3:] == [
        ["王一", student_id(11), "2010-05-01", "男", "学生", "正常参保", dt.datetime(2025, 9, 1), "已缴",
         None, dt.datetime(2026, 10, 10), Decimal("400")],
        ["王二", student_id(12), "2010-05-01", "男", "学生", "正常参保", dt.datetime(2025, 9, 1), "待缴",
         Decimal("400"), None, None],
    ]  # fmt: skip


def test_given_a_search_kept_in_the_session_then_the_export_holds_only_what_was_found(
    client, world: World, scene
):
    client = signed_in(client, world, "school_a")
    url = reverse("enrollment:school-students", kwargs={"pk": world.agencies["school_a"].pk})
    posted = client.post(url, {"q": "李", "year": str(YEAR)})
    key = re.search(r"search=([A-Za-z0-9_-]+)", posted["Location"]).group(1)

    rows = _xlsx(client, world, search=key)

    assert [row[0] for row in rows[3:]] == ["李五", "李四"]
    assert rows[1][0] == "姓名或证件号码以“李”开头"


def test_given_a_student_whose_name_would_run_as_a_formula_then_the_export_escapes_it(
    client, world: World, scene
):
    make_person(SCHOOL_REGION, name="=HYPERLINK(1)", id_number=resident_id("141002", ENROLLED_ON, 95), school=world.agencies["school_a"])  # fmt: skip

    rows = _xlsx(signed_in(client, world, "school_a"), world, status="unenrolled")

    assert [row[0] for row in rows[3:]] == ["'=HYPERLINK(1)", "张六", "李五"]
