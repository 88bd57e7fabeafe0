"""Helpers of the subsidy tests: a policy for next year, enrolled persons, roster files, imports run
as the worker runs them.

Dates follow the clock: the insurance year is next year (an open year, already assessed) and
rosters are dated a month ago, so the tests hold whatever day they run on.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook

from accounts.scope import Scope
from collection.models import SubsidyMark
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Person, Policy
from enrollment.policies import policy_save
from sharing import services as sharing
from subsidies import services
from subsidies.models import RosterImport
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import QINBI, TUNLI, make_enrollment, make_person

TODAY = timezone.localdate()
YEAR = TODAY.year + 1
ROSTER_DATE = TODAY - dt.timedelta(days=30)
HEADER = ["序号", "姓名", "身份证号码", "资助类别", "认定日期"]
SOURCE = "临汾市民政局"
INDIVIDUAL = 40000
DIBAO = 16000  # the Linfen preset's fixed subsidy for 低保 and clergy
THIS_YEAR = YEAR - 1
HAND = "民政局窗口"  # the source of a tag given by hand at the civil affairs bureau's window

__all__ = ["QINBI", "TUNLI"]


def linfen_policy(code: str = "linfen-next") -> Any:
    """The Linfen 2021 preset moved to next year, for 临汾市 (141000): I 400, S 700 yuan; 低保 160 yuan."""
    return policy_save(document=_shifted(code, YEAR - 2021, INDIVIDUAL, 70000), note="测试")


def enrolled(name: str, sequence: int, region: str = TUNLI, birth: str = "19800101") -> Person:
    person = make_person(
        region, name=name, id_number=resident_id(address=region[:6], birth=birth, sequence=f"{sequence:03d}")
    )
    person.hukou_region_code = region
    person.save()
    make_enrollment(person)
    return person


def dibao_added(person: Person) -> str:
    """A dibao tag given by hand (recognised on the roster date): "added", or the refusal's words."""
    try:
        services.subsidy_tag_add(person=person, category="dibao", source="民政", valid_from=ROSTER_DATE)
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "added"


def assess(*counties: str) -> None:
    """The yearly run of each county, so that next year is an open year that reassessment keeps current."""
    for county in counties:
        assessment_run_now(county_code=county, insurance_year=YEAR)


def xlsx_bytes(rows: Iterable[Iterable[Any]], *, title: str = "名单") -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def row(
    number: int, person: Person, category: str = "低保", recognised: Any = None, name: str | None = None
) -> list[Any]:
    return [number, name if name is not None else person.name, person.id_number, category, recognised]


def upload(content: bytes, name: str = "低保名单.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def scope_of(world: World, key: str = "admin") -> Scope:
    return Scope.for_user(world.users[key])


def check(
    world: World,
    content: bytes,
    *,
    name: str = "低保名单.xlsx",
    user: str = "admin",
    source: str = SOURCE,
    roster_date: dt.date = ROSTER_DATE,
    year: int = YEAR,
) -> RosterImport:
    """Upload a roster and let the worker's service check it (the preview), as the task would."""
    scope = scope_of(world, user)
    job = services.roster_import_create(
        scope=scope,
        upload=upload(content, name),
        source=source,
        insurance_year=year,
        roster_date=roster_date,
        language="en",
    )
    services.roster_import_process(scope=scope, import_id=job.pk)
    job.refresh_from_db()
    return job


def confirm(
    world: World, job: RosterImport, mode: str = "valid_rows", *, user: str = "admin"
) -> RosterImport:
    scope = scope_of(world, user)
    services.roster_import_confirm(scope=scope, import_id=job.pk, mode=mode)
    services.roster_import_process(scope=scope, import_id=job.pk)
    job.refresh_from_db()
    return job


def counts(job: RosterImport, *keys: str) -> dict[str, int]:
    keys = keys or ("added", "unchanged", "removed", "error", "not_found", "name_mismatch", "outside_area")
    return {key: int((job.counts or {}).get(key, 0)) for key in keys}


def import_applied(world: World, job: RosterImport) -> str:
    """A confirmed import applied as the worker applies it: its status, and its message if any."""
    done = services.roster_import_process(scope=scope_of(world), import_id=job.pk)
    assert done is not None
    return f"{done.status}: {done.message}" if done.message else str(done.status)


def tax_marks(person: Person) -> dict[int, tuple]:
    """Tax's marks of the person, by insurance year, once every message is delivered."""
    sharing.delivery_drain(seconds=30)
    return {
        m.insurance_year: (m.category, m.status, m.marker, m.subsidy_kind, m.subsidy_fen, m.valid_from,
                           m.valid_to, m.roster, m.reason)
        for m in SubsidyMark.objects.filter(person_id=person.id_number)
    }  # fmt: skip


def dibao_amount_set(world: World, fen: int, code: str = "linfen-next") -> None:
    """The administrator changes 低保's fixed subsidy on the categories page (a new version)."""
    dibao = services.subsidy_category_document(policy=Policy.objects.get(code=code), code="dibao")
    assert dibao is not None
    services.subsidy_category_save(
        scope=scope_of(world),
        policy_code=code,
        original_code="dibao",
        category={**dibao, "amount_fen": fen},
        note=f"低保定额资助改为{fen // 100}元",
        actor_id=None,
    )
