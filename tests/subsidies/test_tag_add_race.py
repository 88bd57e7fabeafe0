"""Two people tag the same person with the same category at the same moment, on real connections
(threads, real commits): one tag is added, and the other is told the person already holds one,
not shown a server error. Played in a fixed order (tests/refunds/race_support.py). The Linfen preset
for next year, stored for 临汾市 (tests/subsidies/support.py)."""

from __future__ import annotations

import pytest

from subsidies import services
from subsidies.models import SubsidyTag
from tests.conftest import World
from tests.refunds.race_support import Held, race
from tests.subsidies.support import assess, dibao_added, enrolled, linfen_policy

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_constraint_the_add_reads_is_the_tags_own():
    assert services.ONE_OPEN_TAG in {constraint.name for constraint in SubsidyTag._meta.constraints}


def test_given_a_tag_being_added_when_the_same_tag_is_added_again_then_the_second_waits_and_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # Given: 李四 enrolled and assessed; a dibao tag being added for him, held after its insert
    linfen_policy()
    li = enrolled("李四", 3)
    assess("141002")
    held = Held(services.assessment_reassess)
    monkeypatch.setattr(services, "assessment_reassess", held)

    # When: the same tag is added again meanwhile
    first, second, waited = race(lambda: dibao_added(li), lambda: dibao_added(li), held)

    # Then: the second waited for the first and was refused with the reason; one open tag
    assert (first, second, waited) == ("added", "refused: 李四 already holds an open dibao tag.", True)
    assert SubsidyTag.objects.filter(person=li, category="dibao", valid_to__isnull=True).count() == 1
