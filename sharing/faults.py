"""Fault injection for the reliability tests and the soak benchmark; inert unless configured.

``PORTAL_SHARING_FAULTS`` (JSON, read by settings into ``SHARING["FAULTS"]``) may hold:

- ``rate``: the probability that a handler call raises (e.g. 0.05);
- ``fail_file``: a file of subjects, one a line; a batch holding one of them raises while the
  file lists it (remove the line to let the message through);
- ``delay``: seconds to sleep in every handler call (to catch a worker mid-batch).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from django.conf import settings


class InjectedFault(RuntimeError):  # noqa: N818 - reads as what it is in an error list
    pass


def _config() -> dict[str, Any]:
    return settings.SHARING.get("FAULTS") or {}


def before_handler(topic: str, subjects: list[str]) -> None:
    config = _config()
    if not config:
        return
    if config.get("delay"):
        time.sleep(float(config["delay"]))
    fail_file = config.get("fail_file")
    if fail_file:
        path = Path(fail_file)
        if path.exists():
            failing = {line.strip() for line in path.read_text().splitlines() if line.strip()}
            hit = failing.intersection(subjects)
            if hit:
                raise InjectedFault(f"injected failure for {sorted(hit)[0]} ({topic})")
    rate = float(config.get("rate") or 0)
    if rate and random.random() < rate:  # noqa: S311 - chaos, not cryptography
        raise InjectedFault(f"injected random failure ({topic})")
