"""The admin's roster import through django-import-export makes the checks the portal's page makes:
the same upload checks (size cap, type), the same roster fields (no date in the future), the same
streaming reader and its findings (hidden rows, formulas, merged cells, zip bombs …) as row errors
or the file's failure, and the same guarantee at the confirmation (a roster changed since the dry
run is refused). Every case of the broken-file corpus gets the portal's message.

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
from subsidies import rosters
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


def _nothing_imported() -> bool:
    return (
        not SubsidyTag.objects.exists()
        and not OutboxMessage.objects.filter(topic__startswith="subsidy.").exists()
        and not SubsidyRoster.objects.filter(current_import__isnull=False).exists()
    )


def test_given_a_file_with_a_hidden_row_when_the_admin_previews_it_then_the_row_cannot_be_imported(
    persons, admin
):
    # Given a roster whose third row is hidden in the workbook (filtered out on screen)
    content = _hidden_rows(persons)

    # When the admin's import previews it
    response = _preview(admin, content)

    # Then the hidden row is an error of its own, as on the portal, and nothing can be confirmed
    assert _invalid(response) == {
        3: "Row 3 is hidden in the workbook; unhide it (or delete it) so that what you see is what is imported."
    }
    assert "confirm_form" not in response.context
    job = RosterImport.objects.get()
    assert (job.status, job.counts["added"], job.counts["blocking"]) == (ImportStatus.CHECKED, 1, 1)


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
    world, persons, admin
):
    # Given the admin's dry run of a file listing 张三 and 李四
    preview = _preview(admin, xlsx_bytes([HEADER, row(1, persons["zhang"]), row(2, persons["li"])]))
    confirm_form = preview.context["confirm_form"]
    # and, meanwhile, a file of the same roster listing 王五 alone imported on the portal
    portal = confirm(world, check(world, xlsx_bytes([HEADER, row(1, persons["wang"])])), "all_or_nothing")

    # When the admin confirms the dry run
    response = admin.post(reverse("admin:subsidies_rosterimport_process_import"), confirm_form.initial)

    # Then it is refused with the portal's message, and the roster stays as the portal's file left it
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:subsidies_rosterimport_import")
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "Another file of this roster was imported after this one was checked; nothing was imported. "
        "Upload the file again to see what it changes now."
    ]
    admin_job = RosterImport.objects.exclude(pk=portal.pk).get()
    assert admin_job.status == ImportStatus.FAILED
    assert SubsidyRoster.objects.get().current_import_id == portal.pk
    assert list(SubsidyTag.objects.values_list("person__name", "end_reason")) == [("王五", "")]


def test_given_a_dry_run_when_it_is_confirmed_then_the_import_it_checked_is_applied_without_reading_the_file_again(
    persons, admin, monkeypatch: pytest.MonkeyPatch
):
    # Given the admin's dry run of a clean roster
    preview = _preview(admin, xlsx_bytes([HEADER, row(1, persons["zhang"])]))
    confirm_form = preview.context["confirm_form"]
    job = RosterImport.objects.get()
    reads: list[Any] = []
    monkeypatch.setattr(rosters, "open_sheet", lambda *args: reads.append(args))

    # When it is confirmed
    admin.post(reverse("admin:subsidies_rosterimport_process_import"), confirm_form.initial)

    # Then that very import is applied from the rows its preview kept (the file is not read again)
    job.refresh_from_db()
    assert (confirm_form.initial["import_file_name"], job.status, job.counts["tagged"]) == (
        str(job.pk),
        ImportStatus.DONE,
        1,
    )
    assert reads == []


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

    # Then the admin answers as the portal does, offers no confirmation and imports nothing
    if case.where == "rows":
        found = _invalid(response)
        assert set(found) == set(case.rows), found
        assert all(start in found[number] for number, start in case.rows.items()), found
    else:
        errors = _errors(response)
        assert len(errors) == 1 and errors[0].startswith(case.message), errors
    assert "confirm_form" not in response.context
    assert _nothing_imported()
