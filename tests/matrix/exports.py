"""Access-matrix objects of the background exports: a job is its owner's alone.

``own``: a finished job of the caller, with its file; otherwise a finished job of a user of another
area of the same role (another county's, or another city's administrator): 404 for the caller."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.core.files.base import ContentFile
from openpyxl import Workbook

from accounts.models import ExportJob, ExportStatus
from tests.conftest import World


def _job_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    owner = user if own else world.user_for(user.role, "b")
    job = ExportJob.objects.create(
        user=owner, kind="enrollment.unenrolled", params={}, language="zh-hans", filename="名单.xlsx",
        status=ExportStatus.DONE, rows_written=0,
    )  # fmt: skip
    book, data = Workbook(write_only=True), io.BytesIO()
    book.create_sheet("名单").append(["矩阵"])
    book.save(data)
    job.file.save(f"exports/{job.pk}/{job.pk}.xlsx", ContentFile(data.getvalue()), save=True)
    return {"pk": job.pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "accounts:export-detail": _job_pk,
    "accounts:export-progress": _job_pk,
    "accounts:export-download": _job_pk,
}
