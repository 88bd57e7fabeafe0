"""An extension of the collection period (Linfen: insurance and tax extend it jointly) reaches tax:
the counties the policy decides are assessed again, so tax's due items carry the extended window
and a payment within the extension is accepted at the normal price (Linfen 2027 test policy of
tests/refunds/backpay_support.py: I 400 yuan, collection 1 Sep – 25 Dec 2026 on days 1–25)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services as collection_services
from collection.models import DueItem
from enrollment import assessment
from enrollment.models import Assessment, AssessmentRun, Policy, RunStatus
from enrollment.policies import policy_extend_collection, policy_for_county
from sharing.services import delivery_drain
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import DUE_ON_TIME, YEAR, due_person

pytestmark = pytest.mark.django_db

EXTENDED_TO = dt.date(2027, 1, 25)


def signed_in(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    return client


@pytest.fixture
def run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's part runs at once when a run is queued (the task would, a moment later)."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment.assessment_run_execute(run_id=run_id),
    )


def extend(*, today: dt.date = dt.date(2026, 12, 20)):  # type: ignore[no-untyped-def]
    record = Policy.objects.get(code="refund-test-141000")
    return policy_extend_collection(
        policy=record, extended_to=EXTENDED_TO, note="医保税务协商延长", today=today
    )


def test_given_the_period_extended_when_tax_takes_a_payment_within_the_extension_then_it_is_accepted(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: last year's payer who owes 2027, tax holding the item with the window to 25 December
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    # and: insurance and tax extend the period to 25 January 2027
    with django_capture_on_commit_callbacks(execute=True):
        extend()
    delivery_drain(seconds=30)

    # when: the person pays 400 yuan at tax's counter on 10 January 2027, within the extension
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    paid_at = timezone.make_aware(dt.datetime(2027, 1, 10, 10, 0))
    with mock.patch("django.utils.timezone.now", return_value=paid_at):
        collection_services.payment_record(
            scope=Scope.for_user(world.user_for(Role.TAX_STAFF, "a")), due_item_id=item.pk,
            amount_fen=DUE_ON_TIME, channel="counter_cash", paid_by=person.name, paid_at=paid_at,
        )  # fmt: skip
    delivery_drain(seconds=30)

    # then: accepted at the normal price, and insurance records the year paid
    item.refresh_from_db()
    assert (item.status, item.amount_fen, item.schedule[-1]["to"]) == ("paid", DUE_ON_TIME, "2027-01-25")
    paid = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (paid.status, paid.paid_fen, paid.paid_on) == ("paid", DUE_ON_TIME, dt.date(2027, 1, 10))


def test_given_a_county_assessed_for_the_year_when_the_period_is_extended_then_its_run_is_queued_again(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 (141002) assessed for 2027 by the Linfen city policy
    due_person(TUNLI)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)

    # when: the period is extended
    with django_capture_on_commit_callbacks(execute=True):
        loaded, runs, _withdrawn = extend()

    # then: one county run of 2027 is queued for 尧都区, under the new version, saying why
    assert [(run.county_code, run.insurance_year, run.status, run.policy_version_id) for run in runs] == [
        ("141002", YEAR, RunStatus.QUEUED, loaded.version.pk)
    ]
    assert queued == [runs[0].pk]
    assert runs[0].reason == "集中征缴期延长至2027-01-25，重新核定"


def test_given_an_administrator_working_in_english_when_the_period_is_extended_then_the_stored_note_and_reason_are_chinese(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 assessed for 2027, and an administrator whose pages are in English
    due_person(TUNLI)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)

    # when: they extend the period
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        loaded, runs, _withdrawn = extend()

    # then: the version's note and the run's reason, read by everyone later, are in the portal's language
    assert loaded.version.note == "集中征缴期延长至2027-01-25：医保税务协商延长"
    assert [run.reason for run in runs] == ["集中征缴期延长至2027-01-25，重新核定"]


def test_given_the_insurance_year_over_when_its_period_is_extended_then_no_county_is_queued(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区 assessed for 2027, and today in 2028 (the year is over: nobody is reassessed for it)
    due_person(TUNLI)
    before = AssessmentRun.objects.count()

    # when: the 2027 period is extended (a correction of the record)
    _loaded, runs, _withdrawn = extend(today=dt.date(2028, 1, 5))

    # then: nothing is queued
    assert (runs, AssessmentRun.objects.count()) == ([], before)


def test_given_a_last_day_after_the_insurance_year_when_the_period_is_extended_then_it_is_refused(
    world: World,
):
    # given: the 2027 policy, collecting 1 Sep – 25 Dec 2026 for the insurance year 2027
    due_person(TUNLI)
    record = Policy.objects.get(code="refund-test-141000")
    version = record.version

    # when: extended to 1 January 2028, after the year the contributions pay for
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        policy_extend_collection(
            policy=record,
            extended_to=dt.date(2028, 1, 1),
            note="医保税务协商延长",
            today=dt.date(2026, 12, 20),
        )

    # then: refused with the latest last day, and the policy is unchanged
    assert refused.value.message_dict == {
        "extended_to": [
            "The period collects the contributions of 2027: its last day can be 2027-12-31 at the latest."
        ]
    }
    record.refresh_from_db()
    assert record.version == version


def test_given_an_extension_on_the_page_then_the_policy_page_says_the_counties_are_reassessed(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区 assessed for 2027; the administrator signed in
    due_person(TUNLI)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)
    client = signed_in(world, "admin")

    # when: the period is extended on the page
    response = client.post(
        reverse("enrollment:policy-extend", args=["refund-test-141000"]),
        {"extended_to": EXTENDED_TO.isoformat(), "note": "医保税务协商延长", "step": "confirm"},
        follow=True,
    )

    # then: the policy page says 尧都区 is being reassessed, with a link to the runs
    text = response.content.decode()
    assert response.status_code == 200
    assert "正在重新核定" in text and "141002" in text
    assert f'href="{reverse("enrollment:assessment-runs")}"' in text


def _extend_on_the_page(client: Client, captured):  # type: ignore[no-untyped-def]
    """The administrator confirms the extension; what it queues on commit is queued."""
    with captured(execute=True):
        return client.post(
            reverse("enrollment:policy-extend", args=["refund-test-141000"]),
            {"extended_to": EXTENDED_TO.isoformat(), "note": "医保税务协商延长", "step": "confirm"},
            follow=True,
        )


def _followup(text: str) -> str | None:
    """The policy page's sentence on the extension's runs, with its state: "state: words"."""
    found = re.search(r'data-testid="extension-followup" data-state="(\w+)">(.*?)<a ', text, re.S)
    return f"{found[1]}: {found[2].strip()}" if found else None


def test_given_the_extension_s_run_ended_when_the_policy_page_is_shown_again_then_it_says_the_county_was_reassessed(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 assessed for 2027; the period extended on the page, its county run still queued
    due_person(TUNLI)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    client = signed_in(world, "admin")
    page = _extend_on_the_page(client, django_capture_on_commit_callbacks)
    assert _followup(page.content.decode()) == (
        "running: 本政策适用的区县正在重新核定，以便税务部门在延长后的最后一天之前收费：141002。"
    )

    # when: a worker runs it, and the administrator shows the policy page again
    [run_id] = queued
    assessment.assessment_run_execute(run_id=run_id)
    page = client.get(reverse("enrollment:policy-detail", args=["refund-test-141000"]))

    # then: it says 尧都区 was reassessed, no longer that it is being reassessed
    assert _followup(page.content.decode()) == (
        "done: 以下区县已重新核定，税务部门可在延长后的最后一天之前收费：141002。"
    )
    # and: said once the run has ended, the page says nothing more of it after
    page = client.get(reverse("enrollment:policy-detail", args=["refund-test-141000"]))
    assert _followup(page.content.decode()) is None


def test_given_the_extension_s_run_failed_when_the_policy_page_is_shown_then_it_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 assessed for 2027; the period extended on the page
    due_person(TUNLI)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    client = signed_in(world, "admin")
    _extend_on_the_page(client, django_capture_on_commit_callbacks)

    # when: the county's run fails, and the administrator shows the policy page again
    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("磁盘已满")

    monkeypatch.setattr(assessment, "_assess_county", broken)
    [run_id] = queued
    with pytest.raises(RuntimeError):
        assessment.assessment_run_execute(run_id=run_id)
    page = client.get(reverse("enrollment:policy-detail", args=["refund-test-141000"]))

    # then: it says 尧都区's reassessment failed and what to do, not that it is being reassessed
    assert _followup(page.content.decode()) == (
        "failed: 141002的重新核定失败：税务部门在该地尚不能按延长后的最后一天收费。"
        "请查看该次运行的错误，并重新启动该区县的核定。"
    )
    assert AssessmentRun.objects.get(pk=run_id).status == RunStatus.FAILED


# --- a county whose run is running when the period is extended ------------------------------------

REASON = "集中征缴期延长至2027-01-25，重新核定"


def running_run() -> AssessmentRun:
    """尧都区's county run of 2027, marked running by a worker that read the policy as it was."""
    return AssessmentRun.objects.create(
        county_code="141002",
        insurance_year=YEAR,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        reason="x",
    )


