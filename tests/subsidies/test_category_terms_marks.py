"""A new version of a policy that changes what a category grants tells tax at once, and the
counties already assessed for its year are assessed again, so tax collects the new amounts.

Tax's counter shows each payer's marks (marker, kind of subsidy, the government's amount): a version
of next year's policy that changes them — on the subsidy categories page, in the rulebook's editor,
by a file or the API, or a preset reloaded — sends the year's marks again, with the new terms, for
every person a tag holds in the category for the year (a tag given by hand whose dates reach it, or
one standing on the year's roster). A version that drops a category withdraws them. A year that is
over, and a version that changes no category's terms, send nothing.

Linfen: this year's and next year's policy (低保 a fixed 160 yuan, marker 02, in both).
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from collection.models import DueItem
from enrollment.assessment import assessment_run_execute, assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import AssessmentRun, Person, Policy, RunKind, RunStatus
from enrollment.policies import policy_save
from sharing import services as sharing
from sharing.models import OutboxMessage
from subsidies import services
from tests.conftest import World
from tests.subsidies.support import (
    DIBAO,
    HAND,
    HEADER,
    INDIVIDUAL,
    SOURCE,
    THIS_YEAR,
    YEAR,
    check,
    confirm,
    dibao_amount_set,
    enrolled,
    linfen_policy,
    row,
    scope_of,
    tax_marks,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

FROM = dt.date(THIS_YEAR, 3, 1)
RAISED = 20000


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def tagged(world: World) -> tuple[Person, Person]:
    """张三 tagged 低保 by hand in March (this year and next marked at tax), 李四 on next year's
    低保 roster; both years' policies saved and run."""
    policy_save(document=_shifted("linfen-this", THIS_YEAR - 2021, INDIVIDUAL, 70000), note="测试")
    zhang, li = enrolled("张三", 1), enrolled("李四", 2)
    assessment_run_now(county_code="141002", insurance_year=THIS_YEAR)
    services.subsidy_tag_add(person=zhang, category="dibao", source=HAND, valid_from=FROM)
    linfen_policy()
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    services.subsidy_marks_send(county_code="141002", insurance_year=YEAR)  # as the run's end does
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, li)])))
    assert tax_marks(zhang)[YEAR][1:5] == ("active", "02", "fixed", DIBAO)
    assert tax_marks(li)[YEAR][1:5] == ("active", "02", "fixed", DIBAO)
    return zhang, li


def _next_year_document() -> dict:
    return copy.deepcopy(Policy.objects.get(code="linfen-next").document)


def _dibao(document: dict) -> dict:
    return next(c for c in document["subsidy_categories"] if c["code"] == "dibao")


def _marks_messages() -> int:
    return OutboxMessage.objects.filter(topic="subsidy.marks_batch").count()


def test_given_tags_counting_next_year_when_the_categories_page_raises_the_amount_then_tax_marks_carry_the_new_amount(
    world: World, tagged: tuple[Person, Person]
):
    # Given: 张三 (by hand) and 李四 (next year's roster) marked 160 yuan for next year
    zhang, li = tagged

    # When: the administrator raises 低保's fixed subsidy to 200 yuan on the categories page
    dibao_amount_set(world, RAISED)

    # Then: tax's marks of next year say 200 yuan at once, still active with their tags' dates and
    # sources; this year's policy is unchanged, and so is 张三's mark for it
    assert tax_marks(zhang) == {
        THIS_YEAR: ("dibao", "active", "02", "fixed", DIBAO, FROM, None, HAND, ""),
        YEAR: ("dibao", "active", "02", "fixed", RAISED, FROM, None, HAND, ""),
    }
    assert tax_marks(li)[YEAR][1:5] == ("active", "02", "fixed", RAISED)
    assert tax_marks(li)[YEAR][7:] == (SOURCE, "")


