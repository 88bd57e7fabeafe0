"""Background exports: ask for one (POST from a list's export button), watch it, download it.

Thin: the scope, ``accounts.services`` / ``accounts.selectors``, the template, the file. A job is
its owner's alone: anyone else's is 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views import View

from . import selectors, services
from .access import ScopedViewMixin, record_key
from .export_jobs import kind_of
from .exports import XLSX
from .models import ExportJob, ExportStatus
from .roles import Action
from .scope import Scope


def _job(scope: Scope, pk: str) -> ExportJob:
    key = record_key(pk)
    if key is None:
        raise Http404
    return selectors.export_job_detail(scope=scope, pk=key)


def progress_of(job: ExportJob) -> dict[str, Any]:
    """What static/js/bulk.js polls: rows written so far, the share of the rows expected, done or not."""
    done = job.rows_written if not job.waiting else (services.export_progress_of(job.pk) or 0)
    expected = job.rows_expected
    percent = None
    if job.waiting and expected:
        percent = min(99, done * 100 // expected)
    elif job.status in (ExportStatus.DONE, ExportStatus.EXPIRED):
        percent = 100  # a failed job's bar is not full: nothing was made
    return {
        "status": job.status,
        "phase": job.status,
        "done": done,
        "done_text": f"{done:,}",  # as the page shows it, whichever the language
        "total": expected,
        "percent": percent,
        "finished": not job.waiting,
    }


class ExportListView(ScopedViewMixin, View):
    """我的导出: the user's export jobs; POST ``kind`` and the export's parameters asks for one."""

    required_action = Action.PORTAL_USE

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors.export_job_list(scope=self.scope), 30).get_page(request.GET.get("page"))
        rows = []
        for job in page:
            kind = kind_of(job.kind)
            rows.append({"job": job, "label": kind.label if kind else job.kind, "progress": progress_of(job)})
        return render(
            request,
            "accounts/exports/list.html",
            {"page": page, "rows": rows, "keep_days": services.EXPORT_KEEP_DAYS},
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            job = services.export_job_create(
                scope=self.scope,
                user=request.user,
                kind=request.POST.get("kind", ""),
                data=request.POST,
                language=get_language(),
            )
        except ValidationError as error:
            return HttpResponseBadRequest(" ".join(error.messages))
        return redirect("accounts:export-detail", pk=job.pk)


class ExportDetailView(ScopedViewMixin, View):
    """One export: a live progress bar while a worker builds it, then the download (or why not)."""

    required_action = Action.PORTAL_USE

    def get(self, request: HttpRequest, pk: str) -> HttpResponse:
        job = _job(self.scope, pk)
        kind = kind_of(job.kind)
        context = {
            "job": job,
            "label": kind.label if kind else job.kind,
            "progress": progress_of(job),
            "keep_days": services.EXPORT_KEEP_DAYS,
        }
        return render(request, "accounts/exports/detail.html", context)


class ExportProgressView(ScopedViewMixin, View):
    """The job's progress as JSON, polled by static/js/bulk.js while a worker has it."""

    required_action = Action.PORTAL_USE

    def get(self, request: HttpRequest, pk: str) -> JsonResponse:
        return JsonResponse(progress_of(_job(self.scope, pk)))


class ExportDownloadView(ScopedViewMixin, View):
    """The built workbook, to its owner only, read from the private media folder."""

    required_action = Action.PORTAL_USE

    def get(self, request: HttpRequest, pk: str) -> FileResponse:
        job = _job(self.scope, pk)
        if not job.file or not default_storage.exists(job.file.name):
            raise Http404
        response = FileResponse(default_storage.open(job.file.name, "rb"), content_type=XLSX)
        # RFC 6266: an ASCII fallback and the UTF-8 name for Chinese file names.
        response["Content-Disposition"] = (
            f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(job.filename)}"
        )
        return response
