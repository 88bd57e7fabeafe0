"""Evidence files (证明材料) attached to status changes and duplicate resolutions.

Checked by the service that stores them, so every path (pages, API, imports, tasks) holds the
rule; pages and the API also call it early to show the error next to the field.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _

audit_log = logging.getLogger("portal.audit")

EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
# What the first bytes of an accepted file must be, per extension (content sniffing).
_EVIDENCE_SIGNATURES: dict[str, tuple[str, bytes]] = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
}


def sniff_evidence(head: bytes) -> str | None:
    """The content type the first bytes reveal (PDF, JPEG or PNG), or None."""
    for content_type, signature in _EVIDENCE_SIGNATURES.values():
        if head.startswith(signature):
            return content_type
    return None


def validate_evidence(upload: UploadedFile) -> None:
    """Evidence is a PDF, JPEG or PNG of at most 10 MB; its first bytes must say so, not only its name."""
    name = (upload.name or "").lower()
    extension = name[name.rfind(".") :] if "." in name else ""
    if extension not in _EVIDENCE_SIGNATURES:
        raise ValidationError(_("Evidence must be a PDF, JPEG or PNG file."), code="evidence_type")
    if upload.size is None or upload.size > EVIDENCE_MAX_BYTES:
        raise ValidationError(_("Evidence may be at most 10 MB."), code="evidence_size")
    if upload.size == 0:
        raise ValidationError(_("The evidence file is empty."), code="evidence_empty")
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    expected_type, signature = _EVIDENCE_SIGNATURES[extension]
    if not head.startswith(signature):
        raise ValidationError(
            _("The file's content is not a %(kind)s, whatever its name says.")
            % {"kind": {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}[expected_type]},
            code="evidence_content",
        )


def evidence_response(file: FieldFile, *, filename_stem: str, audit: dict[str, Any]) -> FileResponse:
    """An evidence file as a download: its type from its first bytes (never its name), never
    cached, and the full-record view written to the audit log (``audit`` holds the event and ids)."""
    try:
        handle = file.open("rb")
    except FileNotFoundError as error:
        raise Http404(_("The evidence file is missing.")) from error
    head = handle.read(16)
    handle.seek(0)
    content_type = sniff_evidence(head) or "application/octet-stream"
    extension = mimetypes.guess_extension(content_type) or ""
    audit_log.info(json.dumps(audit, sort_keys=True))
    response = FileResponse(
        handle, as_attachment=True, filename=f"{filename_stem}{extension}", content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
