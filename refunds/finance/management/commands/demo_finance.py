"""``manage.py demo_finance``: finance's demo decisions on fund-usage plans (after demo_refunds; safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.audit import acting
from accounts.demo import FORCE_HELP, refuse_unless_demo
from refunds.finance.demo import load_demo_finance


class Command(BaseCommand):
    help = "Approve and fund the oldest demo fund-usage plan of each finance bureau (after demo_refunds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_demo("demo decisions", force=options["force"])
        with acting(user_id=None, source="command:demo_finance"):
            counts = load_demo_finance()
        self.stdout.write(counts.summary())
