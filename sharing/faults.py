"""Fault injection for the reliability tests and the soak benchmark; inert unless configured.

``PORTAL_SHARING_FAULTS`` (JSON, read by settings into ``SHARING["FAULTS"]``) may hold:

- ``rate``: the probability that a handler call raises (e.g. 0.05);
- ``fail_file``: a file of subjects, one a line; a batch holding one of them raises while the
  file lists it (remove the line to let the message through);
- ``delay``: seconds to sleep in every handler call (to catch a worker mid-batch);
- ``log_file``: a file to which every handler call and every injected failure appends one line
  (kind, topic, number of messages in the call), from any worker process (O_APPEND), for the
  chaos run's figures;
- ``tally_table``: a table ``(message_id bigint, applied_order bigint)`` (and a sequence
  ``<table>_order``) into which every applied message adds one row in the delivery transaction,
  after its handler: an append-only count of applications, independent of the inbox's
  deduplication, so that a chaos run can prove that no message was applied twice or out of order
  (``bench/chaos.py`` creates it).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection


class InjectedFault(RuntimeError):  # noqa: N818 - reads as what it is in an error list
    pass


def _config() -> dict[str, Any]:
    return settings.SHARING.get("FAULTS") or {}


def _logged(config: dict[str, Any], kind: str, topic: str, subjects: list[str]) -> None:
    log_file = config.get("log_file")
    if log_file:
        with open(log_file, "a") as log:  # one short write: whole lines even from many processes
            log.write(f"{kind}\t{topic}\t{len(subjects)}\n")


def before_handler(topic: str, subjects: list[str]) -> None:
    config = _config()
    if not config:
        return
    if config.get("delay"):
        time.sleep(float(config["delay"]))
    _logged(config, "call", topic, subjects)
    fail_file = config.get("fail_file")
    if fail_file:
        path = Path(fail_file)
        if path.exists():
            failing = {line.strip() for line in path.read_text().splitlines() if line.strip()}
            hit = failing.intersection(subjects)
            if hit:
                _logged(config, "poison", topic, subjects)
                raise InjectedFault(f"injected failure for {sorted(hit)[0]} ({topic})")
    rate = float(config.get("rate") or 0)
    if rate and random.random() < rate:  # noqa: S311 - chaos, not cryptography
        _logged(config, "random", topic, subjects)
        raise InjectedFault(f"injected random failure ({topic})")


def after_handler(topic: str, ids: list[int]) -> None:
    """Count the applied messages in the tally table, in the delivery transaction (rolled back with it)."""
    table = _config().get("tally_table")
    if not table:
        return
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, applied_order) "  # noqa: S608 - checked identifier
            f"SELECT id, nextval('{table}_order') FROM unnest(%s::bigint[]) AS t(id)",
            [sorted(ids)],
        )
