"""The clerks' registration pages through the Django test client: search, submit, errors in place,
residence-permit households, newborns, moving and editing a person, resubmission, school rosters."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.roles import Role
from accounts.scope import Scope
from enrollment import services
from enrollment.models import (
    ApplicationStatus,
    Household,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
)
from tests.addresses import ID_NUMBER, KeptResponses, searched, urls_of, with_id_numbers
from tests.conftest import World
from tests.matrix.enrollment_registration import HONGDONG_VILLAGE, YAODU_VILLAGE, resident_id

HEAD_ID = resident_id("141002", dt.date(1975, 4, 12), 11, male=True)
SPOUSE_ID = resident_id("141002", dt.date(1977, 9, 3), 12, male=False)
SON_ID = resident_id("141002", dt.date(2003, 1, 20), 13, male=True)
DAUGHTER_ID = resident_id("141002", dt.date(2008, 6, 30), 14, male=False)
ENROLLED_ON = dt.date(2025, 1, 1)
WORKSPACE = "/enrollment/"


def member(name: str, id_number: str, relation: str, **extra: str) -> dict[str, str]:
    row = {
        "name": name,
        "id_kind": "resident_id",
        "id_number": id_number,
        "sex": "",
        "birth_date": "",
        "relation": relation,
        "category": PersonCategory.RURAL,
        "ethnicity": "汉族",
        "phone": "",
    }
    row.update(extra)
    return row


BLANK_ROW = {key: "" for key in member("", "", "")} | {
    "id_kind": "resident_id",
    "category": PersonCategory.RURAL,
}

FAMILY = [
    member("王建国", HEAD_ID, Relation.HEAD, phone="13800000001"),
    member("李秀英", SPOUSE_ID, Relation.SPOUSE),
    member("王小军", SON_ID, Relation.CHILD),
    member("王小红", DAUGHTER_ID, Relation.CHILD),
]


def form_data(members: list[dict[str, str]], *, prefix: str = "members", **fields: str) -> dict[str, str]:
    data = {"kind": "hukou", "address": "屯里村三组12号", "residence_permit_number": ""}
    data.update(fields)
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(len(members)),
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "200",
        }
    )
    for index, row in enumerate(members):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def scope_of(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def register_family(world: World, members: list[dict[str, str]] = FAMILY) -> RegistrationApplication:
    inputs = [
        services.MemberInput(
            id_kind="resident_id",
            id_number=m["id_number"],
            name=m["name"],
            sex="male" if int(m["id_number"][16]) % 2 else "female",
            birth_date=dt.datetime.strptime(m["id_number"][6:14], "%Y%m%d").date(),
            relation=m["relation"],
            category=m["category"],
        )
        for m in members
    ]
    return services.household_register(
        scope=scope_of(world, "clerk_a"), region_code=YAODU_VILLAGE, members=inputs
    )


@pytest.fixture
def clerk(client, world: World):
    client.force_login(world.users["clerk_a"])
    return client


# --- submitting a household ---------------------------------------------------------------------


def test_given_a_village_clerk_when_submitting_a_four_person_household_then_one_application_of_four_waits(
    clerk, world: World
):
    response = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY))

    application = RegistrationApplication.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "enrollment:household-detail", kwargs={"pk": application.household_id}
    )
    assert application.status == ApplicationStatus.SUBMITTED
    assert sorted(application.persons.values_list("name", flat=True)) == [
        "李秀英",
        "王小军",
        "王小红",
        "王建国",
    ]
    assert application.household.region_code == YAODU_VILLAGE


def test_given_a_household_awaiting_review_when_the_same_head_is_registered_again_then_the_row_says_only_to_wait(
    clerk, world: World
):
    # Given 王建国's household submitted and waiting for insurance's decision
    clerk.post(reverse("enrollment:household-new"), form_data(FAMILY))
    number = RegistrationApplication.objects.get().household.number

    # When the clerk registers him again as the head of a new household
    response = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY[:1]))

    # Then his row says to wait for the decision, and not also to move him from that household
    page = response.content.decode()
    assert response.status_code == 400
    assert f"王建国已在等待医保审核的参保登记中：户 {number}。请在审核完成后再登记。" in page
    assert "请从该户办理迁移" not in page
    assert RegistrationApplication.objects.count() == 1


def test_given_a_one_person_household_in_english_when_submitted_and_approved_then_the_pages_say_1_person(
    clerk, world: World
):
    clerk.cookies["django_language"] = "en"
    # When the clerk submits a household of one
    submitted = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY[:1]), follow=True)
    application = RegistrationApplication.objects.get()
    date = timezone.localtime(application.submitted_at).strftime("%Y-%m-%d %H:%M")
    # and insurance approves it
    clerk.force_login(world.users["insurance_a"])
    approved = clerk.post(
        reverse("enrollment:application-detail", args=[application.pk]),
        {"decision": "approve", "enrollment_date": "2026-02-01"},
        follow=True,
    )

    # Then each message counts one person, not "1 persons"
    page = submitted.content.decode()
    assert "Application submitted for 1 person; county insurance staff will review it." in page
    assert f"Submitted {date} for 1 person; waiting for county insurance staff." in page
    number = application.household.number
    assert f"Household {number} approved: 1 person enrolled from 2026-02-01." in approved.content.decode()
    assert "1 persons" not in page + approved.content.decode()


def test_given_id_numbers_only_when_submitting_then_birth_date_and_sex_come_from_the_numbers(
    clerk, world: World
):
    clerk.post(reverse("enrollment:household-new"), form_data(FAMILY))

    spouse = Person.objects.get(id_number=SPOUSE_ID)
    assert (spouse.birth_date, spouse.sex) == (dt.date(1977, 9, 3), "female")


def test_given_a_submitted_household_when_its_page_opens_then_the_application_shows_as_waiting_for_review(
    clerk, world: World
):
    response = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY), follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="open-application"' in page
    assert '<span class="badge badge-submitted" data-status="submitted">待审核</span>' in page
    # the notice, each of the four members, and the application in the list below
    assert page.count('data-status="submitted"') == 6


# --- errors next to the right field of the right row ---------------------------------------------


def test_given_a_birth_date_that_contradicts_the_id_in_the_third_row_when_submitting_then_the_error_sits_there(
    clerk, world: World
):
    rows = [FAMILY[0], BLANK_ROW, member("王小军", SON_ID, Relation.CHILD, birth_date="2003-01-21")]

    response = clerk.post(reverse("enrollment:household-new"), form_data(rows))

    forms = response.context["formset"].forms
    assert response.status_code == 400
    assert [dict(f.errors) for f in forms[:2]] == [{}, {}]
    assert list(forms[2].errors) == ["birth_date"]
    assert "2003-01-20" in forms[2].errors["birth_date"][0]
    assert RegistrationApplication.objects.count() == 0


def test_given_a_refused_form_when_it_comes_back_then_everything_typed_is_kept(clerk, world: World):
    rows = [
        FAMILY[0],
        member("李秀英", SPOUSE_ID[:-1] + ("0" if SPOUSE_ID[-1] != "0" else "1"), Relation.SPOUSE),
    ]

    response = clerk.post(reverse("enrollment:household-new"), form_data(rows, address="屯里村三组12号"))

    page = response.content.decode()
    assert response.status_code == 400
    assert list(response.context["formset"].forms[1].errors) == ["id_number"]
    assert 'value="屯里村三组12号"' in page
    assert f'value="{rows[1]["id_number"]}"' in page
    assert 'value="王建国"' in page and 'value="13800000001"' in page


def test_given_two_heads_when_submitting_then_the_relation_error_is_on_the_first_row(clerk, world: World):
    rows = [FAMILY[0], member("李秀英", SPOUSE_ID, Relation.HEAD)]

    response = clerk.post(reverse("enrollment:household-new"), form_data(rows))

    assert response.status_code == 400
    assert list(response.context["formset"].forms[0].errors) == ["relation"]


def test_given_a_person_enrolled_in_another_county_when_registering_them_then_the_row_says_where_and_how_to_transfer(
    clerk, world: World
):
    elsewhere = services.household_register(
        scope=scope_of(world, "clerk_b"),
        region_code=HONGDONG_VILLAGE,
        members=[
            services.MemberInput(
                id_kind="resident_id",
                id_number=HEAD_ID,
                name="王建国",
                sex="male",
                birth_date=dt.date(1975, 4, 12),
                relation=Relation.HEAD,
                category=PersonCategory.RURAL,
            )
        ],
    )
    services.application_approve(
        scope=scope_of(world, "insurance_b"), application_id=elsewhere.pk, enrollment_date=ENROLLED_ON
    )

    response = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY[:1]))

    (message,) = response.context["formset"].forms[0].errors["id_number"]
    assert response.status_code == 400
    assert "临汾市洪洞县" in message and "秦壁村" not in message
    assert "转移接续" in message


# --- residence-permit households ------------------------------------------------------------------


def test_given_a_residence_permit_household_without_its_number_when_submitting_then_the_number_field_says_so(
    clerk, world: World
):
    response = clerk.post(reverse("enrollment:household-new"), form_data(FAMILY[:1], kind="residence_permit"))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["residence_permit_number"]


def test_given_a_residence_permit_household_with_its_number_when_submitting_then_it_is_saved_with_it(
    clerk, world: World
):
    clerk.post(
        reverse("enrollment:household-new"),
        form_data(FAMILY[:2], kind="residence_permit", residence_permit_number="晋临居字2024-0001"),
    )

    household = Household.objects.get()
    assert (household.kind, household.residence_permit_number) == ("residence_permit", "晋临居字2024-0001")


# --- finding a household again --------------------------------------------------------------------


def test_given_a_registered_household_when_searching_by_a_members_id_prefix_then_it_is_listed_with_all_members(
    clerk, world: World
):
    application = register_family(world)

    response = searched(clerk, WORKSPACE, SON_ID[:10])

    (result,) = response.context["results"]
    assert result["household"].pk == application.household_id
    assert [m["person"].name for m in result["members"]] == ["王建国", "李秀英", "王小军", "王小红"]
    assert result["members"][0]["id_number"] == HEAD_ID


def test_given_a_registered_household_when_searching_by_a_name_prefix_then_it_is_listed(clerk, world: World):
    application = register_family(world)

    response = searched(clerk, WORKSPACE, "李秀")

    assert [r["household"].pk for r in response.context["results"]] == [application.household_id]


def test_given_a_household_of_another_county_when_searching_its_members_name_then_nothing_is_found(
    clerk, world: World
):
    services.household_register(
        scope=scope_of(world, "clerk_b"),
        region_code=HONGDONG_VILLAGE,
        members=[
            services.MemberInput(
                id_kind="resident_id",
                id_number=resident_id("141024", dt.date(1960, 2, 2), 21),
                name="赵大山",
                sex="male",
                birth_date=dt.date(1960, 2, 2),
                relation=Relation.HEAD,
                category=PersonCategory.RURAL,
            )
        ],
    )

    response = searched(clerk, WORKSPACE, "赵大")

    assert response.context["results"] == []
    assert 'data-testid="no-results"' in response.content.decode()


def test_given_the_search_and_move_flow_then_no_id_number_appears_in_any_address_the_pages_give(
    clerk, world: World
):
    """Workspace search by full ID, ID prefix, name and household number; open the household; move
    a member, searching the target by full ID, prefix and name; a refused and a done move: every
    Location, href and action is free of ID numbers (the query is kept in the session)."""
    first = register_family(world, FAMILY[:2])
    granny_id = resident_id("141002", dt.date(1950, 1, 5), 41, male=False)
    second = register_family(world, [member("张桂兰", granny_id, Relation.HEAD)])
    _decided(world, first, second)
    spouse = Person.objects.get(id_number=SPOUSE_ID)
    move_url = reverse("enrollment:person-move", kwargs={"pk": spouse.pk})
    responses, addresses = KeptResponses(), []
    keep = responses.keep

    def search(query: str, url: str = reverse("enrollment:workspace")):  # type: ignore[no-untyped-def]
        posted = keep(clerk.post(url, {"q": query, "find": "1"}))
        addresses.append(posted["Location"])
        return keep(clerk.get(posted["Location"]))

    by_id = search(HEAD_ID)
    by_prefix = search(SPOUSE_ID[:10])
    by_name = search("李秀")
    by_number = search(first.household.number)
    keep(clerk.get(reverse("enrollment:household-detail", args=[first.household_id])))
    keep(clerk.get(move_url))
    target_by_id = search(granny_id, move_url)
    target_by_prefix = search(granny_id[:12], move_url)
    target_by_name = search("张桂", move_url)
    refused = keep(clerk.post(addresses[-1], {"q": "张桂", "household": ""}))  # the move form's own address
    moved = keep(
        clerk.post(move_url, {"q": "张桂", "household": second.household_id, "relation": Relation.CHILD})
    )
    keep(clerk.get(moved["Location"]))

    # Then each search found what was typed, and the pages showed the full ID numbers to the clerk
    results = [by_id, by_prefix, by_name, by_number]
    assert [[r["household"].pk for r in page.context["results"]] for page in results] == [
        [first.household_id]
    ] * 4
    assert [page.context["query"] for page in results] == [
        HEAD_ID,
        SPOUSE_ID[:10],
        "李秀",
        first.household.number,
    ]
    assert HEAD_ID in by_id.content.decode()
    assert [
        [c["household"].pk for c in page.context["candidates"]]
        for page in (target_by_id, target_by_prefix, target_by_name)
    ] == [[second.household_id]] * 3
    assert (refused.status_code, moved.status_code) == (400, 302)
    spouse.refresh_from_db()
    assert spouse.household_id == second.household_id
    # And no address holds one
    assert len(responses) == 19
    assert sum(len(urls_of(response)) for response in responses) > 80
    assert with_id_numbers(responses) == []
    assert ID_NUMBER.search(f"/enrollment/?q={HEAD_ID}")  # the pattern finds what it looks for


def test_given_a_school_clerk_when_searching_a_student_by_id_number_then_the_address_holds_a_key(
    client, world: World
):
    student_id = resident_id("141002", dt.date(2010, 5, 1), 51)
    services.school_roster_register(
        scope=scope_of(world, "school_a"),
        students=[
            services.MemberInput(
                id_kind="resident_id", id_number=student_id, name="刘洋", sex="male",
                birth_date=dt.date(2010, 5, 1), relation="", category="student",
            )
        ],
    )  # fmt: skip
    client.force_login(world.users["school_a"])

    page = searched(client, WORKSPACE, student_id)

    assert [(row["person"].name, row["id_number"]) for row in page.context["students"]] == [
        ("刘洋", student_id)
    ]
    assert with_id_numbers([page]) == []


def test_given_students_waiting_and_enrolled_when_the_school_clerk_searches_then_each_row_says_whether_enrolled(
    client, world: World
):
    def roster(name: str, sequence: int) -> RegistrationApplication:
        born = dt.date(2010, 5, 1)
        return services.school_roster_register(
            scope=scope_of(world, "school_a"),
            students=[
                services.MemberInput(
                    id_kind="resident_id", id_number=resident_id("141002", born, sequence), name=name,
                    sex="male", birth_date=born, relation="", category="student",
                )
            ],
        )  # fmt: skip

    roster("刘洋", 51)
    approved = roster("刘强", 52)
    services.application_approve(
        scope=scope_of(world, "insurance_a"), application_id=approved.pk, enrollment_date=ENROLLED_ON
    )
    client.force_login(world.users["school_a"])

    page = searched(client, WORKSPACE, "刘")

    html = page.content.decode()
    assert [(row["person"].name, row["status"]["code"]) for row in page.context["students"]] == [
        ("刘强", "normal"),
        ("刘洋", "submitted"),
    ]
    rows = [" ".join(row.split()) for row in re.findall(r'<tr data-testid="student">(.*?)</tr>', html, re.S)]
    assert "<th>参保状态</th>" in html
    assert (
        '<td><span class="badge badge-normal" data-status="normal">正常参保</span> '
        f'<span class="muted small">自{ENROLLED_ON.isoformat()}起</span></td>'
    ) in rows[0]
    assert '<td><span class="badge badge-submitted" data-status="submitted">待审核</span> </td>' in rows[1]


def test_given_an_empty_search_then_the_page_asks_for_something_to_search(clerk, world: World):
    response = clerk.post(reverse("enrollment:workspace"), {"q": "  "})

    assert response.status_code == 400
    assert response.context["notice"] == "请输入证件号码、姓名或户号后再查询。"


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_given_a_search_key_this_session_does_not_keep_then_the_page_asks_to_search_again(
    clerk, world: World
):
    register_family(world, FAMILY[:2])
    kept = clerk.post(reverse("enrollment:workspace"), {"q": HEAD_ID})["Location"]
    move_kept = clerk.post(
        reverse("enrollment:person-move", args=[Person.objects.get(id_number=HEAD_ID).pk]),
        {"q": SPOUSE_ID, "find": "1"},
    )["Location"]
    same_clerk_elsewhere = _signed_in(world.users["clerk_a"])  # another browser: another session
    another_clerk = _signed_in(
        account_services.user_create(
            username="clerk_a2", password="Test-pass-2026!", full_name="村经办丙",
            agency=world.agencies["village_a"], role=Role.VILLAGE_CLERK, check_password=False,
        )
    )  # fmt: skip

    pages = [
        same_clerk_elsewhere.get(kept),
        another_clerk.get(kept),
        clerk.get(reverse("enrollment:workspace"), {"search": "no-such-key1"}),
        clerk.get(move_kept.replace("search=", "search=x")),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    assert [(page.context["query"], page.context["notice"]) for page in pages] == [
        ("", "这次查询已不再保留，请重新查询。")
    ] * 4
    assert [
        typed in page.content.decode() for page, typed in zip(pages, [HEAD_ID] * 3 + [SPOUSE_ID], strict=True)
    ] == [False] * 4
    assert 'data-testid="search-notice"' in pages[1].content.decode()
    assert clerk.get(kept).context["query"] == HEAD_ID  # the session that searched still has it


def test_given_a_household_page_when_county_staff_or_the_city_administrator_open_it_then_only_the_administrator_sees_masked_ids(
    client, world: World
):
    register_family(world)
    client.force_login(world.users["insurance_a"])

    response = client.get(reverse("enrollment:household-detail", kwargs={"pk": Household.objects.get().pk}))
    client.force_login(world.users["admin"])
    masked = client.get(reverse("enrollment:household-detail", kwargs={"pk": Household.objects.get().pk}))

    assert response.context["members"][0]["id_number"] == HEAD_ID
    assert masked.context["members"][0]["id_number"] == HEAD_ID[:6] + "********" + HEAD_ID[-4:]


# --- the clerk's applications and their status ----------------------------------------------------


def test_given_decided_applications_when_the_workspace_opens_then_each_shows_its_status_and_reason_or_date(
    clerk, world: World
):
    approved = register_family(world, FAMILY[:1])
    returned = register_family(world, [member("李秀英", SPOUSE_ID, Relation.HEAD)])
    insurance = scope_of(world, "insurance_a")
    services.application_approve(scope=insurance, application_id=approved.pk, enrollment_date=ENROLLED_ON)
    services.application_return(scope=insurance, application_id=returned.pk, reason="户口簿地址页不清晰")

    response = clerk.get(reverse("enrollment:workspace"))

    rows = {row["application"].pk: row["application"] for row in response.context["applications"]}
    page = response.content.decode()
    assert {pk: a.status for pk, a in rows.items()} == {approved.pk: "approved", returned.pk: "returned"}
    assert "户口簿地址页不清晰" in page
    assert "2025-01-01" in page
    assert response.context["returned_count"] == 1


# --- correcting and resubmitting a returned application ------------------------------------------


def test_given_a_returned_application_when_the_clerk_corrects_and_resubmits_it_then_the_same_application_waits_again(
    clerk, world: World
):
    application = register_family(world, FAMILY[:2])
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="配偶姓名有误"
    )
    edit_url = reverse("enrollment:household-edit", kwargs={"pk": application.household_id})
    opened = clerk.get(edit_url).context
    rows = [
        {k: ("" if v is None else str(v)) for k, v in row.items()}
        | ({"name": "李秀兰"} if row["relation"] == "spouse" else {})
        for row in opened["formset"].initial
    ]
    data = form_data(rows, revision=str(opened["form"].initial["revision"])) | {
        "members-INITIAL_FORMS": str(len(rows))
    }

    response = clerk.post(edit_url, data)

    application.refresh_from_db()
    assert response.status_code == 302
    assert application.status == ApplicationStatus.SUBMITTED
    assert sorted(application.persons.values_list("name", flat=True)) == ["李秀兰", "王建国"]
    assert RegistrationApplication.objects.count() == 1


def test_given_a_returned_application_when_the_edit_page_opens_then_it_shows_the_reason_and_the_members(
    clerk, world: World
):
    application = register_family(world, FAMILY[:2])
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="配偶姓名有误"
    )

    response = clerk.get(reverse("enrollment:household-edit", kwargs={"pk": application.household_id}))

    assert response.context["mode"] == "resubmit"
    assert "配偶姓名有误" in response.content.decode()
    assert [row["name"] for row in response.context["formset"].initial] == ["王建国", "李秀英"]


def test_given_an_approved_household_when_a_spouse_is_added_then_only_the_spouse_is_submitted(
    clerk, world: World
):
    application = register_family(world, FAMILY[:1])
    services.application_approve(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, enrollment_date=ENROLLED_ON
    )

    response = clerk.post(
        reverse("enrollment:household-edit", kwargs={"pk": application.household_id}),
        form_data(FAMILY[1:2], revision=str(application.household.revision)),
    )

    new = RegistrationApplication.objects.get(status=ApplicationStatus.SUBMITTED)
    assert response.status_code == 302
    assert list(new.persons.values_list("name", flat=True)) == ["李秀英"]


# --- a newborn ------------------------------------------------------------------------------------


def test_given_an_approved_household_when_a_newborn_is_added_then_it_is_submitted_as_a_newborn_member(
    clerk, world: World
):
    application = register_family(world, FAMILY[:2])
    services.application_approve(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, enrollment_date=ENROLLED_ON
    )
    baby_id = resident_id("141002", dt.date(2025, 3, 8), 31, male=False)

    response = clerk.post(
        reverse("enrollment:newborn-new", kwargs={"pk": application.household_id}),
        form_data([member("王小满", baby_id, Relation.CHILD)]),
    )

    baby = Person.objects.get(id_number=baby_id)
    assert response.status_code == 302
    assert (baby.household_id, baby.category, baby.birth_date) == (
        application.household_id,
        PersonCategory.NEWBORN,
        dt.date(2025, 3, 8),
    )
    assert baby.applications.get().status == ApplicationStatus.SUBMITTED


# --- editing and moving a person ------------------------------------------------------------------


def test_given_a_member_when_the_clerk_corrects_the_phone_then_it_is_saved(clerk, world: World):
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)
    row = member("王建国", HEAD_ID, Relation.HEAD, phone="13900000009", birth_date="1975-04-12", sex="male")

    response = clerk.post(
        reverse("enrollment:person-edit", kwargs={"pk": head.pk}),
        {**form_data([row]), "revision": head.revision},
    )

    head.refresh_from_db()
    assert response.status_code == 302
    assert head.phone == "13900000009"


def test_given_a_member_when_the_clerk_types_a_wrong_check_digit_then_the_id_field_says_so(
    clerk, world: World
):
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)
    wrong = HEAD_ID[:-1] + ("1" if HEAD_ID[-1] != "1" else "2")

    response = clerk.post(
        reverse("enrollment:person-edit", kwargs={"pk": head.pk}),
        {
            **form_data([member("王建国", wrong, Relation.HEAD, birth_date="1975-04-12", sex="male")]),
            "revision": head.revision,
        },
    )

    assert response.status_code == 400
    assert list(response.context["formset"].forms[0].errors) == ["id_number"]


def _decided(world: World, *applications: RegistrationApplication) -> None:
    for application in applications:
        services.application_approve(
            scope=scope_of(world, "insurance_a"), application_id=application.pk, enrollment_date=ENROLLED_ON
        )


def test_given_a_member_when_moved_to_a_household_found_by_name_then_they_belong_to_it(clerk, world: World):
    first = register_family(world, FAMILY[:2])
    second = register_family(
        world, [member("张桂兰", resident_id("141002", dt.date(1950, 1, 5), 41, male=False), Relation.HEAD)]
    )
    _decided(world, first, second)
    spouse = Person.objects.get(id_number=SPOUSE_ID)
    move_url = reverse("enrollment:person-move", kwargs={"pk": spouse.pk})
    candidates = searched(clerk, move_url, "张桂", find="1").context["candidates"]

    response = clerk.post(
        move_url, {"q": "张桂", "household": candidates[0]["household"].pk, "relation": "child"}
    )

    spouse.refresh_from_db()
    assert [c["household"].pk for c in candidates] == [second.household_id]
    assert response.status_code == 302
    assert (spouse.household_id, spouse.relation) == (second.household_id, "child")
    assert first.household.members.count() == 1


def test_given_a_household_waiting_for_review_when_a_member_is_moved_out_then_the_page_refuses_it(
    clerk, world: World
):
    # Given a household whose application waits for review, and another household
    first = register_family(world, FAMILY[:2])
    second = register_family(
        world, [member("张桂兰", resident_id("141002", dt.date(1950, 1, 5), 41, male=False), Relation.HEAD)]
    )
    _decided(world, second)
    spouse = Person.objects.get(id_number=SPOUSE_ID)

    # When the clerk moves a member of the waiting one out
    response = clerk.post(
        reverse("enrollment:person-move", kwargs={"pk": spouse.pk}),
        {"q": "张桂", "household": second.household_id, "relation": "child"},
    )

    # Then the move is refused with the reason, and the member stays on the application's household
    spouse.refresh_from_db()
    assert response.status_code == 400
    assert response.context["errors"] == [
        f"户 {first.household.number} 有等待审核的申请；请在审核完成后再迁移该人员。"
    ]
    assert spouse.household_id == first.household_id


def test_given_a_household_with_a_head_when_another_head_is_moved_in_then_the_page_says_so(
    clerk, world: World
):
    first = register_family(world, FAMILY[:2])
    second = register_family(
        world, [member("张桂兰", resident_id("141002", dt.date(1950, 1, 5), 41, male=False), Relation.HEAD)]
    )
    _decided(world, first, second)
    spouse = Person.objects.get(id_number=SPOUSE_ID)

    response = clerk.post(
        reverse("enrollment:person-move", kwargs={"pk": spouse.pk}),
        {"q": "张桂", "household": second.household_id, "relation": "head"},
    )

    assert response.status_code == 400
    assert len(response.context["errors"]) == 1


# --- school rosters -------------------------------------------------------------------------------


def test_given_a_school_clerk_when_submitting_a_roster_then_students_are_registered_at_the_school_without_household(
    client, world: World
):
    client.force_login(world.users["school_a"])
    students = [
        member("刘洋", resident_id("141002", dt.date(2010, 5, 1), 51), "", category=PersonCategory.STUDENT),
        member(
            "陈静",
            resident_id("141002", dt.date(2010, 7, 9), 52, male=False),
            "",
            category=PersonCategory.STUDENT,
        ),
    ]

    response = client.post(
        reverse("enrollment:school-roster"), form_data(students) | {"label": "初一（3）班"}
    )

    application = RegistrationApplication.objects.get()
    persons = application.persons.order_by("name")
    assert response.status_code == 302
    assert application.status == ApplicationStatus.SUBMITTED
    assert {(p.school_id, p.region_code, p.household_id, p.category) for p in persons} == {
        (world.agencies["school_a"].pk, "141002000000", None, PersonCategory.STUDENT)
    }
    assert application.household.members.count() == 0


def test_given_a_submitted_roster_then_the_school_clerks_pages_head_the_column_roster_not_household(
    client, world: World
):
    client.force_login(world.users["school_a"])
    client.cookies["django_language"] = "en"
    student = member(
        "刘洋", resident_id("141002", dt.date(2010, 5, 1), 51), "", category=PersonCategory.STUDENT
    )
    client.post(reverse("enrollment:school-roster"), form_data([student]) | {"label": "初一（3）班"})

    for name in ("enrollment:workspace", "enrollment:school-roster"):
        html = client.get(reverse(name)).content.decode()
        head = html[html.index('data-testid="applications"') :].split("</thead>")[0]

        assert "<th>School roster</th>" in head, name
        assert "<th>Household</th>" not in head, name
        assert '<span class="muted">School roster</span>' not in html, name


def test_given_a_child_in_a_village_registration_awaiting_review_when_the_school_lists_them_then_it_is_refused(
    client, world: World
):
    register_family(world)
    client.force_login(world.users["school_a"])
    daughter = member("王小红", DAUGHTER_ID, "", category=PersonCategory.STUDENT)

    response = client.post(reverse("enrollment:school-roster"), form_data([daughter]))

    person = Person.objects.get(id_number=DAUGHTER_ID)
    assert response.status_code == 400
    assert (
        "王小红已在等待医保审核的参保登记中：临汾市尧都区（不在您的辖区）。请在审核完成后再登记。"
        in response.content.decode()
    )
    assert (person.region_code, person.school_id) == (YAODU_VILLAGE, None)
    assert RegistrationApplication.objects.count() == 1


def _student_on_a_roster_awaiting_review(client, world: World) -> str:
    client.force_login(world.users["school_a"])
    student_id = resident_id("141002", dt.date(2010, 5, 1), 51)
    response = client.post(
        reverse("enrollment:school-roster"),
        form_data([member("刘洋", student_id, "", category=PersonCategory.STUDENT)]),
    )
    assert response.status_code == 302
    client.force_login(world.users["clerk_a"])
    return student_id


def test_given_a_student_on_a_school_roster_awaiting_review_when_a_village_registers_a_new_household_with_them_then_it_is_refused(
    client, world: World
):
    # Given a school's roster with 刘洋 waiting for insurance's decision
    student_id = _student_on_a_roster_awaiting_review(client, world)

    # When the village clerk registers a new household with 刘洋 in it
    response = client.post(
        reverse("enrollment:household-new"),
        form_data(
            [
                member("刘建华", resident_id("141002", dt.date(1980, 2, 3), 61), Relation.HEAD),
                member("刘洋", student_id, Relation.CHILD),
            ],
            region_code=YAODU_VILLAGE,
        ),
    )

    # Then the row says where 刘洋 waits, and 刘洋 stays the school's, on the roster alone
    student = Person.objects.get(id_number=student_id)
    assert response.status_code == 400
    assert (
        "刘洋已在等待医保审核的参保登记中：临汾市尧都区（不在您的辖区）。请在审核完成后再登记。"
        in response.content.decode()
    )
    assert (student.school_id, student.region_code, student.household_id) == (
        world.agencies["school_a"].pk, "141002000000", None,
    )  # fmt: skip
    assert RegistrationApplication.objects.count() == 1
    assert Household.objects.filter(members__isnull=False).count() == 0


def test_given_a_student_on_a_school_roster_awaiting_review_when_a_village_adds_them_as_a_newborn_then_it_is_refused(
    client, world: World
):
    # Given an approved household, and a school's roster with 刘洋 waiting for insurance's decision
    application = register_family(world, FAMILY[:2])
    services.application_approve(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, enrollment_date=ENROLLED_ON
    )
    student_id = _student_on_a_roster_awaiting_review(client, world)

    # When the village clerk adds 刘洋 to the household as a newborn
    response = client.post(
        reverse("enrollment:newborn-new", kwargs={"pk": application.household_id}),
        form_data([member("刘洋", student_id, Relation.CHILD)]),
    )

    # Then it is refused the same way, and 刘洋 stays the school's
    student = Person.objects.get(id_number=student_id)
    assert response.status_code == 400
    assert (
        "刘洋已在等待医保审核的参保登记中：临汾市尧都区（不在您的辖区）。请在审核完成后再登记。"
        in response.content.decode()
    )
    assert (student.school_id, student.household_id, student.category) == (
        world.agencies["school_a"].pk, None, PersonCategory.STUDENT,
    )  # fmt: skip
    assert RegistrationApplication.objects.count() == 2


def test_given_a_household_member_without_a_phone_on_the_schools_roster_then_the_households_phone_is_kept(
    client, world: World
):
    application = register_family(world)
    Person.objects.filter(id_number=DAUGHTER_ID).update(phone="13903571002")
    services.application_reject(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="户籍不符"
    )
    client.force_login(world.users["school_a"])

    response = client.post(
        reverse("enrollment:school-roster"),
        form_data([member("王小红", DAUGHTER_ID, "", category=PersonCategory.STUDENT)]),
    )

    daughter = Person.objects.get(id_number=DAUGHTER_ID)
    assert response.status_code == 302
    assert (daughter.school_id, daughter.household_id, daughter.phone) == (
        world.agencies["school_a"].pk, application.household_id, "13903571002",
    )  # fmt: skip


def test_given_a_household_member_registered_through_a_school_then_the_village_sees_the_school_and_no_links(
    clerk, world: World
):
    application = register_family(world)
    school = world.agencies["school_a"]
    Person.objects.filter(id_number=DAUGHTER_ID).update(school=school, region_code="141002000000")
    daughter = Person.objects.get(id_number=DAUGHTER_ID)

    page = clerk.get(reverse("enrollment:household-detail", kwargs={"pk": application.household_id}))

    html = page.content.decode()
    row = html[html.index(f'data-person="{daughter.pk}"') :].split("</tr>")[0]
    assert f"经{school.name}登记参保" in row
    assert "/enrollment/persons/" not in row
    assert f'href="/enrollment/persons/{Person.objects.get(id_number=SON_ID).pk}/"' in html


def test_given_a_returned_roster_when_the_school_clerk_resubmits_it_corrected_then_it_waits_again(
    client, world: World
):
    client.force_login(world.users["school_a"])
    student_id = resident_id("141002", dt.date(2010, 5, 1), 51)
    roster = services.school_roster_register(
        scope=scope_of(world, "school_a"),
        students=[
            services.MemberInput(
                id_kind="resident_id",
                id_number=student_id,
                name="刘阳",
                sex="male",
                birth_date=dt.date(2010, 5, 1),
                relation="",
                category="student",
            )
        ],
    )
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=roster.pk, reason="姓名应为刘洋"
    )
    initial = (
        client.get(reverse("enrollment:school-roster"), {"application": roster.pk}).context["formset"].initial
    )
    rows = [{k: ("" if v is None else str(v)) for k, v in row.items()} | {"name": "刘洋"} for row in initial]

    response = client.post(
        reverse("enrollment:school-roster"),
        form_data(rows) | {"application": str(roster.pk), "members-INITIAL_FORMS": "1"},
    )

    roster.refresh_from_db()
    assert response.status_code == 302
    assert roster.status == ApplicationStatus.SUBMITTED
    assert list(roster.persons.values_list("name", flat=True)) == ["刘洋"]


def test_given_a_village_clerk_when_posting_a_roster_then_it_is_refused(clerk, world: World):
    response = clerk.post(reverse("enrollment:school-roster"), form_data([member("刘洋", HEAD_ID, "")]))

    assert response.status_code == 400
    assert RegistrationApplication.objects.count() == 0


# --- the menu and the print link ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "shown"), [(Role.VILLAGE_CLERK, True), (Role.TAX_STAFF, False)])
def test_given_a_role_when_home_opens_then_the_registration_entry_is_shown_only_to_registering_roles(
    client, world: World, role: str, shown: bool
):
    client.force_login(world.user_for(role))

    page = client.get(reverse("home")).content.decode()

    assert (f'href="{reverse("enrollment:workspace")}"' in page) is shown
