"""The admin's roster import through django-import-export makes the checks the portal's page makes:
the same upload checks (size cap, type), the same roster fields (no date in the future), the same
streaming reader and its findings (hidden rows, formulas, merged cells, zip bombs …) as row errors
or the file's failure, the same explicit choice of mode at the confirmation, and the same worker
behind it (the admin is taken to the import's portal page for the progress, the result and the
report; a roster changed since the dry run is refused there). Every case of the broken-file corpus
gets the portal's message.

The pages are asked for in English (the language cookie); messages are the services' own words.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse

from enrollment import imports
from enrollment.models import ImportStatus
from sharing.models import OutboxMessage
from subsidies import resources, rosters, services
from subsidies.models import RosterImport, RosterRow, SubsidyRoster, SubsidyTag
from tests.subsidies.support import (
    HEADER,
    ROSTER_DATE,
    SOURCE,
    TODAY,
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
from tests.subsidies.test_corpus import CASES, Case, _hidden_rows, _zip_bomb

pytestmark = pytest.mark.django_db


@pytest.fixture
def persons(world) -> dict[str, Any]:
    linfen_policy()
    found = {"zhang": enrolled("张三", 1), "li": enrolled("李四", 3), "wang": enrolled("王五", 5)}
    assess("141002")
    return found


@pytest.fixture
def admin(world, client):
    client.force_login(world.users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _preview(client, content: bytes, *, name: str = "低保名单.xlsx", roster_date: dt.date = ROSTER_DATE):
    return client.post(
        reverse("admin:subsidies_rosterimport_import"),
        {"source": SOURCE, "insurance_year": YEAR, "roster_date": roster_date.isoformat(), "format": "0",
         "import_file": upload(content, name)},
    )  # fmt: skip


def _errors(response) -> list[str]:
    return [error.error.message for error in response.context["result"].base_errors]


def _invalid(response) -> dict[int, str]:
    return {line.number: " ".join(line.error.messages) for line in response.context["result"].invalid_rows}


def _confirm(client, preview, mode: str | None):
    data = dict(preview.context["confirm_form"].initial)
    if mode is not None:
        data["mode"] = mode
    return client.post(reverse("admin:subsidies_rosterimport_process_import"), data)


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The imports handed to a worker (the test then runs the worker's service itself)."""
    found: list[int] = []
    monkeypatch.setattr("subsidies.services._queue", lambda job, user_id: found.append(job.pk))
    return found


def _nothing_imported() -> bool:
    return (
        not SubsidyTag.objects.exists()
        and not OutboxMessage.objects.filter(topic__startswith="subsidy.").exists()
        and not SubsidyRoster.objects.filter(current_import__isnull=False).exists()
    )


def test_given_a_file_with_a_hidden_row_when_the_admin_previews_it_then_only_the_valid_rows_can_be_confirmed(
    persons, admin
):
    # Given a roster whose third row is hidden in the workbook (filtered out on screen)
    content = _hidden_rows(persons)

    # When the admin's import previews it
    response = _preview(admin, content)

    # Then the hidden row is an error of its own, as on the portal, beside the tag the file would add,
    # and the confirmation asks for the mode
    assert _invalid(response) == {
        3: "Row 3 is hidden in the workbook; unhide it (or delete it) so that what you see is what is imported."
    }
    assert [row.import_type for row in response.context["result"].valid_rows()] == ["new"]
    mode = response.context["confirm_form"].fields["mode"]
    assert (mode.required, [value for value, _label in mode.choices]) == (
        True,
        ["all_or_nothing", "valid_rows"],
    )
    page = response.content.decode()
    assert 'data-testid="rows-not-imported"' in page and 'data-testid="rows-imported"' in page
    assert "New tags: 1; ended: 0; unchanged: 0; rows that cannot be imported: 1." in page
    job = RosterImport.objects.get()
    assert (job.status, job.counts["added"], job.counts["blocking"]) == (ImportStatus.CHECKED, 1, 1)


def test_given_a_row_that_cannot_be_imported_when_the_admin_confirms_all_or_nothing_then_it_is_refused(
    persons, admin, queued
):
    # Given the admin's dry run of a file with a hidden row
    preview = _preview(admin, _hidden_rows(persons))

    # When the admin confirms it "all or nothing"
    response = _confirm(admin, preview, "all_or_nothing")

    # Then it is refused with the portal's message; the import stays checked and nothing is queued
    assert response["Location"] == reverse("admin:subsidies_rosterimport_import")
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "All or nothing is not possible: 1 rows cannot be imported. Correct the file, or import the valid rows."
    ]
    assert (RosterImport.objects.get().status, queued) == (ImportStatus.CHECKED, [])


