"""``manage.py demo_payments``: demo payments recorded at tax's counter (after demo_records; safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.audit import acting
from accounts.demo import FORCE_HELP, refuse_unless_demo
from collection.demo import load_demo_payments


class Command(BaseCommand):
    help = "Record demo payments at tax's counter for the demo's due items (after demo_records)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_demo("demo payments", force=options["force"])
        with acting(user_id=None, source="command:demo_payments"):
            counts = load_demo_payments()
        self.stdout.write(counts.summary())