def test_given_tags_counting_next_year_when_the_editor_saves_a_version_making_the_category_full_then_tax_marks_say_full(
    world: World, tagged: tuple[Person, Person]
):
    # Given: both marked a fixed 160 yuan for next year
    zhang, li = tagged
    document = _next_year_document()
    dibao = _dibao(document)
    dibao.pop("amount_fen", None)
    dibao.update(scheme="full", marker="06")

    # When: the rulebook's editor saves a version where 低保 is a full subsidy, marker 06
    policy_save(document=document, note="低保改为全额资助", scope=scope_of(world))

    # Then: tax's marks of next year say full, marker 06, the whole individual contribution
    assert tax_marks(zhang)[YEAR][1:5] == ("active", "06", "full", INDIVIDUAL)
    assert tax_marks(li)[YEAR][1:5] == ("active", "06", "full", INDIVIDUAL)
    assert tax_marks(zhang)[THIS_YEAR][1:5] == ("active", "02", "fixed", DIBAO)


def test_given_tags_counting_next_year_when_a_version_drops_the_category_on_purpose_then_tax_withdraws_next_years_marks(
    world: World, tagged: tuple[Person, Person]
):
    # Given: both marked for next year
    zhang, li = tagged
    document = _next_year_document()
    document["subsidy_categories"] = [c for c in document["subsidy_categories"] if c["code"] != "dibao"]

    # When: a version without 低保 is saved on purpose (as a preset reloaded by the operator is)
    policy_save(document=document, note="新版预设", tags_may_lose_category=True)

    # Then: tax hears that next year's marks of both are withdrawn, in the portal's language
    reason = f"该资助类别已从{YEAR}年度政策中移除"
    assert tax_marks(zhang)[YEAR][1:3] == ("withdrawn", "02")
    assert tax_marks(zhang)[YEAR][8] == reason
    assert tax_marks(li)[YEAR][1:3] == ("withdrawn", "02")
    assert tax_marks(li)[YEAR][8] == reason
    assert tax_marks(zhang)[THIS_YEAR][1] == "active"


def test_given_tags_counting_next_year_when_a_version_changes_no_categorys_terms_then_no_marks_are_sent(
    world: World, tagged: tuple[Person, Person]
):
    # Given: both marked for next year, and the messages about marks sent so far
    document = _next_year_document()
    document["name"] = document["name"] + "（修订）"
    before = _marks_messages()

    # When: a version that only renames the policy is saved
    policy_save(document=document, note="更名", scope=scope_of(world))
    sharing.delivery_drain(seconds=30)

    # Then: no message about marks is sent
    assert _marks_messages() == before


def test_given_a_tag_counting_this_year_when_this_years_policy_changes_the_amount_then_this_years_mark_changes(
    world: World, tagged: tuple[Person, Person]
):
    # Given: 张三 marked 160 yuan for this year, by hand
    zhang, _li = tagged
    document = copy.deepcopy(Policy.objects.get(code="linfen-this").document)
    _dibao(document)["amount_fen"] = RAISED

    # When: this year's policy (not over: it is this calendar year) raises the amount
    policy_save(document=document, note="低保定额资助提高到200元", scope=scope_of(world))

    # Then: this year's mark says 200 yuan; next year's is untouched
    assert tax_marks(zhang)[THIS_YEAR][1:5] == ("active", "02", "fixed", RAISED)
    assert tax_marks(zhang)[YEAR][1:5] == ("active", "02", "fixed", DIBAO)


def test_given_a_hand_tag_before_next_years_policy_when_that_policy_is_saved_then_tax_marks_next_year_at_once(
    world: World,
):
    # Given: this year's policy alone, and 王五 tagged 低保 by hand in March (this year marked)
    policy_save(document=_shifted("linfen-this", THIS_YEAR - 2021, INDIVIDUAL, 70000), note="测试")
    wang = enrolled("王五", 3)
    services.subsidy_tag_add(person=wang, category="dibao", source=HAND, valid_from=FROM)
    assert set(tax_marks(wang)) == {THIS_YEAR}

    # When: next year's policy is saved (before any run for it)
    linfen_policy()

    # Then: tax marks him for next year at once, with the tag's dates and source
    assert tax_marks(wang)[YEAR] == ("dibao", "active", "02", "fixed", DIBAO, FROM, None, HAND, "")


@pytest.fixture
def run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's part runs at once when a run is queued (the task would, a moment later)."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment_run_execute(run_id=run_id),
    )
    monkeypatch.setattr("subsidies.tasks.send_hand_tag_marks.delay", lambda **kwargs: None)
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: None)


