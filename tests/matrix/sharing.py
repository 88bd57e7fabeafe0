"""Access-matrix objects of the sharing platform."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import World


def _dead_letter_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from tests.sharing.support import XIAODIAN, YAODU_VILLAGE, make_dead_letter

    region = YAODU_VILLAGE if own else XIAODIAN
    return {"pk": make_dead_letter(region=region, person=f"M{user.pk:05d}{int(own)}{region[:4]}")}


OBJECT_KWARGS: dict[str, Callable] = {
    "sharing:dead-letter-detail": _dead_letter_pk,
    "sharing-dead-letter-detail": _dead_letter_pk,
}
