"""The enrollment API: searches, masking, decisions, status changes, transfers, errors, schema.

Clients ask for English (Accept-Language) so that messages hold before and after the Chinese
catalogue gains these msgids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from accounts import services as account_services
from accounts.scope import Scope
from enrollment import services
from enrollment.models import Enrollment, EnrollmentChange, Household, Person, RegistrationApplication
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import (
    PDF_BYTES,
    QINBI,
    TUNLI,
    make_application,
    make_enrollment,
    make_household,
    make_person,
)

D = dt.date


def api(world: World, key: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world.users[key])
    return client


def post(client: Client, url: str, body: dict) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def member(sequence: int, name: str, relation: str = "head", address: str = "141002") -> dict:
    return {
        "id_kind": "resident_id",
        "id_number": resident_id(address=address, birth="19800101", sequence=f"{sequence:03d}"),
        "name": name,
        "sex": "male" if sequence % 2 else "female",
        "birth_date": "1980-01-01",
        "relation": relation,
        "category": "rural",
        "phone": "13912345678",
    }


# --- reads -------------------------------------------------------------------------------------------


def test_given_a_member_id_prefix_when_households_are_searched_then_the_household_is_found_with_its_members(
    world,
):
    household = make_household()
    make_person(household=household, name="王大山", id_number="141002198001010011")
    make_person(household=household, name="王小宝", id_number="141002201501010023", relation="child")
    make_person(household=make_household(QINBI), name="王大山", id_number="141024198001010011")

    body = api(world, "insurance_a").get(reverse("household-list"), {"q": "14100219800101"}).json()

    assert (body["next"], [h["number"] for h in body["results"]]) == (None, [household.number])
    assert sorted(m["name"] for m in body["results"][0]["members"]) == ["王大山", "王小宝"]


def test_given_a_name_prefix_when_persons_are_searched_then_only_matches_in_the_area_come_back(world):
    make_person(name="王大山", id_number="141002198001010011")
    make_person(name="王小宝", id_number="141002201501010023")
    make_person(name="李秀英", id_number="141002198001010027")
    make_person(QINBI, name="王五", id_number="141024198001010011")

    body = api(world, "insurance_a").get(reverse("person-list"), {"q": "王"}).json()

    assert [p["name"] for p in body["results"]] == ["王大山", "王小宝"]


def test_given_an_administrator_when_listing_persons_then_identifiers_and_phones_are_masked(world):
    make_person(name="王大山", id_number="141002198001010011", phone="13912345678")

    body = api(world, "admin").get(reverse("person-list")).json()

    assert [(p["id_number"], p["phone"]) for p in body["results"]] == [("141002********0011", "139****5678")]


def test_given_insurance_staff_when_listing_persons_of_their_county_then_identifiers_are_in_full(world):
    make_person(name="王大山", id_number="141002198001010011", phone="13912345678")

    body = api(world, "insurance_a").get(reverse("person-list")).json()

    assert [(p["id_number"], p["phone"]) for p in body["results"]] == [("141002198001010011", "13912345678")]


def test_given_a_person_when_retrieved_then_enrollments_and_timeline_come_with_it_and_the_full_view_is_logged(
    world, caplog
):
    person = make_person(name="王大山")
    enrollment = make_enrollment(person, enrolled_on=D(2025, 1, 1))

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        body = api(world, "insurance_a").get(reverse("person-detail", args=[person.pk])).json()

    assert [(e["id"], e["status"], e["enrolled_on"]) for e in body["enrollments"]] == [
        (enrollment.pk, "normal", "2025-01-01")
    ]
    assert [(c["kind"], c["reason"], c["effective_on"], c["evidence_url"]) for c in body["timeline"]] == [
        ("registered", "new_registration", "2025-01-01", None)
    ]
    assert [json.loads(r.getMessage())["person_id"] for r in caplog.records if r.name == "portal.audit"] == [
        person.pk
    ]


def test_given_many_enrollments_when_listed_by_status_then_pages_follow_by_cursor(world):
    for n in range(3):
        make_enrollment(make_person(name=f"甲{n}"))
    make_enrollment(make_person(name="乙"), status="suspended")
    client = api(world, "insurance_a")

    first = client.get(reverse("enrollment-list"), {"status": "normal", "page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert [e["person_name"] for e in first["results"] + second["results"]] == ["甲0", "甲1", "甲2"]
    assert second["next"] is None


# --- applications ----------------------------------------------------------------------------------------


def test_given_a_clerk_when_registering_a_household_by_api_then_an_application_waits_for_review(world):
    response = post(
        api(world, "clerk_a"),
        reverse("application-list"),
        {
            "region_code": TUNLI,
            "address": "屯里村3组",
            "members": [member(11, "王大山"), member(22, "李秀英", "spouse")],
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["region_code"], sorted(p["name"] for p in body["persons"])) == (
        "submitted",
        TUNLI,
        ["李秀英", "王大山"],
    )


def test_given_someone_enrolled_in_another_county_when_registering_them_by_api_then_the_error_names_where_and_how(
    world,
):
    person = make_person(QINBI, name="王大山", id_number=resident_id("141024", "19800101", "011"))
    make_enrollment(person)

    response = post(
        api(world, "clerk_a"),
        reverse("application-list"),
        {"region_code": TUNLI, "members": [member(11, "王大山", address="141024")]},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "members.0.id_number": [
            "The holder of this identifier is already enrolled in 临汾市洪洞县 (outside your area). "
            "Transfer the enrollment (转移接续) there before registering here."
        ]
    }


def test_given_a_submitted_application_when_approved_by_api_then_members_are_enrolled_and_tax_told(world):
    application = make_application(world, members=2)

    response = post(
        api(world, "insurance_a"),
        reverse("application-approve", args=[application.pk]),
        {"enrollment_date": "2026-02-01"},
    )

    assert (response.status_code, response.json()["status"], response.json()["enrollment_date"]) == (
        200,
        "approved",
        "2026-02-01",
    )
    assert OutboxMessage.objects.filter(topic="enrollment.registered").count() == 2


def test_given_an_application_when_returned_by_api_then_the_reason_is_kept_for_the_clerk(world):
    application = make_application(world)

    response = post(
        api(world, "insurance_a"),
        reverse("application-return", args=[application.pk]),
        {"reason": "请补充电话"},
    )

    assert (response.json()["status"], response.json()["decision_note"]) == ("returned", "请补充电话")


def test_given_an_application_already_rejected_when_approved_by_api_then_the_answer_is_409_in_the_common_format(
    world,
):
    application = make_application(world)
    client = api(world, "insurance_a")
    post(client, reverse("application-reject", args=[application.pk]), {"reason": "重复登记"})

    response = post(
        client, reverse("application-approve", args=[application.pk]), {"enrollment_date": "2026-02-01"}
    )

    assert response.json() == {
        "error": {
            "status": 409,
            "code": "conflict",
            "message": "This application is already Rejected; it cannot be decided again.",
            "fields": None,
        }
    }


def test_given_the_submitter_when_approving_by_api_then_four_eyes_refuse_with_400(world):
    application = make_application(world, submitted_by="insurance_a")

    response = post(
        api(world, "insurance_a"),
        reverse("application-approve", args=[application.pk]),
        {"enrollment_date": "2026-02-01"},
    )

    assert (response.status_code, response.json()["error"]["message"]) == (
        400,
        "The request has errors: You submitted this application, so someone else must decide it.",
    )


def test_given_a_rejection_without_reason_by_api_then_the_field_is_required(world):
    application = make_application(world)

    response = post(api(world, "insurance_a"), reverse("application-reject", args=[application.pk]), {})

    assert response.json()["error"]["fields"] == {"reason": ["This field is required."]}
    assert RegistrationApplication.objects.get(pk=application.pk).status == "submitted"


def test_given_an_application_of_another_county_when_approved_by_api_then_it_is_not_found(world):
    application = make_application(world, QINBI)

    response = post(
        api(world, "insurance_a"),
        reverse("application-approve", args=[application.pk]),
        {"enrollment_date": "2026-02-01"},
    )

    assert response.status_code == 404


# --- status changes --------------------------------------------------------------------------------------


def test_given_a_normal_enrollment_when_suspended_by_api_then_it_is_suspended_and_tax_told(world):
    enrollment = make_enrollment(make_person())

    response = post(
        api(world, "insurance_a"),
        reverse("enrollment-suspend", args=[enrollment.pk]),
        {"reason": "employment", "effective_on": "2026-03-01", "note": "入职"},
    )

    assert (response.status_code, response.json()["status"], response.json()["status_reason"]) == (
        200,
        "suspended",
        "employment",
    )
    assert OutboxMessage.objects.filter(topic="enrollment.changed").count() == 1


def test_given_a_suspended_enrollment_when_terminated_by_api_with_pdf_evidence_then_the_evidence_is_kept(
    world,
):
    enrollment = make_enrollment(make_person(), status="suspended")

    response = api(world, "insurance_a").post(
        reverse("enrollment-terminate", args=[enrollment.pk]),
        {
            "reason": "death",
            "effective_on": "2026-03-01",
            "evidence": SimpleUploadedFile("死亡证明.pdf", PDF_BYTES),
        },
    )

    assert (response.status_code, response.json()["ended_on"]) == (200, "2026-03-01")
    change = EnrollmentChange.objects.get(enrollment=enrollment, kind="terminated")
    assert change.evidence.read() == PDF_BYTES


def test_given_evidence_whose_content_is_not_a_pdf_when_posted_by_api_then_it_is_refused(world):
    enrollment = make_enrollment(make_person())

    response = api(world, "insurance_a").post(
        reverse("enrollment-terminate", args=[enrollment.pk]),
        {
            "reason": "death",
            "effective_on": "2026-03-01",
            "evidence": SimpleUploadedFile("死亡证明.pdf", b"<html>"),
        },
    )

    assert response.json()["error"]["fields"] == {
        "evidence": ["The file's content is not a PDF, whatever its name says."]
    }
    assert Enrollment.objects.get(pk=enrollment.pk).status == "normal"


def test_given_a_normal_enrollment_when_resumed_by_api_then_the_state_machine_refuses_it(world):
    enrollment = make_enrollment(make_person())

    response = post(
        api(world, "insurance_a"),
        reverse("enrollment-resume", args=[enrollment.pk]),
        {"effective_on": "2026-03-01"},
    )

    assert (response.status_code, response.json()["error"]["message"]) == (
        400,
        "The request has errors: Only a suspended enrollment can be resumed; this one is Normal.",
    )


@pytest.mark.parametrize("reason", ["transfer_out", "moving"])
def test_given_a_reason_that_is_not_a_termination_by_hand_then_terminate_refuses_it(world, reason):
    enrollment = make_enrollment(make_person())

    response = post(
        api(world, "insurance_a"),
        reverse("enrollment-terminate", args=[enrollment.pk]),
        {"reason": reason, "effective_on": "2026-03-01"},
    )

    assert response.json()["error"]["fields"] == {"reason": [f'"{reason}" is not a valid choice.']}


def test_given_a_village_clerk_when_suspending_by_api_then_it_is_forbidden(world):
    enrollment = make_enrollment(make_person())

    response = post(
        api(world, "clerk_a"),
        reverse("enrollment-suspend", args=[enrollment.pk]),
        {"reason": "employment", "effective_on": "2026-03-01"},
    )

    assert response.status_code == 403


# --- transfers ---------------------------------------------------------------------------------------------


def test_given_a_person_of_another_county_when_transferred_in_by_api_then_the_new_enrollment_starts_on_the_date(
    world,
):
    person = make_person(QINBI, name="孙七")
    make_enrollment(person, enrolled_on=D(2024, 1, 1))
    household = make_household(TUNLI)

    response = post(
        api(world, "insurance_a"),
        reverse("transfer-list"),
        {
            "id_number": person.id_number,
            "to_region_code": TUNLI,
            "household": household.pk,
            "relation": "parent",
            "effective_on": "2026-07-01",
        },
    )

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["enrolled_on"], response.json()["region_code"]) == (
        "normal",
        "2026-07-01",
        TUNLI,
    )
    assert list(
        person.enrollments.order_by("enrolled_on").values_list("status", "enrolled_on", "ended_on")
    ) == [
        ("terminated", D(2024, 1, 1), D(2026, 6, 30)),
        ("normal", D(2026, 7, 1), None),
    ]


def test_given_a_household_without_a_relation_when_transferring_by_api_then_the_relation_is_asked_for(world):
    response = post(
        api(world, "insurance_a"),
        reverse("transfer-list"),
        {
            "id_number": "141024198001010011",
            "to_region_code": TUNLI,
            "household": make_household().pk,
            "effective_on": "2026-07-01",
        },
    )

    assert response.json()["error"]["fields"] == {
        "relation": ["Choose the relation to the head of the household joined."]
    }


# --- a household found again -----------------------------------------------------------------------------------


def _returned_by_api(world: World) -> tuple[Client, dict]:
    """A household registered by API and returned for correction; the household as the clerk reads it."""
    clerk = api(world, "clerk_a")
    registered = post(
        clerk,
        reverse("application-list"),
        {
            "region_code": TUNLI,
            "address": "屯里村3组",
            "members": [member(11, "王大山"), member(22, "李秀英", "spouse")],
        },
    ).json()
    post(
        api(world, "insurance_a"),
        reverse("application-return", args=[registered["id"]]),
        {"reason": "请补充电话"},
    )
    household = RegistrationApplication.objects.get(pk=registered["id"]).household_id
    return clerk, clerk.get(reverse("household-detail", args=[household])).json()


def _again(household: dict, **changes: object) -> dict:
    """The household sent back as read: its revision and each member's, with ``changes``."""
    by_name = {person["name"]: person["revision"] for person in household["members"]}
    return {
        "region_code": TUNLI,
        "address": "屯里村4组",
        "household": household["id"],
        "household_revision": household["revision"],
        "members": [
            {**member(11, "王大山"), "phone": "13800000011", "revision": by_name["王大山"]},
            {**member(22, "李秀英", "spouse"), "revision": by_name["李秀英"]},
        ],
        **changes,
    }


