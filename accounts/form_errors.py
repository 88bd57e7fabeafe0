"""A service's ValidationError shown on the form that called it."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(form: forms.BaseForm, error: ValidationError, renamed: Mapping[str, str] = {}) -> None:
    """Each field's errors next to the form's field of that name (``renamed``: the service's name to
    the form's, e.g. ``amount_fen`` to ``amount_yuan``); the rest at the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, problems in error.message_dict.items():
        name = renamed.get(field, field)
        form.add_error(name if name in form.fields else None, problems)
