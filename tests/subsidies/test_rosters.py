"""Roster imports through the services, as the worker runs them: the preview, the explicit mode, the
replacement of the previous roster, the tags and untags sent to tax, and the reassessment whose new
amounts reach tax's ledger.

The policy is the Linfen preset for next year (I 400 yuan; 低保 a fixed 160 yuan, 特困 full),
stored for 临汾市; the rosters are imported by the Linfen administrator. Messages are asserted in
English (the msgids), whatever the catalogue holds.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
import xlwt
from django.core.exceptions import ValidationError
from django.utils import translation
from openpyxl import load_workbook

from collection.handlers import apply_subsidy_marks_batch
from collection.models import DueItem, SubsidyMark
from enrollment.models import Assessment, AssessmentRun, ImportStatus
from sharing import services as sharing
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from subsidies import rosters
from subsidies.models import RosterImport, RosterRow, SubsidyRoster, SubsidyTag
from tests.enrollment import resident_id
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
    counts,
    enrolled,
    linfen_policy,
    row,
    scope_of,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

PERIOD_END = dt.date(YEAR, 12, 31)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def town(world):
    """Five enrolled residents of 屯里村 (尧都区) and one of 秦壁村 (洪洞县), next year assessed."""
    linfen_policy()
    persons = {
        "zhang": enrolled("张三", 1),
        "li": enrolled("李四", 3),
        "wang": enrolled("王五", 5),
        "zhao": enrolled("赵六", 7),
        "qian": enrolled("钱七", 9),
        "sun": enrolled("孙八", 11, region=QINBI),
    }
    assess("141002", "141024")
    return persons


def _messages(topic: str) -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(topic=topic).order_by("id")]


def _marks(status: str) -> list[dict]:
    """The items of every subsidy.marks_batch message sent, of one status, in the order sent."""
    return [
        item
        for batch in _messages("subsidy.marks_batch")
        for item in batch["items"]
        if item["status"] == status
    ]


def _rows(job: RosterImport) -> dict[int | None, tuple[str, str]]:
    return {
        r.row_number: (r.outcome, r.message)
        for r in RosterRow.objects.filter(roster_import=job)
        if r.row_number
    }


def _standing() -> set[tuple[str, str]]:
    return set(SubsidyTag.objects.filter(end_reason="").values_list("person__name", "category"))


# --- the preview --------------------------------------------------------------------------------


def test_given_a_roster_when_it_is_checked_then_the_preview_counts_every_row_and_nothing_changes(world, town):
    unknown = resident_id(address="141002", birth="19700101", sequence="123")
    content = xlsx_bytes(
        [
            ["临汾市2027年度城乡低保对象名单"],  # a title row above the header
            HEADER,
            row(1, town["zhang"]),  # row 3: 低保, the short form of 城乡低保对象
            row(2, town["li"], "特困供养人员"),  # row 4
            [3, "周九", unknown, "低保", None],  # row 5: not in the registry
            row(4, town["wang"], name="王 五五"),  # row 6: another name
            row(5, town["sun"]),  # row 7: 洪洞县 lies in the administrator's city
            row(6, town["zhao"], "无此类别"),  # row 8: unknown category
        ]
    )

    job = check(world, content)

    assert (job.status, job.rows_total, job.sheet_name) == (ImportStatus.CHECKED, 6, "名单")
    assert counts(job) == {
        "added": 3, "unchanged": 0, "removed": 0, "error": 1, "not_found": 1, "name_mismatch": 1, "outside_area": 0,
    }  # fmt: skip
    assert job.counts["blocking"] == 3
    assert _rows(job) == {
        5: ("not_found", "No person with this identifier is in the registry; register the person first."),
        6: ("name_mismatch", "The registry has the name “王五” for this identifier; check the row."),
        8: (
            "error",
            f"“无此类别” is not a subsidy category of the {YEAR} policy for 尧都区; its categories are: "
            "建档立卡贫困人口、城乡低保对象、重度残疾人、特困供养人员、宗教教职人员.",
        ),
    }
    assert SubsidyTag.objects.count() == 0
    assert OutboxMessage.objects.filter(topic__startswith="subsidy.").count() == 0
    assert not SubsidyRoster.objects.exists()


def test_given_rows_by_themselves_wrong_when_checked_then_each_says_what_is_wrong(world, town):
    zhang = town["zhang"]
    content = xlsx_bytes(
        [
            HEADER,
            [
                1,
                "张三",
                zhang.id_number[:17] + ("0" if zhang.id_number[-1] != "0" else "1"),
                "低保",
                None,
            ],  # row 2
            [2, "", town["li"].id_number, "低保", None],  # row 3: no name
            [3, "王五", town["wang"].id_number, "", None],  # row 4: no category
            [4, "赵六", town["zhao"].id_number, "低保", "2026年13月45日"],  # row 5
            [5, "钱七", town["qian"].id_number, "低保", ROSTER_DATE + dt.timedelta(days=1)],  # row 6
            [6, "张三", "410102710101001", "低保", None],  # row 7: an old 15-digit number
            [7, "张三", 141002198001010011.0, "低保", None],  # row 8: a number that lost its digits
        ]
    )

    job = check(world, content)

    messages = _rows(job)
    assert messages[2] == (
        "error",
        "The resident ID number has a wrong check digit; please check the number digit by digit.",
    )
    assert messages[3] == ("error", "The name is missing.")
    assert messages[4] == ("error", "The subsidy category is missing.")
    assert messages[5] == ("error", "“2026年13月45日” is not a date; write it like 1990-01-31.")
    assert messages[6] == (
        "error",
        f"Recognised on {(ROSTER_DATE + dt.timedelta(days=1)).isoformat()}, after the roster's date {ROSTER_DATE.isoformat()}.",
    )
    assert messages[7] == (
        "error",
        "This is an old 15-digit identity card number; write the 18-digit resident ID number.",
    )
    assert messages[8][0] == "error" and "lost its last digits" in messages[8][1]
    assert counts(job, "added", "error") == {"added": 0, "error": 7}


def test_given_the_same_person_twice_when_checked_then_the_second_row_is_an_error_and_two_categories_are_two_tags(
    world, town
):
    zhang, li = town["zhang"], town["li"]
    content = xlsx_bytes(
        [HEADER, row(1, zhang), row(2, zhang, "dibao"), row(3, li, "低保"), row(4, li, "特困")]
    )

    job = check(world, content)

    assert _rows(job) == {3: ("error", "The same person and category as row 2.")}
    assert counts(job, "added", "error") == {"added": 3, "error": 1}


def test_given_categories_written_by_code_name_marker_or_short_form_then_each_means_one_category(world, town):
    content = xlsx_bytes(
        [
            HEADER,
            row(1, town["zhang"], "tekun"),  # code
            row(2, town["li"], "城乡低保对象"),  # name
            row(3, town["wang"], "04"),  # marker of 特困供养人员
            row(4, town["zhao"], "（低保）"),  # a short form in brackets
            row(5, town["qian"], "人员"),  # part of several names: ambiguous
        ]
    )

    job = confirm(world, check(world, content))

    assert _standing() == {("张三", "tekun"), ("李四", "dibao"), ("王五", "tekun"), ("赵六", "dibao")}
    assert _rows(job)[6][0] == "error"
    assert "“人员” is not a subsidy category" in _rows(job)[6][1]


def test_given_a_person_registered_outside_the_area_when_checked_then_the_row_says_where_without_the_name(
    world, town
):
    # The Taiyuan administrator's area does not hold 临汾市's residents.
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]), user="admin_other")

    assert (job.status, counts(job, "added", "outside_area")) == (
        ImportStatus.CHECKED,
        {"added": 0, "outside_area": 1},
    )
    assert _rows(job) == {
        2: ("outside_area", "Registered in 尧都区, outside your area; that area's roster lists the person.")
    }
    assert RosterRow.objects.get(roster_import=job).name == "张三"  # the file's own text, not the registry's


# --- confirming ---------------------------------------------------------------------------------


def test_given_a_checked_roster_when_the_valid_rows_are_imported_then_tags_start_and_tax_is_told(world, town):
    zhang, li = town["zhang"], town["li"]
    recognised = ROSTER_DATE - dt.timedelta(days=10)
    content = xlsx_bytes(
        [
            HEADER,
            row(1, zhang, recognised=recognised),
            row(2, li, "特困"),
            [3, "周九", "141002", "低保", None],
        ]
    )
    job = check(world, content)

    job = confirm(world, job, "valid_rows")

    assert (job.status, job.mode, job.message) == (ImportStatus.DONE, "valid_rows", "")
    tags = {
        tag.person_id: (
            tag.category,
            tag.valid_from,
            tag.valid_to,
            tag.source,
            tag.region_code,
            tag.end_reason,
        )
        for tag in SubsidyTag.objects.all()
    }
    assert tags == {
        zhang.pk: ("dibao", recognised, PERIOD_END, SOURCE, TUNLI, ""),
        li.pk: ("tekun", ROSTER_DATE, PERIOD_END, SOURCE, TUNLI, ""),
    }
    roster = SubsidyRoster.objects.get()
    assert (roster.source, roster.insurance_year, roster.current_import_id, roster.roster_date) == (
        SOURCE, YEAR, job.pk, ROSTER_DATE,
    )  # fmt: skip
    (batch,) = _messages("subsidy.marks_batch")
    revision = batch["items"][0]["revision"]
    assert {key: value for key, value in batch.items() if key != "items"} == {
        "county_code": TUNLI[:6], "insurance_year": YEAR, "region_code": TUNLI[:6] + "000000",
        "roster": SOURCE, "import_id": job.pk, "batch": 1, "subsidy_fen": DIBAO + INDIVIDUAL,
    }  # fmt: skip
    assert sorted(batch["items"], key=lambda item: item["category"]) == [
        {
            "person_id": zhang.id_number, "region_code": TUNLI, "category": "dibao", "marker": "02",
            "status": "active", "subsidy_kind": "fixed", "subsidy_fen": DIBAO,
            "valid_from": recognised.isoformat(), "valid_to": PERIOD_END.isoformat(), "reason": "",
            "revision": revision,
        },
        {
            "person_id": li.id_number, "region_code": TUNLI, "category": "tekun", "marker": "04",
            "status": "active", "subsidy_kind": "full", "subsidy_fen": INDIVIDUAL,
            "valid_from": ROSTER_DATE.isoformat(), "valid_to": PERIOD_END.isoformat(), "reason": "",
            "revision": revision,
        },
    ]  # fmt: skip
    assert (job.counts["tagged"], job.counts["untagged"], job.counts["persons"]) == (2, 0, 2)


def test_given_rows_that_cannot_be_imported_when_all_or_nothing_is_chosen_then_it_is_refused_before_anything(
    world, town
):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], name="李")]))

    with pytest.raises(ValidationError) as refused:
        confirm(world, job, "all_or_nothing")

    assert refused.value.message_dict["mode"] == [
        "All or nothing is not possible: 1 rows cannot be imported. Correct the file, or import the valid rows."
    ]
    job.refresh_from_db()
    assert (job.status, SubsidyTag.objects.count()) == (ImportStatus.CHECKED, 0)


def test_given_no_mode_when_confirming_then_it_is_refused(world, town):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]))

    with pytest.raises(ValidationError):
        confirm(world, job, "")

    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED


def test_given_all_or_nothing_when_the_registry_changed_since_the_preview_then_nothing_is_imported(
    world, town
):
    zhang, li = town["zhang"], town["li"]
    job = check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)]))
    assert job.counts["blocking"] == 0
    li.name = "李四儿"  # renamed in the registry after the preview
    li.save(update_fields=["name"])

    job = confirm(world, job, "all_or_nothing")

    assert job.status == ImportStatus.FAILED
    assert job.message == (
        "All or nothing: 1 rows cannot be imported now (the registry changed since the preview); "
        "nothing was imported. The report lists them."
    )
    assert SubsidyTag.objects.count() == 0
    assert OutboxMessage.objects.filter(topic__startswith="subsidy.").count() == 0
    assert _rows(job) == {
        3: ("name_mismatch", "The registry has the name “李四儿” for this identifier; check the row.")
    }


def _rechecked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What each check of an import logged about the rows it checked against the registry."""
    return [
        r.getMessage().split(": ", 1)[1]
        for r in caplog.records
        if "checked against the registry" in r.getMessage()
    ]


