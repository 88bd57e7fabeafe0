"""Demo records for 临汾市: households in every demo village, the rulebook and assessments.

Everything goes through the services a user's click would call (registration, approval, subsidy
tags, the yearly assessment), so the demo shows the portal as it behaves. The payments are
recorded at tax's counter by ``collection.demo`` and reach insurance as deposit records.
Idempotent: a village that already has households is left alone; policies and runs converge.

The demo is set in the present (November 2026: the collection period for 2027 is open). The
presets are historical, so the demo adds 临汾市 policies for 2026 and 2027 made from the Linfen
2021 preset with its dates moved and the newest national standard the rulebook knows (2025:
I 400 / S 700 yuan) — marked 演示 in their names. That is also what an administrator does to add
next year's policy: copy, adjust, save, without a code change.
"""

from __future__ import annotations

import datetime as dt
import random  # demo data only: not security-relevant
from dataclasses import dataclass

from accounts.models import Region, RegionLevel
from accounts.scope import Scope

from . import services
from .assessment import assessment_run_now
from .models import Household, Person
from .policies import policy_load_presets, policy_save
from .rules.dates import shift_document
from .rules.presets import load_preset

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强海燕玉兰春梅德"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(county_code: str, birth: dt.date, sequence: int, male: bool) -> str:
    """A resident ID number (GB 11643) with a correct check digit; the sequence's parity gives the sex."""
    sequence = sequence * 2 + (1 if male else 0)
    first17 = f"{county_code}{birth:%Y%m%d}{sequence % 1000:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def _acting_as(role: str) -> Scope:
    """Unrestricted, in the name of the demo login of ``role`` (applications name who submitted and who decided)."""
    from accounts.models import User

    user = User.objects.filter(role=role).order_by("pk").first()
    return Scope(
        user_id=user.pk if user else None,
        role=None,
        region_prefix="",
        region_code=None,
        agency_id=None,
        actions=frozenset(),
        unrestricted=True,
    )


def _shifted(code: str, years: int, individual_fen: int, subsidy_fen: int) -> dict:
    """The Linfen 2021 preset moved by ``years`` (dates, years in the notes) with other amounts."""
    # Moved as "copy for next year" moves a policy (the last day of a month stays the last day).
    text = repr(shift_document(load_preset("linfen-2021").to_document(), years))
    old_total = (32000 + 58000) // 100
    text = text.replace(f"{old_total}元", f"{(individual_fen + subsidy_fen) // 100}元")
    shifted = eval(text)  # noqa: S307 - our own repr of plain dicts, lists, strings and numbers
    shifted["code"] = code
    shifted["insurance_year"] = 2021 + years
    shifted["name"] = f"临汾市{2021 + years}年度城乡居民基本医疗保险（演示）"
    shifted["financing"] = {
        "individual_fen": individual_fen,
        "subsidy_fen": subsidy_fen,
        "note": "演示：沿用规则库中最新的国家标准（2025年，个人400元、财政补助700元）",
    }
    shifted["notes"] = ["演示政策：由临汾市2021年度预设复制，日期顺延，金额按2025年国家标准。"]
    return shifted


@dataclass
class DemoCounts:
    households: int = 0
    persons: int = 0
    assessed: int = 0

    def summary(self) -> str:
        return (
            f"demo records: {self.households} households, {self.persons} persons, {self.assessed} assessments"
        )


