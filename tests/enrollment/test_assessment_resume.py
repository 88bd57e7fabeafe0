"""A county's yearly run whose executor is gone (a worker killed, a queue message lost) is resumed.

The executor of a run holds its lease — a session-level advisory lock on its own connection —
from before the run is marked running until its end is committed. A redelivered task that gets
the lease executes the run again (a re-run changes only what differs); one that does not leaves
it. Beat's sweep queues again the waiting runs whose lease is free.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from enrollment import assessment
from enrollment.demo import _shifted
from enrollment.models import Assessment, AssessmentRun, RunStatus
from enrollment.policies import policy_save
from enrollment.tasks import resume_assessment_runs, run_assessment
from sharing.models import OutboxMessage
from tests.enrollment.test_assessment import YEAR, _enrolled

pytestmark = pytest.mark.django_db


def _linfen_policy() -> None:
    """Linfen's 2021 preset moved to 2027, stored for the city (as in test_assessment.py)."""
    policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")


@pytest.fixture
def linfen_2027(world) -> None:
    _linfen_policy()


@pytest.fixture
def no_nudge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)


def _left_running(year: int = YEAR, *, minutes_ago: int = 10) -> AssessmentRun:
    """A county run its worker marked running and then died in (nobody holds its lease)."""
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return AssessmentRun.objects.create(
        county_code="141002", insurance_year=year, status=RunStatus.RUNNING, started_at=started, reason="x"
    )


def _hold_lease(run: AssessmentRun):
    """Another connection — a live worker's — holds the run's lease."""
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [assessment._RUN_LEASE, run.pk])
    return other


def _end(worker, run: AssessmentRun) -> None:
    """The worker's connection ends; PostgreSQL frees its locks as its backend exits, a moment later."""
    worker.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                [assessment._RUN_LEASE, run.pk],
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the worker's lease outlived its connection")


def test_given_a_run_left_running_by_a_dead_worker_when_the_task_is_redelivered_then_it_is_resumed_and_done(
    world, linfen_2027, no_nudge
):
    # Given two enrolled persons and a run whose worker died after marking it running
    _enrolled("张三", 1)
    _enrolled("李四", 3)
    run = _left_running()

    # When the task is delivered again (acks_late, reject_on_worker_lost)
    run_assessment(run.pk)

    # Then the run is executed to its end, marked as resumed, and both persons are assessed
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.resumed_at is not None
    assert (run.enrollments, run.created) == (2, 2)
    assert Assessment.objects.filter(insurance_year=YEAR, county_code="141002").count() == 2


def test_given_a_county_partly_assessed_when_a_dead_run_is_resumed_then_only_what_differs_is_written_and_sent(
    world, linfen_2027, no_nudge
):
    # Given a county assessed once (two persons, their due items sent to tax), then a third enrolled,
    # and a run that died after its first attempt
    _enrolled("张三", 1)
    _enrolled("李四", 3)
    assessment.assessment_run_now(county_code="141002", insurance_year=YEAR)
    sent_before = OutboxMessage.objects.count()
    _enrolled("王五", 5)
    run = _left_running()

    # When it is resumed
    assessment.assessment_run_execute(run_id=run.pk)

    # Then only the third person is new and sent; the two already assessed are unchanged
    run.refresh_from_db()
    assert (run.status, run.created, run.changed, run.unchanged, run.pushed) == (RunStatus.DONE, 1, 0, 2, 1)
    assert OutboxMessage.objects.count() == sent_before + 1
    assert set(Assessment.objects.values_list("revision", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_given_a_running_run_whose_worker_lives_when_redelivered_then_left_alone_until_the_worker_is_gone(
    transactional_world, no_nudge
):
    # Given a running run whose lease a live worker's connection holds
    _linfen_policy()
    _enrolled("张三", 1)
    run = _left_running()
    worker = _hold_lease(run)

    # When the task is delivered a second time
    assessment.assessment_run_execute(run_id=run.pk)

    # Then the second delivery leaves the run to its worker
    run.refresh_from_db()
    assert (run.status, run.resumed_at) == (RunStatus.RUNNING, None)
    assert not Assessment.objects.exists()

    # And when that worker's connection ends (it died), a redelivery resumes the run
    _end(worker, run)
    assessment.assessment_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert Assessment.objects.count() == 1


def test_given_waiting_runs_when_beat_sweeps_then_only_those_nobody_executes_past_the_grace_are_queued_again(
    world, monkeypatch
):
    # Given: a running run whose worker died, a queued run whose message was lost, a running run
    # whose worker lives (its lease held elsewhere), a run queued a moment ago, and a finished one
    queued_again: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued_again.append)
    dead = _left_running(2027)
    lost = AssessmentRun.objects.create(county_code="141002", insurance_year=2028, reason="x")
    AssessmentRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    alive = _left_running(2029)
    worker = _hold_lease(alive)
    AssessmentRun.objects.create(county_code="141002", insurance_year=2030, reason="x")
    AssessmentRun.objects.create(county_code="141002", insurance_year=2031, status=RunStatus.DONE, reason="x")

    # When beat's sweep runs
    try:
        swept = resume_assessment_runs()
    finally:
        worker.close()

    # Then the dead and the lost runs are queued again, and nothing else
    assert swept == [dead.pk, lost.pk]
    assert queued_again == [dead.pk, lost.pk]


def test_the_sweep_is_in_beats_schedule():
    # Given the beat schedule, then the sweep runs every minute by default
    entry = settings.CELERY_BEAT_SCHEDULE["enrollment-resume-assessment-runs"]
    assert (entry["task"], entry["schedule"]) == ("enrollment.tasks.resume_assessment_runs", 60.0)


def test_given_a_resumed_run_when_its_page_is_shown_then_it_says_it_is_being_resumed(world, client):
    # Given a running run taken up again after its worker died
    run = _left_running()
    AssessmentRun.objects.filter(pk=run.pk).update(resumed_at=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC))
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    # When insurance staff open the run's page
    page = client.get(reverse("enrollment:assessment-run", kwargs={"pk": run.pk}))

    # Then it says the run is being resumed
    assert page.status_code == 200
    assert 'data-testid="run-resumed"' in page.content.decode()
    assert "自 2026-11-20 17:30 起正在恢复执行" in page.content.decode()