def test_given_no_change_since_the_preview_when_confirmed_then_no_row_is_checked_against_the_registry_again(
    world, town, caplog
):
    caplog.set_level("INFO", logger="portal.subsidies")
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"]), row(3, town["wang"])]))

    job = confirm(world, job, "all_or_nothing")

    assert _rechecked(caplog) == [
        "3 of 3 rows checked against the registry",  # the preview
        "0 of 3 rows checked against the registry",  # the confirmation
    ]
    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 3)


def test_given_a_person_registered_after_the_preview_when_the_valid_rows_are_imported_then_their_row_is_too(
    world, town, caplog
):
    from tests.matrix.enrollment_review import make_enrollment, make_person

    caplog.set_level("INFO", logger="portal.subsidies")
    later = resident_id(address="141002", birth="19700101", sequence="123")
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), [2, "周九", later, "低保", None]]))
    assert counts(job, "added", "not_found") == {"added": 1, "not_found": 1}
    make_enrollment(make_person(TUNLI, name="周九", id_number=later))

    job = confirm(world, job)

    assert _rechecked(caplog)[-1] == "1 of 2 rows checked against the registry"
    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 2)
    assert _standing() == {("张三", "dibao"), ("周九", "dibao")}


def test_given_a_person_moved_to_another_county_after_the_preview_then_the_tag_follows_the_new_region(
    world, town, caplog
):
    caplog.set_level("INFO", logger="portal.subsidies")
    zhang, li = town["zhang"], town["li"]
    job = check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)]))
    li.region_code = QINBI  # moved to 洪洞县 after the preview
    li.save(update_fields=["region_code"])

    job = confirm(world, job, "all_or_nothing")

    assert _rechecked(caplog)[-1] == "1 of 2 rows checked against the registry"
    assert job.status == ImportStatus.DONE
    assert set(SubsidyTag.objects.values_list("person__name", "region_code")) == {
        ("张三", TUNLI),
        ("李四", QINBI),
    }


