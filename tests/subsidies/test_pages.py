"""The subsidy pages through the test client: roster upload, preview and decision, progress, report;
the categories of each policy (read, added, changed, removed as new policy versions); the totals
for finance and their export; the admin's import through django-import-export.

Assertions read data-testid hooks, attributes and stored values, never the catalogue's text.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from accounts.scope import Scope
from enrollment.fund_totals import fund_totals
from enrollment.models import Assessment, ImportStatus, Policy
from enrollment.policies import policy_save
from sharing.models import OutboxMessage
from subsidies import rosters, services
from subsidies.models import RosterImport, SubsidyTag
from tests.conftest import queued_runs_execute
from tests.subsidies.support import (
    DIBAO,
    HEADER,
    INDIVIDUAL,
    QINBI,
    ROSTER_DATE,
    SOURCE,
    TUNLI,
    YEAR,
    assess,
    check,
    confirm,
    enrolled,
    linfen_policy,
    row,
    scope_of,
    upload,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def town(world):
    linfen_policy()
    persons = {
        "zhang": enrolled("张三", 1),
        "li": enrolled("李四", 3),
        "wang": enrolled("王五", 5),
        "sun": enrolled("孙八", 11, region=QINBI),
    }
    assess("141002", "141024")
    return persons


def _process(world, job: RosterImport) -> RosterImport:
    from subsidies import services

    services.roster_import_process(scope=scope_of(world), import_id=job.pk)
    job.refresh_from_db()
    return job


# --- rosters ------------------------------------------------------------------------------------


def test_given_an_administrator_when_a_roster_is_uploaded_then_the_page_shows_it_waiting_with_progress(
    world, town, client
):
    client.force_login(world.users["admin"])
    content = xlsx_bytes([HEADER, row(1, town["zhang"])])

    response = client.post(
        reverse("subsidies:roster-upload"),
        {
            "file": upload(content),
            "source": SOURCE,
            "insurance_year": YEAR,
            "roster_date": ROSTER_DATE.isoformat(),
        },
    )

    job = RosterImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "subsidies:roster-import", args=[job.pk]
    )
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'data-testid="progress"' in page.content
    assert reverse("subsidies:roster-import-progress", args=[job.pk]).encode() in page.content
    progress = client.get(reverse("subsidies:roster-import-progress", args=[job.pk])).json()
    assert (progress["status"], progress["finished"]) == ("pending", False)


def test_given_a_roster_for_a_future_date_when_uploaded_then_the_form_says_so(world, town, client):
    import datetime as dt

    client.force_login(world.users["admin"])
    response = client.post(
        reverse("subsidies:roster-upload"),
        {
            "file": upload(xlsx_bytes([HEADER])),
            "source": SOURCE,
            "insurance_year": YEAR,
            "roster_date": (dt.date.today() + dt.timedelta(days=40)).isoformat(),
        },
    )

    assert response.status_code == 400
    assert b'data-testid="roster_date-error"' in response.content
    assert not RosterImport.objects.exists()


def test_given_a_checked_roster_then_the_preview_shows_counts_rows_and_the_choice_of_mode(
    world, town, client
):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], name="李")]))
    client.force_login(world.users["admin"])

    page = client.get(reverse("subsidies:roster-import", args=[job.pk])).content.decode()

    assert 'data-key="added" data-value="1"' in page
    assert 'data-key="name_mismatch" data-value="1"' in page
    assert 'data-testid="report-row" data-row="3" data-outcome="name_mismatch"' in page
    assert 'data-testid="mode-all" disabled' in page  # a row cannot be imported
    assert 'data-testid="mode-valid">' in page


def _listed(page: str) -> list[tuple[str, str]]:
    """(row, outcome) of each row the page's table lists."""
    import re

    return re.findall(r'data-testid="report-row" data-row="([0-9]*)" data-outcome="([a-z_]+)"', page)


