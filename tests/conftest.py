"""Shared fixtures: a small real division tree with one user per role in two counties and two cities.

山西省 140000
├── 临汾市 141000            admin (administrator, city insurance agency)
│   ├── 尧都区 141002        insurance_a, tax_a, finance_a, school_a
│   │   └── 屯里镇 141002100
│   │       └── 屯里村 141002100201   clerk_a
│   └── 洪洞县 141024        insurance_b, tax_b, finance_b, school_b
│       └── 大槐树镇 141024100
│           └── 秦壁村 141024100201   clerk_b
└── 太原市 140100            admin_other (administrator of another city)
    └── 小店区 140105
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from accounts import services
from accounts.models import Agency, Region, User
from accounts.roles import AgencyKind, Role

# Browser fixtures (browser, page, shoot, sign_in…) for every module, sharing one Chromium per worker.
pytest_plugins = ["tests.browser_fixtures"]

PASSWORD = "Test-pass-2026!"


@dataclass
class World:
    regions: dict[str, Region] = field(default_factory=dict)
    agencies: dict[str, Agency] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def user_for(self, role: str, side: str = "a") -> User:
        """The user of a role in county A (尧都区) or B (洪洞县); administrators sit at city level."""
        if role == Role.ADMINISTRATOR:
            return self.users["admin" if side == "a" else "admin_other"]
        prefix = {
            Role.VILLAGE_CLERK: "clerk",
            Role.SCHOOL_CLERK: "school",
            Role.INSURANCE_STAFF: "insurance",
            Role.TAX_STAFF: "tax",
            Role.FINANCE_STAFF: "finance",
        }[role]
        return self.users[f"{prefix}_{side}"]


def build_world() -> World:
    world = World()
    r = world.regions
    r["shanxi"] = services.region_create(code="140000", name="山西省")
    r["linfen"] = services.region_create(code="141000", name="临汾市", parent=r["shanxi"])
    r["yaodu"] = services.region_create(code="141002", name="尧都区", parent=r["linfen"])
    r["tunli"] = services.region_create(code="141002100", name="屯里镇", parent=r["yaodu"])
    r["tunli_village"] = services.region_create(code="141002100201", name="屯里村", parent=r["tunli"])
    r["hongdong"] = services.region_create(code="141024", name="洪洞县", parent=r["linfen"])
    r["dahuaishu"] = services.region_create(code="141024100", name="大槐树镇", parent=r["hongdong"])
    r["qinbi_village"] = services.region_create(code="141024100201", name="秦壁村", parent=r["dahuaishu"])
    r["taiyuan"] = services.region_create(code="140100", name="太原市", parent=r["shanxi"])
    r["xiaodian"] = services.region_create(code="140105", name="小店区", parent=r["taiyuan"])

    a = world.agencies
    a["city_insurance"] = services.agency_create(
        name="临汾市医疗保障事务中心", kind=AgencyKind.INSURANCE_AGENCY, region=r["linfen"]
    )
    a["taiyuan_insurance"] = services.agency_create(
        name="太原市医疗保障事务中心", kind=AgencyKind.INSURANCE_AGENCY, region=r["taiyuan"]
    )
    for side, county, village in (("a", "yaodu", "tunli_village"), ("b", "hongdong", "qinbi_village")):
        name = r[county].name
        a[f"insurance_{side}"] = services.agency_create(
            name=f"{name}医疗保障服务中心", kind=AgencyKind.INSURANCE_AGENCY, region=r[county]
        )
        a[f"tax_{side}"] = services.agency_create(
            name=f"{name}税务局", kind=AgencyKind.TAX_BUREAU, region=r[county]
        )
        a[f"finance_{side}"] = services.agency_create(
            name=f"{name}财政局", kind=AgencyKind.FINANCE_BUREAU, region=r[county]
        )
        a[f"school_{side}"] = services.agency_create(
            name=f"{name}第一中学", kind=AgencyKind.SCHOOL, region=r[county]
        )
        a[f"village_{side}"] = services.agency_create(
            name=f"{r[village].name}村民委员会", kind=AgencyKind.VILLAGE_COMMITTEE, region=r[village]
        )

    u = world.users

    def add(key: str, role: str, agency: str, full_name: str) -> None:
        u[key] = services.user_create(
            username=key,
            password=PASSWORD,
            full_name=full_name,
            agency=a[agency],
            role=role,
            check_password=False,
        )

    add("admin", Role.ADMINISTRATOR, "city_insurance", "管理员甲")
    add("admin_other", Role.ADMINISTRATOR, "taiyuan_insurance", "管理员乙")
    for side in ("a", "b"):
        add(f"insurance_{side}", Role.INSURANCE_STAFF, f"insurance_{side}", f"医保{side}")
        add(f"tax_{side}", Role.TAX_STAFF, f"tax_{side}", f"税务{side}")
        add(f"finance_{side}", Role.FINANCE_STAFF, f"finance_{side}", f"财政{side}")
        add(f"school_{side}", Role.SCHOOL_CLERK, f"school_{side}", f"学校{side}")
        add(f"clerk_{side}", Role.VILLAGE_CLERK, f"village_{side}", f"村经办{side}")
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def transactional_world(transactional_db) -> World:
    return build_world()


@pytest.fixture(autouse=True)
def _portal_language() -> Iterator[None]:
    """Every test starts in the portal's default language (Chinese), whatever ran before it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _flush_test_redis() -> None:
    """Each xdist worker owns its Redis databases (config.settings.test); start every test clean."""
    import redis
    from django.conf import settings

    for url in (settings.CELERY_BROKER_URL, settings.CACHES["default"]["LOCATION"]):
        redis.Redis.from_url(url).flushdb()


