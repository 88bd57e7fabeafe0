"""No lost update when a village clerk and an insurance reviewer correct the same household member at
once: every change of a person raises its revision (a database trigger, whatever path wrote it);
a save made on an older revision is refused — on the page (409, the form keeps the entries) and in
the API (409) — naming who changed the person and when, and nothing of it is saved. The same holds
for the forms of many rows that correct persons: a returned household application and a returned
school roster."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from enrollment import services
from enrollment.models import ApplicationStatus, Person, RegistrationApplication, Relation
from tests.conftest import World
from tests.enrollment.test_registration_pages import (
    FAMILY,
    HEAD_ID,
    SPOUSE_ID,
    form_data,
    member,
    register_family,
    scope_of,
)
from tests.live_http import ApiClient, at_once, http_server_fixture  # noqa: F401
from tests.matrix.enrollment_registration import resident_id

HEAD = {"name": "王建国", "sex": "male", "birth_date": "1975-04-12"}


def _api_body(person: Person, revision: int, **changes: str) -> dict[str, object]:
    return {
        "id_kind": "resident_id", "id_number": HEAD_ID, "name": HEAD["name"], "sex": HEAD["sex"],
        "birth_date": HEAD["birth_date"], "relation": Relation.HEAD, "category": person.category,
        "ethnicity": "汉族", "phone": "13800000001", "revision": revision, **changes,
    }  # fmt: skip


def _last_change(person: Person) -> str:
    """When the person's row last changed, as its history recorded it."""
    return timezone.localtime(person.events.order_by("-pgh_id").first().pgh_created_at).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _signed_in(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _edit(client: Client, person: Person, revision: object, **changes: str):  # type: ignore[no-untyped-def]
    row = member(
        HEAD["name"], HEAD_ID, Relation.HEAD, sex=HEAD["sex"], birth_date=HEAD["birth_date"], **changes
    )
    return client.post(
        reverse("enrollment:person-edit", kwargs={"pk": person.pk}),
        {**form_data([row]), "revision": str(revision)},
    )


@pytest.mark.django_db
def test_given_both_opened_the_form_when_the_reviewer_saves_first_then_the_clerks_save_is_refused_naming_them(
    world: World,
):
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)
    clerk, reviewer = _signed_in(world, "clerk_a"), _signed_in(world, "insurance_a")
    opened = clerk.get(reverse("enrollment:person-edit", kwargs={"pk": head.pk})).context["revision"]
    assert (
        reviewer.get(reverse("enrollment:person-edit", kwargs={"pk": head.pk})).context["revision"] == opened
    )

    saved = _edit(reviewer, head, opened, phone="13900000002")
    refused = _edit(clerk, head, opened, phone="13700000003")

    head.refresh_from_db()
    when = _last_change(head)
    assert (saved.status_code, refused.status_code) == (302, 409)
    assert refused.context["errors"] == [
        f"医保a changed 王建国's data at {when}, after you opened them; your changes were not saved. "
        "Open the person again, look at the data as they are now and enter your changes again."
    ]
    assert refused.context["formset"].forms[0]["phone"].value() == "13700000003"  # the entries stay
    assert (head.phone, head.revision, head.updated_by_id) == (
        "13900000002",
        opened + 1,
        world.users["insurance_a"].pk,
    )


@pytest.mark.django_db
def test_given_the_person_changed_by_another_path_then_an_edit_of_the_older_revision_is_refused(world: World):
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)
    opened = head.revision
    Person.objects.filter(pk=head.pk).update(ethnicity="回族")  # a bulk statement: the trigger counts it
    edit = services.MemberInput(
        id_kind="resident_id", id_number=HEAD_ID, name=HEAD["name"], sex=HEAD["sex"],
        birth_date=dt.date(1975, 4, 12), relation=Relation.HEAD, category=head.category, phone="13700000003",
    )  # fmt: skip

    with pytest.raises(services.EditConflictError):
        services.person_update(
            scope=scope_of(world, "clerk_a"), person_id=head.pk, member=edit, revision=opened
        )

    head.refresh_from_db()
    assert (head.revision, head.ethnicity, head.phone) == (opened + 1, "回族", "")