def test_given_a_new_file_of_a_roster_in_force_then_the_preview_lists_its_new_and_unchanged_tags(
    world, town, client
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"])])))
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"]), row(3, town["wang"])]))
    client.force_login(world.users["admin"])
    url = reverse("subsidies:roster-import", args=[job.pk])

    first = client.get(url).content.decode()
    added = client.get(url, {"outcome": "added"}).content.decode()
    unchanged = client.get(url, {"outcome": "unchanged"}).content.decode()

    assert 'data-outcome="added"' in first and 'data-outcome="unchanged"' in first  # the tabs
    assert _listed(first) == [("3", "added"), ("4", "added")]  # every row valid: the new tags first
    assert _listed(added) == [("3", "added"), ("4", "added")]
    assert _listed(unchanged) == [("2", "unchanged")]
    shown = rosters.masker_for(scope=scope_of(world), roster_import=job).id_number(
        town["li"].id_number, TUNLI
    )
    assert f"<code>{shown}</code>" in added


def test_given_a_preview_with_errors_then_the_valid_rows_have_tabs_beside_the_report(world, town, client):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], name="李")]))
    client.force_login(world.users["admin"])
    url = reverse("subsidies:roster-import", args=[job.pk])

    first = client.get(url).content.decode()
    added = client.get(url, {"outcome": "added"}).content.decode()

    assert _listed(first) == [("3", "name_mismatch")]
    assert _listed(added) == [("2", "added")]


def test_given_an_imported_roster_then_its_page_no_longer_lists_the_valid_rows(world, town, client):
    job = confirm(
        world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], name="李")]))
    )
    client.force_login(world.users["admin"])

    page = client.get(
        reverse("subsidies:roster-import", args=[job.pk]), {"outcome": "added"}
    ).content.decode()

    assert job.status == ImportStatus.DONE
    assert 'data-outcome="added"' not in page
    assert _listed(page) == [("3", "name_mismatch")]


def test_given_more_new_tags_than_a_page_then_the_preview_pages_through_them(world, town, client):
    from tests.enrollment import resident_id
    from tests.matrix.enrollment_review import make_enrollment, make_person

    persons = [
        make_person(
            TUNLI,
            name=f"新{n}",
            id_number=resident_id(address="141002", birth="19750101", sequence=f"{n:03d}"),
        )
        for n in range(100, 205)
    ]
    for person in persons:
        make_enrollment(person)
    job = check(world, xlsx_bytes([HEADER, *(row(n, person) for n, person in enumerate(persons, start=1))]))
    client.force_login(world.users["admin"])

    second = client.get(reverse("subsidies:roster-import", args=[job.pk]), {"outcome": "added", "page": 2})

    assert job.counts["added"] == 105
    assert _listed(second.content.decode()) == [(str(n), "added") for n in range(102, 107)]


def test_given_a_preview_when_confirmed_without_a_mode_then_it_is_refused_and_with_one_then_queued(
    world, town, client
):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]))
    client.force_login(world.users["admin"])
    url = reverse("subsidies:roster-import-decide", args=[job.pk])

    refused = client.post(url, {"decision": "confirm"})
    accepted = client.post(url, {"decision": "confirm", "mode": "all_or_nothing"})

    assert refused.status_code == 400 and b'data-testid="mode-error"' in refused.content
    assert accepted.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.mode, job.confirmed_by_id) == (
        "confirmed",
        "all_or_nothing",
        world.users["admin"].pk,
    )
    job = _process(world, job)
    assert job.status == ImportStatus.DONE
    page = client.get(reverse("subsidies:roster-import", args=[job.pk])).content.decode()
    assert 'data-key="tagged" data-value="1"' in page
    assert client.get(reverse("subsidies:roster-import-progress", args=[job.pk])).json()["finished"] is True


def test_given_a_preview_when_discarded_then_nothing_is_imported(world, town, client):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]))
    client.force_login(world.users["admin"])

    client.post(reverse("subsidies:roster-import-decide", args=[job.pk]), {"decision": "discard"})

    job.refresh_from_db()
    assert (job.status, SubsidyTag.objects.count()) == (ImportStatus.DISCARDED, 0)


def test_given_a_preview_when_the_report_is_downloaded_then_it_is_an_xlsx_with_the_rows_not_imported(
    world, town, client
):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], "无此类别")]))
    client.force_login(world.users["admin"])

    response = client.get(reverse("subsidies:roster-report", args=[job.pk]))

    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert [(r[0], r[4], r[6]) for r in rows[1:]] == [(3, "李四", "无此类别")]


def test_given_insurance_staff_then_roster_pages_are_forbidden_but_totals_are_open(world, town, client):
    client.force_login(world.users["insurance_a"])

    assert client.get(reverse("subsidies:roster-upload")).status_code == 403
    assert client.get(reverse("subsidies:totals")).status_code == 200


