"""The refunds API: create (JSON and multipart with evidence), list with filters, read with the
timeline and the caller's allowed steps, approve / reject / withdraw / pay out, 409 for an illegal
or lost step with the message, 400 for four-eyes, 404 outside the area; all in the OpenAPI schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from refunds.models import RefundApplication, RefundEvidence
from tests.conftest import World
from tests.matrix.enrollment_review import PDF_BYTES, QINBI, TUNLI
from tests.refunds.support import AMOUNT, YEAR, make_refund, paid_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _post(client, url: str, body: dict):  # type: ignore[no-untyped-def]
    return client.post(url, body, content_type="application/json", **EN)


def test_given_a_clerk_when_creating_by_json_then_201_with_the_rules_decision_and_the_timeline(
    world: World, client
):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["clerk_a"])

    response = _post(
        client,
        "/api/refunds/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "paid_twice", "event_on": "2026-10-12"},
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["refundable"], body["amount_fen"], body["rule"]) == (
        "submitted",
        True,
        AMOUNT,
        "refunds.reasons.paid_twice",
    )
    assert body["person_id_number"] == person.id_number  # the clerk's own village: in full
    assert [(e["action"], e["to_state"], e["actor"]) for e in body["timeline"]] == [
        ("apply", "submitted", "clerk_a")
    ]
    assert body["allowed_steps"] == ["withdraw"]


def test_given_a_death_in_linfen_when_created_then_201_already_rejected_with_the_reason(world: World, client):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["insurance_a"])

    body = _post(
        client,
        "/api/refunds/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "death", "event_on": "2026-10-12"},
    ).json()

    assert (body["status"], body["refundable"]) == ("rejected", False)
    assert body["decision_note"] == body["rule_reason"]
    assert body["rule_reason"].startswith(
        "Not refundable: this region does not refund contributions for death"
    )
    assert [e["action"] for e in body["timeline"]] == ["apply", "rule_reject"]


def test_given_multipart_with_evidence_when_created_then_the_file_is_kept(world: World, client):
    person = paid_person(TUNLI, deposits=2)
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/api/refunds/",
        {
            "person": person.pk, "insurance_year": YEAR, "reason": "paid_twice", "event_on": "2026-10-12",
            "evidence": [SimpleUploadedFile("second.pdf", PDF_BYTES, "application/pdf")],
        },
    )  # fmt: skip

    assert response.status_code == 201
    assert RefundEvidence.objects.get().application_id == response.json()["id"]


def test_given_applications_when_listed_then_only_the_area_and_the_filters_apply(world: World, client):
    late = make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))
    make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2099, 1, 5))
    make_refund(QINBI, world.users["clerk_b"])
    client.force_login(world.users["insurance_a"])

    every = client.get("/api/refunds/").json()
    overdue = client.get("/api/refunds/?overdue=1").json()
    approved = client.get("/api/refunds/?status=approved").json()

    assert every["count"] == 2
    assert [row["id"] for row in overdue["results"]] == [late.pk]
    assert approved["count"] == 0


def test_given_insurance_staff_when_approving_and_paying_out_then_200_each_and_the_steps_move(
    world: World, client
):
    application = make_refund(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])

    approved = _post(client, f"/api/refunds/{application.pk}/approve/", {})
    paid = _post(client, f"/api/refunds/{application.pk}/pay-out/", {"bank_reference": "B-9"})

    assert (approved.status_code, approved.json()["status"], approved.json()["allowed_steps"]) == (
        200,
        "approved",
        ["pay_out"],
    )
    assert (paid.status_code, paid.json()["status"], paid.json()["bank_reference"]) == (
        200,
        "paid_out",
        "B-9",
    )
    assert [e["action"] for e in paid.json()["timeline"]] == ["apply", "approve", "pay_out"]


def test_given_a_rejected_application_when_approved_then_409_with_who_decided(world: World, client):
    application = make_refund(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["insurance_a"])
    _post(client, f"/api/refunds/{application.pk}/reject/", {"reason": "收据不清"})

    response = _post(client, f"/api/refunds/{application.pk}/approve/", {})

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (409, "conflict")
    assert error["message"].startswith("This application is already Rejected: 医保a chose “Reject” at ")


def test_given_the_applicant_when_approving_by_api_then_400_four_eyes(world: World, client):
    application = make_refund(TUNLI, world.users["insurance_a"])
    client.force_login(world.users["insurance_a"])

    response = _post(client, f"/api/refunds/{application.pk}/approve/", {})

    assert response.status_code == 400
    assert "four-eyes" in response.json()["error"]["message"]
    assert RefundApplication.objects.get(pk=application.pk).status == "submitted"


def test_given_the_clerk_when_withdrawing_then_200_and_a_second_withdrawal_409(world: World, client):
    application = make_refund(TUNLI, world.users["clerk_a"])
    client.force_login(world.users["clerk_a"])

    first = _post(client, f"/api/refunds/{application.pk}/withdraw/", {"note": "已协商"})
    second = _post(client, f"/api/refunds/{application.pk}/withdraw/", {})

    assert (first.status_code, first.json()["status"]) == (200, "withdrawn")
    assert second.status_code == 409


def test_given_another_countys_application_then_404_for_reading_and_deciding(world: World, client):
    application = make_refund(QINBI, world.users["clerk_b"])
    client.force_login(world.users["insurance_a"])

    assert client.get(f"/api/refunds/{application.pk}/").status_code == 404
    assert _post(client, f"/api/refunds/{application.pk}/approve/", {}).status_code == 404


def test_given_the_schema_then_every_refund_endpoint_is_documented(world: World):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert {
        "/api/refunds/",
        "/api/refunds/{id}/",
        "/api/refunds/{id}/approve/",
        "/api/refunds/{id}/reject/",
        "/api/refunds/{id}/withdraw/",
        "/api/refunds/{id}/pay-out/",
    } <= set(paths)
    assert "409" in paths["/api/refunds/{id}/approve/"]["post"]["responses"]