def test_given_a_category_changed_in_the_policy_after_the_preview_when_confirmed_then_every_row_is_checked_again(
    world, town, caplog
):
    from enrollment.policies import policy_detail
    from subsidies import services

    caplog.set_level("INFO", logger="portal.subsidies")
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"], "特困供养人员")]))
    assert job.counts["blocking"] == 0
    policy = policy_detail(scope=scope_of(world), code="linfen-next")
    code = next(c["code"] for c in policy.document["subsidy_categories"] if c["name"] == "特困供养人员")
    services.subsidy_category_remove(
        scope=scope_of(world), policy_code="linfen-next", code=code, note="测试", actor_id=None
    )

    job = confirm(world, job, "all_or_nothing")

    assert _rechecked(caplog)[-1] == "2 of 2 rows checked against the registry"
    assert job.status == ImportStatus.FAILED
    assert [outcome for outcome, _message in _rows(job).values()] == ["error"]
    assert SubsidyTag.objects.count() == 0


def _kept_tables() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname ~ '^subsidies_stage_[0-9]+$' AND relkind = 'r'"
        )
        return {name for (name,) in cursor.fetchall()}


def test_given_a_checked_roster_when_confirmed_then_the_rows_the_preview_read_are_applied_without_the_file(
    world, town, monkeypatch
):
    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"])]))
    assert _kept_tables() == {f"subsidies_stage_{job.pk}"}

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(rosters, "open_sheet", no_reading)
    job = confirm(world, job)

    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 2)
    assert _standing() == {("张三", "dibao"), ("李四", "dibao")}
    assert _kept_tables() == set()


