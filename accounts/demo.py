"""Demo data for 临汾市 (Linfen, Shanxi): regions, agencies and one login per role.

Loaded by ``python manage.py demo_data``; everything here is plain data plus a loader that
looks each object up first and calls the service functions only for what is missing, so a
second run changes nothing.

Which codes are real and which are stand-ins
---------------------------------------------
- Real, GB/T 2260 (province, city, county level): 山西省 140000, 临汾市 141000,
  尧都区 141002, 洪洞县 141024, 侯马市 141081.
- Real, National Bureau of Statistics 统计用区划代码 (township level, 9 digits): every township
  below, e.g. 解放路街道 141002001, 屯里镇 141002100, 乔李镇 141002101, 大槐树镇 141024100,
  甘亭镇 141024101, 广胜寺镇 141024104, 路东街道 141081001, 上马街道 141081004,
  凤城乡 141081202. Taken from the NBS township list as republished in
  modood/Administrative-divisions-of-China (dist/streets.csv); NBS may renumber townships
  between editions, so check against the current edition before relying on them.
- Structural stand-ins (village level, 12 digits): every village and community code. Each is
  its township's code plus three digits in the statistical pattern -- 001-003 for a
  community (居民委员会), 201-203 for a village (村民委员会) -- but none was checked against
  the NBS village list, so they need not match the real codes (one public record gives
  大胡麻村 as 141024100234, for instance, where this file says 141024100202). Some names are
  real places (e.g. 秦壁村 and 大胡麻村 in 大槐树镇, 羊獬村 in 甘亭镇); others are only plausible.
- Agency names follow the usual official naming (e.g. 国家税务总局洪洞县税务局); they are
  demo organisations, not a directory.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import translation

from .models import Agency, Region, User
from .roles import AgencyKind, Role
from .services import agency_create, region_create, user_create

# Shared by every demo login. Not a secret: the command refuses to load it outside the demo's
# settings (PORTAL_DEMO) unless --force is given, so it never reaches production by accident.
DEMO_PASSWORD = "Demo-2026!"  # noqa: S105

FORCE_HELP = "Load even though PORTAL_DEMO is off (the settings are not the demo's or development's)."


def refuse_unless_demo(what: str, *, force: bool) -> None:
    """Every demo command's guard. The flag, not DEBUG: the demo runs with DEBUG off, as deployed."""
    if force or settings.PORTAL_DEMO:
        return
    raise CommandError(
        f"Refusing to load {what}: PORTAL_DEMO is off, so this looks like a production database "
        "and the demo logins share a published password. Use --force if you really mean it."
    )


# --- regions ------------------------------------------------------------------------------
# A tree of {"code", "name", "children"}: 6 digits down to county, 9 for a township, 12 for a
# village. The loader pads every code to the stored 12 digits.

REGION_TREE: dict[str, Any] = {
    "code": "140000",
    "name": "山西省",
    "children": [
        {
            "code": "141000",
            "name": "临汾市",
            "children": [
                {
                    "code": "141002",
                    "name": "尧都区",
                    "children": [
                        {
                            "code": "141002001",
                            "name": "解放路街道",
                            "children": [
                                {"code": "141002001001", "name": "解放东路社区"},
                                {"code": "141002001002", "name": "五一路社区"},
                                {"code": "141002001003", "name": "华门社区"},
                            ],
                        },
                        {
                            "code": "141002100",
                            "name": "屯里镇",
                            "children": [
                                {"code": "141002100201", "name": "屯里村"},
                                {"code": "141002100202", "name": "沟上村"},
                                {"code": "141002100203", "name": "北李村"},
                            ],
                        },
                        {
                            "code": "141002101",
                            "name": "乔李镇",
                            "children": [
                                {"code": "141002101201", "name": "乔李村"},
                                {"code": "141002101202", "name": "东张村"},
                                {"code": "141002101203", "name": "西王村"},
                            ],
                        },
                    ],
                },
                {
                    "code": "141024",
                    "name": "洪洞县",
                    "children": [
                        {
                            "code": "141024100",
                            "name": "大槐树镇",
                            "children": [
                                {"code": "141024100201", "name": "秦壁村"},
                                {"code": "141024100202", "name": "大胡麻村"},
                                {"code": "141024100203", "name": "贾村"},
                            ],
                        },
                        {
                            "code": "141024101",
                            "name": "甘亭镇",
                            "children": [
                                {"code": "141024101201", "name": "甘亭村"},
                                {"code": "141024101202", "name": "羊獬村"},
                                {"code": "141024101203", "name": "东梁村"},
                            ],
                        },
                        {
                            "code": "141024104",
                            "name": "广胜寺镇",
                            "children": [
                                {"code": "141024104201", "name": "广胜村"},
                                {"code": "141024104202", "name": "道觉村"},
                                {"code": "141024104203", "name": "南秦村"},
                            ],
                        },
                    ],
                },
                {
                    "code": "141081",
                    "name": "侯马市",
                    "children": [
                        {
                            "code": "141081001",
                            "name": "路东街道",
                            "children": [
                                {"code": "141081001001", "name": "新田社区"},
                                {"code": "141081001002", "name": "浍滨社区"},
                                {"code": "141081001003", "name": "铁路社区"},
                            ],
                        },
                        {
                            "code": "141081004",
                            "name": "上马街道",
                            "children": [
                                {"code": "141081004201", "name": "上马村"},
                                {"code": "141081004202", "name": "东阳呈村"},
                                {"code": "141081004203", "name": "西阳呈村"},
                            ],
                        },
                        {
                            "code": "141081202",
                            "name": "凤城乡",
                            "children": [
                                {"code": "141081202201", "name": "凤城村"},
                                {"code": "141081202202", "name": "褚村"},
                                {"code": "141081202203", "name": "台神村"},
                            ],
                        },
                    ],
                },
            ],
        }
    ],
}

