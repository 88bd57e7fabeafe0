"""The API's content negotiation: JSON at once for a client that asks for nothing in particular,
DRF's own choice for everything else (a browser's HTML, ``?format=``)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import World

pytestmark = pytest.mark.django_db


def _signed_in(world: World) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world.users["tax_a"])
    return client


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_given_a_client_asking_for_json_or_anything_then_the_answer_is_json(world: World, accept: str | None):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = _signed_in(world).get("/api/collection/payers/?q=张", **headers)

    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    assert response.accepted_media_type == "application/json"


def test_given_a_browser_asking_for_html_then_the_browsable_api_answers(world: World):
    response = _signed_in(world).get("/api/collection/payers/?q=张", HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert (response.status_code, response["Content-Type"]) == (200, "text/html; charset=utf-8")


def test_given_format_json_in_the_address_of_a_browser_then_the_answer_is_json(world: World):
    response = _signed_in(world).get(
        "/api/collection/payers/?q=张&format=json", HTTP_ACCEPT="text/html,*/*;q=0.8"
    )

    assert (response.status_code, response["Content-Type"]) == (200, "application/json")


def test_given_a_client_asking_only_for_xml_then_406(world: World):
    response = _signed_in(world).get("/api/collection/payers/?q=张", HTTP_ACCEPT="application/xml")

    assert response.status_code == 406
