"""Access-matrix objects of a school's student list: the caller's own school (a school's clerk)
or a school in the caller's region, and a school of another county (another city's, for the
city's administrator)."""

from __future__ import annotations

from collections.abc import Callable

from accounts.roles import Role
from tests.conftest import World
from tests.matrix.enrollment_documents import _school_pk


def _students_school_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    # A school's clerk sees their own school's list only; any other school, even of their county, is not found.
    if own and user.role == Role.SCHOOL_CLERK:
        return {"pk": user.agency.pk}
    return _school_pk(world, user, own)


OBJECT_KWARGS: dict[str, Callable] = {
    "enrollment:school-students": _students_school_pk,
    "enrollment:school-students-xlsx": _students_school_pk,
}