def test_given_a_returned_household_read_by_api_when_sent_back_at_its_revisions_then_it_waits_for_review_again(
    world,
):
    clerk, household = _returned_by_api(world)

    response = post(clerk, reverse("application-list"), _again(household))

    assert (response.status_code, response.json()["status"]) == (201, "submitted")
    assert list(
        Person.objects.filter(household_id=household["id"]).order_by("name").values_list("name", "phone")
    ) == [("李秀英", "13912345678"), ("王大山", "13800000011")]
    assert Household.objects.get(pk=household["id"]).address == "屯里村4组"


def test_given_a_member_corrected_after_the_household_was_read_when_sent_back_by_api_then_409_and_nothing_saved(
    world,
):
    clerk, household = _returned_by_api(world)
    spouse = Person.objects.get(household_id=household["id"], name="李秀英")
    services.person_update(
        scope=scope_of(world, "insurance_a"),
        person_id=spouse.pk,
        member=services.MemberInput(
            **{**member(22, "李秀英", "spouse"), "birth_date": D(1980, 1, 1), "phone": "13700000000"}
        ),
        revision=spouse.revision,
    )

    response = post(clerk, reverse("application-list"), _again(household))

    assert response.status_code == 409
    assert "李秀英" in response.json()["error"]["message"]
    assert Person.objects.get(pk=spouse.pk).phone == "13700000000"
    assert Household.objects.get(pk=household["id"]).address == "屯里村3组"
    assert RegistrationApplication.objects.get(household_id=household["id"]).status == "returned"


