"""``manage.py bench <name> --size N``: the project's benchmarks, each against its baseline.

The last line printed is one JSON object: name, size, ours_per_s, baseline_per_s, ratio,
seconds (and whatever else the benchmark reports). Later issues add their benchmarks to
``BENCHMARKS`` (assessment, roster, payments, lookup).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


def _sharing(options: dict[str, Any]) -> dict[str, Any]:
    from bench import sharing

    kwargs = {
        "size": options["size"],
        "baseline_size": options["baseline_size"] or min(options["size"], 5000),
        "processes": options["workers"],
        "chunk": options["chunk"],
    }
    if options["inner"]:
        return sharing.run_inner(**kwargs)
    return sharing.run(**kwargs, keep=options["keep"])


def _assessment(options: dict[str, Any]) -> dict[str, Any]:
    from bench import assessment

    kwargs = {
        "size": options["size"],
        "baseline_size": options["baseline_size"] or min(options["size"], 2000),
    }
    if options["inner"]:
        return assessment.run_inner(**kwargs)
    return assessment.run(**kwargs, keep=options["keep"])


def _roster(options: dict[str, Any]) -> dict[str, Any]:
    from bench import roster

    kwargs = {
        "size": options["size"],
        "baseline_size": options["baseline_size"] or min(options["size"], 2000),
    }
    if options["inner"]:
        return roster.run_inner(**kwargs)
    return roster.run(**kwargs, keep=options["keep"])


def _payments(options: dict[str, Any]) -> dict[str, Any]:
    from bench import payments

    kwargs = {"size": options["size"], "clients": options["clients"]}
    if options["inner"]:
        return payments.run_inner(**kwargs)
    return payments.run(**kwargs, keep=options["keep"])


BENCHMARKS = {"sharing": _sharing, "assessment": _assessment, "roster": _roster, "payments": _payments}


class Command(BaseCommand):
    help = "Run a benchmark against its baseline; prints one JSON object as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
        parser.add_argument("--size", type=int, default=100_000)
        parser.add_argument(
            "--baseline-size", type=int, default=0, help="records for the baseline (default 5,000)"
        )
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--chunk", type=int, default=20_000, help="records per committed bulk send")
        parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients (payments)")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
        parser.add_argument("--inner", action="store_true", help="(internal) run inside the scratch database")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["size"] < 1:
            raise CommandError("--size must be at least 1")
        result = BENCHMARKS[options["benchmark"]](options)
        self.stdout.write(json.dumps(result, ensure_ascii=False))
