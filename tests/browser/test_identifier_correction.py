"""County insurance staff correct a mistyped identifier in a real Chromium: from the person's page,
the form, the check showing old → new, the confirmation, and the correction on the person's page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from enrollment.models import IdentifierCorrection, Person
from sharing.models import OutboxMessage
from tests.enrollment import resident_id, with_wrong_check_digit
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person

pytestmark = pytest.mark.browser

RIGHT = resident_id(address="141002", birth="19800101", sequence="905")  # a man born 1980-01-01


def test_given_a_mistyped_identifier_when_insurance_corrects_it_from_the_persons_page_then_the_page_shows_the_new_one_and_the_correction(
    page, sign_in, shoot, page_log, transactional_world
):
    person = make_person(
        TUNLI, name="陈三", id_number=resident_id(address="141002", birth="19800101", sequence="015")
    )
    make_enrollment(person)
    old = person.id_number

    sign_in("insurance_a")
    page.goto(reverse("enrollment:person-detail", args=[person.pk]))
    expect(page.locator("[data-testid=person-id-number]")).to_have_text(old)
    shoot("1-person")
    page.locator("[data-testid=correct-identifier]").click()

    # a wrong check digit is refused next to the field
    page.fill("#id_new_identifier", with_wrong_check_digit(RIGHT))
    page.fill("#id_reason", "出生日期后两位录反")
    page.locator("[data-testid=check-correction]").click()
    expect(page.locator("[data-testid=new-identifier-error]")).to_be_visible()
    shoot("2-wrong-check-digit")

    page.fill("#id_new_identifier", RIGHT)
    page.locator("[data-testid=check-correction]").click()
    expect(page.locator("[data-testid=preview-old]")).to_have_text(old)
    expect(page.locator("[data-testid=preview-new]")).to_have_text(RIGHT)
    expect(page.locator("[data-testid=preview-reason]")).to_have_text("出生日期后两位录反")
    assert Person.objects.get(pk=person.pk).id_number == old
    shoot("3-confirm")
    page.locator("[data-testid=confirm-correction]").click()

    expect(page.locator(".message.success")).to_be_visible()
    expect(page.locator("[data-testid=person-id-number]")).to_have_text(RIGHT)
    corrections = page.locator("[data-testid=identifier-correction]")
    expect(corrections).to_have_count(1)
    expect(corrections.first).to_contain_text(old)
    expect(corrections.first).to_contain_text(RIGHT)
    expect(corrections.first).to_contain_text("出生日期后两位录反")
    shoot("4-corrected")
    assert IdentifierCorrection.objects.get().new_number == RIGHT
    assert OutboxMessage.objects.filter(topic="person.identifier_corrected").count() == 1
    assert page_log.errors == [] and page_log.csp_violations() == []
