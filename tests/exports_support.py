"""Background exports in tests: ask for one as the page's button does (POST to 我的导出), let the
worker's task run in this process on the test's database, and read the downloaded workbook."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

from django.test import Client, TestCase
from django.urls import reverse
from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from accounts.models import ExportJob


def ask_export(client: Client, kind: str, **data: Any) -> tuple[Any, ExportJob | None]:
    """POST the export button of ``kind`` with ``data``; the job's task runs at commit, here.
    Answers the response (a redirect to the job's page when accepted) and the job made, if any."""
    from accounts.tasks import build_export

    before = set(ExportJob.objects.values_list("pk", flat=True))
    with (
        mock.patch.object(build_export, "delay", side_effect=lambda pk: build_export.apply(args=[pk])),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        response = client.post(reverse("accounts:export-list"), {"kind": kind, **data})
    made = ExportJob.objects.exclude(pk__in=before).order_by("pk").last()
    return response, made


def download(client: Client, job: ExportJob) -> Any:
    return client.get(reverse("accounts:export-download", kwargs={"pk": job.pk}))


def workbook_of(response: Any) -> Workbook:
    assert response.status_code == 200, response.status_code
    # Read-only: each row as long as it was written, as the direct downloads were read.
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)


def exported(client: Client, kind: str, **data: Any) -> Workbook:
    """The workbook a user gets for the export ``kind``: asked for, built, downloaded."""
    response, job = ask_export(client, kind, **data)
    assert response.status_code == 302, (response.status_code, response.content[:300])
    assert job is not None
    job.refresh_from_db()
    assert job.status == "done", (job.status, job.error)
    return workbook_of(download(client, job))