# --- categories ---------------------------------------------------------------------------------


def _category_post(**changes) -> dict:
    data = {
        "code": "dibao",
        "name": "城乡低保对象",
        "marker": "02",
        "scheme": "fixed",
        "amount": "180.00",
        "requires_tag": "on",
        "why": "2027年度定额调整",
    }
    data.update(changes)
    return data


def test_given_the_categories_page_then_each_policy_lists_its_categories_with_scheme_amount_and_tagged_persons(
    world, town, client
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"])])))
    client.force_login(world.users["insurance_a"])

    page = client.get(reverse("subsidies:categories"), {"year": YEAR}).content.decode()

    assert (
        'data-testid="category-row" data-code="dibao" data-scheme="fixed" data-amount="16000" data-marker="02" data-tag="dibao" data-tagged="1"'
        in page
    )
    assert f'data-code="tekun" data-scheme="full" data-amount="{INDIVIDUAL}"' in page
    assert 'data-testid="category-edit"' not in page  # insurance staff read, administrators edit


def _policies_listed(page: str) -> list[str]:
    return re.findall(r'data-testid="category-policy" data-code="([^"]+)"', page)


@pytest.mark.parametrize("asked", ["²", "٢٠٢٧", "20x7"])
def test_given_a_year_that_is_not_four_ascii_digits_then_the_categories_page_lists_every_year(
    world, town, client, asked
):
    # Given a reader of the rulebook
    client.force_login(world.users["insurance_a"])

    # When the categories page is asked for a year "²" (a digit to str.isdigit(), not to int())
    response = client.get(reverse("subsidies:categories"), {"year": asked})

    # Then it answers as for any invalid year: every year's policies, the "all years" tab current
    page = response.content.decode()
    assert response.status_code == 200
    assert _policies_listed(page) == ["linfen-next"]
    assert '<a href="?" class="tab current">' in page


def test_given_an_administrator_when_a_category_amount_is_changed_then_the_policy_gets_a_new_version(
    world, town, client
):
    policy = Policy.objects.get(code="linfen-next")
    client.force_login(world.users["admin"])

    response = client.post(reverse("subsidies:category-edit", args=[policy.code, "dibao"]), _category_post())

    assert response.status_code == 302
    policy.refresh_from_db()
    dibao = next(c for c in policy.document["subsidy_categories"] if c["code"] == "dibao")
    assert (policy.version, dibao["amount_fen"], dibao["scheme"]) == (2, 18000, "fixed")
    assert policy.versions.get(number=2).note == "2027年度定额调整"


def test_given_a_fixed_amount_above_the_individual_part_then_the_policys_reader_refuses_it_with_the_path(
    world, town, client
):
    policy = Policy.objects.get(code="linfen-next")
    client.force_login(world.users["admin"])

    response = client.post(
        reverse("subsidies:category-edit", args=[policy.code, "dibao"]), _category_post(amount="500.00")
    )

    assert response.status_code == 400
    assert b"policy.subsidy_categories[1].amount_fen" in response.content
    policy.refresh_from_db()
    assert policy.version == 1


def test_given_a_new_category_with_a_marker_in_use_then_it_is_refused_and_with_its_own_marker_added(
    world, town, client
):
    policy = Policy.objects.get(code="linfen-next")
    client.force_login(world.users["admin"])
    url = reverse("subsidies:category-new", args=[policy.code])
    new = _category_post(code="monitored", name="监测对象", scheme="percent", percent="50", amount="")

    clash = client.post(url, new)
    added = client.post(url, {**new, "marker": "06"})

    assert clash.status_code == 400 and b'data-testid="marker-error"' in clash.content
    assert added.status_code == 302
    policy.refresh_from_db()
    assert policy.document["subsidy_categories"][-1] == {
        "code": "monitored", "name": "监测对象", "marker": "06", "scheme": "percent", "percent": 50,
    }  # fmt: skip


def test_given_persons_tagged_for_a_category_when_its_code_is_changed_then_it_is_refused_with_the_way(
    world, town, client
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"])])))
    policy = Policy.objects.get(code="linfen-next")
    client.force_login(world.users["admin"])
    url = reverse("subsidies:category-edit", args=[policy.code, "dibao"])

    refused = client.post(url, _category_post(code="low_income"))
    kept_by_its_tag = client.post(url, _category_post(code="low_income", tag="dibao"))

    assert refused.status_code == 400
    assert refused.context["form"].errors["code"] == [
        "本政策地区内有 1 个资助标识属于 dibao；改用其他代码后它们将不对应任何类别。请保留代码，或把该类别的名单标识设为 dibao。"
    ]
    assert kept_by_its_tag.status_code == 302
    policy.refresh_from_db()
    assert [
        (c["code"], c.get("tag"))
        for c in policy.document["subsidy_categories"]
        if c["name"] == "城乡低保对象"
    ] == [("low_income", "dibao")]


def test_given_a_category_when_removed_then_the_new_version_lacks_it_and_tags_keep_their_history(
    world, town, client
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"], "宗教教职人员")])))
    policy = Policy.objects.get(code="linfen-next")
    client.force_login(world.users["admin"])

    response = client.post(
        reverse("subsidies:category-remove", args=[policy.code, "clergy"]), {"why": "取消该类别"}
    )

    assert response.status_code == 302
    policy.refresh_from_db()
    assert [c["code"] for c in policy.document["subsidy_categories"]] == [
        "poverty_registered", "dibao", "severe_disability", "tekun",
    ]  # fmt: skip
    assert SubsidyTag.objects.filter(category="clergy").count() == 1


def test_given_insurance_staff_when_they_post_a_category_then_it_is_forbidden(world, town, client):
    client.force_login(world.users["insurance_a"])

    response = client.post(
        reverse("subsidies:category-edit", args=["linfen-next", "dibao"]), _category_post()
    )

    assert response.status_code == 403


# --- totals -------------------------------------------------------------------------------------


def test_given_imported_rosters_then_the_totals_count_persons_and_money_per_county_and_category(
    world, town, client
):
    confirm(
        world,
        check(
            world,
            xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], "特困"), row(3, town["sun"])]),
        ),
    )
    client.force_login(world.users["admin"])

    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()

    assert (
        f'data-county="141002" data-category="dibao" data-tagged="1" data-persons="1" data-subsidy="{DIBAO}" data-settled="0"'
        in page
    )
    assert (
        f'data-county="141002" data-category="tekun" data-tagged="1" data-persons="1" data-subsidy="{INDIVIDUAL}" data-settled="{INDIVIDUAL}"'
        in page
    )
    assert (
        f'data-county="141024" data-category="dibao" data-tagged="1" data-persons="1" data-subsidy="{DIBAO}"'
        in page
    )
    assert f'data-key="subsidy" data-value="{2 * DIBAO + INDIVIDUAL}"' in page


