"""``manage.py demo_data``: what it loads, that it is safe to repeat, and when it refuses."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from pghistory.models import Context

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import Agency, Region, RegionLevel, User
from accounts.roles import ROLE_AGENCY_KINDS, AgencyKind, Role
from accounts.services import agency_create, region_create, user_create

# The designed demo data set.
REGIONS = 41  # 山西省, 临汾市, 3 counties, 9 townships, 27 villages/communities
AGENCIES = 48  # 6 city offices, 3 x (4 county offices + 1 school), 27 village committees
USERS = 9
DEMO_USERNAMES = [
    "admin",
    "insurance.yaodu",
    "insurance.hongdong",
    "tax.yaodu",
    "tax.hongdong",
    "finance.yaodu",
    "clerk.tunli",
    "clerk.qinbi",
    "school.linfenyizhong",
]


@pytest.fixture(autouse=True)
def demo_settings(settings):
    """As `scripts/portal.py run` serves the demo: DEBUG off, the demo flag on."""
    settings.DEBUG = False
    settings.PORTAL_DEMO = True


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


def totals() -> tuple[int, int, int]:
    return Region.objects.count(), Agency.objects.count(), User.objects.count()


def event_count() -> int:
    return sum(
        apps.get_model("accounts", name).objects.count()
        for name in ("RegionEvent", "AgencyEvent", "UserEvent")
    )


@pytest.mark.django_db
def test_empty_database_gets_the_designed_counts() -> None:
    # given an empty database
    assert totals() == (0, 0, 0)

    # when demo_data runs
    output = run()

    # then exactly the designed objects exist and the summary says they were all created
    assert totals() == (REGIONS, AGENCIES, USERS)
    assert output.strip() == (
        "regions: 41 created, 0 existing; agencies: 48 created, 0 existing; users: 9 created, 0 existing"
    )
    levels = {level: Region.objects.filter(level=level).count() for level in RegionLevel.values}
    assert levels == {1: 1, 2: 1, 3: 3, 4: 9, 5: 27}
    assert sorted(User.objects.values_list("username", flat=True)) == sorted(DEMO_USERNAMES)


@pytest.mark.django_db
def test_linfen_has_counties_with_townships_and_villages() -> None:
    # given the demo data
    run()

    # when Linfen's counties are listed
    linfen = Region.objects.get(code="141000000000")
    counties = {county.code[:6]: county.name for county in linfen.children.order_by("code")}

    # then there are its three real counties, each with 3 townships holding 3 villages each
    assert linfen.name == "临汾市"
    assert linfen.parent.code == "140000000000"
    assert counties == {"141002": "尧都区", "141024": "洪洞县", "141081": "侯马市"}
    for county in linfen.children.all():
        townships = list(county.children.all())
        assert len(townships) == 3
        for township in townships:
            assert township.level == RegionLevel.TOWNSHIP
            assert township.children.filter(level=RegionLevel.VILLAGE).count() == 3
    assert Region.objects.get(code="141002100000").name == "屯里镇"
    assert Region.objects.get(code="141024100201").name == "秦壁村"


@pytest.mark.django_db
def test_every_role_has_a_user_whose_agency_fits() -> None:
    # given the demo data
    run()

    # when the users of each role are looked at
    fitting = {
        role: User.objects.filter(role=role, agency__kind__in=ROLE_AGENCY_KINDS[role]).count()
        for role in Role.values
    }

    # then every role has a user, in an agency of a kind that role may belong to
    assert fitting == {
        Role.VILLAGE_CLERK: 2,
        Role.SCHOOL_CLERK: 1,
        Role.INSURANCE_STAFF: 2,
        Role.TAX_STAFF: 2,
        Role.FINANCE_STAFF: 1,
        Role.ADMINISTRATOR: 1,
    }
    clerk_counties = set(
        User.objects.filter(role=Role.VILLAGE_CLERK).values_list("agency__region__code", flat=True)
    )
    assert {code[:6] for code in clerk_counties} == {"141002", "141024"}
    admin = User.objects.get(username="admin")
    assert (admin.agency.name, admin.is_staff, admin.full_name) == ("临汾市医疗保障事务中心", True, "王建国")
    assert all(user.check_password(DEMO_PASSWORD) for user in User.objects.all())


@pytest.mark.django_db
def test_every_village_has_a_village_committee() -> None:
    # given the demo data
    run()

    # when each village's agencies are looked at
    villages = Region.objects.filter(level=RegionLevel.VILLAGE)
    committees = {
        village.code: list(
            village.agencies.filter(kind=AgencyKind.VILLAGE_COMMITTEE).values_list("name", flat=True)
        )
        for village in villages
    }

    # then each of the 27 villages has exactly one committee, named by village or community
    assert len(committees) == 27
    assert all(len(names) == 1 for names in committees.values())
    assert committees["141002100201"] == ["屯里村村民委员会"]
    assert committees["141002001001"] == ["解放东路社区居民委员会"]
    assert Agency.objects.filter(kind=AgencyKind.VILLAGE_COMMITTEE).count() == 27


@pytest.mark.django_db
def test_second_run_changes_nothing() -> None:
    # given the demo data loaded once, and a user who has since changed her password
    run()
    clerk = User.objects.get(username="clerk.tunli")
    clerk.set_password("Another-Secret-9")
    clerk.save()
    before = (totals(), event_count())

    # when demo_data runs again
    output = run()

    # then nothing was created or changed, and nothing was written to the audit trail
    assert output.strip() == (
        "regions: 0 created, 41 existing; agencies: 0 created, 48 existing; users: 0 created, 9 existing"
    )
    assert (totals(), event_count()) == before
    assert User.objects.get(username="clerk.tunli").check_password("Another-Secret-9")


@pytest.mark.django_db
def test_run_completes_what_already_exists() -> None:
    # given part of the data already there: the province, the city insurance agency and "admin"
    shanxi = region_create(code="140000", name="山西省")
    linfen = region_create(code="141000", name="临汾市", parent=shanxi)
    centre = agency_create(name="临汾市医疗保障事务中心", kind=AgencyKind.INSURANCE_AGENCY, region=linfen)
    user_create(
        username="admin",
        password="Own-Password-1",
        full_name="已有管理员",
        agency=centre,
        role=Role.ADMINISTRATOR,
        check_password=False,
    )

    # when demo_data runs
    output = run()

    # then only the rest is created and the existing objects are untouched
    assert output.strip() == (
        "regions: 39 created, 2 existing; agencies: 47 created, 1 existing; users: 8 created, 1 existing"
    )
    assert totals() == (REGIONS, AGENCIES, USERS)
    admin = User.objects.get(username="admin")
    assert admin.full_name == "已有管理员"
    assert admin.check_password("Own-Password-1")


@pytest.mark.django_db
def test_audit_trail_names_the_command() -> None:
    # given an empty database
    # when demo_data runs
    run()

    # then every region, agency and user insert is attributed to the command
    contexts = Context.objects.filter(metadata__source="command:demo_data")
    assert contexts.count() == 1
    context = contexts.get()
    assert context.metadata["user"] is None
    RegionEvent = apps.get_model("accounts", "RegionEvent")
    assert RegionEvent.objects.filter(pgh_context=context, pgh_label="insert").count() == REGIONS
    assert event_count() == REGIONS + AGENCIES + USERS


@pytest.mark.django_db
def test_print_logins_lists_every_login_and_loads_nothing() -> None:
    # given an empty database
    # when the logins are printed
    output = run("--print-logins")

    # then every demo username heads a row, the password is shown, and nothing was loaded
    lines = output.splitlines()
    assert lines[0].split() == ["username", "role", "agency", "region"]
    usernames = [line.split()[0] for line in lines[2 : 2 + USERS]]
    assert usernames == DEMO_USERNAMES
    assert [username for username, *_rest in DEMO_USERS] == DEMO_USERNAMES
    assert lines[2 + USERS :] == ["", "password (all demo logins): Demo-2026!"]
    qinbi = next(line for line in lines if line.startswith("clerk.qinbi "))
    assert qinbi.split() == [
        "clerk.qinbi",
        "村级经办员",
        "秦壁村村民委员会",
        "临汾市",
        "洪洞县",
        "大槐树镇",
        "秦壁村",
    ]
    assert totals() == (0, 0, 0)


@pytest.mark.django_db
def test_refuses_outside_the_demo(settings) -> None:
    # given production-like settings (the demo flag is off, whatever DEBUG says)
    settings.PORTAL_DEMO = False
    settings.DEBUG = True

    # when demo_data runs without --force
    with pytest.raises(CommandError, match="Refusing to load demo data: PORTAL_DEMO is off"):
        run()

    # then nothing was loaded
    assert totals() == (0, 0, 0)


@pytest.mark.django_db
def test_force_loads_outside_the_demo(settings) -> None:
    # given production-like settings
    settings.PORTAL_DEMO = False

    # when demo_data runs with --force
    output = run("--force")

    # then the demo data is loaded
    assert output.startswith("regions: 41 created")
    assert totals() == (REGIONS, AGENCIES, USERS)