def test_given_the_kept_rows_lost_in_a_crash_when_confirmed_then_the_file_is_read_again(world, town):
    from django.db import connection

    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"])]))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE subsidies_stage_{job.pk}")  # what a crash leaves of an unlogged table

    job = confirm(world, job)

    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 2)
    assert _kept_tables() == set()


@pytest.mark.parametrize(
    "older",
    [
        # the rows as read, without their verdicts
        "DROP COLUMN outcome",
        # the checked rows with their cells as JSON
        "ALTER COLUMN raw TYPE jsonb USING to_jsonb(raw)",
    ],
    ids=["as-read", "cells-as-json"],
)
def test_given_rows_kept_by_an_older_version_when_confirmed_then_the_file_is_read_again(
    world, town, monkeypatch, older
):
    from django.db import connection

    job = check(world, xlsx_bytes([HEADER, row(1, town["zhang"]), row(2, town["li"])]))
    with connection.cursor() as cursor:  # the kept rows as an older version kept them
        cursor.execute(f"ALTER TABLE subsidies_stage_{job.pk} {older}")
    opened = []
    open_sheet = rosters.open_sheet
    monkeypatch.setattr(rosters, "open_sheet", lambda *args: opened.append(args) or open_sheet(*args))

    job = confirm(world, job)

    assert len(opened) == 1
    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 2)
    assert _kept_tables() == set()