def test_given_a_county_assessed_for_next_year_when_the_amount_is_raised_then_the_county_is_reassessed_and_tax_collects_less(
    world: World, tagged: tuple[Person, Person], run_inline: None, django_capture_on_commit_callbacks
):
    # Given: 张三 owes 240 yuan for next year at tax (400 less 低保's 160), the county's run done
    zhang, _li = tagged
    sharing.delivery_drain(seconds=30)
    assert (
        DueItem.objects.get(person_id=zhang.id_number, insurance_year=YEAR).amount_fen == INDIVIDUAL - DIBAO
    )

    # When: the administrator raises 低保's fixed subsidy to 200 yuan (the run it queues executed)
    with django_capture_on_commit_callbacks(execute=True):
        dibao_amount_set(world, RAISED)
    sharing.delivery_drain(seconds=30)

    # Then: the county was assessed again with the new version, saying why, and tax now collects
    # 200 yuan from 张三; this year's run was not repeated (its policy did not change)
    runs = AssessmentRun.objects.filter(county_code="141002", person__isnull=True, kind=RunKind.COUNTY)
    assert [(r.insurance_year, r.status, r.reason) for r in runs.order_by("pk")][-1] == (
        YEAR,
        RunStatus.DONE,
        "政策已保存为第2版：重新核定",
    )
    assert runs.filter(insurance_year=THIS_YEAR).count() == 1
    assert (
        DueItem.objects.get(person_id=zhang.id_number, insurance_year=YEAR).amount_fen == INDIVIDUAL - RAISED
    )


def test_given_a_county_assessed_for_next_year_when_a_version_is_saved_then_one_run_is_queued_for_it(
    world: World,
    tagged: tuple[Person, Person],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
):
    # Given: the county's run for next year done; the queue recorded instead of sent
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    document = _next_year_document()
    document["financing"]["individual_fen"] = 42000

    # When: the editor saves a version raising the individual contribution to 420 yuan
    with django_capture_on_commit_callbacks(execute=True):
        policy_save(document=document, note="个人缴费提高到420元", scope=scope_of(world))

    # Then: one run of the county for next year is queued, on the new version
    run = AssessmentRun.objects.get(pk__in=queued)
    assert (run.county_code, run.insurance_year, run.status, run.policy_version.number) == (
        "141002",
        YEAR,
        RunStatus.QUEUED,
        2,
    )


def test_given_a_run_queued_by_a_new_version_when_the_county_is_assessed_now_then_that_run_is_executed(
    world: World, tagged: tuple[Person, Person], monkeypatch: pytest.MonkeyPatch
):
    # Given: a version raising the individual contribution, which queued the county's run (no worker)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)
    document = _next_year_document()
    document["financing"]["individual_fen"] = 42000
    policy_save(document=document, note="个人缴费提高到420元", scope=scope_of(world))
    queued = AssessmentRun.objects.get(county_code="141002", insurance_year=YEAR, status=RunStatus.QUEUED)

    # When: the county is assessed now (the command's way)
    run = assessment_run_now(county_code="141002", insurance_year=YEAR)

    # Then: the queued run is the one executed, on the new version, and no other is left queued
    assert (run.pk, run.status, run.policy_version.number) == (queued.pk, RunStatus.DONE, 2)
    assert not AssessmentRun.objects.filter(status=RunStatus.QUEUED).exists()


def test_given_a_county_assessed_for_next_year_when_the_categories_page_saves_then_it_says_the_county_is_assessed_again(
    world: World, tagged: tuple[Person, Person], client: Client, monkeypatch: pytest.MonkeyPatch
):
    # Given: the administrator on 低保's edit page of next year's policy (runs queued, not executed)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)
    client.force_login(world.users["admin"])
    url = reverse("subsidies:category-edit", args=["linfen-next", "dibao"])

    # When: they raise the fixed subsidy to 200 yuan, in Chinese
    with translation.override("zh-hans"):
        response = client.post(
            url,
            {"code": "dibao", "name": "城乡低保对象", "marker": "02", "scheme": "fixed", "amount": "200.00",
             "requires_tag": "on", "note": "定额资助", "why": "低保定额资助提高到200元"},
            follow=True,
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )  # fmt: skip

    # Then: the page says the version and that the one county assessed for next year is assessed again
    said = [str(message) for message in response.context["messages"]]
    assert said == [
        f"已保存类别，政策现为第2版。已完成{YEAR}年度核定的1个县（区）正按此版本重新核定，税务部门将按新金额征收。"
    ]
