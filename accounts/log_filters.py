"""Logging filters for the server's log."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Django logs every refused request (403, 404, 400) with the exception that refused it, so a
    clerk opening a page outside their area wrote a whole traceback to the log. A refusal is the
    portal working as meant: its one line (status and address) is kept; the traceback is kept for
    server errors only, where it is what the operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
