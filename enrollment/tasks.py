"""Background jobs of the enrollment app: thin; the work is in services."""

from __future__ import annotations

from celery import shared_task

from accounts.audit import acting
from accounts.scope import Scope

from . import services


def system_scope() -> Scope:
    """The scope of a scheduled job that acts for nobody in particular: the whole installation."""
    return Scope(
        user_id=None,
        role=None,
        region_prefix="",
        region_code=None,
        agency_id=None,
        actions=frozenset(),
        unrestricted=True,
    )


@shared_task(name="enrollment.tasks.find_duplicates", ignore_result=True, acks_late=True)
def find_duplicates(user_id: int | None = None) -> dict[str, int]:
    """Scheduled by beat every night (everywhere); on demand from the queue page (the caller's area)."""
    scope = Scope.for_user_id(user_id) if user_id else system_scope()
    with acting(user_id=user_id, source="task:enrollment.find_duplicates"):
        return services.duplicates_find(scope=scope).as_dict()


@shared_task(name="enrollment.tasks.process_import", ignore_result=True, acks_late=True)
def process_import(job_id: int, user_id: int) -> str | None:
    """Check or apply one uploaded file, as the user who uploaded (or confirmed) it."""
    scope = Scope.for_user_id(user_id)
    with acting(user_id=user_id, source="task:enrollment.process_import", import_job=job_id):
        job = services.import_job_process(scope=scope, job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="enrollment.tasks.run_assessment", ignore_result=True, acks_late=True)
def run_assessment(run_id: int) -> None:
    """The yearly assessment of one county, queued from the page (idempotent: a done run is left alone)."""
    from .assessment import assessment_run_execute

    with acting(user_id=None, source="task:enrollment.run_assessment", assessment_run=run_id):
        assessment_run_execute(run_id=run_id)


@shared_task(name="enrollment.tasks.resume_assessment_runs", ignore_result=True)
def resume_assessment_runs() -> list[int]:
    """Scheduled by beat: queue again the county runs nobody is executing (their worker died)."""
    from .assessment import assessment_runs_resume

    with acting(user_id=None, source="task:enrollment.resume_assessment_runs"):
        return assessment_runs_resume()


@shared_task(name="enrollment.tasks.refresh_coverage", ignore_result=True, acks_late=True)
def refresh_coverage(insurance_year: int | None = None) -> dict[int, int]:
    """Rebuild the coverage figures: one year on demand, or (beat) the years being collected."""
    from . import reports

    if insurance_year is not None:
        years = [insurance_year]
    else:
        current = reports.current_insurance_year()
        years = [year for year in reports.report_years() if year >= current - 1] or [current]
    with acting(user_id=None, source="task:enrollment.refresh_coverage"):
        return {year: reports.coverage_stats_refresh(insurance_year=year) for year in years}


@shared_task(name="enrollment.tasks.send_fund_totals", ignore_result=True, acks_late=True)
def send_fund_totals(county_code: str | None = None, years: list[int] | None = None) -> int:
    """Tell finance the subsidy totals (``subsidy.fund_totals``): daily by beat for every county
    and the open years; after a county's yearly assessment run, for that county and year.
    Idempotent: finance keeps the newest totals of a county and year."""
    from .fund_totals import fund_totals_send, open_years

    with acting(user_id=None, source="task:enrollment.send_fund_totals"):
        return fund_totals_send(years=years or open_years(), county_code=county_code)
