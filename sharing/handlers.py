"""Receivers register one handler per topic; the platform calls it with a batch of messages.

A receiving app writes a ``handlers.py`` module (found by ``autodiscover_modules("handlers")``
when the sharing app is ready)::

    from sharing.handlers import Message, handles

    @handles("assessment.due")
    def apply_due_items(batch: Batch) -> None:
        sql, params = batch.rows_sql()   # the batch as a relation: set-based, no row in Python
        ...                              # or: for message in batch: ...  (loads the payloads)

The contract of a handler:

- it receives a non-empty batch of messages of its topic, in the order they were sent; one
  subject may appear more than once (in increasing ``seq``), and a set-based upsert may keep the
  last message of each subject (``DISTINCT ON (subject) … ORDER BY subject, seq DESC``);
- it runs inside the delivery transaction, together with the inbox entries and the outbox's
  status: it must not commit, and it must not call out to anything that cannot roll back;
- it raises to refuse the batch; the platform then narrows the batch down to the message(s)
  that fail, retries those with back-off and finally turns them into dead letters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from . import topics

Handler = Callable[["Batch"], None]


@dataclass(frozen=True)
class Message:
    id: int
    topic: str
    version: int
    subject: str
    seq: int
    region_code: str
    amount_fen: int | None
    payload: dict[str, Any]
    sent_at: datetime


# The columns of a batch as a relation, in send order.
ROWS_SQL = (
    "SELECT o.id AS message_id, o.version, o.subject, o.seq, o.region_code, o.amount_fen, o.payload, "
    "o.created_at AS sent_at FROM sharing_outbox o WHERE o.id = ANY(%(sharing_batch_ids)s)"
)


@dataclass
class Batch:
    """Messages of one topic handed to its receiver together; iterable, or usable as SQL."""

    topic: str
    ids: list[int]
    _messages: list[Message] | None = field(default=None, repr=False)

    def rows_sql(self) -> tuple[str, dict[str, Any]]:
        """A SELECT over the batch (message_id, version, subject, seq, region_code, amount_fen,
        payload, sent_at) and its parameters, for handlers that work set-based in SQL."""
        return ROWS_SQL, {"sharing_batch_ids": self.ids}

    @property
    def messages(self) -> list[Message]:
        if self._messages is None:
            with connection.cursor() as cursor:
                cursor.execute(ROWS_SQL + " ORDER BY o.id", {"sharing_batch_ids": self.ids})
                self._messages = [
                    Message(
                        id=r[0],
                        topic=self.topic,
                        version=r[1],
                        subject=r[2],
                        seq=r[3],
                        region_code=r[4],
                        amount_fen=r[5],
                        payload=r[6] if isinstance(r[6], dict) else json.loads(r[6]),
                        sent_at=r[7],
                    )
                    for r in cursor.fetchall()
                ]
        return self._messages

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.ids)


HANDLERS: dict[str, Handler] = {}


def handles(topic_name: str) -> Callable[[Handler], Handler]:
    topic = topics.get(topic_name)

    def register(handler: Handler) -> Handler:
        current = HANDLERS.get(topic.name)
        if current is not None and current.__qualname__ != handler.__qualname__:
            raise ValueError(
                f"topic {topic.name} already has a handler: {current.__module__}.{current.__qualname__}"
            )
        HANDLERS[topic.name] = handler
        return handler

    return register


def handler_for(topic_name: str) -> Handler | None:
    return HANDLERS.get(topic_name)