def test_given_a_county_run_running_when_the_period_is_extended_then_that_run_is_marked_to_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 assessed for 2027, and its county run running again (it read the policy before)
    due_person(TUNLI)
    run = running_run()
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)

    # when: the period is extended
    with django_capture_on_commit_callbacks(execute=True):
        _loaded, runs, _withdrawn = extend()

    # then: the answer is the running run, marked to be run again with the extension's reason;
    # nothing is queued beside it (one county run at a time)
    run.refresh_from_db()
    assert [r.pk for r in runs] == [run.pk]
    assert (run.status, run.rerun_reason, run.rerun_id, queued) == (RunStatus.RUNNING, REASON, None, [])


def test_given_the_period_extended_while_a_county_run_runs_then_the_county_is_assessed_again_after_it_and_tax_gets_the_new_last_day(
    world: World, run_inline: None, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: last year's payer who owes 2027, tax holding the item with the window to 25 December
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    before = policy_for_county(county_code="141002", insurance_year=YEAR).version
    # and: a county run of 尧都区 that reads the policy, then — while it assesses — the period is
    # extended to 25 January 2027
    run = AssessmentRun.objects.create(county_code="141002", insurance_year=YEAR, reason="年度核定")
    assess_county = assessment._assess_county
    extensions: list = []

    def extended_meanwhile(**kwargs):  # type: ignore[no-untyped-def]
        if not extensions:
            extensions.append(extend())
        return assess_county(**kwargs)

    monkeypatch.setattr(assessment, "_assess_county", extended_meanwhile)

    # when: the run ends
    with django_capture_on_commit_callbacks(execute=True):
        assessment.assessment_run_execute(run_id=run.pk)
    delivery_drain(seconds=30)

    # then: the run is done with the version it read, and a follow-up run assessed the county
    # again with the extended one, saying why
    run.refresh_from_db()
    [(loaded, _runs, _withdrawn)] = extensions
    assert (run.status, run.policy_version_id, run.rerun_reason) == (RunStatus.DONE, before.pk, REASON)
    follow_up = run.rerun
    assert (follow_up.status, follow_up.policy_version_id, follow_up.reason) == (
        RunStatus.DONE, loaded.version.pk, REASON,
    )  # fmt: skip
    assert (follow_up.changed, follow_up.pushed) == (1, 1)
    # and: tax's item takes payments until the new last day
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.status, item.amount_fen, item.schedule[-1]["to"]) == ("due", DUE_ON_TIME, "2027-01-25")


