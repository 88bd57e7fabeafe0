"""Insurance's reports: the household register import, coverage per area, the follow-up lists.

The village 屯里村 (141002100201) of 屯里镇, 尧都区 is the scene: five persons on its household
register — 甲 enrolled and paid, 乙 enrolled and due, 丙 in the registry with a terminated
enrollment, 丁 not in the registry, 戊 enrolled and paid in full by the government — and 己,
enrolled in the village but on no register (a residence-permit holder).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from accounts.roles import Role
from accounts.scope import Scope
from enrollment import reports
from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now
from enrollment.models import Assessment, CoverageStat, EnrollmentStatus, ImportKind, RegisteredResident
from tests.addresses import with_id_numbers
from tests.conftest import World
from tests.enrollment import resident_id, with_wrong_check_digit
from tests.enrollment.test_imports import rows_of, run, xlsx_bytes
from tests.exports_support import exported
from tests.matrix.enrollment_review import make_enrollment, make_person
from tests.refunds.support import YEAR, policy_for

TUNLI = "141002100201"
QINBI = "141024100201"
HEADER = ["公民身份号码", "姓名", "户籍地村（社区）代码", "户号", "联系电话"]


def _in_portal_language(message: str) -> str:
    """What a page shows for ``message``: pages answer in the portal's language (zh-hans)."""
    with translation.override("zh-hans"):
        return translation.gettext(message)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def number(sequence: int, region: str = TUNLI) -> str:
    return resident_id(address=region[:6], birth="19800101", sequence=f"{sequence:03d}")


def register(world: World, rows: list[list[Any]], *, user: str = "insurance_a"):
    return run(world, ImportKind.HOUSEHOLD_REGISTER, xlsx_bytes([HEADER, *rows]), user=user)


@pytest.fixture
def village(world: World) -> dict[str, Any]:
    return make_scene(world)


def make_scene(world: World) -> dict[str, Any]:
    """The scene of the module docstring, assessed for 2027 and with two deposits recorded."""
    policy_for("141000")
    people = {}
    for key, sequence, status in (
        ("甲", 1, EnrollmentStatus.NORMAL),
        ("乙", 2, EnrollmentStatus.NORMAL),
        ("丙", 3, EnrollmentStatus.TERMINATED),
        ("戊", 5, EnrollmentStatus.NORMAL),
        ("己", 6, EnrollmentStatus.NORMAL),
    ):
        person = make_person(
            TUNLI, name=f"张{key}", id_number=number(sequence), phone=f"1391234{sequence:04d}"
        )
        make_enrollment(
            person, status=status, ended_on=dt.date(2025, 3, 1) if status == "terminated" else None
        )
        people[key] = person
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment_record_deposits(
        deposits=[
            Deposit(people["甲"].id_number, YEAR, 40000, dt.date(2026, 10, 10), "R1"),
            Deposit(people["己"].id_number, YEAR, 40000, dt.date(2026, 10, 11), "R2"),
        ]
    )
    # 戊 is paid by the government: the run's outcome for a fully subsidised person.
    Assessment.objects.filter(person=people["戊"], insurance_year=YEAR).update(
        status="government", payable_fen=0
    )
    register(
        world,
        [
            [number(1), "张甲", TUNLI, "0001", "13912340001"],
            [number(2), "张乙", TUNLI, "0001", "13912340002"],
            [number(3), "张丙", TUNLI, "0002", ""],
            [number(4), "张丁", TUNLI, "0003", "13912340004"],
            [number(5), "张戊", TUNLI, "0004", ""],
        ],
    )
    reports.coverage_stats_refresh(insurance_year=YEAR)
    return people


# --- the register import ------------------------------------------------------------------------


def test_given_a_register_file_with_bad_rows_when_imported_then_the_bad_rows_are_listed_and_their_village_is_kept(
    world: World,
):
    job = register(
        world,
        [
            [number(1), "张甲", TUNLI, "", ""],
            [with_wrong_check_digit(number(2)), "张乙", TUNLI, "", ""],
            [number(1), "张甲", TUNLI, "", ""],
            [number(3), "张丙", "141002100999", "", ""],
            [number(4), "张丁", QINBI, "", ""],
            [number(5), "", TUNLI, "", ""],
        ],
    )

    assert job.status == "done"
    assert job.counts == {"village_error": 1, "error": 4, "outside_area": 1, "villages": 0}
    outcomes = {row: outcome for row, (outcome, _message) in rows_of(job).items()}
    assert outcomes == {2: "village_error", 3: "error", 4: "error", 5: "error", 6: "outside_area", 7: "error"}
    assert rows_of(job)[2][1] == (
        "Another row of this village has an error: the village's register stays as it was "
        "until the file is corrected and imported again."
    )
    assert rows_of(job)[4][1] == "This person is already in row 2."
    assert rows_of(job)[5][1] == "No village has the code 141002100999."
    assert not RegisteredResident.objects.exists()


