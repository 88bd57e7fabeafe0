"""Labels that travel between bureaus as text and are shown again in the reader's language.

A label a message carries was written in the portal's language (``settings.LANGUAGE_CODE``) when
it was sent; a page in another language shows it by the message id it came from. Free text typed
by a user (a note after the label) is shown as it was typed."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

# The labels of tax's over-collection reasons (collection.models.OvercollectionReason), sent as
# "label" or "label: note" in ``refund.overcollection_requested`` and carried on into the plans.
OVERCOLLECTION_REASONS = (
    gettext_noop("Charged twice"),
    gettext_noop("Wrong amount charged"),
    gettext_noop("Bank debited twice"),
    gettext_noop("Other (see the note)"),
)


def overcollection_reason(text: str) -> str:
    """The reason as sent, its label in the active language; anything else as it was stored."""
    label, separator, note = (text or "").partition(": ")
    with translation.override(settings.LANGUAGE_CODE):
        sent = {gettext(message): message for message in OVERCOLLECTION_REASONS}
    message = sent.get(label)
    if message is None:
        return text
    return f"{gettext(message)}{separator}{note}"