@pytest.mark.parametrize(
    "remark",
    [
        "民政局认定",
        "",
        "第一行\n第二行\t缩进",
        "单元\x1f分隔",
        "记录\x1e分隔",
        "\x1e开头",
        '\\x1f 反斜杠与引号"',
    ],
)
def test_given_a_row_not_imported_when_checked_then_its_cells_are_kept_exactly_as_read(world, town, remark):
    import csv

    # Given a row whose person is not registered, with a remark of any characters (a CSV file:
    # a workbook cannot hold control characters)
    unknown = resident_id("141002", "19800101", "919")
    cells = ["1", "无名氏", unknown, "低保", ROSTER_DATE.isoformat(), remark]
    text = io.StringIO()
    csv.writer(text).writerows([[*HEADER, "备注"], cells])

    # When it is checked
    job = check(world, text.getvalue().encode(), name="名单.csv")

    # Then the report row holds the six cells as the file had them
    (reported,) = RosterRow.objects.filter(roster_import=job, row_number__isnull=False)
    assert (reported.outcome, reported.values) == ("not_found", cells)


def test_given_a_csv_whose_cell_spans_lines_when_checked_then_rows_are_numbered_as_a_spreadsheet_shows_them(
    world, town
):
    import csv

    # Given a CSV whose first data row has a remark over three lines of text
    unknown = resident_id("141002", "19800101", "919")
    text = io.StringIO()
    csv.writer(text).writerows(
        [
            [*HEADER, "备注"],
            ["1", "张三", town["zhang"].id_number, "低保", "", "第一行\n第二行\n第三行"],
            ["2", "无名氏", unknown, "低保", "", ""],
        ]
    )

    # When it is checked
    job = check(world, text.getvalue().encode(), name="名单.csv")

    # Then the row not imported is row 3, as in Excel, not line 5 of the text
    (reported,) = RosterRow.objects.filter(roster_import=job, row_number__isnull=False)
    assert (reported.row_number, reported.outcome, reported.name) == (3, "not_found", "无名氏")


def test_given_previews_in_every_state_when_pruned_then_only_those_waiting_for_confirmation_keep_their_rows(
    world, town
):
    from subsidies import services

    waiting = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]))
    discarded = check(world, xlsx_bytes([HEADER, row(1, town["li"])]), source="临汾市残联")
    services.roster_import_discard(scope=scope_of(world), import_id=discarded.pk)
    abandoned = check(world, xlsx_bytes([HEADER, row(1, town["wang"])]), source="临汾市乡村振兴局")
    RosterImport.objects.filter(pk=abandoned.pk).update(status=ImportStatus.FAILED)

    dropped = services.roster_rows_prune()

    assert dropped == [abandoned.pk]
    assert _kept_tables() == {f"subsidies_stage_{waiting.pk}"}


def test_given_a_checked_file_when_another_file_of_the_roster_is_applied_first_then_confirming_it_imports_nothing(
    world, town
):
    first = check(world, xlsx_bytes([HEADER, row(1, town["zhang"])]))
    second = check(world, xlsx_bytes([HEADER, row(1, town["li"])]))
    confirm(world, first)

    second = confirm(world, second)

    assert second.status == ImportStatus.FAILED
    assert second.message.startswith("Another file of this roster was imported after this one was checked")
    assert _standing() == {("张三", "dibao")}


# --- a new roster replaces the previous one ----------------------------------------------------