def test_given_two_registered_villages_when_a_file_has_an_error_in_one_then_only_the_other_is_replaced(
    world: World,
):
    register(
        world, [[number(1), "张甲", TUNLI, "", ""], [number(1, QINBI), "李甲", QINBI, "", ""]], user="admin"
    )

    job = register(
        world,
        [
            [number(2), "张乙", TUNLI, "", ""],
            [with_wrong_check_digit(number(3)), "张丙", TUNLI, "", ""],
            [number(2, QINBI), "李乙", QINBI, "", ""],
        ],
        user="admin",
    )

    assert job.counts == {"registered": 1, "village_error": 1, "error": 1, "villages": 1}
    assert sorted(RegisteredResident.objects.values_list("region_code", "name")) == [
        (TUNLI, "张甲"),
        (QINBI, "李乙"),
    ]


def test_given_a_village_already_registered_when_a_new_register_arrives_then_it_replaces_the_old_one(
    world: World,
):
    register(world, [[number(1), "张甲", TUNLI, "", ""], [number(2), "张乙", TUNLI, "", ""]])

    register(world, [[number(2), "张乙", TUNLI, "", ""], [number(3), "张丙", TUNLI, "", ""]])

    assert sorted(RegisteredResident.objects.values_list("name", flat=True)) == ["张丙", "张乙"]


def test_given_a_person_on_another_villages_register_when_a_new_register_lists_them_then_they_move(
    world: World,
):
    register(world, [[number(1), "张甲", QINBI, "", ""]], user="admin")

    register(world, [[number(1), "张甲", TUNLI, "", ""]])

    assert list(RegisteredResident.objects.values_list("region_code", flat=True)) == [TUNLI]


# --- coverage -------------------------------------------------------------------------------------


def test_given_the_village_when_refreshed_then_its_figures_are_counted_exactly(world: World, village):
    stat = CoverageStat.objects.get(region_code=TUNLI, insurance_year=YEAR)

    assert (stat.registered, stat.registered_enrolled, stat.registered_paid) == (5, 3, 2)
    assert (stat.enrolled, stat.assessed, stat.paid, stat.government_paid, stat.due) == (4, 4, 2, 1, 1)
    assert (stat.due_fen, stat.paid_fen) == (40000, 80000)


def test_given_a_refresh_run_twice_then_the_figures_are_the_same_and_not_doubled(world: World, village):
    reports.coverage_stats_refresh(insurance_year=YEAR)

    assert CoverageStat.objects.filter(insurance_year=YEAR).count() == 1
    assert CoverageStat.objects.get(region_code=TUNLI).registered == 5


def test_given_the_county_when_its_report_is_read_then_townships_sum_their_villages(world: World, village):
    report = reports.coverage_report(
        scope=Scope.for_user(world.users["insurance_a"]), insurance_year=YEAR, area_code="141002000000"
    )

    assert [(line.name, line.registered, line.registered_enrolled) for line in report.lines] == [
        ("屯里镇", 5, 3)
    ]
    assert report.total.coverage_rate == 0.6
    assert report.total.paid_rate == 0.4
    assert report.total.not_enrolled == 2
    assert [region.name for region in report.trail] == ["尧都区"]


def test_given_a_clerk_when_asking_for_another_villages_coverage_then_it_is_not_found(world: World, village):
    from django.http import Http404

    with pytest.raises(Http404):
        reports.coverage_report(
            scope=Scope.for_user(world.users["clerk_b"]), insurance_year=YEAR, area_code=TUNLI
        )


def test_given_tax_staff_then_the_coverage_report_is_refused(world: World, village):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        reports.coverage_report(
            scope=Scope.for_user(world.users["tax_a"]), insurance_year=YEAR, area_code=None
        )


# --- follow-up lists ----------------------------------------------------------------------------


def test_given_the_village_then_the_unenrolled_are_the_registered_without_a_normal_enrollment(
    world: World, village
):
    page = reports.unenrolled_page(scope=Scope.for_user(world.users["clerk_a"]), area_code=TUNLI)

    assert [(row.name, row.id_number, row.phone, row.note) for row in page.rows] == [
        ("张丙", number(3), "", "Enrollment Terminated (Death)"),
        ("张丁", number(4), "13912340004", "Not in the registry: register the household"),
    ]
    assert page.next_after is None


