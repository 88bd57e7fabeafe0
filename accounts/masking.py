"""Masking of personal data in lists and exports, decided by the viewer's scope.

Full identifiers and phone numbers only for roles holding ``person.full_view`` and only inside
their own area; everyone else sees the masked form.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from .models import Region
from .roles import Action
from .scope import Scope


def mask_id_number(number: str) -> str:
    """141002********1234 for 15+ characters, H1*****78 for permits and passports."""
    if len(number) >= 15:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) >= 9:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return number[:2] + "*" * max(len(number) - 2, 0)


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """张三 → 张*; 欧阳小明 → 欧***."""
    return name[:1] + "*" * (len(name) - 1) if name else name


def mask_name_keep_ends(name: str) -> str:
    """For a public check of a document: 王五 → 王*; 张小三 → 张*三; 欧阳小明 → 欧**明; 王 → *.

    The holder who shows the document recognises the name; a stranger learns neither it nor its length
    beyond what the ends give away."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def shows_full_identity(scope: Scope, region_code: str) -> bool:
    return scope.allows(Action.PERSON_FULL_VIEW) and scope.covers_region_code(region_code)


def id_number_for(scope: Scope, number: str, region_code: str) -> str:
    return number if shows_full_identity(scope, region_code) else mask_id_number(number)


def phone_for(scope: Scope, phone: str, region_code: str) -> str:
    return phone if shows_full_identity(scope, region_code) else mask_phone(phone)


def birth_date_for(scope: Scope, birth_date: date | None, region_code: str) -> str:
    """The birth date (YYYY-MM-DD) where the identifier is shown in full, else only the birth year.

    The identifier's mask hides exactly its eight birth-date digits, so the full date beside a
    masked identifier would give the whole number back; the year leaves month and day hidden."""
    if birth_date is None:
        return ""
    return birth_date.isoformat() if shows_full_identity(scope, region_code) else str(birth_date.year)


_YEAR_IN_TEXT = re.compile(r"(?<![0-9])(1[89][0-9]{2}|2[0-9]{3})")


def mask_birth_date_text(text: str) -> str:
    """A birth date as someone typed it (an import's cell: 1980-01-31, 19800131, 1980年1月31日) cut
    to its year, as ``birth_date_for`` shows it beside a masked identifier; no year found, all hidden."""
    found = _YEAR_IN_TEXT.search(text or "")
    return found.group(1) if found else "*" * len(text or "")


# Keys under which messages between the bureaus (sharing's payloads) carry who a person is.
ID_NUMBER_KEYS = frozenset({"person_id", "old_person_id", "id_number", "payer_id_number"})
PHONE_KEYS = frozenset({"phone", "mobile", "contact_phone", "payer_phone"})
NAME_KEYS = frozenset({"person_name", "payer_name", "holder_name", "applicant_name"})

# Free text (a traceback, an error, a message's subject "person:<id>") names no keys: a resident
# identity number (17 digits and a digit or X) or a mainland mobile number found anywhere in it.
_ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask_text(text: str) -> str:
    """Identity and mobile numbers in free text masked as in the lists; the rest kept."""
    if not text:
        return text
    text = _ID_NUMBER_IN_TEXT.sub(lambda found: mask_id_number(found.group()), text)
    return _MOBILE_IN_TEXT.sub(lambda found: mask_phone(found.group()), text)


def mask_payload(value: Any) -> Any:
    """A message's payload with its known identity, phone and name fields masked, at any depth
    (a batch's items), and every other string scanned like free text."""
    if isinstance(value, dict):
        masked: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and key in ID_NUMBER_KEYS:
                masked[key] = mask_id_number(item)
            elif isinstance(item, str) and key in PHONE_KEYS:
                masked[key] = mask_phone(item)
            elif isinstance(item, str) and key in NAME_KEYS:
                masked[key] = mask_name(item)
            else:
                masked[key] = mask_payload(item)
        return masked
    if isinstance(value, list):
        return [mask_payload(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def payload_for(scope: Scope, payload: Any, region_code: str) -> Any:
    """A message's payload as the viewer may see it: in full only where they see full identifiers."""
    return payload if shows_full_identity(scope, region_code) else mask_payload(payload)


def text_for(scope: Scope, text: str, region_code: str) -> str:
    """A traceback, an error or a subject as the viewer may see it (see ``payload_for``)."""
    return text if shows_full_identity(scope, region_code) else mask_text(text)


def region_path(code: str) -> list[Region]:
    """The region and its ancestors, top first (at most five rows)."""
    prefixes = [code[:n].ljust(12, "0") for n in (2, 4, 6, 9, 12)]
    regions = {r.code: r for r in Region.objects.filter(code__in=prefixes)}
    return [regions[p] for p in dict.fromkeys(prefixes) if p in regions]


def mask_region_for(scope: Scope, code: str, *, unknown: str | None = None) -> str:
    """Where a record is, as much as the viewer may know: the full path inside their area,
    down to the county outside it. A code of no region here: ``unknown``, or "another region"."""
    path = region_path(code)
    if not path:
        return _("another region") if unknown is None else unknown
    if scope.covers_region_code(code):
        return "".join(region.name for region in path if region.level >= 2)
    shown = [region.name for region in path if 2 <= region.level <= 3]
    return "".join(shown) + _(" (outside your area)")
