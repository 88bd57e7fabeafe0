"""The rulebook, the yearly assessment and the coverage check in a real Chromium.

An administrator opens Linfen's policy, saves it with two mistakes (each listed with its path),
fixes it and saves version 2; county insurance staff start the yearly assessment of 尧都区, watch
the progress bar while a real Celery worker (a subprocess on this test's database and Redis)
picks the run up, and see it end in the counts; the coverage check answers covered and not
covered with the engine's reason. Every check reads data-testid hooks, codes and numbers, so it
holds whatever the message catalogue says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from enrollment.assessment import Deposit, assessment_record_deposits
from enrollment.models import Assessment, AssessmentRun, Policy
from enrollment.policies import policy_load_presets, policy_save
from subsidies.services import subsidy_tag_add
from tests.conftest import subprocess_env
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person
from tests.matrix.enrollment_rulebook import policy_document
from tests.private_broker import task_on_private_redis
from tests.sharing.support import Worker

pytestmark = pytest.mark.browser

D = dt.date
YEAR = 2027
CODE = "linfen-2027"
NAMES = ["王建国", "李秀兰", "张伟", "刘芳", "陈静", "杨洋", "赵磊", "黄敏", "周杰", "吴娟", "徐涛", "孙明"]


def _persons() -> dict[str, object]:
    """Twelve enrolled residents of 屯里村: one 特困 (the government pays all), two 低保 (160 yuan)."""
    persons = []
    for index, name in enumerate(NAMES):
        birth = D(1950 + 4 * index, 1 + index % 12, 10)
        person = make_person(
            TUNLI, name=name, id_number=resident_id("141002", f"{birth:%Y%m%d}", f"{index + 11:03d}")
        )
        person.birth_date = birth
        person.save(update_fields=["birth_date"])
        make_enrollment(person, enrolled_on=D(2024, 1, 1))
        persons.append(person)
    subsidy_tag_add(person=persons[1], category="tekun", source="特困人员名单", valid_from=D(2026, 6, 1))
    for person in persons[2:4]:
        subsidy_tag_add(person=person, category="dibao", source="低保名单", valid_from=D(2026, 6, 1))
    return {"plain": persons[0], "tekun": persons[1], "payer": persons[4]}


@pytest.fixture
def private_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis of this test's own for the run's task."""
    from enrollment.tasks import run_assessment

    with task_on_private_redis(run_assessment, tmp_path, monkeypatch) as url:
        yield url


