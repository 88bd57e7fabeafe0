"""A category's code changed while a roster file is applied, on real connections (threads, real
commits).

A category that persons are tagged for keeps its code (``subsidy_category_save`` counts its tags
and refuses): a new code would leave the tags matching no category, and their subsidies would
vanish at the next reassessment. The import's tags count once it commits; until then the change
must not slip in between the import's reading of the categories and its commit, in either order.

A change of the category's amount meanwhile waits for the import too, and tells tax the new amount
for the import's persons (``policy_save`` → ``subsidies.marks.policy_marks_send``): both take the
marks' lock before the policy's row, so neither deadlocks with the other.

Played in a fixed order (tests/refunds/race_support.py). The Linfen preset for next year, stored
for 临汾市 (tests/subsidies/support.py): 城乡低保对象 (code dibao, roster word 低保)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from enrollment.models import Person, Policy
from subsidies import rosters, services
from subsidies.models import RosterImport, SubsidyTag
from tests.conftest import World, queued_runs_execute
from tests.refunds.race_support import Held, race
from tests.subsidies.support import (
    HEADER,
    YEAR,
    assess,
    check,
    confirm,
    dibao_amount_set,
    enrolled,
    import_applied,
    linfen_policy,
    row,
    scope_of,
    tax_marks,
    xlsx_bytes,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def job(world: World) -> RosterImport:
    """张三 of 屯里村 (next year assessed) on a first 低保 roster, checked and confirmed, not yet
    applied: no one in the policy's area holds a dibao tag yet."""
    linfen_policy()
    zhang = enrolled("张三", 1)
    assess("141002")
    preview = check(world, xlsx_bytes([HEADER, row(1, zhang)]))
    services.roster_import_confirm(
        scope=scope_of(world), import_id=preview.pk, mode="valid_rows", queue=False
    )
    return preview


def _new_code(world: World) -> str:
    policy = Policy.objects.get(code="linfen-next")
    dibao = services.subsidy_category_document(policy=policy, code="dibao")
    assert dibao is not None
    try:
        services.subsidy_category_save(
            scope=scope_of(world),
            policy_code=policy.code,
            original_code="dibao",
            category={**dibao, "code": "low_income"},
            note="代码改为 low_income",
            actor_id=None,
        )
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "saved"


def _codes() -> list[str]:
    return [c["code"] for c in Policy.objects.get(code="linfen-next").document["subsidy_categories"]]


def test_given_a_roster_file_being_applied_when_its_category_code_is_changed_then_the_change_waits_and_is_refused(
    world: World, job: RosterImport, monkeypatch: pytest.MonkeyPatch
):
    # Given: the import held once it has read the categories and checked the rows (its report written)
    held = Held(rosters.write_report)
    monkeypatch.setattr(rosters, "write_report", held)

    # When: the category's code dibao is changed to low_income meanwhile
    applied, changed, waited = race(lambda: import_applied(world, job), lambda: _new_code(world), held)

    # Then: the change waited for the import, counted its tag and was refused; the tag's code is
    # still a category's
    assert (applied, changed, waited) == (
        "done",
        "refused: 1 tags in this policy's area are for dibao; with another code they would match no "
        "category. Keep the code, or give the category the roster tag dibao.",
        True,
    )
    assert list(SubsidyTag.objects.values_list("category", flat=True)) == ["dibao"]
    assert _codes() == ["poverty_registered", "dibao", "severe_disability", "tekun", "clergy"]


def test_given_a_category_code_change_under_way_when_a_roster_file_is_applied_then_it_waits_and_tags_the_new_code(
    world: World, job: RosterImport, monkeypatch: pytest.MonkeyPatch
):
    # Given: the change of dibao's code to low_income held once it has counted the tags (none) and
    # saved the policy's new version, not yet committed; the county's run it queues left to the test
    held = Held(services.policy_save)
    monkeypatch.setattr(services, "policy_save", held)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)

    # When: the import is applied meanwhile
    changed, applied, waited = race(lambda: _new_code(world), lambda: import_applied(world, job), held)

    # Then: the import waited for the change, and the county being reassessed under the new version,
    # it was refused: no tag of the old code slipped in
    assert (changed, waited) == ("saved", True)
    assert applied == (
        "failed: The yearly assessment of county 尧都区（141002） is running; try again when it has finished."
    )
    assert not SubsidyTag.objects.exists()
    assert _codes() == ["poverty_registered", "low_income", "severe_disability", "tekun", "clergy"]
    # and once the county's run has ended, the file imported again reads 低保 as 城乡低保对象, now
    # low_income, and tags that code
    assert len(queued_runs_execute()) == 1
    again = confirm(world, check(world, xlsx_bytes([HEADER, row(1, Person.objects.get(name="张三"))])))
    assert again.status == "done"
    assert list(SubsidyTag.objects.values_list("category", flat=True)) == ["low_income"]


def _raised(world: World) -> str:
    dibao_amount_set(world, 20000)
    return "saved"


def test_given_a_roster_file_being_applied_when_its_categorys_amount_is_raised_then_the_raise_waits_and_tax_marks_the_new_amount(
    world: World, job: RosterImport, monkeypatch: pytest.MonkeyPatch
):
    # Given: the import held once it has read the categories and checked the rows (its report written)
    held = Held(rosters.write_report)
    monkeypatch.setattr(rosters, "write_report", held)

    # When: 低保's fixed subsidy is raised from 160 to 200 yuan meanwhile
    applied, raised, waited = race(lambda: import_applied(world, job), lambda: _raised(world), held)

    # Then: the raise waited for the import (no deadlock), and tax's mark of the import's person
    # ends with the new amount
    assert (applied, raised, waited) == ("done", "saved", True)
    zhang = Person.objects.get(name="张三")
    assert tax_marks(zhang)[YEAR][1:5] == ("active", "02", "fixed", 20000)
