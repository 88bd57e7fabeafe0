"""``manage.py send_hand_tag_marks [--county 141002] [--year 2027]``: tell tax of the tags given by hand.

Each county's yearly run sends its year's marks (``subsidies.tasks.send_hand_tag_marks``); this is
for what came before that: tags given by hand before 1 December 2026, when hand tags were first
marked at tax, and a year whose run has not been made yet. Safe to repeat (tax keeps the newest).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.audit import acting
from enrollment.policies import policy_years_for_county
from subsidies.selectors import counties_with_hand_tags
from subsidies.services import subsidy_marks_send


class Command(BaseCommand):
    help = (
        "Send tax the subsidy marks of the tags given by hand, for every year not over that has a policy "
        "(or the given county and year)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--county", help="6-digit county code (default: every county with tags given by hand)"
        )
        parser.add_argument(
            "--year", type=int, help="insurance year (default: every year not over with a policy)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counties = [options["county"]] if options["county"] else counties_with_hand_tags()
        this_year = timezone.localdate().year
        sent = 0
        with acting(user_id=None, source="command:send_hand_tag_marks"):
            for county in counties:
                years = (
                    [options["year"]]
                    if options["year"]
                    else policy_years_for_county(county_code=county, from_year=this_year)
                )
                for year in years:
                    messages = subsidy_marks_send(county_code=county, insurance_year=year)
                    sent += messages
                    self.stdout.write(f"{county} {year}: {messages} messages to tax")
        self.stdout.write(f"{sent} messages in all")
