"""A background export in a real Chromium with a real Celery worker: the export button of a
follow-up list POSTs and lands on the job's page with its progress bar; the user leaves, the worker
builds the file, the user comes back through 我的导出 and downloads it.

The worker is a subprocess on this test's database and a Redis of the test's own, so the job is
delivered as in production. The scene is tests/enrollment/test_reports.py's 屯里村.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from openpyxl import load_workbook
from playwright.sync_api import expect

from accounts.models import ExportJob
from tests.conftest import subprocess_env
from tests.enrollment.test_reports import TUNLI, make_scene, number
from tests.private_broker import task_on_private_redis
from tests.sharing.support import Worker

pytestmark = pytest.mark.browser


@pytest.fixture
def private_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis of this test's own for the export's task."""
    from accounts.tasks import build_export

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "exports", ignore_errors=True)
    with task_on_private_redis(build_export, tmp_path, monkeypatch) as url:
        yield url


def test_given_a_list_when_exported_left_and_found_again_in_my_exports_then_the_file_downloads(
    page, sign_in, shoot, page_log, transactional_world, private_broker, tmp_path: Path
):
    make_scene(transactional_world)
    sign_in("insurance_a")
    page.goto(f"/enrollment/reports/unenrolled/?area={TUNLI}")
    expect(page.get_by_test_id("follow-up-row")).to_have_count(2)

    # When the export is asked for, the job's page shows it waiting, with its progress bar
    with page.expect_navigation():
        page.get_by_test_id("list-xlsx").click()
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "queued")
    expect(page.locator("[data-progress-bar]")).to_be_visible()
    expect(page.get_by_test_id("export-title")).to_have_text("户籍人口中未参保人员")
    shoot("1-job-waiting-zh")
    job = ExportJob.objects.get()
    job_url = page.url

    # …and the user leaves it; a worker comes and builds the file meanwhile
    page.goto("/")
    worker = Worker(subprocess_env(PORTAL_BROKER_URL=private_broker), tmp_path / "worker.log", concurrency=1)
    try:
        page.get_by_role("navigation", name="主菜单").get_by_role("link", name="我的导出").click()
        row = page.locator(f"[data-testid=export-row][data-job='{job.pk}']")
        expect(row).to_have_count(1)
        row.get_by_test_id("export-link").click()
        expect(page).to_have_url(job_url)
        expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "done", timeout=90_000)
    finally:
        worker.stop()
    expect(page.get_by_test_id("progress")).to_have_count(0)
    shoot("2-job-done-zh")

    # Then 我的导出 lists it as done, and the file downloads from there
    page.get_by_test_id("my-exports").click()
    expect(row).to_have_attribute("data-status", "done")
    shoot("3-my-exports-zh")
    with page.expect_download() as download:
        row.get_by_test_id("download").click()
    assert download.value.suggested_filename == "屯里村-未参保名单.xlsx"
    path = tmp_path / "unenrolled.xlsx"
    download.value.save_as(path)
    rows = list(load_workbook(path).active.iter_rows(min_row=3, values_only=True))
    assert [(row[1], row[2]) for row in rows] == [("张丙", number(3)), ("张丁", number(4))]

    # The same pages in English
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="My exports")).to_be_visible()
    shoot("4-my-exports-en")
    page.goto(job_url)
    expect(page.get_by_test_id("download")).to_contain_text("Download")
    shoot("5-job-done-en")

    assert page_log.errors == []
    assert page_log.console == []


def test_given_a_job_waiting_when_shown_in_english_then_the_progress_bar_and_the_text_say_so(
    page, sign_in, shoot, page_log, transactional_world
):
    from django.core.cache import cache

    user = transactional_world.users["insurance_a"]
    job = ExportJob.objects.create(
        user=user, kind="enrollment.unpaid", params={"area": "141002000000", "year": 2027},
        language="en", filename="x", status="running", rows_expected=600_006,
    )  # fmt: skip
    cache.set(f"accounts:export-progress:{job.pk}", 45_000)
    sign_in("insurance_a")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.goto(f"/exports/{job.pk}/")

    expect(page.locator("[data-progress-text]")).to_have_text("45,000 rows written…")
    expect(page.locator("[data-progress-bar]")).to_have_attribute("value", "7")
    cache.set(f"accounts:export-progress:{job.pk}", 300_003)
    expect(page.locator("[data-progress-text]")).to_have_text("300,003 rows written…", timeout=10_000)
    expect(page.locator("[data-progress-bar]")).to_have_js_property("value", 50)
    shoot("job-running-en")
    assert page_log.errors == []
    assert page_log.console == []