def test_given_a_roster_in_force_when_a_new_file_of_it_is_imported_then_added_removed_and_unchanged_are_counted_first(
    world, town
):
    zhang, li, wang, zhao = town["zhang"], town["li"], town["wang"], town["zhao"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li), row(3, wang, "特困")])))
    later = ROSTER_DATE + dt.timedelta(days=20)

    preview = check(
        world, xlsx_bytes([HEADER, row(1, zhang), row(2, zhao), row(3, wang, "低保")]), roster_date=later
    )

    assert counts(preview, "added", "unchanged", "removed") == {"added": 2, "unchanged": 1, "removed": 2}
    removed = {
        (r.name, r.category, r.message)
        for r in RosterRow.objects.filter(roster_import=preview, outcome="removed")
    }
    assert removed == {
        ("李四", "dibao", f"Not on the new roster: the tag ends on {later.isoformat()}."),
        ("王五", "tekun", f"Not on the new roster: the tag ends on {later.isoformat()}."),
    }
    assert _standing() == {("张三", "dibao"), ("李四", "dibao"), ("王五", "tekun")}  # nothing changed yet

    job = confirm(world, preview)

    assert _standing() == {("张三", "dibao"), ("赵六", "dibao"), ("王五", "dibao")}
    # The uploader worked in English (``check``); the reason stored on the tags is the portal's language.
    ended = SubsidyTag.objects.exclude(end_reason="").order_by("person__name")
    assert [(t.person.name, t.category, t.valid_to, t.end_reason) for t in ended] == [
        ("李四", "dibao", later, f"未列入{later.isoformat()}的名单（导入编号{job.pk}）。"),
        ("王五", "tekun", later, f"未列入{later.isoformat()}的名单（导入编号{job.pk}）。"),
    ]
    history = SubsidyTag.pgh_event_model.objects.filter(pgh_obj__person=li).order_by("pgh_id")
    assert [(event.pgh_label, event.valid_to) for event in history] == [
        ("insert", PERIOD_END),
        ("update", later),
    ]
    untagged = _marks("withdrawn")
    assert [(m["person_id"], m["category"], m["valid_to"], m["marker"]) for m in untagged] == sorted(
        [(li.id_number, "dibao", later.isoformat(), "02"), (wang.id_number, "tekun", later.isoformat(), "04")]
    )
    assert {(m["reason"], m["subsidy_kind"], m["subsidy_fen"]) for m in untagged} == {
        (f"未列入{later.isoformat()}的名单", "", 0)
    }


def test_given_a_person_whose_new_row_has_an_error_then_their_tag_is_kept(world, town):
    zhang, li = town["zhang"], town["li"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))

    job = confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li, name="李斯")])))

    assert counts(job, "unchanged", "removed", "name_mismatch") == {
        "unchanged": 1,
        "removed": 0,
        "name_mismatch": 1,
    }
    assert _standing() == {("张三", "dibao"), ("李四", "dibao")}


def test_given_rosters_of_two_offices_then_one_never_ends_the_others_tags(world, town):
    zhang = town["zhang"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), source="临汾市民政局"))
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang, "特困")]), source="临汾市残联"))

    job = confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["li"])]), source="临汾市残联"))

    assert job.counts["removed"] == 1
    assert _standing() == {("张三", "dibao"), ("李四", "dibao")}
    assert SubsidyRoster.objects.count() == 2


def test_given_a_roster_in_force_when_an_older_file_comes_then_it_cannot_replace_it(world, town):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["zhang"])])))

    job = check(
        world, xlsx_bytes([HEADER, row(1, town["li"])]), roster_date=ROSTER_DATE - dt.timedelta(days=1)
    )

    assert job.status == ImportStatus.FAILED
    assert job.message == (
        f"The roster's current file is dated {ROSTER_DATE.isoformat()}; a file dated "
        f"{(ROSTER_DATE - dt.timedelta(days=1)).isoformat()} cannot replace it."
    )


# --- effects: reassessment, and what tax's ledger holds ----------------------------------------