def test_given_insurance_staff_of_a_county_then_the_totals_hold_their_county_only_and_export_the_same(
    world, town, client
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["sun"])])))
    client.force_login(world.users["insurance_a"])

    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()
    export = client.get(reverse("subsidies:totals-export"), {"year": YEAR})

    assert 'data-county="141002"' in page and 'data-county="141024"' not in page
    book = load_workbook(io.BytesIO(b"".join(export.streaming_content)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert [r[:8] for r in rows[1:-1]] == [
        ("141002", "尧都区", "02", "dibao", "城乡低保对象", 1, 1, DIBAO / 100)
    ]
    assert rows[-1][5:8] == (1, 1, DIBAO / 100)  # the totals row


def test_given_a_refunded_subsidised_assessment_then_the_totals_and_export_count_what_finance_is_told(
    world, town, client
):
    # Given two persons subsidised as 低保, and the assessment of one of them refunded
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"])])))
    Assessment.objects.filter(person=town["li"], insurance_year=YEAR).update(status="refunded")
    client.force_login(world.users["admin"])

    # When the totals page, its export and the totals sent to finance are read
    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()
    export = client.get(reverse("subsidies:totals-export"), {"year": YEAR})
    (county,) = fund_totals(years=[YEAR], county_code="141002")

    # Then all three count the one person still subsidised, and the same money
    assert [(c.category, c.person_count, c.amount_fen) for c in county.categories] == [("dibao", 1, DIBAO)]
    assert (
        f'data-county="141002" data-category="dibao" data-tagged="2" data-persons="1" data-subsidy="{DIBAO}"'
        in page
    )
    assert 'data-key="persons" data-value="1"' in page and f'data-key="subsidy" data-value="{DIBAO}"' in page
    book = load_workbook(io.BytesIO(b"".join(export.streaming_content)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert [r[3:8] for r in rows[1:]] == [
        ("dibao", "城乡低保对象", 2, 1, DIBAO / 100),
        (None, None, 2, 1, DIBAO / 100),  # the totals row
    ]


def _totals_rows(page: str) -> list[tuple[str, ...]]:
    found = re.findall(
        r'data-testid="totals-row" data-county="(\d+)" data-category="([^"]+)" data-tagged="(\d+)" data-persons="(\d+)"',
        page,
    )
    return [tuple(item) for item in found]


def test_given_a_person_tagged_in_two_categories_then_the_total_of_persons_tagged_counts_them_once(
    world, town, client
):
    # Given 张三 on the roster as 低保 and as 特困 (subsidised once, as 特困, the more favourable)
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["zhang"], "特困")])))
    client.force_login(world.users["admin"])

    # When the totals are read
    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()

    # Then each category shows the person, and the total of persons tagged is one person
    assert _totals_rows(page) == [("141002", "dibao", "1", "0"), ("141002", "tekun", "1", "1")]
    assert 'data-key="tagged" data-value="1"' in page


