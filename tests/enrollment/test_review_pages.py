"""Insurance staff's pages through the test client: queue, decision, person record and timeline,
status changes with evidence, evidence download, transfer in. Pages are asked for in English."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from enrollment.models import ApplicationStatus, ChangeReason, Enrollment, EnrollmentChange, EnrollmentStatus
from tests.addresses import ID_NUMBER, KeptResponses, searched, urls_of, with_id_numbers
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import (
    PDF_BYTES,
    PNG_BYTES,
    QINBI,
    TUNLI,
    make_application,
    make_change_with_evidence,
    make_enrollment,
    make_person,
)

D = dt.date


def signed_in(world: World, key: str) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(world.users[key])
    return client


# --- the queue -------------------------------------------------------------------------------------


def test_given_submitted_applications_when_insurance_opens_the_queue_then_they_are_listed_oldest_first(world):
    newer = make_application(world, members=3)
    older = make_application(world, members=1)
    older.submitted_at = timezone.now() - dt.timedelta(days=6)
    older.save()
    make_application(world, QINBI)  # another county's

    response = signed_in(world, "insurance_a").get(reverse("enrollment:application-queue"))

    rows = [
        (
            r["application"].pk,
            r["village"],
            r["application"].member_count,
            r["application"].submitted_by.username,
            r["waiting_days"],
        )
        for r in response.context["rows"]
    ]
    assert rows == [(older.pk, "屯里村", 1, "clerk_a", 6), (newer.pk, "屯里村", 3, "clerk_a", 2)]


def test_given_applications_in_every_state_when_the_queue_opens_then_each_tab_shows_its_count(world):
    for status, n in (
        (ApplicationStatus.SUBMITTED, 2),
        (ApplicationStatus.RETURNED, 1),
        (ApplicationStatus.REJECTED, 1),
    ):
        for _ in range(n):
            application = make_application(world)
            application.status = status
            application.decision_note = "" if status == ApplicationStatus.SUBMITTED else "原因"
            application.save()

    response = signed_in(world, "insurance_a").get(reverse("enrollment:application-queue"))

    assert [(t["value"], t["count"]) for t in response.context["tabs"]] == [
        ("submitted", 2),
        ("returned", 1),
        ("approved", 0),
        ("rejected", 1),
    ]


def test_given_a_village_clerk_when_opening_the_queue_then_it_is_forbidden(world):
    assert signed_in(world, "clerk_a").get(reverse("enrollment:application-queue")).status_code == 403


# --- deciding -----------------------------------------------------------------------------------------


def test_given_the_decision_page_then_members_show_full_identifiers_for_insurance_staff(world):
    application = make_application(world, members=2)

    response = signed_in(world, "insurance_a").get(
        reverse("enrollment:application-detail", args=[application.pk])
    )

    members = {p.name: p.id_number for p in application.persons.all()}
    assert [(row.person.name, row.id_number, row.phone) for row in response.context["rows"]] == [
        ("王大山", members["王大山"], "13912345678"),
        ("李秀英", members["李秀英"], "13912345678"),
    ]


def test_given_an_approval_with_a_date_when_posted_then_members_are_enrolled_from_it_and_the_queue_follows(
    world,
):
    application = make_application(world, members=2)

    response = signed_in(world, "insurance_a").post(
        reverse("enrollment:application-detail", args=[application.pk]),
        {"decision": "approve", "enrollment_date": "2026-02-01"},
    )

    assert (response.status_code, response["Location"]) == (302, reverse("enrollment:application-queue"))
    assert sorted(Enrollment.objects.values_list("person__name", "status", "enrolled_on")) == [
        ("李秀英", "normal", D(2026, 2, 1)),
        ("王大山", "normal", D(2026, 2, 1)),
    ]


def test_given_a_rejection_without_a_reason_when_posted_then_it_is_refused_and_nothing_changes(world):
    application = make_application(world)

    response = signed_in(world, "insurance_a").post(
        reverse("enrollment:application-detail", args=[application.pk]), {"decision": "reject", "reason": ""}
    )

    application.refresh_from_db()
    assert (response.status_code, application.status) == (400, "submitted")
    assert response.context["reason_form"].errors == {"reason": ["This field is required."]}


def test_given_a_rejection_with_a_reason_then_the_clerk_sees_the_reason_on_the_persons_page(world):
    application = make_application(world, members=1)
    signed_in(world, "insurance_a").post(
        reverse("enrollment:application-detail", args=[application.pk]),
        {"decision": "reject", "reason": "户口簿与身份证姓名不一致"},
    )
    person = application.persons.get()

    response = signed_in(world, "clerk_a").get(reverse("enrollment:person-detail", args=[person.pk]))

    assert [(a.status, a.decision_note) for a in response.context["applications"]] == [
        ("rejected", "户口簿与身份证姓名不一致")
    ]
    assert "户口簿与身份证姓名不一致" in response.content.decode()


def test_given_an_application_decided_meanwhile_when_a_second_reviewer_posts_then_the_page_says_so_with_409(
    world,
):
    application = make_application(world)
    signed_in(world, "insurance_a").post(
        reverse("enrollment:application-detail", args=[application.pk]),
        {"decision": "return", "reason": "缺少电话"},
    )

    response = signed_in(world, "insurance_a").post(
        reverse("enrollment:application-detail", args=[application.pk]),
        {"decision": "approve", "enrollment_date": "2026-02-01"},
    )

    assert response.status_code == 409
    assert (
        response.context["error"]
        == "This application is already Returned for correction; it cannot be decided again."
    )


def test_given_a_household_with_earlier_applications_then_the_decision_page_lists_them_with_their_reasons(
    world,
):
    application = make_application(world)
    application.status, application.decision_note = ApplicationStatus.REJECTED, "材料不全"
    application.save()
    current = make_application(world)
    current.household = application.household
    current.save()

    response = signed_in(world, "insurance_a").get(
        reverse("enrollment:application-detail", args=[current.pk])
    )

    assert [(a.status, a.decision_note) for a in response.context["earlier"]] == [("rejected", "材料不全")]


def test_given_a_member_enrolled_in_another_county_then_the_decision_page_says_where_and_links_the_transfer(
    world,
):
    application = make_application(world, members=1)
    person = application.persons.get()
    Enrollment.objects.create(
        person=person,
        county_code="141024",
        region_code=QINBI,
        status=EnrollmentStatus.NORMAL,
        enrolled_on=D(2025, 1, 1),
        status_reason=ChangeReason.NEW_REGISTRATION,
        status_changed_on=D(2025, 1, 1),
    )

    response = signed_in(world, "insurance_a").get(
        reverse("enrollment:application-detail", args=[application.pk])
    )

    row = response.context["rows"][0]
    assert row.enrolled_elsewhere == "Already enrolled in 临汾市洪洞县 (outside your area) since 2025-01-01."
    assert row.transfer is True
    html = response.content.decode()
    assert (
        '<form method="post" action="/enrollment/transfers/new/" class="inline-form small" data-testid="transfer-link">'
        in html
    )
    assert f'<input type="hidden" name="person" value="{person.pk}">' in html
    assert with_id_numbers([response]) == []


def test_given_insurance_staff_who_submitted_the_application_then_the_page_disables_their_decision(world):
    application = make_application(world, submitted_by="insurance_a")

    response = signed_in(world, "insurance_a").get(
        reverse("enrollment:application-detail", args=[application.pk])
    )

    assert response.context["own_submission"] is True
    assert 'data-testid="own-submission"' in response.content.decode()


# --- the person's record ---------------------------------------------------------------------------------


def test_given_a_person_with_changes_then_the_page_shows_the_timeline_with_reason_date_who_and_evidence(
    world,
):
    change = make_change_with_evidence()
    change.created_by = world.users["insurance_a"]
    change.note = "劳动合同"
    change.save()

    response = signed_in(world, "insurance_a").get(
        reverse("enrollment:person-detail", args=[change.enrollment.person_id])
    )

    assert [
        (i["change"].kind, i["change"].reason, i["change"].effective_on, i["by"], i["evidence_url"])
        for i in response.context["timeline"]
    ] == [
        ("registered", "new_registration", D(2024, 1, 1), "", ""),
        (
            "suspended",
            "employment",
            D(2024, 1, 1),
            "医保a",
            reverse("enrollment:change-evidence", args=[change.pk]),
        ),
    ]


def test_given_insurance_staff_when_opening_a_person_then_the_full_view_is_logged(world, caplog):
    person = make_person()

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        signed_in(world, "insurance_a").get(reverse("enrollment:person-detail", args=[person.pk]))

    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.audit"]
    assert [{k: v for k, v in entry.items() if k != "at"} for entry in logged] == [
        {
            "event": "person.full_view",
            "user_id": world.users["insurance_a"].pk,
            "username": "insurance_a",
            "record_id": person.pk,
            "person_id": person.pk,
            "ip": "127.0.0.1",
            "path": reverse("enrollment:person-detail", args=[person.pk]),
        }
    ]


def test_given_an_administrator_when_opening_a_person_then_identifier_and_phone_are_masked_and_nothing_is_logged(
    world, caplog
):
    person = make_person(id_number="141002198001010011")

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        response = signed_in(world, "admin").get(reverse("enrollment:person-detail", args=[person.pk]))

    assert (response.context["id_number"], response.context["phone"]) == ("141002********0011", "139****5678")
    assert [r for r in caplog.records if r.name == "portal.audit"] == []


def test_given_a_normal_enrollment_then_insurance_staff_get_suspend_and_terminate_buttons_and_clerks_none(
    world,
):
    person = make_person()
    make_enrollment(person)
    url = reverse("enrollment:person-detail", args=[person.pk])

    staff = signed_in(world, "insurance_a").get(url).context["enrollments"][0]["kinds"]
    clerk = signed_in(world, "clerk_a").get(url).context["enrollments"][0]["kinds"]

    assert ([k["kind"] for k in staff], clerk) == (["suspend", "terminate"], [])


# --- status changes with evidence ---------------------------------------------------------------------------


def change_url(enrollment: Enrollment) -> str:
    return reverse("enrollment:enrollment-change", args=[enrollment.pk])


def test_given_a_suspension_with_png_evidence_when_posted_then_it_is_recorded_and_the_person_page_follows(
    world,
):
    enrollment = make_enrollment(make_person())

    response = signed_in(world, "insurance_a").post(
        change_url(enrollment),
        {
            "kind": "suspend",
            "reason": "employment",
            "effective_on": "2026-03-01",
            "note": "入职某公司",
            "evidence": SimpleUploadedFile("合同.png", PNG_BYTES, content_type="image/png"),
        },
    )

    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:person-detail", args=[enrollment.person_id]),
    )
    change = EnrollmentChange.objects.get(enrollment=enrollment, kind="suspended")
    assert (change.reason, change.effective_on, change.note) == ("employment", D(2026, 3, 1), "入职某公司")
    assert change.evidence.read() == PNG_BYTES


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("合同.png", PDF_BYTES, "The file's content is not a PNG, whatever its name says."),
        ("证明.pdf", b"MZ\x90\x00 an executable", "The file's content is not a PDF, whatever its name says."),
        ("setup.exe", b"MZ\x90\x00", "Evidence must be a PDF, JPEG or PNG file."),
        ("扫描.jpg", b"", "The submitted file is empty."),
    ],
)
def test_given_evidence_that_is_not_what_it_claims_when_posted_then_it_is_refused_and_nothing_changes(
    world, name, content, message
):
    enrollment = make_enrollment(make_person())

    response = signed_in(world, "insurance_a").post(
        change_url(enrollment),
        {
            "kind": "suspend",
            "reason": "employment",
            "effective_on": "2026-03-01",
            "evidence": SimpleUploadedFile(name, content),
        },
    )

    enrollment.refresh_from_db()
    assert (response.status_code, enrollment.status) == (400, "normal")
    assert response.context["form"].errors == {"evidence": [message]}


def test_given_evidence_over_10_mb_when_posted_then_it_is_refused(world):
    enrollment = make_enrollment(make_person())
    big = SimpleUploadedFile("scan.pdf", PDF_BYTES + b"0" * (10 * 1024 * 1024))

    response = signed_in(world, "insurance_a").post(
        change_url(enrollment),
        {"kind": "terminate", "reason": "death", "effective_on": "2026-03-01", "evidence": big},
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"evidence": ["Evidence may be at most 10 MB."]}


def test_given_a_normal_enrollment_when_resume_is_posted_then_the_page_refuses_with_the_state_machines_message(
    world,
):
    enrollment = make_enrollment(make_person())

    response = signed_in(world, "insurance_a").post(
        change_url(enrollment), {"kind": "resume", "effective_on": "2026-03-01"}
    )

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "Only a suspended enrollment can be resumed; this one is Normal."
    ]


def test_given_a_termination_date_before_the_enrollment_when_posted_then_the_error_stands_next_to_the_date(
    world,
):
    enrollment = make_enrollment(make_person(), enrolled_on=D(2025, 1, 1))

    response = signed_in(world, "insurance_a").post(
        change_url(enrollment), {"kind": "terminate", "reason": "emigration", "effective_on": "2024-12-31"}
    )

    assert response.context["form"].errors == {"effective_on": ["The date lies before the enrollment began."]}


def test_given_the_change_form_then_transfer_out_is_not_offered_as_a_termination_reason(world):
    enrollment = make_enrollment(make_person())

    response = signed_in(world, "insurance_a").get(change_url(enrollment) + "?kind=terminate")

    assert [value for value, _label in response.context["form"].fields["reason"].choices] == [
        "",
        "death",
        "emigration",
        "duplicate_cleanup",
        "employee_insurance",
    ]


# --- evidence download ----------------------------------------------------------------------------------------


def test_given_evidence_when_insurance_staff_download_it_then_it_comes_as_an_attachment_typed_by_its_content(
    world,
):
    change = make_change_with_evidence()

    response = signed_in(world, "insurance_a").get(reverse("enrollment:change-evidence", args=[change.pk]))

    assert (response.status_code, response["Content-Type"], response["X-Content-Type-Options"]) == (
        200,
        "image/png",
        "nosniff",
    )
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{change.pk}.png"'
    assert b"".join(response.streaming_content) == PNG_BYTES


def test_given_evidence_of_another_county_when_downloaded_then_it_is_not_found(world):
    change = make_change_with_evidence(QINBI)

    assert (
        signed_in(world, "insurance_a")
        .get(reverse("enrollment:change-evidence", args=[change.pk]))
        .status_code
        == 404
    )


def test_given_an_administrator_without_full_view_when_downloading_evidence_then_it_is_forbidden(world):
    change = make_change_with_evidence()

    assert (
        signed_in(world, "admin").get(reverse("enrollment:change-evidence", args=[change.pk])).status_code
        == 403
    )


# --- transfer in --------------------------------------------------------------------------------------------------


def test_given_an_identifier_enrolled_in_another_county_when_looked_up_then_the_page_shows_where_masked(
    world,
):
    person = make_person(QINBI, name="孙小七")
    make_enrollment(person, enrolled_on=D(2024, 1, 1))

    response = searched(
        signed_in(world, "insurance_a"), reverse("enrollment:transfer-in"), "", lookup=person.id_number
    )

    found = response.context["found"]
    assert (found["name"], found["where"], found["since"], found["inside"]) == (
        "孙**",
        "临汾市洪洞县 (outside your area)",
        D(2024, 1, 1),
        False,
    )


def test_given_the_transfer_flow_then_no_id_number_appears_in_any_address_the_pages_give(world):
    """The lookup typed (full identifier, a prefix), from the person page and from an application
    (POSTed by the person's key), the transfer refused and done, the person's page after: every
    Location, href and action is free of ID numbers, and the lookup still finds the enrollment
    outside the caller's area."""
    moving = make_person(QINBI, name="孙小七", id_number=resident_id("141024", "19800101", "071"))
    make_enrollment(moving, enrolled_on=D(2024, 1, 1))
    application = make_application(world, members=1)
    applicant = application.persons.get()
    applicant.id_number = resident_id("141002", "19850505", "072")
    applicant.save()
    make_enrollment(make_person(TUNLI, name="周八"))  # someone else, enrolled here
    make_enrollment(applicant, region_code=QINBI, enrolled_on=D(2025, 1, 1))
    left = make_person(TUNLI, name="郑九", id_number=resident_id("141002", "19900909", "073"))
    # (郑九 has no current enrollment: their page offers the transfer)
    client = signed_in(world, "insurance_a")
    url = reverse("enrollment:transfer-in")
    responses = KeptResponses()
    keep = responses.keep

    def look_up(**fields: str):  # type: ignore[no-untyped-def]
        posted = keep(client.post(url, fields))
        return keep(client.get(posted["Location"]))

    keep(client.get(url))
    by_id = look_up(lookup=moving.id_number.lower())
    by_prefix = look_up(lookup=moving.id_number[:10])
    person_page = keep(client.get(reverse("enrollment:person-detail", args=[left.pk])))
    from_person = look_up(person=str(left.pk))
    application_page = keep(client.get(reverse("enrollment:application-detail", args=[application.pk])))
    from_application = look_up(person=str(applicant.pk))
    form = {"id_number": moving.id_number, "to_region_code": TUNLI, "effective_on": "2026-07-01"}
    refused = keep(client.post(url, {**form, "effective_on": ""}))
    done = keep(client.post(url, form))
    keep(client.get(done["Location"]))

    assert (by_id.context["lookup"], by_id.context["found"]["where"], by_id.context["found"]["name"]) == (
        moving.id_number,
        "临汾市洪洞县 (outside your area)",
        "孙**",
    )
    assert by_id.context["form"]["id_number"].value() == moving.id_number
    assert (by_prefix.context["looked_up"], by_prefix.context["found"]) == (
        True,
        None,
    )  # whole identifiers only
    assert 'data-testid="transfer-link"' in person_page.content.decode()
    assert (from_person.context["lookup"], from_person.context["found"]) == (left.id_number, None)
    assert 'data-testid="transfer-link"' in application_page.content.decode()
    assert (from_application.context["lookup"], from_application.context["found"]["where"]) == (
        applicant.id_number,
        "临汾市洪洞县 (outside your area)",
    )
    assert (refused.status_code, done.status_code) == (400, 302)
    assert Enrollment.objects.get(person=moving, status="normal").enrolled_on == D(2026, 7, 1)
    assert all(ID_NUMBER.fullmatch(p.id_number) for p in (moving, applicant, left))  # the scan can see them
    assert left.id_number in from_person.content.decode()  # prefilled in the page, not in an address
    assert len(responses) == 14
    assert sum(len(urls_of(response)) for response in responses) > 100
    assert with_id_numbers(responses) == []


def test_given_a_person_of_another_area_when_posted_to_the_lookup_then_404_and_nothing_of_them(world):
    outsider = make_person(QINBI, name="孙小七")
    make_enrollment(outsider)
    client = signed_in(world, "insurance_a")

    responses = [
        client.post(reverse("enrollment:transfer-in"), {"person": str(outsider.pk)}),
        client.post(reverse("enrollment:transfer-in"), {"person": "9" * 30}),
        client.post(reverse("enrollment:transfer-in"), {"person": "abc"}),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert ["孙小七" in response.content.decode() for response in responses] == [False] * 3


def test_given_a_lookup_key_this_session_does_not_keep_then_the_page_asks_to_look_up_again(world):
    person = make_person(QINBI, name="孙小七")
    make_enrollment(person)
    kept = signed_in(world, "insurance_a").post(
        reverse("enrollment:transfer-in"), {"lookup": person.id_number}
    )
    another_user = signed_in(world, "insurance_b")
    empty = signed_in(world, "insurance_a").post(reverse("enrollment:transfer-in"), {"lookup": "  "})

    page = another_user.get(kept["Location"])

    assert (page.status_code, page.context["lookup"], page.context["found"]) == (200, "", None)
    assert page.context["notice"] == "That search is no longer kept. Search again."
    assert person.id_number not in page.content.decode()
    assert (empty.status_code, empty.context["notice"]) == (400, "Type the identifier to look up.")


def test_given_a_transfer_when_posted_then_the_person_is_enrolled_here_from_the_date_and_the_page_follows(
    world,
):
    person = make_person(QINBI, name="孙小七")
    old = make_enrollment(person, enrolled_on=D(2024, 1, 1))

    response = signed_in(world, "insurance_a").post(
        reverse("enrollment:transfer-in"),
        {
            "id_number": person.id_number,
            "to_region_code": TUNLI,
            "effective_on": "2026-07-01",
            "note": "随子女迁入",
        },
    )

    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:person-detail", args=[person.pk]),
    )
    old.refresh_from_db()
    assert (old.status, old.ended_on) == ("terminated", D(2026, 6, 30))
    assert Enrollment.objects.get(person=person, status="normal").enrolled_on == D(2026, 7, 1)


def test_given_a_transfer_within_the_county_when_posted_then_the_page_shows_the_services_reason(world):
    person = make_person(TUNLI)
    make_enrollment(person)

    response = signed_in(world, "insurance_a").post(
        reverse("enrollment:transfer-in"),
        {"id_number": person.id_number, "to_region_code": TUNLI, "effective_on": "2026-07-01"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "to_region_code": ["A transfer goes to another county; within a county, move the household."]
    }


# --- the admin: read-only, masked --------------------------------------------------------------------------------


def test_given_an_administrator_when_opening_a_person_in_the_admin_then_it_is_read_only_and_masked(world):
    person = make_person(id_number="141002198001010011", phone="13912345678")

    response = signed_in(world, "admin").get(reverse("admin:enrollment_person_change", args=[person.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert ("141002********0011" in page, "141002198001010011" in page, "139****5678" in page) == (
        True,
        False,
        True,
    )
    assert 'name="_save"' not in page


def test_given_a_member_of_a_hukou_household_without_codes_of_their_own_when_their_page_is_opened_then_the_hukou_is_the_households_village(
    world, client
):
    # Given a member of a hukou household of 屯里村 registered without hukou or residence codes of their own
    from tests.matrix.enrollment_registration import make_household

    person = make_household("141002100201", members=1).members.get()
    client.force_login(world.users["insurance_a"])

    # When insurance opens the person's page
    page = client.get(reverse("enrollment:person-detail", args=[person.pk])).content.decode()

    # Then the hukou region is the household's village, by name, and the residence is not known
    assert '<td data-testid="hukou-region">临汾市尧都区屯里镇屯里村</td>' in page
    assert '<td data-testid="residence-region">—</td>' in page


def test_given_a_hukou_in_another_province_when_the_page_is_opened_then_its_code_is_shown_as_given(
    world, client
):
    # Given a person whose hukou code is of a region this installation does not hold
    from tests.matrix.enrollment_registration import make_household

    person = make_household("141002100201", members=1).members.get()
    person.hukou_region_code = "110101"
    person.save(update_fields=["hukou_region_code"])
    client.force_login(world.users["insurance_a"])

    # When insurance opens the person's page
    page = client.get(reverse("enrollment:person-detail", args=[person.pk])).content.decode()

    # Then the code is shown as given
    assert '<td data-testid="hukou-region">110101</td>' in page