def test_given_a_partial_subsidy_when_imported_then_the_remaining_amount_due_reaches_tax(world, town):
    zhang, li = town["zhang"], town["li"]
    sharing.delivery_drain(seconds=30)  # the yearly run's amounts are in tax's ledger
    assert DueItem.objects.get(person_id=zhang.id_number, insurance_year=YEAR).amount_fen == INDIVIDUAL

    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li, "特困")])))
    sharing.delivery_drain(seconds=30)

    due = {
        item.person_id: (item.amount_fen, item.subsidy_fen, item.subsidy_marker, item.status)
        for item in DueItem.objects.all()
    }
    assert due[zhang.id_number] == (INDIVIDUAL - DIBAO, DIBAO, "02", "due")
    assert due[li.id_number][3] == "cancelled"  # fully subsidised: nothing to collect
    assessment = Assessment.objects.get(person=zhang, insurance_year=YEAR)
    assert (assessment.subsidy_category, assessment.payable_fen, assessment.status) == (
        "dibao",
        INDIVIDUAL - DIBAO,
        "due",
    )
    marks = {
        (m.person_id, m.category): (m.status, m.marker, m.subsidy_kind, m.subsidy_fen)
        for m in SubsidyMark.objects.all()
    }
    assert marks == {
        (zhang.id_number, "dibao"): ("active", "02", "fixed", DIBAO),
        (li.id_number, "tekun"): ("active", "04", "full", INDIVIDUAL),
    }


def test_given_a_tag_that_ends_when_delivered_then_tax_withdraws_it_and_collects_the_whole_amount_again(
    world, town
):
    zhang, li = town["zhang"], town["li"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))
    # The new roster is dated before next year's cover starts, so the ended tag no longer counts.
    confirm(
        world, check(world, xlsx_bytes([HEADER, row(1, li)]), roster_date=ROSTER_DATE + dt.timedelta(days=1))
    )

    sharing.delivery_drain(seconds=30)

    mark = SubsidyMark.objects.get(person_id=zhang.id_number)
    assert (mark.status, mark.valid_to, mark.reason) == (
        "withdrawn", ROSTER_DATE + dt.timedelta(days=1), f"未列入{(ROSTER_DATE + dt.timedelta(days=1)).isoformat()}的名单",
    )  # fmt: skip
    due = DueItem.objects.get(person_id=zhang.id_number, insurance_year=YEAR)
    assert (due.amount_fen, due.subsidy_fen, due.status) == (INDIVIDUAL, 0, "due")


def test_given_two_persons_of_a_county_when_imported_then_only_they_are_reassessed_set_based(world, town):
    zhang, li = town["zhang"], town["li"]
    before = dict(Assessment.objects.filter(insurance_year=YEAR).values_list("person__name", "revision"))

    job = confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))

    runs = AssessmentRun.objects.filter(person__isnull=True, reason__startswith="Subsidy roster")
    assert [
        (run.county_code, run.insurance_year, run.enrollments, run.changed, run.pushed) for run in runs
    ] == [("141002", YEAR, 2, 2, 2)]
    assert AssessmentRun.objects.filter(person__isnull=False).count() == 0
    payable = dict(Assessment.objects.filter(insurance_year=YEAR).values_list("person__name", "payable_fen"))
    assert payable == {"张三": INDIVIDUAL - DIBAO, "李四": INDIVIDUAL - DIBAO, "王五": INDIVIDUAL, "赵六": INDIVIDUAL,
                       "钱七": INDIVIDUAL, "孙八": INDIVIDUAL}  # fmt: skip
    after = dict(Assessment.objects.filter(insurance_year=YEAR).values_list("person__name", "revision"))
    assert {name: after[name] - before[name] for name in after} == {"张三": 1, "李四": 1, "王五": 0, "赵六": 0,
                                                                     "钱七": 0, "孙八": 0}  # fmt: skip
    assert job.counts["pushed"] == 2


def test_given_a_roster_when_imported_then_the_new_amounts_go_to_tax_in_a_batch_of_their_own(world, town):
    zhang, li = town["zhang"], town["li"]
    yearly = set(OutboxMessage.objects.filter(topic="assessment.due_batch").values_list("subject", flat=True))

    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))

    (batch,) = OutboxMessage.objects.filter(topic="assessment.due_batch").exclude(subject__in=yearly)
    assert batch.payload["part"].startswith("list-") and batch.subject.endswith(f":{batch.payload['part']}:1")
    assert sorted((item["person_id"], item["amount_fen"]) for item in batch.payload["items"]) == sorted(
        [(zhang.id_number, INDIVIDUAL - DIBAO), (li.id_number, INDIVIDUAL - DIBAO)]
    )
    assert OutboxMessage.objects.filter(topic="assessment.due").count() == 0


