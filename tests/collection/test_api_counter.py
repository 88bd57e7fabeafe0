"""The usual payment call answered without REST framework's cycle (``collection.api_counter``):
the same answer as REST framework's, and everything unusual left to REST framework."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.http import Http404
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.scope import Scope
from collection import api as collection_api
from collection.api import PaymentRequestSerializer
from collection.api_counter import payment_fields
from collection.models import Payment
from collection.services import DueItemRead, payment_record
from tests.collection.support import AMOUNT, QINBI, due, open_today, payer
from tests.conftest import World

pytestmark = pytest.mark.django_db

URL = "/api/collection/payments/"


@pytest.fixture
def answered_by() -> list[str]:
    """Which way each call was answered: ``counter`` (without REST framework's cycle) or ``drf``."""
    ways: list[str] = []
    counter = collection_api.payment_answer

    def spy(request: Any, **kwargs: Any) -> Any:
        answer = counter(request, **kwargs)
        ways.append("drf" if answer is None else "counter")
        return answer

    collection_api.payment_answer = spy
    yield ways
    collection_api.payment_answer = counter


def _token_client(world: World, key: str = "tax_a") -> Client:
    token = Token.objects.create(user=world.users[key]).key
    return Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT_LANGUAGE="en")


def _post(client: Client, body: Any, *, key: str | None = None, **extra: Any) -> Any:
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        URL, payload, content_type=extra.pop("content_type", "application/json"), **headers, **extra
    )


def _body(item_id: int, **changes: Any) -> dict[str, Any]:
    return {"due_item": item_id, "amount_fen": AMOUNT, "channel": "wechat", "paid_by": "张三"} | changes


def _without_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection_api, "payment_answer", lambda request, **kwargs: None)


def _headers(response: Any) -> list[tuple[str, str]]:
    """The answer's headers REST framework writes, in the order it writes them."""
    return [(name, value) for name, value in response.items() if name in ("Content-Type", "Allow", "Vary")]