def test_given_the_household_changed_after_it_was_read_when_sent_back_by_api_then_409_and_nothing_saved(
    world,
):
    clerk, household = _returned_by_api(world)
    post(clerk, reverse("application-list"), _again(household, address="屯里村5组"))
    post(
        api(world, "insurance_a"),
        reverse("application-return", args=[household_application(household)]),
        {"reason": "再核对"},
    )

    response = post(clerk, reverse("application-list"), _again(household))

    assert response.status_code == 409
    assert response.json()["error"]["message"].startswith("村经办a changed household")
    assert Household.objects.get(pk=household["id"]).address == "屯里村5组"


def test_given_a_household_found_again_without_its_revision_when_sent_by_api_then_the_field_is_asked_for(
    world,
):
    clerk, household = _returned_by_api(world)

    response = post(clerk, reverse("application-list"), _again(household, household_revision=None))

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "household_revision": [
            "Give the household's revision as read, so that no one's later change is undone."
        ]
    }


def test_given_a_household_found_again_when_sent_by_api_for_another_village_then_it_is_refused_with_transfer(
    world,
):
    _clerk, household = _returned_by_api(world)
    account_services.region_create(code="141002100202", name="东关村", parent=world.regions["tunli"])

    response = post(
        api(world, "insurance_a"), reverse("application-list"), _again(household, region_code="141002100202")
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "region_code": [
            f"Household {household['number']} is registered in another village; transfer it rather than registering it here."
        ]
    }
    assert Household.objects.get(pk=household["id"]).address == "屯里村3组"


def scope_of(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def household_application(household: dict) -> int:
    return RegistrationApplication.objects.get(household_id=household["id"]).pk


# --- the schema ------------------------------------------------------------------------------------------------


def test_given_the_schema_then_it_is_valid_and_documents_every_enrollment_endpoint_with_its_bodies(world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)

    paths = schema["paths"]
    assert {
        "/api/households/",
        "/api/persons/{id}/",
        "/api/enrollments/{id}/suspend/",
        "/api/enrollments/{id}/resume/",
        "/api/enrollments/{id}/terminate/",
        "/api/applications/",
        "/api/applications/{id}/approve/",
        "/api/applications/{id}/reject/",
        "/api/applications/{id}/return/",
        "/api/transfers/",
    } <= set(paths)
    approve = paths["/api/applications/{id}/approve/"]["post"]
    assert approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApproveRequest")
    assert set(paths["/api/enrollments/{id}/suspend/"]["post"]["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
    }
