"""``manage.py find_duplicates [--region CODE]``: the duplicate-enrollment finder, now.

Without ``--region`` it looks everywhere (as the nightly job does); with a region code, only
at pairs with at least one side in that region's subtree. Running it again adds nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.audit import acting
from accounts.models import PREFIX_LENGTH, Region
from accounts.roles import Action
from accounts.scope import Scope
from enrollment import services
from enrollment.tasks import system_scope


class Command(BaseCommand):
    help = "Find duplicate enrollments (same identifier; same name and birth date) and queue them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--region", default="", help="only pairs touching this region (its code)")

    def handle(self, *args: Any, **options: Any) -> None:
        scope = system_scope()
        if options["region"]:
            code = options["region"].strip().ljust(12, "0")
            region = Region.objects.filter(code=code).first()
            if region is None:
                raise CommandError(f"no region with code {options['region']}")
            prefix = code[: PREFIX_LENGTH[region.level]]
            scope = Scope(None, None, prefix, region.code, None, frozenset({Action.ENROLLMENT_CHANGE}))
        with acting(user_id=None, source="command:find_duplicates"):
            result = services.duplicates_find(scope=scope)
        self.stdout.write(json.dumps({**result.as_dict(), "found": result.found}))
