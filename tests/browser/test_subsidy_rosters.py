"""A roster import in a real Chromium, with a real Celery worker: upload → live progress → preview
(counts, every row not imported, the explicit choice of mode) → confirm → progress → result with
the downloadable report; then the categories of the policy and the totals for finance.

The worker is a subprocess on this test's database and a Redis of the test's own. Every check reads
data-testid hooks, attributes and numbers, so it holds whatever the message catalogue says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from openpyxl import Workbook, load_workbook
from playwright.sync_api import expect

from sharing.models import OutboxMessage
from subsidies.models import RosterImport, SubsidyTag
from tests.conftest import subprocess_env
from tests.enrollment import resident_id, with_wrong_check_digit
from tests.private_broker import task_on_private_redis
from tests.sharing.support import Worker
from tests.subsidies.support import (
    DIBAO,
    HEADER,
    INDIVIDUAL,
    ROSTER_DATE,
    YEAR,
    assess,
    enrolled,
    linfen_policy,
    row,
    xlsx_bytes,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def private_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis of this test's own for the import's task."""
    from subsidies.tasks import process_roster_import

    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    with task_on_private_redis(process_roster_import, tmp_path, monkeypatch) as url:
        yield url


def test_given_a_roster_when_uploaded_previewed_and_confirmed_in_the_browser_then_the_result_and_report_show(
    page, sign_in, shoot, page_log, transactional_world, private_broker, tmp_path: Path
):
    linfen_policy()
    persons = [
        enrolled(name, 2 * index + 1)
        for index, name in enumerate(["王建国", "李秀兰", "张伟", "刘芳", "陈静"])
    ]
    assess("141002")
    roster = tmp_path / "低保名单.xlsx"
    roster.write_bytes(
        xlsx_bytes(
            [
                ["临汾市城乡低保对象名单"],
                HEADER,
                row(1, persons[0]),
                row(2, persons[1]),
                row(3, persons[2], "特困供养人员"),
                row(4, persons[3], name="刘方"),  # a typing mistake: the registry says 刘芳
                [5, "周九", with_wrong_check_digit(resident_id("141002", "19800101", "999")), "低保", None],
            ]
        )
    )

    sign_in("admin")
    page.goto(reverse("subsidies:roster-upload"))
    page.fill("#id_source", "临汾市民政局")
    page.fill("#id_insurance_year", str(YEAR))
    page.fill("#id_roster_date", ROSTER_DATE.isoformat())
    page.set_input_files("[data-testid=file-input]", str(roster))
    shoot("1-upload")
    with page.expect_navigation():
        page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("[data-progress-bar]")).to_be_visible()
    shoot("2-waiting-for-a-worker")

    worker = Worker(subprocess_env(PORTAL_BROKER_URL=private_broker), tmp_path / "worker.log", concurrency=1)
    try:
        expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "checked", timeout=90_000)
        counts = page.get_by_test_id("counts")
        expect(counts.locator("[data-key=added]")).to_have_attribute("data-value", "3")
        expect(counts.locator("[data-key=name_mismatch]")).to_have_attribute("data-value", "1")
        expect(counts.locator("[data-key=error]")).to_have_attribute("data-value", "1")
        expect(page.get_by_test_id("report-row")).to_have_count(2)
        expect(page.locator("[data-testid=report-row][data-row='6']")).to_have_attribute(
            "data-outcome", "name_mismatch"
        )
        expect(page.get_by_test_id("mode-all")).to_be_disabled()
        assert SubsidyTag.objects.count() == 0
        shoot("3-preview")
        page.locator("[data-testid=outcome-tabs] [data-outcome=added]").click()
        expect(page.get_by_test_id("report-row")).to_have_count(3)
        expect(page.locator("[data-testid=report-row][data-outcome=added]")).to_have_count(3)
        shoot("3b-preview-new-tags")

        page.get_by_test_id("confirm").click()  # no mode chosen: the page asks for one
        expect(page.get_by_test_id("mode-error")).to_be_visible()
        page.get_by_test_id("mode-valid").check()
        shoot("4-mode-chosen")
        with page.expect_navigation():
            page.get_by_test_id("confirm").click()
        expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "done", timeout=90_000)
    finally:
        worker.stop()
    effects = page.get_by_test_id("effects")
    expect(effects.locator("[data-key=tagged]")).to_have_attribute("data-value", "3")
    expect(effects.locator("[data-key=persons]")).to_have_attribute("data-value", "3")
    expect(page.get_by_test_id("progress")).to_have_count(0)
    shoot("5-result")
    job = RosterImport.objects.get()
    assert (job.mode, job.confirmed_by.username) == ("valid_rows", "admin")
    assert sorted(SubsidyTag.objects.values_list("person__name", "category")) == [
        ("张伟", "tekun"), ("李秀兰", "dibao"), ("王建国", "dibao"),
    ]  # fmt: skip
    (batch,) = OutboxMessage.objects.filter(topic="subsidy.marks_batch")
    assert [item["status"] for item in batch.payload["items"]] == ["active", "active", "active"]

    with page.expect_download() as download:
        page.get_by_test_id("report-link").click()
    path = tmp_path / "report.xlsx"
    download.value.save_as(path)
    book = load_workbook(path, read_only=True)
    listed = [(r[0], r[4]) for r in list(book.worksheets[1].iter_rows(values_only=True))[1:]]
    assert listed == [(6, "刘方"), (7, "周九")]

    page.goto(reverse("subsidies:categories") + f"?year={YEAR}")
    dibao = page.locator("[data-testid=category-row][data-code=dibao]")
    expect(dibao).to_have_attribute("data-tagged", "2")
    expect(dibao).to_have_attribute("data-amount", str(DIBAO))
    shoot("6-categories")
    page.locator("[data-testid=category-row][data-code=dibao] [data-testid=category-edit]").click()
    expect(page.get_by_test_id("category-form")).to_be_visible()
    shoot("7-category-form")

    page.goto(reverse("subsidies:totals") + f"?year={YEAR}")
    expect(page.locator("[data-testid=totals-row][data-category=dibao]")).to_have_attribute(
        "data-subsidy", str(2 * DIBAO)
    )
    expect(page.locator("[data-testid=totals-row][data-category=tekun]")).to_have_attribute(
        "data-settled", str(INDIVIDUAL)
    )
    shoot("8-totals")
    assert (page_log.errors, page_log.csp_violations()) == ([], [])


