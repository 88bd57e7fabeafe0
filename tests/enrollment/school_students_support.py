"""The scene of a school's student list (学生名册), shared by its page tests and its browser test.

尧都区's school 学校a (world's ``school_a``) has six students, registered through its clerk's rosters:

| student | roster | enrollment | insurance year 2027 |
|---|---|---|---|
| 王一 | approved | normal since 2025-09-01 | paid 400.00 on 2026-10-10 |
| 王二 | approved | normal since 2025-09-01 | due 400.00 |
| 王三 | approved | suspended (since it began 2025-09-01) | not assessed |
| 李四 | approved | terminated | not assessed |
| 李五 | submitted, awaiting the county's decision | — | not assessed |
| 张六 | on no roster (a student record of the school) | — | not assessed |

Around them, who must never be on its list: a student of 洪洞县's school 学校b, and a villager of
屯里村 in the same county.
"""

from __future__ import annotations

import datetime as dt

from accounts.scope import Scope
from enrollment import services
from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now
from enrollment.models import ChangeReason, Enrollment, Person
from tests.conftest import World
from tests.matrix.enrollment_registration import resident_id
from tests.matrix.enrollment_review import make_person
from tests.refunds.support import YEAR, policy_for

SCHOOL_REGION = "141002000000"
TUNLI = "141002100201"
ENROLLED_ON = dt.date(2025, 9, 1)
BORN = dt.date(2010, 5, 1)
PAID_ON = dt.date(2026, 10, 10)


def student_id(sequence: int) -> str:
    return resident_id("141002", BORN, sequence)


def _student(name: str, sequence: int) -> services.MemberInput:
    return services.MemberInput(
        id_kind="resident_id", id_number=student_id(sequence), name=name, sex="male",
        birth_date=BORN, relation="", category="student",
    )  # fmt: skip


def scope_of(world: World, key: str) -> Scope:
    return Scope.for_user_id(world.users[key].pk)


def make_school_scene(world: World) -> dict[str, Person]:
    """The scene of the module docstring; the persons by name."""
    policy_for("141000")
    school_clerk, reviewer = scope_of(world, "school_a"), scope_of(world, "insurance_a")
    approved = services.school_roster_register(
        scope=school_clerk,
        students=[_student("王一", 11), _student("王二", 12), _student("王三", 13), _student("李四", 14)],
        label="高一(3)班",
    )
    services.application_approve(scope=reviewer, application_id=approved.pk, enrollment_date=ENROLLED_ON)
    services.school_roster_register(scope=school_clerk, students=[_student("李五", 15)], label="高一(4)班")
    make_person(SCHOOL_REGION, name="张六", id_number=student_id(16), school=world.agencies["school_a"])
    make_person(
        "141024000000",
        name="赵七",
        id_number=resident_id("141024", BORN, 17),
        school=world.agencies["school_b"],
    )
    make_person(TUNLI, name="钱八", id_number=resident_id("141002", BORN, 18))
    persons = {person.name: person for person in Person.objects.all()}
    suspended = Enrollment.objects.get(person=persons["王三"])
    services.enrollment_suspend(
        scope=reviewer,
        enrollment_id=suspended.pk,
        reason=ChangeReason.OTHER_SUSPENSION,
        effective_on=ENROLLED_ON,
    )
    ended = Enrollment.objects.get(person=persons["李四"])
    services.enrollment_terminate(
        scope=reviewer, enrollment_id=ended.pk, reason=ChangeReason.EMIGRATION, effective_on=ENROLLED_ON
    )
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assessment_record_deposits(deposits=[Deposit(student_id(11), YEAR, 40000, PAID_ON, "R1")])
    return persons
