"""Request bodies: a field an endpoint does not take is refused with 400 naming it, never silently
ignored (a misspelt ``paid_at`` would be recorded as now); the fields of an answer may be sent back."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator

from collection.models import Payment
from enrollment.models import Person, RegistrationApplication
from tests.collection.support import AMOUNT, due, open_today, payer
from tests.conftest import World
from tests.enrollment import resident_id

pytestmark = pytest.mark.django_db

PAYMENT_FIELDS = "due_item, amount_fen, channel, paid_by, paid_at"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _signed_in(world: World, key: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world.users[key])
    return client


def _send(client: Client, method: str, url: str, body: dict) -> object:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_given_a_misspelt_paid_at_when_recording_a_payment_then_400_names_it_and_nothing_is_paid(
    world: World,
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "counter_cash", "paid_by": "张三"}

    response = _send(
        _signed_in(world, "tax_a"),
        "post",
        "/api/collection/payments/",
        body | {"paidAt": "2026-11-20T10:00:00"},
    )

    item.refresh_from_db()
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "paidAt": [f"This field is not taken here; the fields are: {PAYMENT_FIELDS}."]
    }
    assert (Payment.objects.count(), item.status) == (0, "due")


def test_given_a_browsable_api_form_with_its_csrf_token_when_recording_a_payment_then_it_is_recorded(
    world: World,
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    form = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "counter_cash", "paid_by": "张三"}

    response = _signed_in(world, "tax_a").post(  # multipart, as the browsable API's form posts it
        "/api/collection/payments/", form | {"csrfmiddlewaretoken": "token-of-the-form"}
    )

    assert response.status_code == 201, response.json()
    assert Payment.objects.get().due_item_id == item.pk


def test_given_a_member_with_an_unknown_field_when_registering_by_api_then_400_and_no_application(
    world: World,
):
    member = {
        "id_kind": "resident_id", "id_number": resident_id(address="141002", birth="19800101", sequence="011"),
        "name": "王大山", "sex": "male", "birth_date": "1980-01-01", "relation": "head", "category": "rural",
        "mobile": "13912345678",
    }  # fmt: skip

    response = _send(
        _signed_in(world, "clerk_a"),
        "post",
        reverse("application-list"),
        {"region_code": "141002100201", "address": "屯里村3组", "members": [member]},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "members": {
            "0": {
                "mobile": [
                    "This field is not taken here; the fields are: id_kind, id_number, name, sex, birth_date, "
                    "relation, category, ethnicity, phone, nationality, hukou_region_code, residence_region_code, revision."
                ]
            }
        }
    }
    assert RegistrationApplication.objects.count() == 0


def test_given_a_person_as_read_when_sent_back_with_a_change_then_it_is_saved(world: World):
    member = {
        "id_kind": "resident_id", "id_number": resident_id(address="141002", birth="19800101", sequence="011"),
        "name": "王大山", "sex": "male", "birth_date": "1980-01-01", "relation": "head", "category": "rural",
    }  # fmt: skip
    clerk = _signed_in(world, "clerk_a")
    _send(clerk, "post", reverse("application-list"), {"region_code": "141002100201", "members": [member]})
    person = Person.objects.get()
    url = reverse("person-detail", args=[person.pk])
    read = clerk.get(url).json()

    response = _send(clerk, "put", url, read | {"phone": "13700000003"})

    assert response.status_code == 200, response.json()
    assert (response.json()["phone"], Person.objects.get().phone) == ("13700000003", "13700000003")


def test_given_the_schema_then_request_bodies_say_they_take_no_other_field_except_a_record_sent_back():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    assert components["PaymentRequestRequest"]["additionalProperties"] is False
    assert components["HouseholdRegisterRequest"]["additionalProperties"] is False
    assert components["RegisterMemberRequest"]["additionalProperties"] is False
    assert "additionalProperties" not in components["PersonUpdateRequest"]
    assert "description" not in components["PaymentRequestRequest"]


def test_given_a_payment_recorded_by_api_then_its_answer_is_the_payment_serializers_and_a_replay_gives_the_same(
    world: World,
):
    # The create endpoint writes its answer out field by field (collection.api._payment_data);
    # the retrieve endpoint, the key's replay and the schema use PaymentSerializer.
    from collection.api import PaymentSerializer

    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    client = _signed_in(world, "tax_a")
    body = {"due_item": item.pk, "amount_fen": AMOUNT, "channel": "wechat", "paid_by": "张三"}

    created = client.post(
        "/api/collection/payments/",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    replayed = client.post(
        "/api/collection/payments/",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    payment = Payment.objects.get()
    assert (created.status_code, replayed.status_code) == (201, 200)
    assert created.json() == replayed.json() == dict(PaymentSerializer(payment).data)
    assert created.json()["person_id"] == "141002********0011"
    assert created.json()["receipt"] == payment.receipt