def test_given_a_row_that_cannot_be_imported_when_the_admin_imports_the_valid_rows_then_a_worker_applies_them(
    world, persons, admin, queued
):
    # Given the admin's dry run of a file with a hidden row
    preview = _preview(admin, _hidden_rows(persons))
    job = RosterImport.objects.get()

    # When the admin confirms it with "import the valid rows"
    response = _confirm(admin, preview, "valid_rows")

    # Then the import is confirmed in that mode and handed to a worker, and the admin follows it on its
    # portal page (the progress bar, then the result and the report)
    assert response["Location"] == reverse("subsidies:roster-import", args=[job.pk])
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "Confirmed. The roster is being imported."
    ]
    job.refresh_from_db()
    assert (job.status, job.mode, job.confirmed_by_id, queued) == (
        ImportStatus.CONFIRMED,
        "valid_rows",
        world.users["admin"].pk,
        [job.pk],
    )
    assert not SubsidyTag.objects.exists()
    # and when the worker has run, the valid row alone is tagged
    services.roster_import_process(scope=scope_of(world), import_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.counts["tagged"]) == (ImportStatus.DONE, 1)
    assert list(SubsidyTag.objects.values_list("person__name", flat=True)) == ["张三"]


def test_given_a_dry_run_when_the_admin_confirms_without_choosing_a_mode_then_the_form_asks_for_one(
    persons, admin, queued
):
    # Given the admin's dry run of a clean roster
    preview = _preview(admin, xlsx_bytes([HEADER, row(1, persons["zhang"])]))

    # When it is confirmed without a mode
    response = _confirm(admin, preview, None)

    # Then the confirmation form asks for the mode, and nothing is confirmed
    assert response.status_code == 200
    assert response.context["confirm_form"].errors == {"mode": ["This field is required."]}
    assert (RosterImport.objects.get().status, queued) == (ImportStatus.CHECKED, [])


def test_given_a_file_larger_than_the_request_checks_when_the_admin_uploads_it_then_a_worker_checks_it(
    persons, admin, queued, monkeypatch: pytest.MonkeyPatch
):
    # Given files over 1 KB checked by a worker, and a roster of 40 rows (over 1 KB)
    monkeypatch.setattr(resources, "IN_REQUEST_BYTES", 1024)
    content = xlsx_bytes([HEADER, *[row(number, persons["zhang"]) for number in range(1, 41)]])
    assert len(content) > 1024

    # When the admin's import uploads it
    response = _preview(admin, content)

    # Then the import is kept and queued for a worker, and the admin is taken to its portal page,
    # which shows the check's progress and then its preview
    job = RosterImport.objects.get()
    assert response["Location"] == reverse("subsidies:roster-import", args=[job.pk])
    assert (job.status, queued) == (ImportStatus.PENDING, [job.pk])
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "The file is large, so a worker checks it; its preview follows here."
    ]


def test_given_a_roster_date_in_the_future_when_the_admin_previews_it_then_it_is_refused(persons, admin):
    # Given a clean roster dated 40 days ahead
    content = xlsx_bytes([HEADER, row(1, persons["zhang"])])

    # When the admin's import previews it
    response = _preview(admin, content, roster_date=TODAY + dt.timedelta(days=40))

    # Then it is refused with the portal's message, before anything is kept
    assert _errors(response) == ["The roster's date cannot lie in the future."]
    assert "confirm_form" not in response.context
    assert not RosterImport.objects.exists()


def test_given_a_file_over_the_size_cap_when_the_admin_previews_it_then_it_is_refused_with_the_portals_message(
    persons, admin, monkeypatch: pytest.MonkeyPatch
):
    # Given a cap of 1 MB and a file just over it
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 1024 * 1024)
    content = b"x" * (1024 * 1024 + 10)

    # When the admin's import previews it
    response = _preview(admin, content, name="名单.csv")

    # Then it is refused as the portal's page refuses it, and nothing is kept
    assert _errors(response) == ["The file is larger than 1 MB; split it."]
    assert not RosterImport.objects.exists()


def test_given_a_zip_bomb_when_the_admin_previews_it_then_it_is_refused_as_unsafe(persons, admin):
    # Given a workbook whose sheet unpacks to 24 MB of zeros
    content = _zip_bomb(persons)

    # When the admin's import previews it
    response = _preview(admin, content)

    # Then the reader refuses it as on the portal, and the import is recorded as failed with the message
    message = "The workbook unpacks to far more data than a roster holds; it is refused as unsafe."
    assert [error[: len(message)] for error in _errors(response)] == [message]
    job = RosterImport.objects.get()
    assert (job.status, job.message[: len(message)]) == (ImportStatus.FAILED, message)
    assert "confirm_form" not in response.context


def test_given_another_file_of_the_roster_applied_after_the_dry_run_when_the_admin_confirms_then_nothing_is_imported(
    world, persons, admin, queued
):
    # Given the admin's dry run of a file listing 张三 and 李四
    preview = _preview(admin, xlsx_bytes([HEADER, row(1, persons["zhang"]), row(2, persons["li"])]))
    admin_job = RosterImport.objects.get()
    # and, meanwhile, a file of the same roster listing 王五 alone imported on the portal
    portal = confirm(world, check(world, xlsx_bytes([HEADER, row(1, persons["wang"])])), "all_or_nothing")

    # When the admin confirms the dry run and the worker takes it up
    response = _confirm(admin, preview, "all_or_nothing")
    services.roster_import_process(scope=scope_of(world), import_id=admin_job.pk)

    # Then the worker refuses it with the portal's message, shown on its page, and the roster stays as
    # the portal's file left it
    assert response["Location"] == reverse("subsidies:roster-import", args=[admin_job.pk])
    admin_job.refresh_from_db()
    assert (admin_job.status, admin_job.message) == (
        ImportStatus.FAILED,
        "Another file of this roster was imported after this one was checked; nothing was imported. "
        "Upload the file again to see what it changes now.",
    )
    assert SubsidyRoster.objects.get().current_import_id == portal.pk
    assert list(SubsidyTag.objects.values_list("person__name", "end_reason")) == [("王五", "")]
    page = admin.get(response["Location"]).content.decode()
    assert "Another file of this roster was imported after this one was checked" in page


