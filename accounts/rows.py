"""Model instances from rows of hand-written SQL, for the few hot paths that skip the ORM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init


def model_from_row(model: type[Model], attnames: Sequence[str], values: Sequence[Any]) -> Any:
    """``model.from_db`` for a full row, built as unpickling builds an instance: the row's values
    straight into ``__dict__``, without ``__init__``'s descriptor call per field. Models with init
    signals take ``from_db`` itself, whose signals would otherwise be skipped."""
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(connection.alias, attnames, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = connection.alias
    return instance
