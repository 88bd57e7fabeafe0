"""``manage.py demo_refunds``: demo refund and back-payment applications (after demo_payments; safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.audit import acting
from accounts.demo import FORCE_HELP, refuse_unless_demo
from refunds.demo import load_demo_back_payments, load_demo_fund_plans, load_demo_refunds


class Command(BaseCommand):
    help = "Make demo refund applications for paid demo contributions and back-payment applications for unpaid ones (after demo_payments)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_demo("demo refunds", force=options["force"])
        with acting(user_id=None, source="command:demo_refunds"):
            counts = load_demo_refunds()
            plans = load_demo_fund_plans()
            back_payments = load_demo_back_payments()
        self.stdout.write(counts.summary())
        self.stdout.write(plans.summary())
        self.stdout.write(back_payments.summary())