# --- agencies -----------------------------------------------------------------------------
# (region code, kind, name). Every village also gets its committee (see village_committees()).

CITY_AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("141000", AgencyKind.INSURANCE_AGENCY, "临汾市医疗保障事务中心"),
    ("141000", AgencyKind.TAX_BUREAU, "国家税务总局临汾市税务局"),
    ("141000", AgencyKind.FINANCE_BUREAU, "临汾市财政局"),
    ("141000", AgencyKind.CIVIL_AFFAIRS, "临汾市民政局"),
    ("141000", AgencyKind.DISABLED_FEDERATION, "临汾市残疾人联合会"),
    ("141000", AgencyKind.RURAL_REVITALISATION, "临汾市乡村振兴局"),
)

COUNTY_AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("141002", AgencyKind.INSURANCE_AGENCY, "尧都区医疗保障服务中心"),
    ("141002", AgencyKind.TAX_BUREAU, "国家税务总局临汾市尧都区税务局"),
    ("141002", AgencyKind.FINANCE_BUREAU, "尧都区财政局"),
    ("141002", AgencyKind.CIVIL_AFFAIRS, "尧都区民政局"),
    ("141002", AgencyKind.SCHOOL, "临汾市第一中学"),
    ("141024", AgencyKind.INSURANCE_AGENCY, "洪洞县医疗保障服务中心"),
    ("141024", AgencyKind.TAX_BUREAU, "国家税务总局洪洞县税务局"),
    ("141024", AgencyKind.FINANCE_BUREAU, "洪洞县财政局"),
    ("141024", AgencyKind.CIVIL_AFFAIRS, "洪洞县民政局"),
    ("141024", AgencyKind.SCHOOL, "洪洞县第一中学"),
    ("141081", AgencyKind.INSURANCE_AGENCY, "侯马市医疗保障服务中心"),
    ("141081", AgencyKind.TAX_BUREAU, "国家税务总局侯马市税务局"),
    ("141081", AgencyKind.FINANCE_BUREAU, "侯马市财政局"),
    ("141081", AgencyKind.CIVIL_AFFAIRS, "侯马市民政局"),
    ("141081", AgencyKind.SCHOOL, "侯马市第一中学"),
)

# --- users --------------------------------------------------------------------------------
# (username, full name, role, region code of the agency, agency name).

DEMO_USERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("admin", "王建国", Role.ADMINISTRATOR, "141000", "临汾市医疗保障事务中心"),
    ("insurance.yaodu", "李秀英", Role.INSURANCE_STAFF, "141002", "尧都区医疗保障服务中心"),
    ("insurance.hongdong", "张志强", Role.INSURANCE_STAFF, "141024", "洪洞县医疗保障服务中心"),
    ("tax.yaodu", "刘海燕", Role.TAX_STAFF, "141002", "国家税务总局临汾市尧都区税务局"),
    ("tax.hongdong", "郭振华", Role.TAX_STAFF, "141024", "国家税务总局洪洞县税务局"),
    ("finance.yaodu", "陈立新", Role.FINANCE_STAFF, "141002", "尧都区财政局"),
    ("clerk.tunli", "杨春梅", Role.VILLAGE_CLERK, "141002100201", "屯里村村民委员会"),
    ("clerk.qinbi", "赵永红", Role.VILLAGE_CLERK, "141024100201", "秦壁村村民委员会"),
    ("school.linfenyizhong", "孙晓东", Role.SCHOOL_CLERK, "141002", "临汾市第一中学"),
)