def test_given_a_run_marked_to_run_again_when_it_fails_then_the_county_is_queued_again_all_the_same(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区's county run running, marked to be run again by an extension
    due_person(TUNLI)
    run = running_run()
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    loaded, _runs, _withdrawn = extend()

    # when: the run fails
    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("磁盘已满")

    monkeypatch.setattr(assessment, "_assess_county", broken)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        assessment.assessment_run_execute(run_id=run.pk)

    # then: it is failed, and the county is queued again with the extended version
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "磁盘已满")
    follow_up = run.rerun
    assert (follow_up.status, follow_up.policy_version_id, follow_up.reason) == (
        RunStatus.QUEUED, loaded.version.pk, REASON,
    )  # fmt: skip
    assert queued == [follow_up.pk]


@pytest.mark.django_db(transaction=True)
def test_given_a_run_ending_while_the_extension_commits_then_its_end_waits_and_queues_the_follow_up(
    transactional_world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区's county run running with the version it read
    due_person(TUNLI)
    run = running_run()
    read = policy_for_county(county_code="141002", insurance_year=YEAR)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: None)
    ended = threading.Event()

    def end_the_run() -> None:  # the worker, on its own connection
        try:
            with transaction.atomic():
                assessment._finish(run, assessment.Counts(), read)
            ended.set()
        finally:
            connection.close()

    # when: the extension has marked the run but not committed yet, and the run ends meanwhile
    with transaction.atomic():
        loaded, _runs, _withdrawn = extend()
        worker = threading.Thread(target=end_the_run)
        worker.start()
        waited = not ended.wait(timeout=1)
    worker.join(timeout=30)

    # then: the run's end waited for the extension, saw its mark, and queued the follow-up
    run.refresh_from_db()
    assert (waited, run.status, run.rerun_reason) == (True, RunStatus.DONE, REASON)
    assert (run.rerun.status, run.rerun.policy_version_id, queued) == (
        RunStatus.QUEUED, loaded.version.pk, [run.rerun_id],
    )  # fmt: skip


def test_given_a_county_run_running_when_extended_on_the_page_then_it_says_the_county_is_reassessed_when_it_ends(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区 assessed for 2027 and its county run running; the administrator signed in
    due_person(TUNLI)
    run = running_run()
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)
    client = signed_in(world, "admin")

    # when: the period is extended on the page
    response = client.post(
        reverse("enrollment:policy-extend", args=["refund-test-141000"]),
        {"extended_to": EXTENDED_TO.isoformat(), "note": "医保税务协商延长", "step": "confirm"},
        follow=True,
    )

    # then: the policy page says 尧都区 is reassessed when its current run ends, not that it is now
    text = response.content.decode()
    assert "141002的核定运行时使用的是延长前的版本；当前运行结束后将重新核定。" in text
    assert "正在重新核定" not in text
    # and: the run's page says so too
    page = client.get(reverse("enrollment:assessment-run", kwargs={"pk": run.pk})).content.decode()
    assert 'data-testid="run-rerun"' in page and REASON in page
