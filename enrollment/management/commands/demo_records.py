"""``manage.py demo_records``: demo households, the rulebook, assessments and payments (safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.audit import acting
from accounts.demo import FORCE_HELP, refuse_unless_demo
from enrollment.demo import load_demo_records


class Command(BaseCommand):
    help = (
        "Load demo households, policies, subsidy tags, assessments and payments for 临汾市 (after demo_data)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_demo("demo records", force=options["force"])
        with transaction.atomic(), acting(user_id=None, source="command:demo_records"):
            counts = load_demo_records()
        self.stdout.write(counts.summary())
