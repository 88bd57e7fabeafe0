"""Background jobs of the accounts app."""

from __future__ import annotations

import time

from celery import shared_task

from .health import record_heartbeat


@shared_task(name="accounts.tasks.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """Scheduled by beat, run by a worker: proves both are alive (shown on the health endpoint)."""
    now = time.time()
    record_heartbeat(now)
    return now


@shared_task(name="accounts.tasks.build_export", ignore_result=True, acks_late=True)
def build_export(job_id: int) -> str | None:
    """Build one export job's workbook as the user who asked for it (their scope as it is now).

    Idempotent: a job already built, failed or being built by another delivery is left alone."""
    from .audit import acting
    from .models import ExportJob
    from .services import export_job_run

    user_id = ExportJob.objects.filter(pk=job_id).values_list("user_id", flat=True).first()
    with acting(user_id=user_id, source="task:accounts.build_export", export_job=job_id):
        job = export_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="accounts.tasks.expire_exports", ignore_result=True)
def expire_exports() -> int:
    """Scheduled by beat: remove the exports kept their week, and their files."""
    from .services import export_jobs_expire

    return export_jobs_expire()
