"""Races on real connections (threads, real commits), played in a fixed order: the first
transaction is held, with its lock, at a point inside it; the second is started and seen waiting
for the lock in PostgreSQL; then the first goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import connection
from django.utils import translation


class Held:
    """Wraps a function called inside the first transaction: once it has run, that transaction
    (holding the assessment's lock) waits until ``go_on`` is set."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original
        self.reached = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.original(*args, **kwargs)
        self.reached.set()
        assert self.go_on.wait(30)
        return result


def own_connection(work: Callable[[], str]) -> Callable[[], str]:
    def run() -> str:
        try:
            with translation.override("en"):
                return work()
        finally:
            connection.close()

    return run


def waiting_for_a_lock(other: Future[str], seconds: float = 20) -> bool:
    """The second transaction is seen waiting for a row lock (or it finished without waiting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not other.done():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def race(first: Callable[[], str], second: Callable[[], str], held: Held) -> tuple[str, str, bool]:
    """``first`` runs until ``held`` holds it, then ``second`` starts; both outcomes, and whether
    the second waited for the first's lock."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(own_connection(first))
        assert held.reached.wait(30)
        two = pool.submit(own_connection(second))
        try:
            waited = waiting_for_a_lock(two)
        finally:
            held.go_on.set()
        return one.result(timeout=60), two.result(timeout=60), waited
