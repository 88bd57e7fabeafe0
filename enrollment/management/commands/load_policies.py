"""``manage.py load_policies``: load every preset of the rulebook (and the regions they are for)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit import acting
from enrollment.policies import policy_load_presets


class Command(BaseCommand):
    help = "Load the policy presets that ship with the portal (Linfen 2021, Jilin 2023, Qinbei 2023, Lanshan 2016, Guigang, national 2025). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        with acting(user_id=None, source="command:load_policies"):
            loaded = policy_load_presets()
        for item in loaded:
            self.stdout.write(
                f"{item.record.code:24} {item.record.region_code or '—':8} {item.record.insurance_year}  v{item.record.version}  {item.record.name}"
            )
