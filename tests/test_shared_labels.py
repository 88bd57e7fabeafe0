"""A label sent between bureaus in the portal's language is shown in the reader's."""

from __future__ import annotations

import pytest
from django.utils import translation

from sharing.labels import overcollection_reason


@pytest.mark.parametrize(
    ("language", "stored", "shown"),
    [
        ("en", "银行重复扣款", "Bank debited twice"),
        ("en", "其他（见备注）: 柜台找零错误", "Other (see the note): 柜台找零错误"),
        ("en", "手写的原因", "手写的原因"),
        ("zh-hans", "其他（见备注）: 柜台找零错误", "其他（见备注）: 柜台找零错误"),
    ],
)
def test_given_a_stored_reason_then_its_label_is_in_the_readers_language_and_the_rest_as_typed(
    language, stored, shown
):
    with translation.override(language):
        assert overcollection_reason(stored) == shown
