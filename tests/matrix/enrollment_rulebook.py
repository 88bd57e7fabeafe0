"""Access-matrix objects of the rulebook, yearly-assessment and coverage pages and API, and the small
factories their tests share.

``own=True`` gives a policy of 临汾市 (readable by every 尧都区 user and managed by the Linfen
administrator), a run and assessments of 尧都区, a person in 屯里村; ``own=False`` a policy of 太原市,
a run of 洪洞县 (or of 小店区 for the Linfen administrator) and a person there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from accounts.roles import Role
from enrollment.models import AssessmentRun, Policy, RunStatus
from enrollment.policies import policy_save
from enrollment.rules.presets import load_preset
from enrollment.views.rulebook import shift_years
from tests.conftest import World
from tests.matrix.enrollment_review import (
    QINBI,
    TUNLI,
    XIAODIAN_VILLAGE,
    make_enrollment,
    make_person,
    own_school,
    school_region,
)

MATRIX_YEAR = 2030
YAODU = "141002"
HONGDONG = "141024"
XIAODIAN = "140105"


def policy_document(
    *, code: str, region_code: str = "141000", year: int = MATRIX_YEAR, **changes: Any
) -> dict:
    """The Linfen 2021 preset moved to ``year`` (every date), under another code and region."""
    document = shift_years(load_preset("linfen-2021").to_document(), year - 2021)
    document.update(code=code, region_code=region_code, insurance_year=year, name=f"测试政策 {code}")
    document.update(changes)
    return document


def ensure_policy(*, code: str, region_code: str = "141000", year: int = MATRIX_YEAR) -> Policy:
    existing = Policy.objects.filter(code=code).first()
    if existing is not None:
        return existing
    return policy_save(
        document=policy_document(code=code, region_code=region_code, year=year), note="测试"
    ).record


def _policy_code(world: World, user, own: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if own:
        return {"code": ensure_policy(code="matrix-linfen", region_code="141000").code}
    return {"code": ensure_policy(code="matrix-taiyuan", region_code="140100").code}


def _policy_version(world: World, user, own: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**_policy_code(world, user, own), "number": 1}


def _county(user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return YAODU
    return XIAODIAN if user.role == Role.ADMINISTRATOR else HONGDONG


def make_run(
    county_code: str = YAODU, *, year: int = MATRIX_YEAR, status: str = RunStatus.DONE
) -> AssessmentRun:
    return AssessmentRun.objects.create(
        county_code=county_code, insurance_year=year, status=status, reason="测试", enrollments=3, created=3
    )


def _run_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": make_run(_county(user, own)).pk}


def _county_year(world: World, user, own: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"county": _county(user, own), "year": MATRIX_YEAR}


def _id_number(world: World, user, own: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    region = (
        (school_region(user) or TUNLI)
        if own
        else (XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else QINBI)
    )
    person = make_person(region, school=own_school(user, own))
    make_enrollment(person, enrolled_on=dt.date(2024, 1, 1))
    return {"id_number": person.id_number}


OBJECT_KWARGS: dict[str, Callable] = {
    # pages
    "enrollment:policy-detail": _policy_code,
    "enrollment:policy-edit": _policy_code,
    "enrollment:policy-extend": _policy_code,
    "enrollment:policy-download": _policy_code,
    "enrollment:policy-version": _policy_version,
    "enrollment:assessment-run": _run_pk,
    "enrollment:assessment-run-progress": _run_pk,
    "enrollment:assessment-list": _county_year,
    # API
    "policy-detail": _policy_code,
    "policy-export": _policy_code,
    "assessment-run-detail": _run_pk,
    "coverage-detail": _id_number,
}
