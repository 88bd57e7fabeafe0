"""``manage.py assess --county 141002 --year 2027``: the yearly assessment of a county, now."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.audit import acting
from enrollment.assessment import assessment_run_now


class Command(BaseCommand):
    help = "Assess every normal enrollment of a county for an insurance year (set-based); push the payable amounts to tax."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--county", required=True, help="6-digit county code")
        parser.add_argument("--year", required=True, type=int, help="insurance year")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        with acting(user_id=None, source="command:assess"):
            run = assessment_run_now(county_code=options["county"], insurance_year=options["year"])
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{run.county_code} {run.insurance_year}: {run.enrollments} enrollments, {run.distinct_facts} classes of facts, "
            f"{run.created} new, {run.changed} changed, {run.unchanged} unchanged, {run.cancelled} cancelled, "
            f"{run.government_paid} paid by the government, {run.pushed} sent to tax, "
            f"payable {run.payable_fen / 100:.2f} yuan — {seconds:.1f} s"
        )
