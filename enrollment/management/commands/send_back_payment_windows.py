"""``manage.py send_back_payment_windows``: tell tax when every policy takes back-payment applications."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit import acting
from enrollment.policies import policy_back_payment_windows_send


class Command(BaseCommand):
    help = (
        "Send tax the back-payment window of every policy (policy.back_payment_window), once after the "
        "upgrade that brought the message; a policy saved since sends its own. Idempotent at tax."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with acting(user_id=None, source="command:send_back_payment_windows"):
            sent = policy_back_payment_windows_send()
        self.stdout.write(f"{sent} policies: back-payment windows sent to tax")
