"""An agency's page says what its viewer needs about it: where it is, its part in the work, who
works there (to its own people) and, through insurance's panels, a village's coverage and
collection of the year or a school's students — each only to the roles that read them elsewhere.

Until 1 December 2026 a village clerk's own committee page showed its heading and nothing else:
the page had only the users (``user.view``) and the history (``audit.view``), which no clerk has.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services as account_services
from accounts.roles import AgencyKind
from enrollment import exports
from tests.conftest import World
from tests.enrollment.school_students_support import make_school_scene
from tests.enrollment.test_reports import TUNLI, make_scene

pytestmark = pytest.mark.django_db

FIGURE = re.compile(r'data-testid="figure-([\w-]+)">([^<]*)</td>')


def page_of(client: Client, world: World, user: str, agency: str) -> str:
    client.force_login(world.users[user])
    response = client.get(reverse("accounts:agency-detail", kwargs={"pk": world.agencies[agency].pk}))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, testid: str) -> str:
    found = re.search(rf'<section class="card" data-testid="{testid}">(.*?)</section>', html, re.S)
    return found.group(1) if found else ""


def figures(html: str, testid: str) -> dict[str, str]:
    return dict(FIGURE.findall(section(html, testid)))


def flat(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- a village clerk's own committee -----------------------------------------------------------------


def test_given_a_village_clerk_then_their_committee_s_page_says_where_it_is_and_what_it_does(
    client, world: World
):
    html = page_of(client, world, "clerk_a", "village_a")

    about = section(html, "agency-about")
    assert flat(about) == (
        "本机构 类型 村（居）民委员会 区划 临汾市 › 尧都区 › 屯里镇 › 屯里村 141002100201 "
        "职责 为本村的户及其成员办理城乡居民医保参保登记，跟进未参保、未缴费人员；经由本村缴费的各户，"
        "由村级经办员为税务部门代收年度个人缴费（代收），连同本村名单和台账一并交付。"
    )
    # Only the village itself is the clerk's to open.
    assert re.findall(r'<a href="(/regions/[0-9]+/)">', about) == [f"/regions/{TUNLI}/"]


def test_given_a_village_clerk_then_their_committee_s_page_names_who_works_there_without_accounts(
    client, world: World
):
    account_services.user_create(
        username="clerk_a2", password="Test-pass-2026!", full_name="村经办丙", agency=world.agencies["village_a"],
        role="village_clerk", check_password=False,
    )  # fmt: skip

    html = page_of(client, world, "clerk_a", "village_a")

    assert (
        flat(section(html, "agency-colleagues"))
        == "本机构人员 姓名 角色 村经办a (本人) 村级经办员 村经办丙 村级经办员"
    )
    assert "/users/" not in html  # no user's page: a clerk may not view users


def test_given_the_village_s_figures_then_the_clerk_s_committee_page_shows_the_year_s_collection(
    client, world: World
):
    make_scene(world)

    html = page_of(client, world, "clerk_a", "village_a")

    panel = section(html, "village-collection")
    assert "<h2>屯里村：2027年度参保与征缴进度</h2>" in panel
    assert figures(html, "village-collection") == {
        "registered": "5",
        "registered-enrolled": "3 (60.0%)",
        "assessed": "4",
        "paid": "2",
        "government-paid": "1",
        "collection-rate": "75.0%",
        "due": "1",
        "due-yuan": "400.00",
        "paid-yuan": "800.00",
    }
    assert re.findall(r'href="([^"]+)"', panel) == [
        f"/enrollment/reports/coverage/?year=2027&amp;area={TUNLI}",
        f"/enrollment/reports/unenrolled/?year=2027&amp;area={TUNLI}",
        f"/enrollment/reports/unpaid/?year=2027&amp;area={TUNLI}",
    ]


def test_given_no_figures_counted_yet_then_the_committee_page_says_so(client, world: World):
    year = exports.year_of("")

    html = page_of(client, world, "clerk_a", "village_a")

    assert figures(html, "village-collection") == {}
    assert f"{year}年度的数据尚未统计。" in section(html, "village-collection")


# --- other roles -------------------------------------------------------------------------------------


def test_given_tax_staff_then_their_office_s_page_names_colleagues_and_shows_no_insurance_panel(
    client, world: World
):
    make_scene(world)

    html = page_of(client, world, "tax_a", "tax_a")

    assert flat(section(html, "agency-colleagues")) == "本机构人员 姓名 角色 税务a (本人) 税务人员"
    assert 'data-testid="agency-duties"' not in html
    assert 'data-testid="village-collection"' not in html


def test_given_insurance_staff_then_a_village_committee_s_page_shows_its_users_and_its_collection(
    client, world: World
):
    make_scene(world)

    html = page_of(client, world, "insurance_a", "village_a")

    assert f'href="/users/{world.users["clerk_a"].pk}/"' in html  # the users table, as before
    assert 'data-testid="agency-colleagues"' not in html
    assert figures(html, "village-collection")["registered-enrolled"] == "3 (60.0%)"


def test_given_the_home_page_then_the_user_s_agency_links_to_its_page(client, world: World):
    client.force_login(world.users["clerk_a"])

    html = client.get("/").content.decode()

    assert (
        f'<a href="/agencies/{world.agencies["village_a"].pk}/" data-testid="home-agency">屯里村村民委员会</a>'
    ) in html


# --- a school ----------------------------------------------------------------------------------------


def test_given_a_school_clerk_then_their_school_s_page_counts_its_students_and_links_their_list(
    client, world: World
):
    make_school_scene(world)
    school = world.agencies["school_a"]

    html = page_of(client, world, "school_a", "school_a")

    assert figures(html, "school-students") == {
        "students": "6",
        "enrolled": "2",
        "unenrolled": "2",
        "paid": "1",
        "due": "1",
    }
    assert f'href="/enrollment/schools/{school.pk}/students/?year=2027"' in section(html, "school-students")
    assert "以学生名册为本校学生办理城乡居民医保参保登记" in section(html, "agency-about")


def test_given_another_school_of_the_county_then_the_school_clerk_sees_its_page_but_not_its_students(
    client, world: World
):
    make_school_scene(world)
    world.agencies["school_c"] = account_services.agency_create(
        name="尧都区第二中学", kind=AgencyKind.SCHOOL, region=world.regions["yaodu"]
    )

    html = page_of(client, world, "school_a", "school_c")

    assert 'data-testid="school-students"' not in html
    assert 'data-testid="agency-colleagues"' not in html
    assert "机构信息" in section(html, "agency-about")
