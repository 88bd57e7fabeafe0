"""``manage.py demo_data``: load the 临汾市 demo regions, agencies and logins (safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.audit import acting
from accounts.demo import FORCE_HELP, load_demo_data, login_table, refuse_unless_demo

AUDIT_SOURCE = "command:demo_data"


class Command(BaseCommand):
    help = (
        "Load demo regions, agencies and one login per role for 临汾市. Idempotent: only missing "
        "objects are created, existing ones are left untouched. Refuses to load unless the settings "
        "are the demo's or development's (PORTAL_DEMO) or --force is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--print-logins",
            action="store_true",
            help="Only print the demo logins and their shared password; load nothing.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help=f"{FORCE_HELP} The demo password would then exist in that database.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["print_logins"]:
            self.stdout.write(login_table())
            return
        refuse_unless_demo("demo data", force=options["force"])
        with transaction.atomic(), acting(user_id=None, source=AUDIT_SOURCE):
            counts = load_demo_data()
        self.stdout.write(counts.summary())
