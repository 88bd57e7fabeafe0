"""Correcting the identifier of a person who has been assessed (services.person_identifier_correct):
the checks, insurance's own records that follow, the message to tax, and the whole way through the
sharing platform to tax's ledger and back (a payment taken under the old number a moment before).

Messages are checked in English (``translation.override("en")``)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.scope import Scope
from collection import services as collection_services
from collection.models import DueItem, Payment
from collection.models import IdentifierCorrection as TaxCorrection
from enrollment import services
from enrollment.models import Assessment, DepositRecord, IdentifierCorrection, IdKind, Person
from enrollment.selectors import current_identifiers
from refunds.models import OvercollectionRefund
from sharing.models import OutboxMessage
from sharing.services import delivery_drain
from tests.conftest import World
from tests.enrollment import resident_id, with_wrong_check_digit
from tests.matrix.enrollment_review import QINBI, TUNLI, make_person
from tests.refunds.backpay_support import DUE_ON_TIME, YEAR, due_person

pytestmark = pytest.mark.django_db

# Born 1980-01-01, a man (odd 17th digit): what make_person records.
RIGHT = resident_id(address="141002", birth="19800101", sequence="901")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def scope_of(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def correct(world: World, person: Person, number: str = RIGHT, *, by: str = "insurance_a", **kwargs):  # type: ignore[no-untyped-def]
    arguments = {"id_kind": IdKind.RESIDENT_ID, "reason": "录入时两位数字颠倒", **kwargs}
    return services.person_identifier_correct(
        scope=scope_of(world, by), person_id=person.pk, new_identifier=number, **arguments
    )


def refused(world: World, person: Person, number: str = RIGHT, **kwargs) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as error:
        correct(world, person, number, **kwargs)
    return error.value.message_dict


def test_given_an_assessed_person_when_insurance_corrects_the_identifier_then_the_person_and_its_records_follow_and_tax_is_told_once(
    world: World,
):
    # given: an assessed person with a deposit and an over-collection refund kept by the identifier
    person = make_person(
        TUNLI, name="赵六", id_number=resident_id(address="141002", birth="19800101", sequence="011")
    )
    old = person.id_number
    DepositRecord.objects.create(
        payment_id=7, id_number=old, insurance_year=YEAR, region_code=TUNLI, amount_fen=40000,
        receipt_number="0001-2026-000007", paid_on=dt.date(2026, 10, 1), source_message_id=70,
    )  # fmt: skip
    OvercollectionRefund.objects.create(
        request_id=5, payment_id=7, person_id=old, region_code=TUNLI, insurance_year=YEAR, amount_fen=100,
        reason="多收", requested_on=dt.date(2026, 10, 2), received_at=timezone.now(), source_message_id=71,
        status="received",
    )  # fmt: skip

    # when: the county's insurance staff correct it
    correction = correct(world, person, f" {RIGHT.lower()} ")

    # then: the person holds the new number, and the records kept by the number moved with it
    person.refresh_from_db()
    assert (person.id_kind, person.id_number, person.updated_by_id) == (
        "resident_id", RIGHT, world.users["insurance_a"].pk,
    )  # fmt: skip
    assert list(DepositRecord.objects.values_list("id_number", flat=True)) == [RIGHT]
    assert list(OvercollectionRefund.objects.values_list("person_id", flat=True)) == [RIGHT]
    # and: who, when, old and new are kept
    assert (correction.old_number, correction.new_number, correction.reason, correction.corrected_by_id) == (
        old, RIGHT, "录入时两位数字颠倒", world.users["insurance_a"].pk,
    )  # fmt: skip
    # and: one message tells tax, on the old identifier's person subject (ordered with its messages)
    message = OutboxMessage.objects.get(topic="person.identifier_corrected")
    assert (message.id, message.subject, message.receiver) == (correction.message_id, f"person:{old}", "tax")
    assert {k: v for k, v in message.payload.items() if k != "corrected_at"} == {
        "old_person_id": old, "person_id": RIGHT, "region_code": TUNLI, "correction_id": correction.pk,
        "id_kind": "resident_id", "reason": "录入时两位数字颠倒",
    }  # fmt: skip
    assert dt.datetime.fromisoformat(message.payload["corrected_at"]) == correction.corrected_at


def test_given_a_wrong_check_digit_when_correcting_then_it_is_refused_as_registration_refuses_it(
    world: World,
):
    person = make_person(TUNLI)

    problems = refused(world, person, with_wrong_check_digit(RIGHT))

    assert problems == {
        "new_identifier": [
            "The resident ID number has a wrong check digit; please check the number digit by digit."
        ]
    }
    assert not IdentifierCorrection.objects.exists()


def test_given_a_number_of_another_birth_date_and_sex_when_correcting_then_the_refusal_says_which_differ(
    world: World,
):
    person = make_person(TUNLI, name="钱七")  # a man born 1980-01-01
    woman_born_1981 = resident_id(address="141002", birth="19810203", sequence="902")

    problems = refused(world, person, woman_born_1981)

    assert problems == {
        "new_identifier": [
            "The new identifier encodes the birth date 1981-02-03, but 钱七's record has 1980-01-01.",
            "The new identifier encodes the sex as Female, but 钱七's record has Male.",
            "Check the number; if the record is what is wrong, correct the birth date or sex first.",
        ]
    }


def test_given_a_number_another_person_holds_when_correcting_then_it_is_refused_as_a_duplicate(world: World):
    person = make_person(TUNLI, name="孙八")
    make_person(TUNLI, name="周九", id_number=RIGHT)

    problems = refused(world, person)

    assert problems == {
        "new_identifier": [
            "Another person (周九, registered at 临汾市尧都区屯里镇屯里村) already has this identifier. That is one "
            "person registered twice, not a mistyped number: end the duplicate enrollment from the duplicates "
            "queue instead of correcting the identifier here."
        ]
    }
    assert Person.objects.get(pk=person.pk).id_number != RIGHT


def test_given_no_reason_when_correcting_then_it_is_refused(world: World):
    person = make_person(TUNLI)

    problems = refused(world, person, reason="  ")

    assert problems == {
        "reason": ["Say what was wrong with the identifier; the reason is kept with the correction."]
    }


def test_given_the_same_number_when_correcting_then_there_is_nothing_to_correct(world: World):
    person = make_person(TUNLI, name="吴十", id_number=RIGHT)

    assert refused(world, person) == {"new_identifier": ["This is already 吴十's identifier."]}


def test_given_a_person_of_another_county_when_insurance_corrects_then_no_such_person(world: World):
    person = make_person(QINBI)

    with pytest.raises(ValidationError) as error:
        correct(world, person)

    assert error.value.messages == ["No such person in your area."]


def test_given_a_village_clerk_when_correcting_then_the_role_may_not(world: World):
    person = make_person(TUNLI)

    with pytest.raises(PermissionDenied):
        correct(world, person, by="clerk_a")


def test_given_an_edit_since_the_form_was_opened_when_correcting_then_it_is_refused_as_a_conflict(
    world: World,
):
    person = make_person(TUNLI)

    with pytest.raises(services.EditConflictError):
        correct(world, person, revision=person.revision + 1)


def test_given_a_corrected_number_when_a_message_of_tax_names_the_old_one_then_it_means_the_person_until_someone_else_holds_it(
    world: World,
):
    person = make_person(TUNLI)
    old = person.id_number
    correct(world, person)

    assert current_identifiers([old, RIGHT, "UNKNOWN"]) == {old: RIGHT}
    make_person(TUNLI, name="新持有人", id_number=old)  # the old number turns out to be someone's
    assert current_identifiers([old]) == {}


def test_given_an_assessed_person_whose_payment_tax_took_under_the_old_number_just_before_when_the_messages_cross_then_tax_and_insurance_agree_on_the_new_one(
    world: World, django_capture_on_commit_callbacks
):
    # given: a person who owes 2027, tax holding the due item under the (mistyped) identifier
    person = due_person(TUNLI, name="郑一", birth="19800101")
    old = person.id_number
    delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=old, insurance_year=YEAR)
    new = resident_id(address="141002", birth="19800101", sequence="903")

    # when: insurance corrects the identifier, and before tax has the message, the counter takes the
    # payment under the old number (its deposit record to insurance names the old number too)
    correct(world, person, new)
    paid_at = timezone.make_aware(dt.datetime(2026, 10, 10, 10, 0))
    with mock.patch("django.utils.timezone.now", return_value=paid_at):
        collection_services.payment_record(
            scope=Scope.for_user(world.users["tax_a"]), due_item_id=item.pk, amount_fen=DUE_ON_TIME,
            channel="counter_cash", paid_by="郑一", paid_at=paid_at,
        )  # fmt: skip
    delivery_drain(seconds=30)

    # then: tax moved the paid item and its payment to the new identifier
    assert list(
        DueItem.objects.filter(person_id__in=[old, new], insurance_year=YEAR).values_list(
            "person_id", "status"
        )
    ) == [(new, "paid")]
    assert list(Payment.objects.values_list("person_id", flat=True)) == [new]
    assert TaxCorrection.objects.get().moved["due_items"] == 2  # 2026 and 2027
    # and: insurance recorded the deposit that named the old number against the person, paid
    assert list(DepositRecord.objects.filter(insurance_year=YEAR).values_list("id_number", flat=True)) == [
        new
    ]
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.paid_fen) == ("paid", DUE_ON_TIME)


# --- the page and the API ---------------------------------------------------------------------


def signed_in(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    return client


def test_given_the_page_when_staff_check_then_confirm_then_the_identifier_is_corrected_and_the_person_page_shows_it(
    world: World,
):
    person = make_person(TUNLI, name="冯二")
    old = person.id_number
    client = signed_in(world, "insurance_a")
    url = reverse("enrollment:person-identifier-correct", args=[person.pk])
    form = {
        "id_kind": "resident_id",
        "new_identifier": RIGHT,
        "reason": "号码录错",
        "revision": person.revision,
    }

    checked = client.post(url, {**form, "step": "check"})
    assert checked.status_code == 200
    assert (checked.context["shown"]["old"], checked.context["shown"]["new"]) == (old, RIGHT)
    assert Person.objects.get(pk=person.pk).id_number == old  # nothing changed before the confirmation

    confirmed = client.post(url, {**form, "step": "confirm"})
    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("enrollment:person-detail", args=[person.pk])
    assert Person.objects.get(pk=person.pk).id_number == RIGHT
    page = client.get(confirmed["Location"])
    assert [(row["old"], row["new"]) for row in page.context["identifier_corrections"]] == [(old, RIGHT)]


def test_given_a_wrong_number_on_the_page_then_it_is_shown_next_to_the_field_and_nothing_changes(
    world: World,
):
    person = make_person(TUNLI)
    client = signed_in(world, "insurance_a")
    url = reverse("enrollment:person-identifier-correct", args=[person.pk])

    response = client.post(
        url,
        {"id_kind": "resident_id", "new_identifier": with_wrong_check_digit(RIGHT), "reason": "录错",
         "revision": person.revision, "step": "confirm"},
    )  # fmt: skip

    assert response.status_code == 400
    # (the page speaks the portal's language)
    assert response.context["form"].errors["new_identifier"] == ["身份证号码的校验位不正确，请逐位核对号码。"]
    assert not IdentifierCorrection.objects.exists()


def test_given_a_person_of_another_county_or_a_clerk_then_the_page_is_not_theirs(world: World):
    url = reverse("enrollment:person-identifier-correct", args=[make_person(QINBI).pk])
    own = reverse("enrollment:person-identifier-correct", args=[make_person(TUNLI).pk])

    assert signed_in(world, "insurance_a").get(url).status_code == 404
    assert signed_in(world, "clerk_a").get(own).status_code == 403


def test_given_the_api_when_staff_correct_an_identifier_then_the_same_service_corrects_it(world: World):
    person = make_person(TUNLI)
    client = signed_in(world, "insurance_a")
    url = reverse("person-correct-identifier", args=[person.pk])
    body = {
        "id_kind": "resident_id",
        "new_identifier": RIGHT,
        "reason": "号码录错",
        "revision": person.revision,
    }

    stale = client.post(url, {**body, "revision": person.revision + 1}, content_type="application/json")
    response = client.post(url, body, content_type="application/json")

    assert (stale.status_code, response.status_code) == (409, 200)
    assert Person.objects.get(pk=person.pk).id_number == RIGHT
    assert IdentifierCorrection.objects.get().new_number == RIGHT