# Sessions on the test database other than this process's: the servers and workers tests start
# (each names its test, PGAPPNAME below) or a thread's connection.
# (Autovacuum workers are left out: dropping the database ends them itself.) When each was opened
# and last active, to find in the test log what opened one that carries no test's name.
_OTHER_SESSIONS = """SELECT pid, application_name, state, left(query, 120),
        to_char(backend_start, 'HH24:MI:SS.MS') AS opened, to_char(state_change, 'HH24:MI:SS.MS') AS idle_since
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, which it drops at the end only if no other session is on it.

    A subprocess that has just been stopped may still be closing its connection: wait for it. One
    still there after that is a leak; it is named in a warning and ended, so that the database
    is dropped anyway."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        deadline = time.monotonic() + 10
        while True:
            cursor.execute(_OTHER_SESSIONS)
            others = cursor.fetchall()
            if not others or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if others:
            warnings.warn(f"sessions left open on the test database, ended now: {others}", stacklevel=1)
            cursor.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::integer[]) AS pid",
                [[row[0] for row in others]],
            )
    connection.close()


@pytest.fixture(autouse=True)
def _sessions_named_after_the_test() -> Iterator[None]:
    """A connection this process opens during a test — a thread's, say — is named after the test
    (libpq reads PGAPPNAME when it connects), so a session left open names the test that opened it.

    And this process's own connection: a test after which it is another one while the one before
    is still open has orphaned a session (it stays open, unnamed, to the end); the warning names
    that test."""
    before = connection.connection
    os.environ["PGAPPNAME"] = os.environ.get("PYTEST_CURRENT_TEST", "")[:63]
    yield
    os.environ.pop("PGAPPNAME", None)
    if before is not None and not before.closed and connection.connection is not before:
        warnings.warn(
            f"{os.environ.get('PYTEST_CURRENT_TEST', '')}: the process's database connection was replaced "
            "while the one before was still open (that session stays open, unnamed)",
            stacklevel=1,
        )


def database_url_for_subprocess() -> str:
    """The URL of the database this test uses, for a worker or server started as a subprocess."""
    s = connection.settings_dict
    host = quote(str(s["HOST"]), safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{host}{port}/{s['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    # PYTEST_XDIST_WORKER is inherited, so the subprocess picks this worker's Redis databases.
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=database_url_for_subprocess())
    # libpq names the subprocess's sessions after the test that started it (pg_stat_activity).
    env["PGAPPNAME"] = os.environ.get("PYTEST_CURRENT_TEST", "test subprocess")[:63]
    env.update(extra)
    return env


def queued_runs_execute() -> list[int]:
    """Execute every county run left queued, as the worker would a moment later: a new version of a
    policy queues the runs of the counties already assessed for its year (``policy_save``), and a
    test without a worker (or whose transaction never commits) runs them here. Returns their ids."""
    from enrollment.assessment import assessment_run_execute
    from enrollment.models import AssessmentRun, RunStatus

    queued = list(
        AssessmentRun.objects.filter(status=RunStatus.QUEUED, person__isnull=True).values_list(
            "pk", flat=True
        )
    )
    for run_id in queued:
        assessment_run_execute(run_id=run_id)
    return queued
