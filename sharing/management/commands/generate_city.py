"""``manage.py generate_city --persons N``: a realistic city in the configured database (see ``bench.city``).

For benchmarks and trials at scale: regions, agencies and staff users, households, persons with
valid ID numbers, enrollments, subsidy tags, last year's assessments and, at tax, payers, due items
and payments. Deterministic for a seed (the same rows for any ``--jobs``); refuses a database
whose city already has persons.

``--jobs`` connections (default: the machine's cores) build disjoint sets of counties at once, each
in its own transaction, committed only when every job has succeeded. When a job fails the command
fails: nothing of the households, persons, enrollments, assessments or tax rows is kept and the
indexes dropped for the load are built again; the regions, agencies, staff users and last year's
policy made before the jobs stay (a later run reuses them, nothing to clean).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Generate a realistic city of N persons (households, enrollments, assessments, payments)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--persons", type=int, default=100_000)
        parser.add_argument("--counties", type=int, default=17, help="Linfen's 17 counties by population")
        parser.add_argument("--townships", type=int, default=12, help="townships per county")
        parser.add_argument("--villages", type=int, default=25, help="villages per township")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--jobs", type=int, default=None, help="connections building at once (default: the cores)"
        )
        parser.add_argument(
            "--no-tax", action="store_true", help="leave tax's payers, due items and payments out"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from bench.city import CityBuildError, city_generate

        if options["persons"] < 1:
            raise CommandError("--persons must be at least 1")
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        started = time.perf_counter()
        try:
            city = city_generate(
                persons=options["persons"],
                counties=options["counties"],
                townships=options["townships"],
                villages=options["villages"],
                seed=options["seed"],
                tax=not options["no_tax"],
                jobs=options["jobs"],
            )
        except (ValueError, CityBuildError) as error:
            raise CommandError(str(error)) from error
        result = asdict(city) | {"total_seconds": round(time.perf_counter() - started, 1)}
        self.stdout.write(json.dumps(result, ensure_ascii=False))