def test_given_a_tag_ended_during_the_year_then_the_totals_count_the_person_as_tagged_beside_the_subsidy(
    world, town, client
):
    # Given 张三 on the roster as 低保, the tag ended on 30 June of the year (the assessment still
    # grants the year's subsidy on it)
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"])])))
    tag = SubsidyTag.objects.get(person=town["zhang"])
    services.subsidy_tag_end(tag=tag, valid_to=dt.date(YEAR, 6, 30), reason="退出低保")
    client.force_login(world.users["admin"])

    # When the totals are read
    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()

    # Then the person is tagged in the year as well as subsidised
    assert _totals_rows(page) == [("141002", "dibao", "1", "1")]
    assert 'data-key="tagged" data-value="1"' in page


@pytest.fixture
def shared_tag(town):
    """Next year's policy with two categories that share the roster tag low_income (as Qinbei's and
    Guigang's presets do): low-income family members aged 60 or more, and those under 18."""
    document = Policy.objects.get(code="linfen-next").document
    on = f"{YEAR - 1}-12-31"
    document["subsidy_categories"] += [
        {"code": "low_income_aged_60", "name": "低收入家庭老年人", "marker": "06", "tag": "low_income",
         "scheme": "full", "conditions": {"age_at_least": {"years": 60, "on": on}}},
        {"code": "low_income_minor", "name": "低收入家庭未成年人", "marker": "07", "tag": "low_income",
         "scheme": "full", "conditions": {"age_below": {"years": 18, "on": on}}},
    ]  # fmt: skip
    policy_save(document=document, note="共用名单标签")
    queued_runs_execute()  # the county's reassessment the new version queues
    persons = {"adult": town["zhang"]}
    for key, name, born in (
        ("elder", "赵老", dt.date(1950, 1, 1)),
        ("minor", "钱小", dt.date(YEAR - 10, 1, 1)),
    ):
        persons[key] = enrolled(name, len(persons) + 20, birth=born.strftime("%Y%m%d"))
        persons[key].birth_date = born
        persons[key].save(update_fields=["birth_date"])
    return persons


def test_given_categories_sharing_a_roster_tag_then_each_is_one_row_with_the_tags_persons(
    world, shared_tag, client
):
    # Given three persons tagged low_income: one aged 60+, one under 18, one adult neither category takes
    rows = [row(n, person, "low_income") for n, person in enumerate(shared_tag.values(), start=1)]
    confirm(world, check(world, xlsx_bytes([HEADER, *rows])))
    client.force_login(world.users["admin"])

    # When the totals are read
    page = client.get(reverse("subsidies:totals"), {"year": YEAR}).content.decode()

    # Then each category is one row: the three persons holding the tag it needs, the one it subsidises
    assert _totals_rows(page) == [
        ("141002", "low_income_aged_60", "3", "1"),
        ("141002", "low_income_minor", "3", "1"),
    ]
    assert 'data-key="tagged" data-value="3"' in page


@pytest.mark.parametrize("asked", ["²", "٢٠٢٧", "20x7"])
def test_given_a_year_that_is_not_four_ascii_digits_then_the_totals_show_the_newest_assessed_year(
    world, town, client, asked
):
    # Given insurance staff and a county assessed for the year
    client.force_login(world.users["insurance_a"])

    # When the totals are asked for a year "²" (a digit to str.isdigit(), not to int())
    response = client.get(reverse("subsidies:totals"), {"year": asked})

    # Then they answer as for any invalid year: the newest assessed year
    assert response.status_code == 200
    assert f'class="tab current" data-year="{YEAR}"' in response.content.decode()