@pytest.mark.django_db
def test_given_a_form_without_its_revision_then_nothing_is_saved_and_the_page_asks_to_reopen(world: World):
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)

    response = _edit(_signed_in(world, "clerk_a"), head, "", phone="13700000003")

    head.refresh_from_db()
    assert response.status_code == 400
    assert response.context["errors"] == ["This form is out of date; open the person again."]
    assert head.phone == ""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_given_a_clerk_and_a_reviewer_saving_the_same_member_at_once_over_http_then_one_wins_and_the_other_is_told(
    http_server, transactional_world
):
    world = transactional_world
    register_family(world, FAMILY[:1])
    head = Person.objects.get(id_number=HEAD_ID)
    clerk = ApiClient(http_server, world.users["clerk_a"])
    reviewer = ApiClient(http_server, world.users["insurance_a"])
    read = clerk.request("GET", f"/api/persons/{head.pk}/").body["revision"]
    url = f"/api/persons/{head.pk}/"

    answers = at_once(
        [
            lambda: clerk.request("PUT", url, _api_body(head, read, phone="13700000003")),
            lambda: reviewer.request("PUT", url, _api_body(head, read, ethnicity="回族")),
        ]
    )

    head = Person.objects.select_related("updated_by").get(pk=head.pk)
    winner = head.updated_by.full_name
    loser = next(answer for answer in answers if answer.status != 200)
    when = _last_change(head)
    assert Counter(answer.status for answer in answers) == {200: 1, 409: 1}
    assert loser.error.startswith(f"{winner} changed 王建国's data at {when}, after you opened them")
    assert head.revision == read + 1
    assert (head.phone, head.ethnicity) == (
        ("13700000003", "汉族") if winner == world.users["clerk_a"].full_name else ("13800000001", "回族")
    )
    again = reviewer.request("PUT", url, _api_body(head, head.revision, ethnicity="回族", phone=head.phone))
    assert (again.status, again.body["revision"], again.body["ethnicity"]) == (200, read + 2, "回族")


# --- forms of many rows: a returned application, a returned school roster ----------------------


def _form_refused(who: str, person: Person) -> str:
    """What a form of many rows says when one of its persons changed after it was opened."""
    return (
        f"{who} changed {person.name}'s data at {_last_change(person)}, after you opened this form; nothing was "
        "saved. Open the form again, look at the data as they are now and enter your changes again."
    )


def _returned_family(world: World) -> tuple[RegistrationApplication, Client, str]:
    """A head and spouse returned for correction; the clerk signed in, and the correction page."""
    application = register_family(world, FAMILY[:2])
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="配偶姓名有误"
    )
    url = reverse("enrollment:household-edit", kwargs={"pk": application.household_id})
    return application, _signed_in(world, "clerk_a"), url