def test_given_a_later_import_when_its_marks_reach_tax_before_an_earlier_ones_then_the_later_one_stands(
    world, town
):
    zhang = town["zhang"]
    first = confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)])))
    later = ROSTER_DATE + dt.timedelta(days=1)
    second = confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["li"])]), roster_date=later))
    (earlier_batch,) = OutboxMessage.objects.filter(topic="subsidy.marks_batch", payload__import_id=first.pk)
    (later_batch,) = OutboxMessage.objects.filter(topic="subsidy.marks_batch", payload__import_id=second.pk)

    apply_subsidy_marks_batch(Batch(topic="subsidy.marks_batch", ids=[later_batch.pk]))
    apply_subsidy_marks_batch(Batch(topic="subsidy.marks_batch", ids=[earlier_batch.pk]))

    mark = SubsidyMark.objects.get(person_id=zhang.id_number)
    assert (mark.status, mark.valid_to, mark.source_message_id) == ("withdrawn", later, later_batch.pk)


def test_given_two_rosters_tagging_one_category_when_one_drops_the_person_then_tax_keeps_the_mark(
    world, town
):
    zhang, li = town["zhang"], town["li"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), source="临汾市民政局"))
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), source="临汾市乡村振兴局"))

    job = confirm(world, check(world, xlsx_bytes([HEADER, row(1, li)]), source="临汾市乡村振兴局"))
    sharing.delivery_drain(seconds=30)

    assert (job.counts["removed"], job.counts["untagged"]) == (1, 0)
    assert _marks("withdrawn") == []
    mark = SubsidyMark.objects.get(person_id=zhang.id_number)
    assert (mark.status, mark.category) == ("active", "dibao")


# --- other formats, the report ------------------------------------------------------------------


def test_given_an_old_excel_file_then_it_is_read_like_a_workbook(world, town):
    book = xlwt.Workbook()
    sheet = book.add_sheet("名单")
    for index, value in enumerate(HEADER):
        sheet.write(0, index, value)
    sheet.write(1, 1, "张三")
    sheet.write(1, 2, town["zhang"].id_number)
    sheet.write(1, 3, "低保")
    sheet.write(1, 4, ROSTER_DATE - dt.timedelta(days=3), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    buffer = io.BytesIO()
    book.save(buffer)

    job = confirm(world, check(world, buffer.getvalue(), name="名单.xls"))

    assert (job.file_format, job.status, job.counts["added"]) == ("xls", ImportStatus.DONE, 1)
    assert SubsidyTag.objects.get().valid_from == ROSTER_DATE - dt.timedelta(days=3)


def test_given_a_gbk_csv_then_it_is_read(world, town):
    text = "姓名,身份证号码,资助类别\n张三,{},低保\n".format(town["zhang"].id_number)

    job = confirm(world, check(world, text.encode("gb18030"), name="名单.csv"))

    assert (job.file_format, job.counts["added"]) == ("csv", 1)


def test_given_a_preview_when_the_report_is_downloaded_then_it_holds_the_original_rows_whole_and_escaped(
    world, town
):
    zhang = town["zhang"]
    # A CSV exported by another system: a name that a spreadsheet would run as a formula.
    content = (
        "序号,姓名,身份证号码,资助类别,认定日期\n"
        f'1,"=HYPERLINK(""http://x"")",{zhang.id_number},低保,\n'
        f"2,李四,{town['li'].id_number},低保,\n"
    ).encode()
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, town["wang"])])))
    job = check(world, content, name="名单.csv", roster_date=ROSTER_DATE + dt.timedelta(days=1))

    book = load_workbook(rosters.report_workbook(scope=scope_of(world), roster_import=job), read_only=True)

    rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert rows[0] == ("Row", "Outcome", "Reason", "序号", "姓名", "身份证号码", "资助类别", "认定日期")
    number, outcome, reason, _serial, name, id_number, category, _recognised = rows[1]
    assert (number, outcome, name, category) == (
        2,
        "Name does not match the registry",
        '\'=HYPERLINK("http://x")',
        "低保",
    )
    assert reason == "The registry has the name “张三” for this identifier; check the row."
    # the administrator who imports rosters corrects rows by the whole number, as in the file
    assert id_number == zhang.id_number
    ended = list(book.worksheets[2].iter_rows(values_only=True))
    assert ended[0] == ("Identifier", "Name", "Subsidy category", "Reason")
    assert ended[1][1:3] == ("王五", "城乡低保对象")