def test_given_an_administrator_then_identifiers_and_phones_on_the_list_are_masked(world: World, village):
    page = reports.unenrolled_page(scope=Scope.for_user(world.users["admin"]), area_code=TUNLI)

    assert [(row.id_number, row.phone) for row in page.rows][1] == (
        number(4)[:6] + "********" + number(4)[-4:],
        "139****0004",
    )


def test_given_the_village_then_the_unpaid_list_holds_the_one_person_due_with_the_amount(
    world: World, village
):
    page = reports.unpaid_page(
        scope=Scope.for_user(world.users["insurance_a"]), area_code=TUNLI, insurance_year=YEAR
    )

    assert [(row.name, row.amount_fen, row.household) for row in page.rows] == [("张乙", 40000, "")]


def test_given_more_rows_than_a_page_then_the_next_page_starts_after_the_last_row(
    world: World, village, monkeypatch
):
    monkeypatch.setattr(reports, "PAGE_SIZE", 1)
    scope = Scope.for_user(world.users["insurance_a"])

    first = reports.unenrolled_page(scope=scope, area_code="141002000000")
    second = reports.unenrolled_page(scope=scope, area_code="141002000000", after=first.next_after)

    assert [row.name for row in first.rows] == ["张丙"]
    assert first.next_after == f"{TUNLI}:{number(3)}"
    assert [row.name for row in second.rows] == ["张丁"]
    assert second.next_after is None


def _walk_pages(client, url: str, params: dict[str, Any]) -> list:  # type: ignore[type-arg]
    """The list's first page, then each "Next page" link it gives until the last."""
    pages = [client.get(url, params)]
    while pages[-1].context["next_url"]:
        assert len(pages) < 10
        pages.append(client.get(pages[-1].context["next_url"]))
    return pages


def test_given_the_unenrolled_list_paged_one_row_a_page_then_its_links_walk_it_without_an_id_number_in_any_address(
    world: World, village, client, monkeypatch
):
    monkeypatch.setattr(reports, "PAGE_SIZE", 1)
    client.force_login(world.users["insurance_a"])

    pages = _walk_pages(client, "/enrollment/reports/unenrolled/", {"year": YEAR, "area": "141002000000"})
    again = client.get(pages[1].request["PATH_INFO"] + "?" + pages[1].request["QUERY_STRING"])  # reload, back
    first = client.get(pages[1].context["first_url"])

    assert [[row.name for row in page.context["rows"]] for page in pages] == [["张丙"], ["张丁"]]
    assert [row.name for row in again.context["rows"]] == ["张丁"]
    assert [row.name for row in first.context["rows"]] == ["张丙"]
    assert re.fullmatch(
        r"/enrollment/reports/unenrolled/\?after=[\w-]{12}&year=2027&area=141002000000",
        pages[0].context["next_url"],
    )
    assert number(3) in pages[0].content.decode()  # on the page, not in its next page's address
    assert with_id_numbers([*pages, again, first]) == []


def test_given_a_page_key_of_another_session_then_the_list_starts_again_from_its_first_page(
    world: World, village, client, monkeypatch
):
    monkeypatch.setattr(reports, "PAGE_SIZE", 1)
    client.force_login(world.users["insurance_a"])
    second = client.get("/enrollment/reports/unenrolled/", {"year": YEAR, "area": "141002000000"}).context[
        "next_url"
    ]
    other = Client()
    other.force_login(world.users["insurance_a"])

    page = other.get(second)

    assert [row.name for row in page.context["rows"]] == ["张丙"]
    assert page.context["notice"] == _in_portal_language(
        "That page of the list is no longer kept; the list starts again from its first page."
    )
    assert page.context["notice"] == "该页已不再保留，名单从第一页重新显示。"
    assert 'data-testid="page-notice"' in page.content.decode()


def test_given_the_unpaid_list_paged_then_its_next_page_is_a_key_too(
    world: World, village, client, monkeypatch
):
    monkeypatch.setattr(reports, "PAGE_SIZE", 1)
    Assessment.objects.filter(person=village["甲"], insurance_year=YEAR).update(status="due")
    client.force_login(world.users["insurance_a"])

    pages = _walk_pages(client, "/enrollment/reports/unpaid/", {"year": YEAR, "area": "141002000000"})

    assert [[row.name for row in page.context["rows"]] for page in pages] == [["张甲"], ["张乙"]]
    assert re.fullmatch(
        r"/enrollment/reports/unpaid/\?after=[\w-]{12}&year=2027&area=141002000000",
        pages[0].context["next_url"],
    )
    assert with_id_numbers(pages) == []