def _stripped(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between two payments of two payers."""
    return {
        name: value
        for name, value in answer.items()
        if name not in ("id", "due_item", "person_id", "receipt", "paid_at", "recorded_at")
    }


def test_given_the_usual_call_then_it_is_answered_without_rest_framework_and_as_rest_framework_answers(
    world: World, answered_by: list[str], monkeypatch: pytest.MonkeyPatch
):
    payer("张三", "141002198001010011")
    payer("李四", "141002198001010022")
    first = due("141002198001010011", schedule=open_today())
    second = due("141002198001010022", schedule=open_today())
    client = _token_client(world)

    fast = _post(client, _body(first.pk), key="k-1")
    _without_the_counter(monkeypatch)
    reference = _post(client, _body(second.pk), key="k-2")

    assert answered_by == ["counter"]
    assert (fast.status_code, reference.status_code) == (201, 201)
    assert (
        _headers(fast)
        == _headers(reference)
        == [
            ("Content-Type", "application/json"),
            ("Vary", "Accept, Accept-Language, Cookie"),
            ("Allow", "POST, OPTIONS"),
        ]
    )
    assert _stripped(fast.json()) == _stripped(reference.json())
    assert fast.json()["receipt"][-6:] == "000001" and reference.json()["receipt"][-6:] == "000002"
    assert fast.json()["person_id"] == "141002********0011"


def test_given_the_usual_call_then_its_answer_is_the_payment_serializers_byte_for_byte(
    world: World, answered_by: list[str]
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())

    response = _post(_token_client(world), _body(item.pk), key="k-1")

    payment = Payment.objects.get()
    reference = json.dumps(
        dict(collection_api.PaymentSerializer(payment).data), ensure_ascii=False, separators=(",", ":")
    )
    assert answered_by == ["counter"]
    assert response.content.decode() == reference


def test_given_the_usual_call_sent_again_with_its_key_then_200_with_the_same_payment(
    world: World, answered_by: list[str]
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    client = _token_client(world)

    created = _post(client, _body(item.pk), key="k-1")
    replayed = _post(client, _body(item.pk), key="k-1")

    assert answered_by == ["counter", "counter"]
    assert (created.status_code, replayed.status_code) == (201, 200)
    assert created.json() == replayed.json()
    assert Payment.objects.count() == 1


def test_given_the_usual_call_then_the_history_names_the_clerk_and_the_call(
    world: World, answered_by: list[str]
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())

    _post(_token_client(world), _body(item.pk), key="k-1")

    event = Payment.pgh_event_model.objects.select_related("pgh_context").get()
    metadata = event.pgh_context.metadata
    assert answered_by == ["counter"]
    assert (metadata["user"], metadata["url"], metadata["method"], metadata["role"]) == (
        world.users["tax_a"].pk,
        URL,
        "POST",
        world.users["tax_a"].role,
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"amount_fen": AMOUNT - 1}, 400),  # the service's refusal: less than due
        ({"due_item": 10**9}, 404),  # no such item
        ({"due_item": 2**63}, 404),  # beyond the database's numbers
        ({"channel": "village_collection"}, 400),  # a batch's channel: the serializer's refusal
        ({"paid_at": "2020-11-20T10:00:00+08:00"}, 400),  # another field: the serializer reads it
        ({"paid_by": "  "}, 400),
        ({"payer": "x"}, 400),  # a field the endpoint does not take
    ],
)
def test_given_a_refused_call_then_rest_framework_answers_it_as_without_the_counter(
    world: World, answered_by: list[str], monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], status: int
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    client = _token_client(world)
    body = _body(item.pk) | change

    response = _post(client, body, key="k-1")
    _without_the_counter(monkeypatch)
    reference = _post(client, body, key="k-2")

    assert answered_by == ["drf"]
    assert response.status_code == status
    assert (response.status_code, response.json()) == (reference.status_code, reference.json())
    assert Payment.objects.count() == 0


def test_given_an_item_of_another_county_then_404_from_rest_framework_and_nothing_recorded(
    world: World, answered_by: list[str], monkeypatch: pytest.MonkeyPatch
):
    payer("王五", "141024198001010033", region=QINBI)
    elsewhere = due("141024198001010033", schedule=open_today(), region=QINBI)
    client = _token_client(world)

    response = _post(client, _body(elsewhere.pk), key="k-1")
    _without_the_counter(monkeypatch)
    reference = _post(client, _body(elsewhere.pk), key="k-2")

    assert answered_by == ["drf"]
    assert response.status_code == 404
    assert response.json() == reference.json()
    assert Payment.objects.count() == 0


def test_given_an_item_read_elsewhere_when_the_service_is_given_it_then_it_checks_the_area_itself(
    world: World,
):
    payer("王五", "141024198001010033", region=QINBI)
    elsewhere = due("141024198001010033", schedule=open_today(), region=QINBI)
    read = DueItemRead(
        elsewhere.pk, elsewhere.person_id, elsewhere.insurance_year, elsewhere.region_code,
        elsewhere.amount_fen, elsewhere.schedule, json.dumps(elsewhere.schedule), "due", None,
    )  # fmt: skip

    with pytest.raises(Http404):
        payment_record(
            scope=Scope.for_user(world.users["tax_a"]), due_item_id=elsewhere.pk, amount_fen=AMOUNT,
            channel="wechat", paid_by="王五", read=read,
        )  # fmt: skip

    assert Payment.objects.count() == 0


def test_given_the_item_as_text_then_rest_framework_reads_it_and_records_the_payment(
    world: World, answered_by: list[str]
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())

    response = _post(_token_client(world), _body(str(item.pk)), key="k-1")

    assert (answered_by, response.status_code) == (["drf"], 201)
    assert Payment.objects.get().due_item_id == item.pk


def test_given_a_paid_item_when_paid_again_with_another_key_then_409_from_rest_framework(
    world: World, answered_by: list[str]
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    client = _token_client(world)
    _post(client, _body(item.pk), key="k-1")

    again = _post(client, _body(item.pk), key="k-2")

    assert answered_by == ["counter", "drf"]
    assert again.status_code == 409
    assert again.json()["error"]["message"].startswith("Already paid on ")


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("session", 201),  # a signed-in page's call: the session's, with its CSRF check
        ("bad token", 401),
        ("expired token", 401),
        ("keyword in lower case", 201),  # REST framework's to read
        ("another role", 403),
        ("html", 201),  # the browsable API asked for
        ("format", 201),  # a format asked for in the address
        ("latin-1", 201),  # a body in another character set
    ],
)
def test_given_a_call_not_of_the_usual_kind_then_rest_framework_answers_it(
    world: World, answered_by: list[str], how: str, status: int
):
    payer("张三", "141002198001010011")
    item = due("141002198001010011", schedule=open_today())
    client = _token_client(world, "insurance_a" if how == "another role" else "tax_a")
    extra: dict[str, Any] = {}
    url = URL
    if how == "session":
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(world.users["tax_a"])
    elif how == "bad token":
        client = Client(HTTP_AUTHORIZATION="Token not-a-token", HTTP_ACCEPT_LANGUAGE="en")
    elif how == "expired token":
        Token.objects.filter(user=world.users["tax_a"]).update(
            created=timezone.now() - dt.timedelta(days=400)
        )
    elif how == "keyword in lower case":
        key = Token.objects.get(user=world.users["tax_a"]).key
        client = Client(HTTP_AUTHORIZATION=f"token {key}", HTTP_ACCEPT_LANGUAGE="en")
    elif how == "html":
        extra["HTTP_ACCEPT"] = "text/html"
    elif how == "format":
        url = URL + "?format=json"
    elif how == "latin-1":
        extra["content_type"] = "application/json; charset=latin-1"

    response = client.post(
        url, json.dumps(_body(item.pk)), content_type=extra.pop("content_type", "application/json"), **extra
    )

    assert (answered_by, response.status_code) == (["drf"], status)
    assert Payment.objects.count() == (1 if status == 201 else 0)


# Bodies the counter must leave to the serializer, and bodies it reads itself.
_BODIES = [
    rb'{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": " \u5f20\u4e09 "}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "alipay", "paid_by": "' + b"a" * 60 + b'"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "alipay", "paid_by": "' + b"a" * 61 + b'"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "alipay", "paid_by": " ' + b"a" * 60 + b' "}',
    b'{"due_item": true, "amount_fen": 40000, "channel": "wechat", "paid_by": "x"}',
    b'{"due_item": 7.0, "amount_fen": 40000, "channel": "wechat", "paid_by": "x"}',
    b'{"due_item": 0, "amount_fen": 40000, "channel": "wechat", "paid_by": "x"}',
    b'{"due_item": 7, "amount_fen": -1, "channel": "wechat", "paid_by": "x"}',
    b'{"due_item": 7, "amount_fen": NaN, "channel": "wechat", "paid_by": "x"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "bank_batch", "paid_by": "x"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "WECHAT", "paid_by": "x"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": 5}',
    rb'{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": "\ud800"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": ""}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "wechat"}',
    b'{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": "x", "paid_at": null}',
    b'[{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": "x"}]',
    b'\xef\xbb\xbf{"due_item": 7, "amount_fen": 40000, "channel": "wechat", "paid_by": "x"}',
    b"\xff",
    b"",
]


@pytest.mark.parametrize("body", _BODIES)
def test_given_a_body_that_the_counter_reads_then_the_serializer_reads_it_the_same(body: bytes):
    mine = payment_fields(body)
    if mine is None:
        return  # left to the serializer, whose answer stands
    serializer = PaymentRequestSerializer(data=json.loads(body))

    assert serializer.is_valid(), serializer.errors
    assert dict(serializer.validated_data) == mine


def test_given_the_bodies_then_the_counter_reads_exactly_the_plain_ones():
    read = [payment_fields(body) is not None for body in _BODIES]

    assert read == [True, True, False, True] + [False] * (len(_BODIES) - 4)
