"""Background exports (accounts/export_jobs.py): the long lists are asked for with a POST, built by
a worker with the requesting user's scope as it is when the worker runs, kept a week in private
storage and downloaded by their owner only.

The scene is tests/enrollment/test_reports.py's: 屯里村 (尧都区) with five persons on its household
register, three enrolled, one due (张乙, 400 yuan); 张丙 (enrollment terminated) and 张丁 (not in the
registry) are not enrolled.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.export_jobs import REGISTRY, ProgressCounter
from accounts.models import ExportJob, ExportStatus
from accounts.roles import ROLE_ACTIONS, Role
from accounts.tasks import build_export, expire_exports
from enrollment.models import RegisteredResident
from tests.conftest import World
from tests.enrollment.test_reports import TUNLI, make_scene, number, register
from tests.exports_support import ask_export, download, exported, workbook_of
from tests.refunds.support import YEAR

YAODU = "141002000000"
HONGDONG = "141024000000"


@pytest.fixture(autouse=True)
def _no_files_of_earlier_tests() -> None:
    """The database is rolled back after each test, its files are not: job keys come round again."""
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "exports", ignore_errors=True)


@pytest.fixture
def village(world: World) -> dict[str, Any]:
    return make_scene(world)


def _cells(book) -> list[list[Any]]:  # type: ignore[no-untyped-def]
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def _unenrolled_job_of(user, *, language: str = "zh-hans") -> ExportJob:  # type: ignore[no-untyped-def]
    """The not-enrolled list of Tunli asked for by ``user``, through the service as the page asks."""
    from accounts.scope import Scope

    return services.export_job_create(
        scope=Scope.for_user(user), user=user, kind="enrollment.unenrolled", data={"area": TUNLI},
        language=language,
    )  # fmt: skip


def _masked(id_number: str) -> str:
    return id_number[:6] + "********" + id_number[-4:]


def _files_of(job: ExportJob) -> list[str]:
    folder = Path(settings.MEDIA_ROOT) / "exports" / str(job.pk)
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- the file: what the direct download gave ------------------------------------------------------


def test_given_the_village_when_its_clerk_exports_the_unenrolled_then_every_cell_is_the_direct_downloads(
    world: World, village, client
):
    client.force_login(world.users["clerk_a"])

    book = exported(client, "enrollment.unenrolled", area=TUNLI)

    # The heading, the header row and one row per person, as the direct download wrote them.
    today = timezone.localdate().isoformat()
    assert _cells(book) == [
        [f"屯里村 — 户籍人口未参保名单（打印于 {today}）"],
        ["村（社区）", "姓名", "参保识别码", "联系电话", "户", "备注"],
        ["屯里村", "张丙", number(3), None, "0002", "参保关系终止参保（死亡）"],
        ["屯里村", "张丁", number(4), "13912340004", "0003", "参保库中无此人：请登记该户"],
    ]
    job = ExportJob.objects.get()
    assert (job.user, job.status, job.rows_written, job.filename) == (
        world.users["clerk_a"],
        "done",
        2,
        "屯里村-未参保名单.xlsx",
    )


def test_given_the_county_when_insurance_staff_export_the_unpaid_then_the_amount_is_a_number_of_yuan(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    book = exported(client, "enrollment.unpaid", area=YAODU, year=YEAR)

    rows = _cells(book)
    assert rows[1] == ["村（社区）", "姓名", "参保识别码", "联系电话", "户", "应缴金额（元）", "备注"]
    assert rows[2:] == [["屯里村", "张乙", number(2), "13912340002", None, 400, None]]
    assert book.worksheets[0].title == "应缴未缴"


# --- scope: the owner's, their subtree, as it is when the worker runs ----------------------------


def test_given_a_job_when_another_user_asks_for_its_page_progress_or_file_then_each_is_404(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])
    _response, job = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    assert job is not None and ExportJob.objects.get(pk=job.pk).status == "done"

    statuses = {}
    for other in ("insurance_b", "clerk_a", "admin"):  # another county; the same area; the city
        client.force_login(world.users[other])
        for name in ("accounts:export-detail", "accounts:export-progress", "accounts:export-download"):
            statuses[(other, name)] = client.get(reverse(name, kwargs={"pk": job.pk})).status_code
        listed = client.get(reverse("accounts:export-list")).context["rows"]
        assert [row["job"].pk for row in listed] == []

    assert set(statuses.values()) == {404}
    client.force_login(world.users["insurance_a"])
    assert workbook_of(download(client, job)) is not None


def test_given_a_county_user_when_they_export_the_county_then_only_their_subtree_is_in_the_file(
    world: World, village, client
):
    from tests.matrix.enrollment_review import make_enrollment, make_person

    qinbi = "141024100201"
    register(world, [[number(9, qinbi), "洪洞人", qinbi, "0009", ""]], user="insurance_b")
    assert RegisteredResident.objects.filter(region_code=qinbi).count() == 1
    make_enrollment(make_person(qinbi, name="洪洞参保人"))
    client.force_login(world.users["insurance_a"])

    book = exported(client, "enrollment.unenrolled", area=YAODU)
    refused, job = ask_export(client, "enrollment.unenrolled", area=HONGDONG)

    assert [row[1] for row in _cells(book)[2:]] == ["张丙", "张丁"]
    assert (refused.status_code, job) == (404, None)  # another county's area is not asked for at all


def test_given_a_job_when_its_user_is_deactivated_before_the_worker_runs_then_it_fails_with_no_file(
    world: World, village
):
    user = world.users["insurance_a"]
    job = _unenrolled_job_of(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    build_export.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.status, job.file.name, job.error) == ("failed", "", "您的角色无权进行此操作。")
    assert _files_of(job) == []


def test_given_a_job_when_its_user_moves_to_another_county_before_the_worker_runs_then_it_fails(
    world: World, village
):
    user = world.users["insurance_a"]
    job = _unenrolled_job_of(user)
    type(user).objects.filter(pk=user.pk).update(agency=world.users["insurance_b"].agency)

    build_export.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.status, job.error, _files_of(job)) == ("failed", "您的辖区内没有这个行政区划。", [])


def test_given_a_role_without_the_exports_action_when_it_asks_then_it_is_refused_and_nothing_is_queued(
    world: World, village, client
):
    client.force_login(world.users["tax_a"])

    response, job = ask_export(client, "enrollment.unpaid", area=YAODU, year=YEAR)
    unknown, none = ask_export(client, "no.such.export")

    assert (response.status_code, job, unknown.status_code, none) == (403, None, 400, None)


# --- masking -------------------------------------------------------------------------------------


def test_given_an_administrator_when_they_export_the_unenrolled_then_identifiers_and_phones_are_masked(
    world: World, village, client
):
    client.force_login(world.users["admin"])

    rows = _cells(exported(client, "enrollment.unenrolled", area=TUNLI))

    assert [(row[2], row[3]) for row in rows[2:]] == [
        (_masked(number(3)), None),
        (_masked(number(4)), "139****0004"),
    ]


def test_given_tax_staff_when_they_export_refund_details_then_identifiers_are_masked(world: World, client):
    from collection.models import RefundPaid

    RefundPaid.objects.create(
        refund_id=7, person_id=number(1), region_code=TUNLI, month="2026-11", amount_fen=12345,
        receipt_number="R7", paid_on="2026-11-10", source_message_id=7,
    )  # fmt: skip
    client.force_login(world.users["tax_a"])

    rows = _cells(exported(client, "collection.refund_details", month="2026-11"))

    assert rows[3:] == [
        [dt.datetime(2026, 11, 10), _masked(number(1)), TUNLI, 123.45, "R7", 7],
        ["合计", 1, None, 123.45],
    ]


def test_given_a_resident_of_another_county_when_every_role_runs_every_export_then_none_of_them_shows(
    world: World, client
):
    from tests.test_access_matrix import (
        PROBING_QUERY,
        SENTINEL_NAME,
        SENTINEL_PHONE,
        _outsider,
        _sentinel_world,
    )

    _sentinel_world(world)
    leaks, built = {}, 0
    for role in Role.values:
        client.force_login(_outsider(world, role))
        for key, kind in REGISTRY.items():
            response, job = ask_export(client, key, **PROBING_QUERY)
            if kind.action not in ROLE_ACTIONS[role]:
                assert (response.status_code, job) == (403, None)
                continue
            if job is None:  # the probing area refused as outside (404)
                assert response.status_code == 404
                continue
            book = workbook_of(download(client, job))
            text = " ".join(
                str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                for value in row if value is not None
            )  # fmt: skip
            built += 1
            found = [needle for needle in (SENTINEL_NAME, SENTINEL_PHONE) if needle in text]
            if found:
                leaks[(role, key)] = found
    assert built >= len(REGISTRY)
    assert leaks == {}


# --- the task: idempotent; progress; failure --------------------------------------------------------


def test_given_a_built_job_when_the_task_is_delivered_again_then_there_is_still_one_file_unchanged(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])
    _response, job = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    job.refresh_from_db()
    first = (job.file.name, job.finished_at, Path(job.file.path).stat().st_mtime_ns)

    build_export.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.file.name, job.finished_at, Path(job.file.path).stat().st_mtime_ns) == first
    assert _files_of(job) == [f"{job.pk}.xlsx"]


def test_given_a_job_left_running_by_a_worker_that_died_when_delivered_again_then_one_file_is_built(
    world: World, village
):
    user = world.users["insurance_a"]
    job = _unenrolled_job_of(user, language="en")
    default_storage.save(f"exports/{job.pk}/{job.pk}.xlsx", __import__("io").BytesIO(b"half a file"))
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, started_at=timezone.now())

    build_export.apply(args=[job.pk])
    build_export.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.status, job.rows_written, job.filename) == ("done", 2, "屯里村-not enrolled.xlsx")
    assert _files_of(job) == [f"{job.pk}.xlsx"]
    assert job.file.open("rb").read(2) == b"PK"  # the workbook, not the half-written file


def test_given_rows_written_then_progress_is_reported_every_two_thousand_rows():
    reported: list[int] = []
    counter = ProgressCounter(reported.append)

    for rows in range(1, 5001):
        counter(rows)

    assert (reported, counter.rows) == ([2000, 4000], 5000)


def test_given_a_running_job_then_its_page_and_progress_show_the_rows_written_of_those_expected(
    world: World, village, client
):
    user = world.users["insurance_a"]
    job = ExportJob.objects.create(
        user=user, kind="enrollment.unenrolled", params={"area": YAODU}, language="zh-hans",
        filename="x", status=ExportStatus.RUNNING, rows_expected=600_006,
    )  # fmt: skip
    cache.set(f"accounts:export-progress:{job.pk}", 45_000)
    client.force_login(user)

    progress = client.get(reverse("accounts:export-progress", kwargs={"pk": job.pk})).json()
    page = client.get(reverse("accounts:export-detail", kwargs={"pk": job.pk})).content.decode()

    assert progress == {
        "status": "running", "phase": "running", "done": 45_000, "done_text": "45,000",
        "total": 600_006, "percent": 7, "finished": False,
    }  # fmt: skip
    assert 'value="7" data-progress-bar' in page
    assert "已写入 45,000 行…" in page


def test_given_the_county_when_an_export_is_asked_for_then_the_rows_expected_come_from_the_coverage_figures(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    _response, job = ask_export(client, "enrollment.unpaid", area=YAODU, year=YEAR)

    job.refresh_from_db()
    assert (job.rows_expected, job.rows_written) == (1, 1)


def test_given_a_builder_that_breaks_when_the_job_runs_then_it_fails_and_its_page_says_so(
    world: World, village, client, monkeypatch
):
    from enrollment import exports

    def broken(*args: Any) -> str:
        raise RuntimeError("disk full")

    kind = REGISTRY["enrollment.unenrolled"]
    monkeypatch.setitem(REGISTRY, kind.key, type(kind)(**{**kind.__dict__, "write": broken}))
    assert kind.key == exports.UNENROLLED
    client.force_login(world.users["insurance_a"])

    _response, job = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    page = client.get(reverse("accounts:export-detail", kwargs={"pk": job.pk}))

    job.refresh_from_db()
    assert (job.status, job.file.name, _files_of(job)) == ("failed", "", [])
    assert job.error == "导出未能生成。请重新申请；如仍失败，请告知管理员。"
    assert job.error in page.content.decode()
    assert client.get(reverse("accounts:export-download", kwargs={"pk": job.pk})).status_code == 404


def test_given_a_job_left_running_with_a_count_in_the_cache_when_delivered_again_then_the_build_starts_from_zero(
    world: World, village, monkeypatch
):
    # Given a job whose first delivery reported 4,000 rows, then died (the row still running)
    job = _unenrolled_job_of(world.users["clerk_a"])
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, started_at=timezone.now())
    cache.set(f"accounts:export-progress:{job.pk}", 4000)
    kind = REGISTRY["enrollment.unenrolled"]
    seen_when_writing_began: list[int | None] = []

    def write(*args: Any) -> str:
        seen_when_writing_began.append(services.export_progress_of(job.pk))
        return kind.write(*args)

    monkeypatch.setitem(REGISTRY, kind.key, type(kind)(**{**kind.__dict__, "write": write}))

    # When the task is delivered again
    services.export_job_run(job_id=job.pk)

    # Then the bar restarted from nothing when the new build began, not from the dead one's 4,000
    assert seen_when_writing_began == [0]
    assert ExportJob.objects.get(pk=job.pk).rows_written == 2


def test_given_a_failed_job_then_its_progress_is_finished_without_a_full_bar(world: World, client):
    # Given a job that failed after writing nothing
    user = world.users["insurance_a"]
    job = ExportJob.objects.create(
        user=user, kind="enrollment.unenrolled", params={"area": TUNLI}, language="zh-hans",
        filename="x", status=ExportStatus.FAILED, rows_expected=600, error="磁盘已满",
    )  # fmt: skip
    client.force_login(user)

    # When its page polls the progress
    progress = client.get(reverse("accounts:export-progress", kwargs={"pk": job.pk})).json()

    # Then it is finished, and the bar is not full: nothing was made
    assert (progress["status"], progress["finished"], progress["percent"]) == ("failed", True, None)


@pytest.mark.django_db(transaction=True)
def test_given_a_job_another_delivery_is_building_when_delivered_again_then_it_is_left_without_waiting(
    transactional_world: World,
):
    # Given a running job whose row another delivery holds locked while it builds the file
    job = ExportJob.objects.create(
        user=transactional_world.users["clerk_a"], kind="enrollment.unenrolled", params={"area": TUNLI},
        language="zh-hans", filename="x", status=ExportStatus.RUNNING,
    )  # fmt: skip
    building = connections.create_connection("default")
    with building.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT id FROM accounts_exportjob WHERE id = %s FOR UPDATE", [job.pk])
    try:
        # When a second delivery runs, waiting for a lock at most two seconds
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            left = services.export_job_run(job_id=job.pk)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        building.close()

    # Then it left the job to the building delivery at once: still running, no file of its own
    assert (left.pk, left.status, left.file.name) == (job.pk, ExportStatus.RUNNING, "")
    assert _files_of(job) == []


# --- expiry ----------------------------------------------------------------------------------------


def test_given_exports_of_eight_and_six_days_ago_when_beat_expires_them_then_only_the_old_ones_file_goes(
    world: World, village, client
):
    # Given two built exports, asked for eight and six days ago
    client.force_login(world.users["insurance_a"])
    _r, old = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    _r, recent = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    now = timezone.now()
    ExportJob.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=8))
    ExportJob.objects.filter(pk=recent.pk).update(created_at=now - dt.timedelta(days=6))
    old.refresh_from_db()
    old_file = Path(old.file.path)
    assert old_file.exists()

    from django.test import TestCase

    # When beat's expiry runs
    with TestCase.captureOnCommitCallbacks(execute=True):
        expired = expire_exports.apply().get()

    # Then the old one's file is removed and the recent one's kept
    assert expired == 1
    assert not old_file.exists()
    assert _files_of(recent) == [f"{recent.pk}.xlsx"]
    assert settings.CELERY_BEAT_SCHEDULE["accounts-expire-exports"]["task"] == "accounts.tasks.expire_exports"


def test_given_an_export_older_than_a_week_when_expired_then_its_row_stays_for_the_audit_of_who_exported_what(
    world: World, village
):
    # Given the village clerk's export of the not-enrolled list, built, asked for eight days ago
    user = world.users["clerk_a"]
    job = _unenrolled_job_of(user)
    services.export_job_run(job_id=job.pk)
    asked = timezone.now() - dt.timedelta(days=8)
    ExportJob.objects.filter(pk=job.pk).update(created_at=asked)
    now = timezone.now()

    # When the exports are expired
    expired = services.export_jobs_expire(now=now)

    # Then the row stays — who, which list, its parameters, when, how many rows — without its file
    assert expired == 1
    kept = ExportJob.objects.get(pk=job.pk)
    assert (kept.user_id, kept.kind, kept.params, kept.created_at, kept.rows_written) == (
        user.pk,
        "enrollment.unenrolled",
        {"area": TUNLI},
        asked,
        2,
    )
    assert (kept.status, kept.file.name, kept.expired_at) == (ExportStatus.EXPIRED, "", now)


def test_given_an_expired_export_when_beat_expires_again_then_it_is_left_as_it_is(world: World, village):
    # Given an export expired yesterday
    job = _unenrolled_job_of(world.users["clerk_a"])
    services.export_job_run(job_id=job.pk)
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=9))
    yesterday = timezone.now() - dt.timedelta(days=1)
    services.export_jobs_expire(now=yesterday)

    # When the expiry runs again today
    expired = services.export_jobs_expire()

    # Then nothing more is expired and the day its file was removed stands
    assert expired == 0
    assert ExportJob.objects.get(pk=job.pk).expired_at == yesterday


def test_given_an_expired_export_then_my_exports_and_its_page_say_the_file_was_removed_without_a_download(
    world: World, village, client
):
    # Given a built export whose file has expired
    user = world.users["insurance_a"]
    client.force_login(user)
    _r, job = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    services.export_jobs_expire()
    download_url = reverse("accounts:export-download", kwargs={"pk": job.pk})

    # When its owner opens My exports and the export's page
    listing = client.get(reverse("accounts:export-list")).content.decode()
    page = client.get(reverse("accounts:export-detail", kwargs={"pk": job.pk})).content.decode()

    # Then both show it expired, with its rows, and neither links to a file
    assert f'data-job="{job.pk}" data-status="expired"' in listing
    assert 'data-testid="file-removed">已删除<' in listing
    assert 'data-testid="job-expired"' in page
    assert "共写入了 2 行。" in page
    assert download_url not in listing
    assert download_url not in page
    assert client.get(download_url).status_code == 404


# --- pages ------------------------------------------------------------------------------------------


def test_given_the_unenrolled_page_then_its_export_button_posts_the_area_to_my_exports(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])

    html = client.get("/enrollment/reports/unenrolled/", {"area": TUNLI}).content.decode()

    assert f'<form method="post" action="{reverse("accounts:export-list")}"' in html
    assert '<input type="hidden" name="kind" value="enrollment.unenrolled">' in html
    assert f'<input type="hidden" name="area" value="{TUNLI}">' in html


def test_given_a_users_exports_then_my_exports_lists_them_newest_first_with_the_download(
    world: World, village, client
):
    client.force_login(world.users["insurance_a"])
    _r, first = ask_export(client, "enrollment.unenrolled", area=TUNLI)
    _r, second = ask_export(client, "enrollment.unpaid", area=YAODU, year=YEAR)

    response = client.get(reverse("accounts:export-list"))

    html = response.content.decode()
    assert [row["job"].pk for row in response.context["rows"]] == [second.pk, first.pk]
    assert [str(row["label"]) for row in response.context["rows"]] == [
        "应缴未缴人员（催缴名单）",
        "户籍人口中未参保人员",
    ]
    assert reverse("accounts:export-download", kwargs={"pk": first.pk}) in html
    assert "我的导出" in html