# --- pages and exports --------------------------------------------------------------------------


def test_given_insurance_staff_when_the_coverage_page_opens_then_it_shows_the_chart_the_rate_and_the_township(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    response = client.get("/enrollment/reports/coverage/", {"year": YEAR, "area": "141002000000"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bars"' in html
    assert "60.0%" in html
    assert "屯里镇: 60.0% (3 / 5)" in html


def _main(html: str) -> str:
    """The page's own content: the menu, top bar and title name the caller's area too."""
    return html[html.index("<main") : html.index("</main>")]


def test_given_the_county_coverage_page_then_it_names_the_county_once_and_has_no_way_up(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    html = client.get(
        "/enrollment/reports/coverage/", {"year": YEAR, "area": "141002000000"}
    ).content.decode()

    assert _main(html).count("尧都区") == 1
    assert "<h1>尧都区 2027 参保年度参保率</h1>" in html
    assert "report-trail" not in html


def test_given_a_townships_coverage_page_then_the_heading_names_it_once_and_the_way_up_names_the_county(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    html = client.get(
        "/enrollment/reports/coverage/", {"year": YEAR, "area": "141002100000"}
    ).content.decode()

    assert _main(html).count("屯里镇") == 1
    assert "<h1>屯里镇 2027 参保年度参保率</h1>" in html
    assert (
        '<div class="crumbs report-trail" data-testid="report-trail">'
        '<a href="/enrollment/reports/coverage/?year=2027&amp;area=141002000000">尧都区</a> › </div>'
    ) in html


def test_given_a_name_that_looks_like_a_formula_when_the_list_is_exported_then_it_is_escaped(
    world: World, village, client
):
    RegisteredResident.objects.filter(id_number=number(4)).update(name="=HYPERLINK(1)")
    client.force_login(world.users["clerk_a"])

    sheet = exported(client, "enrollment.unenrolled", area=TUNLI).active
    names = [row[1] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert names == ["张丙", "'=HYPERLINK(1)"]


def test_given_the_unpaid_export_then_it_lists_the_amount_in_yuan(world: World, village, client):
    client.force_login(world.users["insurance_a"])

    sheet = exported(client, "enrollment.unpaid", area="141002000000", year=YEAR).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [(row[1], row[5]) for row in rows] == [("张乙", 400)]


def test_given_a_clerk_when_refreshing_then_the_recount_task_runs_and_the_page_says_so(
    world: World, village, client, monkeypatch
):
    from enrollment import tasks

    # The task runs in this process (as a worker would run it), on the test's database.
    monkeypatch.setattr(
        tasks.refresh_coverage, "delay", lambda year: tasks.refresh_coverage.apply(args=[year])
    )
    CoverageStat.objects.all().delete()
    client.force_login(world.users["clerk_a"])

    response = client.post("/enrollment/reports/coverage/", {"year": YEAR, "area": TUNLI}, follow=True)

    assert (
        _in_portal_language("The figures are being recounted; reload the page in a minute.")
        in response.content.decode()
    )
    assert CoverageStat.objects.get(region_code=TUNLI).registered == 5


def test_given_figures_counted_a_moment_ago_when_refreshing_then_no_recount_is_queued(
    world: World, village, client, monkeypatch
):
    from enrollment import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.refresh_coverage, "delay", queued.append)
    client.force_login(world.users["clerk_a"])

    response = client.post("/enrollment/reports/coverage/", {"year": YEAR, "area": TUNLI}, follow=True)

    assert queued == []
    assert (
        _in_portal_language("The figures were counted less than a minute ago.") in response.content.decode()
    )


def test_given_each_role_then_only_village_clerks_insurance_and_administrators_see_the_reports(world: World):
    from accounts.roles import Action, actions_for

    allowed = {role for role in Role.values if Action.REPORT_VIEW in actions_for(role)}

    assert allowed == {Role.VILLAGE_CLERK, Role.INSURANCE_STAFF, Role.ADMINISTRATOR}


def test_given_the_register_import_page_then_insurance_staff_can_upload_it(world: World, client):
    client.force_login(world.users["insurance_a"])

    response = client.get("/enrollment/imports/household-register/")

    assert response.status_code == 200
    assert _in_portal_language("Import the household register") in response.content.decode()


# --- subsidised persons not enrolled (subsidies' follow-up list) --------------------------------


def _roster_not_found(world: World, *, name: str, id_number: str) -> None:
    """A roster whose current file held a person the registry does not know (a real import's row)."""
    from subsidies.models import RosterImport, RosterRow, SubsidyRoster

    roster_import = RosterImport.objects.create(
        source="乡村振兴局监测对象名单", insurance_year=YEAR, roster_date=dt.date(2026, 9, 1), status="done",
        original_name="监测对象.xlsx", file_format="xlsx", region_code="141002000000",
        created_by=world.users["admin"],
    )  # fmt: skip
    SubsidyRoster.objects.create(
        region_code="141002000000",
        source=roster_import.source,
        insurance_year=YEAR,
        current_import=roster_import,
    )
    RosterRow.objects.create(
        roster_import=roster_import, row_number=2, outcome="not_found", id_number=id_number, name=name,
        category="monitored", region_code=TUNLI,
    )  # fmt: skip


def test_given_tags_and_a_roster_when_the_list_is_read_then_only_the_unenrolled_are_on_it(
    world: World, village
):
    from subsidies.selectors import subsidised_unenrolled
    from subsidies.services import subsidy_tag_add

    subsidy_tag_add(person=village["丙"], category="dibao", source="低保名单", valid_from=dt.date(2026, 1, 1))
    subsidy_tag_add(person=village["甲"], category="dibao", source="低保名单", valid_from=dt.date(2026, 1, 1))
    _roster_not_found(world, name="张庚", id_number=number(7))

    rows = list(subsidised_unenrolled(scope=Scope.for_user(world.users["clerk_a"])))

    assert [(row.name, row.category, row.source, row.in_registry) for row in rows] == [
        ("张丙", "dibao", "低保名单", True),
        ("张庚", "monitored", "乡村振兴局监测对象名单", False),
    ]


def test_given_a_category_filter_then_the_list_holds_that_category_only(world: World, village):
    from subsidies.selectors import subsidised_unenrolled
    from subsidies.services import subsidy_tag_add

    subsidy_tag_add(person=village["丙"], category="dibao", source="低保名单", valid_from=dt.date(2026, 1, 1))
    _roster_not_found(world, name="张庚", id_number=number(7))

    rows = list(subsidised_unenrolled(scope=Scope.for_user(world.users["insurance_a"]), category="monitored"))

    assert [row.name for row in rows] == ["张庚"]


def test_given_another_countys_clerk_then_the_subsidised_list_is_empty(world: World, village):
    from subsidies.selectors import subsidised_unenrolled

    _roster_not_found(world, name="张庚", id_number=number(7))

    assert list(subsidised_unenrolled(scope=Scope.for_user(world.users["clerk_b"]))) == []


def test_given_the_subsidised_list_paged_then_its_links_walk_it_without_an_id_number_in_any_address(
    world: World, village, client, monkeypatch
):
    import subsidies.views

    monkeypatch.setattr(subsidies.views, "NOT_ENROLLED_PAGE", 1)
    from subsidies.services import subsidy_tag_add

    subsidy_tag_add(
        person=village["丙"], category="monitored", source="监测名单", valid_from=dt.date(2026, 1, 1)
    )
    subsidy_tag_add(person=village["甲"], category="dibao", source="低保名单", valid_from=dt.date(2026, 1, 1))
    _roster_not_found(world, name="张庚", id_number=number(7))
    client.force_login(world.users["insurance_a"])

    pages = _walk_pages(client, "/subsidies/not-enrolled/", {"category": "monitored"})
    first = client.get(pages[-1].context["first_url"])
    stale = client.get(
        "/subsidies/not-enrolled/", {"category": "monitored", "after": f"{TUNLI}:{number(3)}:monitored"}
    )

    assert [[item["row"].name for item in page.context["rows"]] for page in pages] == [["张丙"], ["张庚"]]
    assert re.fullmatch(
        r"/subsidies/not-enrolled/\?after=[\w-]{12}&category=monitored", pages[0].context["next_url"]
    )
    assert [item["row"].name for item in first.context["rows"]] == ["张丙"]
    assert ([item["row"].name for item in stale.context["rows"]], stale.context["notice"]) == (
        ["张丙"],
        "该页已不再保留，名单从第一页重新显示。",
    )  # an old address with the cursor itself is not followed: the list starts again
    assert with_id_numbers([*pages, first]) == []


def test_given_the_subsidised_page_and_export_then_both_list_the_person(world: World, village, client):
    _roster_not_found(world, name="张庚", id_number=number(7))
    client.force_login(world.users["insurance_a"])

    page = client.get("/subsidies/not-enrolled/")
    sheet = exported(client, "subsidies.not_enrolled").active

    assert "张庚" in page.content.decode()
    assert [row[1] for row in sheet.iter_rows(min_row=3, values_only=True)] == ["张庚"]