def test_given_linfens_policy_when_it_is_edited_assessed_and_checked_then_each_step_shows_its_result(
    page, sign_in, shoot, page_log, transactional_world, private_broker, tmp_path: Path
):
    policy_load_presets()
    document = policy_document(code=CODE, year=YEAR)
    document["name"] = "临汾市2027年度城乡居民基本医疗保险"
    policy_save(document=document, note="按2021年度文件顺延")
    persons = _persons()

    # --- the administrator edits the policy ---------------------------------------------------
    sign_in("admin")
    page.goto(reverse("enrollment:policy-list"))
    expect(page.locator(f"[data-testid=policy-row][data-code={CODE}]")).to_have_attribute("data-version", "1")
    shoot("1-rulebook")
    page.locator(f"[data-testid=policy-row][data-code={CODE}] a").first.click()
    expect(page.locator("[data-testid=rule][data-path='pricing[0]']")).to_be_visible()
    expect(page.locator("[data-testid=rule][data-path='subsidy_categories[1]']")).to_contain_text("dibao")
    shoot("2-policy")

    page.get_by_test_id("policy-edit").click()
    editor = page.locator("#id_text")
    original = editor.input_value()
    assert "individual_fen: 32000" in original and "subsidy_fen: 58000" in original
    editor.fill(
        original.replace("subsidy_fen: 58000", "subsidy_fen: -5").replace(
            "basis: individual", "basis: everything", 1
        )
    )
    page.locator("#id_note").fill("按2027年度筹资标准调整")
    with page.expect_navigation():
        page.get_by_test_id("policy-save").click()
    problems = page.get_by_test_id("problem")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_have_attribute("data-path", "policy.financing.subsidy_fen")
    expect(problems.nth(1)).to_have_attribute("data-path", "policy.pricing[0].basis")
    assert "subsidy_fen: -5" in editor.input_value()  # the text is kept
    shoot("3-edit-with-mistakes")

    editor.fill(original.replace("subsidy_fen: 58000", "subsidy_fen: 64000"))
    with page.expect_navigation():
        page.get_by_test_id("policy-save").click()
    expect(page.locator(".message.success")).to_be_visible()
    expect(page.get_by_test_id("policy-version")).to_have_attribute("data-version", "2")
    expect(page.get_by_test_id("version")).to_have_count(2)
    expect(page.get_by_test_id("version").first).to_contain_text("按2027年度筹资标准调整")
    shoot("4-saved-version-2")

    page.fill("#id_try-birth_date", "1980-05-01")
    page.locator("#try input[name=try-tags][value=dibao]").check()
    page.fill("#id_try-paid_on", "2026-10-20")
    with page.expect_navigation():
        page.get_by_test_id("try-submit").click()
    result = page.get_by_test_id("try-result")
    expect(result).to_have_attribute("data-accepted", "true")
    expect(result).to_have_attribute("data-rule", "pricing[0]")
    expect(result).to_have_attribute("data-payable", "16000")
    expect(page.get_by_test_id("try-benefit")).to_have_attribute("data-start", "2027-01-01")
    result.scroll_into_view_if_needed()
    shoot("4b-try-the-rules")
    assert Policy.objects.get(code=CODE).document["financing"]["subsidy_fen"] == 64000

    # --- insurance staff run the yearly assessment ----------------------------------------------
    page.context.clear_cookies()
    sign_in("insurance_a")
    page.goto(reverse("enrollment:assessment-runs"))
    page.select_option("#id_county_code", "141002")
    page.fill("#id_insurance_year", str(YEAR))
    shoot("5-start")
    with page.expect_navigation():
        page.get_by_test_id("start-submit").click()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "queued")
    expect(page.locator("[data-progress-bar]")).to_be_visible()
    shoot("6-waiting-for-a-worker")

    worker = Worker(subprocess_env(PORTAL_BROKER_URL=private_broker), tmp_path / "worker.log", concurrency=1)
    try:
        expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "done", timeout=90_000)
    finally:
        worker.stop()
    counts = page.get_by_test_id("counts")
    expect(counts.locator("[data-key=enrollments]")).to_have_attribute("data-value", "12")
    expect(counts.locator("[data-key=created]")).to_have_attribute("data-value", "12")
    expect(counts.locator("[data-key=government_paid]")).to_have_attribute("data-value", "1")
    expect(counts.locator("[data-key=pushed]")).to_have_attribute("data-value", "11")
    expect(counts.locator("[data-key=payable]")).to_have_attribute("data-value", str(9 * 32000 + 2 * 16000))
    expect(page.get_by_test_id("run-policy")).to_be_visible()
    expect(page.get_by_test_id("progress")).to_have_count(0)
    shoot("7-run-done")
    run = AssessmentRun.objects.get(person__isnull=True)
    assert (run.policy_version.number, run.started_by.username) == (2, "insurance_a")

    page.get_by_test_id("assessment-list-link").click()
    expect(page.get_by_test_id("assessment-row")).to_have_count(12)
    dibao = page.locator("[data-testid=assessment-row][data-category=dibao]").first
    dibao.locator("summary").click()
    expect(dibao.get_by_test_id("schedule-line").first).to_be_visible()
    expect(dibao.get_by_test_id("assessment-reason")).to_be_visible()
    shoot("8-assessments")

    # Tax's deposit record for one resident: paid on 2026-10-10, covered from the first of 2027.
    payer = persons["payer"]
    due = Assessment.objects.get(person=payer, insurance_year=YEAR)
    assert (
        assessment_record_deposits(
            deposits=[Deposit(payer.id_number, YEAR, due.payable_fen, D(2026, 10, 10), "TAX2026101000001")]
        )
        == 1
    )
    page.goto(reverse("enrollment:person-detail", args=[payer.pk]))
    expect(page.get_by_test_id("person-assessment")).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("benefit-period")).to_contain_text("2027-01-01")
    shoot("9-person-assessment")

    # --- the coverage check --------------------------------------------------------------------
    page.goto(reverse("enrollment:coverage-check"))
    page.fill("#id_id_number", payer.id_number)
    page.fill("#id_day", "2027-03-01")
    with page.expect_navigation():
        page.get_by_test_id("coverage-submit").click()
    answer = page.get_by_test_id("coverage-answer")
    expect(answer).to_have_attribute("data-covered", "true")
    expect(answer).to_have_attribute("data-rule", "coverage.normal_paid")
    expect(page.get_by_test_id("coverage-period")).to_have_attribute("data-start", "2027-01-01")
    expect(page.get_by_test_id("coverage-reason")).to_contain_text("2027")
    expect(page.get_by_test_id("coverage-timeline")).to_be_visible()
    shoot("10-covered")

    page.fill("#id_id_number", persons["plain"].id_number)
    with page.expect_navigation():
        page.get_by_test_id("coverage-submit").click()
    expect(answer).to_have_attribute("data-covered", "false")
    expect(answer).to_have_attribute("data-rule", "coverage.unpaid")
    shoot("11-not-covered")

    page.fill("#id_id_number", "140105198001011234")
    with page.expect_navigation():
        page.get_by_test_id("coverage-submit").click()
    expect(page.get_by_test_id("coverage-error")).to_be_visible()
    expect(answer).to_have_count(0)
    shoot("12-not-in-area")
    assert (page_log.errors, page_log.csp_violations()) == ([], [])