def _rows_as_opened(response, **spouse_changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The form as the page filled it, posted back with changes to the spouse's row."""
    rows = [
        {k: ("" if v is None else str(v)) for k, v in row.items()}
        | (spouse_changes if row["relation"] == Relation.SPOUSE else {})
        for row in response.context["formset"].initial
    ]
    return form_data(rows, revision=str(response.context["form"].initial["revision"])) | {
        "members-INITIAL_FORMS": str(len(rows))
    }


def _spouse_corrected_by_reviewer(world: World, name: str) -> Person:
    spouse = Person.objects.get(id_number=SPOUSE_ID)
    services.person_update(
        scope=scope_of(world, "insurance_a"),
        person_id=spouse.pk,
        member=services.MemberInput(
            id_kind="resident_id", id_number=SPOUSE_ID, name=name, sex=spouse.sex,
            birth_date=spouse.birth_date, relation=Relation.SPOUSE, category=spouse.category,
        ),
        revision=spouse.revision,
    )  # fmt: skip
    spouse.refresh_from_db()
    return spouse


@pytest.mark.django_db
def test_given_a_returned_application_opened_when_a_reviewer_corrects_a_member_then_the_resubmission_is_refused_naming_them(
    world: World,
):
    application, clerk, url = _returned_family(world)
    opened = clerk.get(url)
    spouse = _spouse_corrected_by_reviewer(world, "李秀兰")

    refused = clerk.post(url, _rows_as_opened(opened, name="李秀芳", phone="13700000003"))

    application.refresh_from_db()
    spouse.refresh_from_db()
    assert refused.status_code == 409
    assert refused.context["errors"] == [_form_refused("医保a", spouse)]
    assert refused.context["formset"].forms[1]["name"].value() == "李秀芳"  # the entries stay
    assert (application.status, spouse.name, spouse.phone) == (ApplicationStatus.RETURNED, "李秀兰", "")


@pytest.mark.django_db
def test_given_a_returned_application_reopened_after_the_change_then_the_resubmission_is_saved(world: World):
    application, clerk, url = _returned_family(world)
    clerk.get(url)
    _spouse_corrected_by_reviewer(world, "李秀兰")
    reopened = clerk.get(url)

    saved = clerk.post(url, _rows_as_opened(reopened, phone="13700000003"))

    application.refresh_from_db()
    spouse = Person.objects.get(id_number=SPOUSE_ID)
    assert saved.status_code == 302
    assert (application.status, spouse.name, spouse.phone) == (
        ApplicationStatus.SUBMITTED,
        "李秀兰",
        "13700000003",
    )


@pytest.mark.django_db
def test_given_a_correction_row_without_its_revision_then_nothing_is_saved_and_the_page_asks_to_reopen(
    world: World,
):
    application, clerk, url = _returned_family(world)
    data = _rows_as_opened(clerk.get(url), name="李秀芳") | {"members-1-revision": ""}

    refused = clerk.post(url, data)

    application.refresh_from_db()
    assert refused.status_code == 400
    assert refused.context["errors"] == ["This form is out of date; open it again."]
    assert (application.status, Person.objects.get(id_number=SPOUSE_ID).name) == (
        ApplicationStatus.RETURNED,
        "李秀英",
    )


@pytest.mark.django_db
def test_given_a_returned_school_roster_opened_when_a_reviewer_corrects_the_student_then_the_resubmission_is_refused(
    world: World,
):
    student_id = resident_id("141002", dt.date(2010, 5, 1), 51)
    roster = services.school_roster_register(
        scope=scope_of(world, "school_a"),
        students=[
            services.MemberInput(
                id_kind="resident_id", id_number=student_id, name="刘阳", sex="male",
                birth_date=dt.date(2010, 5, 1), relation="", category="student",
            )
        ],
    )  # fmt: skip
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=roster.pk, reason="姓名应为刘洋"
    )
    school = _signed_in(world, "school_a")
    opened = school.get(reverse("enrollment:school-roster"), {"application": roster.pk})
    student = Person.objects.get(id_number=student_id)
    services.person_update(
        scope=scope_of(world, "insurance_a"),
        person_id=student.pk,
        member=services.MemberInput(
            id_kind="resident_id", id_number=student_id, name="刘洋", sex="male",
            birth_date=dt.date(2010, 5, 1), relation=Relation.OTHER, category="student",
        ),
        revision=student.revision,
    )  # fmt: skip
    rows = [{k: ("" if v is None else str(v)) for k, v in row.items()} | {"phone": "13700000003"}
            for row in opened.context["formset"].initial]  # fmt: skip

    refused = school.post(
        reverse("enrollment:school-roster"),
        form_data(rows) | {"application": str(roster.pk), "members-INITIAL_FORMS": "1"},
    )

    roster.refresh_from_db()
    student.refresh_from_db()
    assert refused.status_code == 409
    assert refused.context["errors"] == [_form_refused("医保a", student)]
    assert (roster.status, student.name, student.phone) == (ApplicationStatus.RETURNED, "刘洋", "")


@pytest.mark.django_db
def test_given_a_returned_application_open_when_another_tab_resubmits_a_new_address_and_it_is_returned_again_then_the_old_form_is_refused(
    world: World,
):
    application, clerk, url = _returned_family(world)
    stale = clerk.get(url)
    fresh = clerk.get(url)
    assert clerk.post(url, _rows_as_opened(fresh) | {"address": "屯里村五组8号"}).status_code == 302
    services.application_return(
        scope=scope_of(world, "insurance_a"), application_id=application.pk, reason="户主电话缺失"
    )

    refused = clerk.post(url, _rows_as_opened(stale) | {"address": "屯里村三组12号"})

    household = application.household
    household.refresh_from_db()
    application.refresh_from_db()
    last_change = timezone.localtime(household.events.order_by("-pgh_id").first().pgh_created_at)
    assert refused.status_code == 409
    assert refused.context["errors"] == [
        f"村经办a changed household {household.number} at {last_change:%Y-%m-%d %H:%M:%S}, after you opened "
        "this form; nothing was saved. Open the form again, look at the data as they are now and enter your "
        "changes again."
    ]
    assert (application.status, household.address) == (ApplicationStatus.RETURNED, "屯里村五组8号")


@pytest.mark.django_db
def test_given_a_household_form_without_its_revision_then_nothing_is_saved_and_the_page_asks_to_reopen(
    world: World,
):
    application, clerk, url = _returned_family(world)

    refused = clerk.post(url, _rows_as_opened(clerk.get(url), name="李秀芳") | {"revision": ""})

    application.refresh_from_db()
    assert refused.status_code == 400
    assert refused.context["errors"] == ["This form is out of date; open it again."]
    assert application.status == ApplicationStatus.RETURNED