def test_given_a_dry_run_when_it_is_confirmed_then_the_import_it_checked_is_applied_without_reading_the_file_again(
    world, persons, admin, queued, monkeypatch: pytest.MonkeyPatch
):
    # Given the admin's dry run of a clean roster
    preview = _preview(admin, xlsx_bytes([HEADER, row(1, persons["zhang"])]))
    job = RosterImport.objects.get()
    reads: list[Any] = []
    monkeypatch.setattr(rosters, "open_sheet", lambda *args: reads.append(args))

    # When it is confirmed and the worker applies it
    _confirm(admin, preview, "all_or_nothing")
    services.roster_import_process(scope=scope_of(world), import_id=job.pk)

    # Then that very import is applied from the rows its preview kept (the file is not read again)
    job.refresh_from_db()
    assert (
        preview.context["confirm_form"].initial["import_file_name"],
        job.status,
        job.counts["tagged"],
    ) == (
        str(job.pk),
        ImportStatus.DONE,
        1,
    )
    assert (queued, reads) == ([job.pk], [])


def test_given_an_upload_when_the_admin_previews_it_then_the_portals_reader_reads_the_stored_file_once(
    persons, admin, monkeypatch: pytest.MonkeyPatch
):
    # Given a clean roster, and an eye on the portal's reader and on import-export's own storage
    content = xlsx_bytes([HEADER, row(1, persons["zhang"])])
    reads: list[tuple[Path, str]] = []
    open_sheet = rosters.open_sheet
    monkeypatch.setattr(
        rosters,
        "open_sheet",
        lambda path, file_format: reads.append((path, file_format)) or open_sheet(path, file_format),
    )
    monkeypatch.setattr(
        "import_export.tmp_storages.TempFolderStorage.save",
        lambda self, data: pytest.fail("import-export copied the upload"),
    )

    # When the admin's import previews it
    _preview(admin, content)

    # Then the stored upload was read once, by the portal's streaming reader
    job = RosterImport.objects.get()
    assert reads == [(Path(job.file.path), "xlsx")]
    assert Path(job.file.path).read_bytes() == content


def test_given_a_row_that_cannot_be_imported_when_the_admin_previews_then_the_page_leads_to_the_full_report(
    persons, admin
):
    # Given a roster with a name that does not match the registry
    content = xlsx_bytes([HEADER, row(1, persons["zhang"]), row(2, persons["li"], name="李")])

    # When the admin's import previews it
    response = _preview(admin, content)

    # Then the import stays checked with its report, and the page links to the import's portal page
    job = RosterImport.objects.get()
    assert list(RosterRow.objects.filter(roster_import=job).values_list("row_number", "outcome")) == [
        (3, "name_mismatch")
    ]
    assert f'data-import="{job.pk}"' in response.content.decode()
    assert reverse("subsidies:roster-import", args=[job.pk]) in response.content.decode()


@pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])
def test_given_a_broken_file_when_the_admin_previews_it_then_it_gets_the_portals_message_and_nothing_is_imported(
    case: Case, persons, admin, monkeypatch: pytest.MonkeyPatch
):
    # Given a file of the corpus (the portal's own test says what the portal answers)
    for name, value in case.settings.items():
        monkeypatch.setattr(imports, name, value)
    content = case.build(persons)

    # When the admin's import previews it
    response = _preview(admin, content, name=case.name)

    # Then the admin answers as the portal does and imports nothing; a confirmation is offered only for
    # the valid rows of a file that has any
    if case.where == "rows":
        found = _invalid(response)
        assert set(found) == set(case.rows), found
        assert all(start in found[number] for number, start in case.rows.items()), found
        job = RosterImport.objects.get()
        importable = any(job.counts.get(key) for key in ("added", "unchanged", "removed"))
        assert ("confirm_form" in response.context) == importable
    else:
        errors = _errors(response)
        assert len(errors) == 1 and errors[0].startswith(case.message), errors
        assert "confirm_form" not in response.context
    assert _nothing_imported()


def test_given_the_admin_import_form_then_its_roster_date_is_offered_as_an_iso_date_the_date_picker_reads(
    admin,
):
    # Given the administrator, in Chinese (the portal's default), whose date format is 2026/11/30
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    # When the import form is opened
    page = admin.get(reverse("admin:subsidies_rosterimport_import")).content.decode()

    # Then the roster date's default is today written as the date input reads it (else the picker is empty)
    assert f'name="roster_date" value="{TODAY.isoformat()}"' in page