@pytest.mark.parametrize("asked", ["²", "٢٠٢٧", "20x7"])
def test_given_a_year_that_is_not_four_ascii_digits_then_the_export_holds_the_newest_assessed_year(
    world, town, client, asked
):
    # Given insurance staff and a county assessed for the year
    client.force_login(world.users["insurance_a"])

    # When the totals' export is asked for a year "²"
    response = client.get(reverse("subsidies:totals-export"), {"year": asked})

    # Then it answers as for any invalid year: the newest assessed year's file
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f"-{YEAR}.xlsx")


def test_given_tax_staff_then_totals_are_forbidden(world, client):
    client.force_login(world.users["tax_a"])

    assert client.get(reverse("subsidies:totals")).status_code == 403


# --- the admin's import through django-import-export --------------------------------------------


def test_given_the_admin_import_when_a_clean_roster_is_previewed_and_confirmed_then_it_is_imported_all_or_nothing(
    world, town, client
):
    client.force_login(world.users["admin"])
    content = xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], "特困")])
    fields = {"source": SOURCE, "insurance_year": YEAR, "roster_date": ROSTER_DATE.isoformat(), "format": "0"}

    preview = client.post(
        reverse("admin:subsidies_rosterimport_import"), {**fields, "import_file": upload(content)}
    )

    assert preview.status_code == 200
    result = preview.context["result"]
    assert (result.totals["new"], result.has_validation_errors()) == (2, False)
    assert SubsidyTag.objects.count() == 0  # the dry run changed nothing
    confirm_form = preview.context["confirm_form"]
    confirmed = client.post(
        reverse("admin:subsidies_rosterimport_process_import"),
        {**confirm_form.initial, "mode": "all_or_nothing"},
    )
    job = RosterImport.objects.get()
    assert confirmed.status_code == 302 and confirmed["Location"] == reverse(
        "subsidies:roster-import", args=[job.pk]
    )
    services.roster_import_process(scope=Scope.for_user(world.users["admin"]), import_id=job.pk)  # the worker

    job.refresh_from_db()
    assert (job.status, job.mode, job.counts["added"]) == ("done", "all_or_nothing", 2)
    (batch,) = OutboxMessage.objects.filter(topic="subsidy.marks_batch")
    assert [item["status"] for item in batch.payload["items"]] == ["active", "active"]


def test_given_the_admin_import_when_a_row_cannot_be_imported_then_only_the_valid_rows_can_be_confirmed(
    world, town, client
):
    client.force_login(world.users["admin"])
    content = xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], name="李")])

    preview = client.post(
        reverse("admin:subsidies_rosterimport_import"),
        {"source": SOURCE, "insurance_year": YEAR, "roster_date": ROSTER_DATE.isoformat(), "format": "0",
         "import_file": upload(content)},
    )  # fmt: skip

    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [3]
    assert [row.import_type for row in result.valid_rows()] == ["new"]
    assert "mode" in preview.context["confirm_form"].fields
    # the checked file waits on the portal's page, with its report, as an upload there would
    job = RosterImport.objects.get()
    assert (job.status, job.counts["added"], job.counts["name_mismatch"]) == (ImportStatus.CHECKED, 1, 1)


def test_given_finance_staff_then_insurances_totals_page_is_refused_and_finance_reads_its_own(world, client):
    # Finance never reads insurance's assessments: its subsidy figures come over the sharing
    # platform (subsidy.fund_totals) into its own tables (/finance/subsidies/).
    client.force_login(world.users["finance_a"])

    assert client.get(reverse("subsidies:totals")).status_code == 403
    assert client.get("/finance/subsidies/").status_code == 200


def test_given_the_roster_upload_page_then_the_row_limit_is_written_with_its_digits_grouped(world, client):
    # Given the administrator
    client.force_login(world.users["admin"])

    # When the upload page is opened (in Chinese, the portal's default)
    page = client.get(reverse("subsidies:roster-upload")).content.decode()

    # Then the limit reads as every other count on the portal's pages, not as 1000000
    assert "最大200 MB、1,000,000行。" in page