def test_given_a_roster_being_worked_on_when_the_page_is_open_then_the_text_under_the_bar_follows_what_the_worker_does(
    page, sign_in, page_log, transactional_world, private_broker, tmp_path: Path
):
    from subsidies import rosters

    # Given a roster uploaded and waiting (no worker takes it: the test says what a worker would)
    roster = tmp_path / "低保名单.xlsx"
    roster.write_bytes(
        xlsx_bytes([HEADER, [1, "周九", resident_id("141002", "19800101", "999"), "低保", None]])
    )
    sign_in("admin")
    page.goto(reverse("subsidies:roster-upload"))
    page.fill("#id_source", "临汾市民政局")
    page.fill("#id_insurance_year", str(YEAR))
    page.fill("#id_roster_date", ROSTER_DATE.isoformat())
    page.set_input_files("[data-testid=file-input]", str(roster))
    with page.expect_navigation():
        page.get_by_test_id("upload-submit").click()
    job = RosterImport.objects.get()
    text, bar = page.locator("[data-progress-text]"), page.locator("[data-progress-bar]")
    expect(text).to_have_text("等待后台处理…")

    # When the worker has read 45,000 of about 600,006 rows, the page says so with the count grouped
    rosters.progress_set(job.pk, phase="reading", done=45_000, total=600_006)
    expect(text).to_have_text("已读取 45,000 行…")
    assert bar.evaluate("node => node.value") == 7

    # And when it checks the rows against the registry, the page says that, not "rows read" alone
    rosters.progress_set(job.pk, phase="checking", done=600_006, total=600_006)
    expect(text).to_have_text("已读取 600,006 行，正在与参保库核对…")
    assert bar.evaluate("node => node.value") == 99
    page.reload()  # the page drawn by the server says the same, in the same form
    expect(text).to_have_text("已读取 600,006 行，正在与参保库核对…")

    # And so on while it imports and reassesses
    rosters.progress_set(job.pk, phase="writing", done=600_006, total=600_006)
    expect(text).to_have_text("正在导入 600,006 行…")
    rosters.progress_set(job.pk, phase="reassessing", done=600_006, total=600_006)
    expect(text).to_have_text("正在重新核定相关人员并推送税务部门…")
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_the_admin_import_in_the_browser_when_files_are_previewed_and_confirmed_then_a_worker_imports_the_chosen_rows(
    page, sign_in, shoot, page_log, transactional_world, private_broker, tmp_path: Path
):
    # Given the admin's import (django-import-export), which checks a small file in the request
    linfen_policy()
    persons = [enrolled(name, 2 * index + 1) for index, name in enumerate(["王建国", "李秀兰", "张伟"])]
    assess("141002")
    hidden = tmp_path / "隐藏行.xlsx"
    book = Workbook()
    for line in (HEADER, row(1, persons[0]), row(2, persons[1])):
        book.active.append(line)
    book.active.row_dimensions[3].hidden = True
    book.save(hidden)
    clean = tmp_path / "低保名单.xlsx"
    clean.write_bytes(xlsx_bytes([HEADER, row(1, persons[0]), row(2, persons[1]), row(3, persons[2])]))
    sign_in("admin")

    def submit(path: Path) -> None:
        page.goto(reverse("admin:subsidies_rosterimport_import"))
        page.fill("#id_source", "临汾市民政局")
        page.fill("#id_insurance_year", str(YEAR))
        page.fill("#id_roster_date", ROSTER_DATE.isoformat())
        page.set_input_files("#id_import_file", str(path))
        with page.expect_navigation():
            page.locator("input[type=submit]").click()

    def confirm(mode: str) -> None:
        page.locator(f"input[name=mode][value={mode}]").check()
        with page.expect_navigation():
            page.locator("input[name=confirm]").click()

    # When the file with a hidden row is previewed
    submit(hidden)

    # Then its row 3 cannot be imported, the tag of row 2 is shown beside it, and "all or nothing" is refused
    expect(page.get_by_test_id("rows-not-imported").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("rows-not-imported").locator("tbody tr td").first).to_have_text("3")
    expect(page.get_by_test_id("rows-imported").locator("tr.new")).to_have_count(1)
    checked = RosterImport.objects.get()
    expect(page.get_by_test_id("roster-import-link")).to_have_attribute("data-import", str(checked.pk))
    shoot("1-hidden-row")
    confirm("all_or_nothing")
    expect(page.locator(".messagelist .error")).to_have_count(1)
    checked.refresh_from_db()
    assert (checked.status, SubsidyTag.objects.count()) == ("checked", 0)
    shoot("2-all-or-nothing-refused")

    # When the clean file is previewed and confirmed "all or nothing", with a worker running
    submit(clean)
    expect(page.get_by_test_id("rows-imported").locator("tr.new")).to_have_count(3)
    shoot("3-clean-preview")
    worker = Worker(subprocess_env(PORTAL_BROKER_URL=private_broker), tmp_path / "worker.log", concurrency=1)
    try:
        confirm("all_or_nothing")
        # Then the admin is on the portal's page of that import, which follows the worker to the result
        applied = RosterImport.objects.exclude(pk=checked.pk).get()
        assert page.url.endswith(reverse("subsidies:roster-import", args=[applied.pk]))
        expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "done", timeout=90_000)
    finally:
        worker.stop()
    expect(page.get_by_test_id("effects").locator("[data-key=tagged]")).to_have_attribute("data-value", "3")
    shoot("4-applied")
    applied.refresh_from_db()
    assert (applied.mode, applied.confirmed_by.username) == ("all_or_nothing", "admin")
    assert sorted(SubsidyTag.objects.values_list("person__name", flat=True)) == ["张伟", "李秀兰", "王建国"]
    assert (page_log.errors, page_log.csp_violations()) == ([], [])