def load_demo_records(*, seed: int = 2026) -> DemoCounts:
    counts = DemoCounts()
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    policy_load_presets()
    for code, years in (("linfen-2026-demo", 5), ("linfen-2027-demo", 6)):
        document = _shifted(code, years, 40000, 70000)
        policy_save(document=document, note="演示数据")
    clerk, reviewer = _acting_as("village_clerk"), _acting_as("insurance_staff")
    villages = Region.objects.filter(level=RegionLevel.VILLAGE, code__startswith="1410").order_by("code")
    new_persons: list[int] = []
    sequence = 0
    for village in villages:
        if Household.objects.filter(region_code=village.code).exists():
            continue
        county = village.code[:6]
        for _household in range(3):
            surname = rng.choice(SURNAMES)
            head_birth = dt.date(rng.randint(1950, 1990), rng.randint(1, 12), rng.randint(1, 28))
            members = []
            for relation, birth, male in (
                ("head", head_birth, True),
                ("spouse", head_birth + dt.timedelta(days=rng.randint(-900, 900)), False),
                (
                    "child",
                    dt.date(min(head_birth.year + 25, 2018), rng.randint(1, 12), rng.randint(1, 28)),
                    rng.random() < 0.5,
                ),
            ):
                sequence += 1
                name = (
                    (surname if relation != "spouse" else rng.choice(SURNAMES))
                    + rng.choice(GIVEN)
                    + rng.choice(GIVEN)
                )
                category = "student" if relation == "child" and birth.year >= 2008 else "rural"
                members.append(
                    services.MemberInput(
                        id_kind="resident_id",
                        id_number=resident_id(county, birth, sequence, male),
                        name=name,
                        sex="male" if male else "female",
                        birth_date=birth,
                        relation=relation,
                        category=category,
                        phone=f"139{rng.randint(10_000_000, 99_999_999)}",
                        hukou_region_code=village.code,
                    )
                )
            application = services.household_register(
                scope=clerk, region_code=village.code, members=members, address="演示地址"
            )
            services.application_approve(
                scope=reviewer, application_id=application.pk, enrollment_date=dt.date(2025, 9, 1)
            )
            counts.households += 1
            counts.persons += len(members)
            new_persons += list(application.persons.values_list("pk", flat=True))
    if not new_persons:
        return counts
    # Some subsidised persons (rosters would bring them; issue 6 imports them from spreadsheets).
    from subsidies.services import subsidy_tag_add

    for person in Person.objects.filter(pk__in=new_persons).order_by("pk")[::9]:
        subsidy_tag_add(
            person=person,
            category=rng.choice(["tekun", "dibao", "severe_disability"]),
            source="演示名单",
            valid_from=dt.date(2025, 6, 1),
        )
    _demo_household_register(rng, villages=list(villages), start=sequence + 1)
    counties = sorted({code[:6] for code in villages.values_list("code", flat=True)})
    # 2026 and 2027 assessed; the payments are tax's to record (collection's demo_payments), and
    # reach insurance as deposit records over the sharing platform, as in service.
    for year in (2026, 2027):
        for county in counties:
            run = assessment_run_now(county_code=county, insurance_year=year, reason="演示数据")
            counts.assessed += run.created
    from .reports import coverage_stats_refresh

    for year in (2026, 2027):
        coverage_stats_refresh(insurance_year=year)
    # Finance hears the subsidy totals now rather than when a worker takes the run's queued send.
    from .fund_totals import fund_totals_send

    fund_totals_send(years=(2026, 2027))
    return counts


def _demo_household_register(rng: random.Random, *, villages: list[Region], start: int) -> None:
    """Public security's register of the demo villages, imported the way staff import it: everyone
    registered there with their hukou in the village, and two or three more per village who never
    enrolled (the follow-up list of the unenrolled)."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from openpyxl import Workbook

    from .imports import REGISTER_COLUMNS
    from .models import ImportKind

    book = Workbook(write_only=True)
    sheet = book.create_sheet("户籍人口")
    sheet.append([column.title for column in REGISTER_COLUMNS])
    codes = [village.code for village in villages]
    for person in (
        Person.objects.filter(hukou_region_code__in=codes).select_related("household").order_by("pk")
    ):
        sheet.append(
            [
                person.id_number,
                person.name,
                person.hukou_region_code,
                person.household.number[-6:],
                person.phone,
            ]
        )
    sequence = start
    for code in codes:
        for _missing in range(rng.randint(2, 3)):
            sequence += 1
            birth = dt.date(rng.randint(1955, 2005), rng.randint(1, 12), rng.randint(1, 28))
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            male = rng.random() < 0.5
            phone = f"138{rng.randint(10_000_000, 99_999_999)}"
            sheet.append(
                [resident_id(code[:6], birth, sequence, male), name, code, f"9{sequence:05d}", phone]
            )
    buffer = io.BytesIO()
    book.save(buffer)
    admin = _acting_as("administrator")
    job = services.import_job_create(
        scope=admin,
        kind=ImportKind.HOUSEHOLD_REGISTER,
        upload=SimpleUploadedFile("户籍人口名册（演示）.xlsx", buffer.getvalue()),
        language="zh-hans",
    )
    services.import_job_process(scope=admin, job_id=job.pk)