# --- derived views of the data --------------------------------------------------------------


def full_code(code: str) -> str:
    """The stored 12-digit form of a 6-, 9- or 12-digit code."""
    return code.ljust(12, "0")


def iter_regions() -> Iterator[tuple[str, str, str | None]]:
    """(code, name, parent code) for every region, parents before children, codes as written."""

    def walk(node: dict[str, Any], parent: str | None) -> Iterator[tuple[str, str, str | None]]:
        yield node["code"], node["name"], parent
        for child in node.get("children", ()):
            yield from walk(child, node["code"])

    yield from walk(REGION_TREE, None)


def village_committees() -> Iterator[tuple[str, str, str]]:
    """A committee for every village: 社区居民委员会 for a community (001-199), else 村民委员会."""
    for code, name, _parent in iter_regions():
        if len(code) == 12:
            suffix = "居民委员会" if int(code[9:]) < 200 else "村民委员会"
            yield code, AgencyKind.VILLAGE_COMMITTEE, f"{name}{suffix}"


def all_agencies() -> tuple[tuple[str, str, str], ...]:
    return (*CITY_AGENCIES, *COUNTY_AGENCIES, *village_committees())


def region_path(code: str) -> str:
    """Names from the city down, e.g. "临汾市 尧都区 屯里镇 屯里村"."""
    names = {c: n for c, n, _p in iter_regions()}
    parents = {c: p for c, _n, p in iter_regions()}
    path: list[str] = []
    current: str | None = code
    while current is not None and parents.get(current) is not None:
        path.append(names[current])
        current = parents[current]
    return " ".join(reversed(path)) or names[code]


# --- loading --------------------------------------------------------------------------------


@dataclass
class LoadCounts:
    created: dict[str, int] = field(default_factory=lambda: {"regions": 0, "agencies": 0, "users": 0})
    existing: dict[str, int] = field(default_factory=lambda: {"regions": 0, "agencies": 0, "users": 0})

    def summary(self) -> str:
        return "; ".join(
            f"{what}: {self.created[what]} created, {self.existing[what]} existing" for what in self.created
        )


def load_demo_data() -> LoadCounts:
    """Create whatever demo object is missing; leave existing ones exactly as they are.

    The caller wraps this in a transaction and an audit context.
    """
    counts = LoadCounts()

    regions: dict[str, Region] = {}
    for code, name, parent_code in iter_regions():
        region = Region.objects.filter(code=full_code(code)).first()
        if region is None:
            parent = regions[parent_code] if parent_code else None
            region = region_create(code=code, name=name, parent=parent)
            counts.created["regions"] += 1
        else:
            counts.existing["regions"] += 1
        regions[code] = region

    agencies: dict[tuple[str, str], Agency] = {}
    for region_code, kind, name in all_agencies():
        region = regions[region_code]
        agency = Agency.objects.filter(region=region, name=name).first()
        if agency is None:
            agency = agency_create(name=name, kind=kind, region=region)
            counts.created["agencies"] += 1
        else:
            counts.existing["agencies"] += 1
        agencies[(region_code, name)] = agency

    for username, full_name, role, region_code, agency_name in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            counts.existing["users"] += 1
            continue
        user_create(
            username=username,
            password=DEMO_PASSWORD,
            full_name=full_name,
            agency=agencies[(region_code, agency_name)],
            role=role,
            check_password=False,
        )
        counts.created["users"] += 1

    return counts


# --- the login table ------------------------------------------------------------------------


def _width(text: str) -> int:
    """Terminal columns: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def login_rows() -> list[tuple[str, str, str, str]]:
    """(username, role in Chinese, agency, region path) for every demo login."""
    with translation.override("zh-hans"):
        return [
            (username, str(Role(role).label), agency_name, region_path(region_code))
            for username, _full_name, role, region_code, agency_name in DEMO_USERS
        ]


def login_table() -> str:
    header = ("username", "role", "agency", "region")
    rows = login_rows()
    widths = [max(_width(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(_pad(cell, w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(header), rule, *(line(row) for row in rows)]
    return "\n".join([*body, "", f"password (all demo logins): {DEMO_PASSWORD}"])
