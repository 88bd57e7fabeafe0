"""Chaos run of the sharing platform: all faults at once, then proof that every message was applied once.

N messages insurance → tax on realistic topics — ``assessment.due`` sent in bulk (one message a
person), ``assessment.due`` chains (four reassessments of one person, sent in four transactions
while the earlier ones still wait, so order per subject matters) and payer chains
(``enrollment.registered`` then three ``enrollment.changed``, suspended / normal) — are delivered by
real Celery worker processes on a private Redis while, at once:

- a supervisor SIGKILLs worker processes at random moments (a pool child, which Celery replaces,
  or a whole worker, which the supervisor replaces);
- the supervisor kills Redis (SIGKILL) and starts it again, at least once;
- 5% of handler calls raise (``PORTAL_SHARING_FAULTS`` ``rate``), and a few subjects fail on
  every call until "fixed" (``fail_file``): they become dead letters, are re-driven by the
  documented administrator's path (``services.dead_letter_redrive``) and then applied once.

Then it proves, message by message:

- **lost = 0**: every outbox message of the run has an inbox row and a tally row (an
  append-only row per application written by ``sharing.faults.after_handler`` in the delivery
  transaction — not deduplicated, so a message applied twice would have two);
- **applied twice = 0**: no message has more than one tally row;
- **out of order = 0**: per subject, the tally's application order follows ``seq``; and in
  tax's own history (pghistory events of due items and payers) no row ever went back to an
  older message;
- **receiver mismatches = 0**: every due item and payer holds the subject's last message (its id,
  amount, status);
- **nothing pending, no dead letter left**, and the reconciliation report of each day of the run
  shows **0 differences**.

The engine runs against the current database (a scratch database for ``manage.py bench chaos``,
the test database for ``tests/sharing/test_chaos.py``): the same code, different sizes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TALLY = "sharing_chaos_applied"
YEAR = 2026
REGION = "141002100201"
CHAIN = 4  # messages per chain subject
UNIQUE, DUE_CHAIN, PAYER_CHAIN = "CU", "CD", "CP"


@dataclass(frozen=True)
class ChaosConfig:
    messages: int
    kills: int  # at least this many SIGKILLs, at random points of the delivery
    redis_restarts: int  # at least this many Redis restarts
    workers: int = 2  # Celery worker instances, one pool process each
    failure_rate: float = 0.05
    poison_subjects: int = 3  # subjects that fail until fixed: dead letters, re-driven
    batch_size: int = 500
    chunk: int = 10_000  # unique messages per committed bulk send
    delay: float = 0.0  # seconds slept in every handler call (a kill lands mid-batch more often)
    max_attempts: int = 3
    timeout: float = 1800
    seed: int | None = None


@dataclass
class ChaosResult:
    name: str = "chaos"
    messages: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    worker_processes: int = 0
    batch_size: int = 0
    failure_rate: float = 0.0
    kills: int = 0
    kills_pool_child: int = 0
    kills_whole_worker: int = 0
    redis_restarts: int = 0
    handler_calls: int = 0
    injected_failures: int = 0
    injected_on_one_message: int = 0  # the calls that put a message back with back-off
    handler_calls_failed_by_poison: int = 0
    dead_letters_redriven: int = 0
    redrive_rounds: int = 0
    send_seconds: float = 0.0
    seconds: float = 0.0
    applied: int = 0
    lost: int = 0
    applied_twice: int = 0
    out_of_order: int = 0
    receiver_mismatches: int = 0
    history_regressions: int = 0
    pending_left: int = 0
    dead_left: int = 0
    reconciliation_days: list[str] = field(default_factory=list)
    reconciliation_differences: int = 0
    reconciliation_lines_unequal: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _count(sql: str, params: Any = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.fetchone()[0] or 0)


def _execute(sql: str, params: Any = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


# --- processes ---------------------------------------------------------------------------------


class CeleryProcess:
    """A celery worker or beat subprocess in a session of its own (the tests' worker is one too)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self._handle = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "config", *args],
            env=env,
            cwd=str(ROOT),
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def children(self) -> list[int]:
        import psutil

        try:
            return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_hard(self) -> None:
        """SIGKILL the whole process group (main process, pool children, an embedded beat), no chance
        to clean up: listing the children first would miss one forked in between."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
        # The group too, even when the main process is gone: a pool child it left behind would
        # keep its database connection open (and the test database could not be dropped).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._handle.close()


class _Fleet:
    """The worker processes under fire, the beat that sweeps, and the private Redis they share."""

    def __init__(self, env: dict[str, str], workdir: Path, workers: int) -> None:
        from config.embedded import RedisServer

        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis")
        self.redis.ensure()
        self.env = {**env, "PORTAL_BROKER_URL": self.redis.url(0)}
        self.started = 0
        self.workers: list[CeleryProcess] = []
        self.retired: list[CeleryProcess] = []
        self.beat = CeleryProcess(
            ["beat", "-l", "WARNING", "-s", str(workdir / "beat-schedule")], self.env, workdir / "beat.log"
        )
        for _ in range(workers):
            self.workers.append(self._worker())

    def _worker(self) -> CeleryProcess:
        self.started += 1
        name = f"chaos-{os.getpid()}-{self.started}@%h"
        args = ["worker", "-l", "WARNING", "-P", "prefork", "-c", "1", "--without-gossip", "--without-mingle"]
        return CeleryProcess([*args, "-n", name], self.env, self.workdir / f"worker-{self.started}.log")

    def kill(self, rng: random.Random) -> str:
        """SIGKILL a pool child (Celery forks a new one) or a whole worker (replaced here)."""
        index = rng.randrange(len(self.workers))
        worker = self.workers[index]
        children = worker.children()
        if children and rng.random() < 0.5:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(children), signal.SIGKILL)
            return "pool_child"
        worker.kill_hard()
        self.retired.append(worker)
        self.workers[index] = self._worker()
        return "whole_worker"

    def restart_redis(self) -> None:
        self.redis.stop(hard=True)
        time.sleep(1.0)
        self.redis.ensure()

    def stop(self) -> None:
        for process in [*self.workers, self.beat]:
            process.stop()
        for process in self.retired:
            process.stop()
        self.redis.stop()


class _Supervisor(threading.Thread):
    """Fires the kills and Redis restarts as delivery passes random points of its progress."""

    def __init__(self, fleet: _Fleet, config: ChaosConfig, rng: random.Random, log: Callable[[str], None]):
        super().__init__(daemon=True, name="chaos-supervisor")
        self.fleet, self.config, self.rng, self.log = fleet, config, rng, log
        self.points = sorted(
            [(rng.uniform(0.02, 0.9), "kill") for _ in range(config.kills)]
            + [(rng.uniform(0.15, 0.75), "redis") for _ in range(config.redis_restarts)]
        )
        self.kills = {"pool_child": 0, "whole_worker": 0}
        self.redis_restarts = 0
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        try:
            while self.points and not self.halt.is_set():
                progress = _count(f"SELECT count(*) FROM {TALLY}") / self.config.messages  # noqa: S608
                while self.points and self.points[0][0] <= progress:
                    _point, what = self.points.pop(0)
                    if what == "kill":
                        kind = self.fleet.kill(self.rng)
                        self.kills[kind] += 1
                        self.log(f"SIGKILL ({kind.replace('_', ' ')}) at {progress:.0%}")
                    else:
                        self.fleet.restart_redis()
                        self.redis_restarts += 1
                        self.log(f"Redis killed and restarted at {progress:.0%}")
                self.halt.wait(0.1)
        except BaseException as error:  # reported by the run, not lost in a thread
            self.error = error
        finally:
            connection.close()


# --- messages ----------------------------------------------------------------------------------


def plan(messages: int) -> tuple[int, int, int]:
    """Unique messages, due-chain subjects, payer-chain subjects (70% / 20% / 10% of N)."""
    due_subjects = max(1, messages * 2 // 10 // CHAIN)
    payer_subjects = max(1, messages // 10 // CHAIN)
    unique = messages - CHAIN * (due_subjects + payer_subjects)
    if unique < 1:
        raise ValueError("a chaos run needs at least 100 messages")
    return unique, due_subjects, payer_subjects


def _person(prefix: str, number: int) -> str:
    return f"{prefix}{number:010d}"


def poison_subjects(config: ChaosConfig) -> list[str]:
    _unique, due_subjects, _payers = plan(config.messages)
    step = max(1, due_subjects // max(1, config.poison_subjects))
    return [f"due:{_person(DUE_CHAIN, n)}:{YEAR}" for n in range(1, due_subjects + 1, step)][
        : config.poison_subjects
    ]


def _send_unique(start: int, stop: int) -> int:
    from django.db import transaction

    from sharing import services

    with transaction.atomic():
        return services.message_send_bulk(
            topic="assessment.due",
            query=(
                "SELECT NULL AS subject, NULL AS region_code, jsonb_build_object("
                "'person_id', %s || lpad(g::text, 10, '0'), 'insurance_year', %s, 'region_code', %s, "
                "'amount_fen', 38000 + (g %% 7) * 100, 'standard_fen', 40000, "
                "'subsidy_fen', 2000 - (g %% 7) * 100) AS payload FROM generate_series(%s, %s) AS g"
            ),
            params=[UNIQUE, YEAR, REGION, start, stop],
        )


def _send_chain_link(link: int, due_subjects: int, payer_subjects: int) -> int:
    """Message ``link`` (0-based) of every chain, in one transaction: the four links of a subject
    are four transactions, sent while the earlier ones may still wait."""
    from django.db import transaction

    from sharing import services

    due = (
        (None, None, {
            "person_id": _person(DUE_CHAIN, n), "insurance_year": YEAR, "region_code": REGION,
            "amount_fen": 30000 + 100 * link + n % 50,
        })
        for n in range(1, due_subjects + 1)
    )  # fmt: skip
    enrollment = {"region_code": REGION, "person_name": "张三", "category": "urban_rural"}
    if link == 0:
        payer_topic = "enrollment.registered"
        payers = (
            (None, None, {
                **enrollment, "person_id": _person(PAYER_CHAIN, n), "enrollment_id": n,
                "enrolled_on": f"{YEAR - 1}-12-01",
            })
            for n in range(1, payer_subjects + 1)
        )  # fmt: skip
    else:
        payer_topic = "enrollment.changed"
        payers = (
            (None, None, {
                **enrollment, "person_id": _person(PAYER_CHAIN, n), "enrollment_id": n,
                "status": "suspended" if link % 2 else "normal", "changed_on": f"{YEAR}-0{link}-01",
                "reason": "chaos",
            })
            for n in range(1, payer_subjects + 1)
        )  # fmt: skip
    with transaction.atomic():
        sent = services.message_send_bulk(topic="assessment.due", rows=due)
        sent += services.message_send_bulk(topic=payer_topic, rows=payers)
    return sent


def _send_all(config: ChaosConfig, log: Callable[[str], None]) -> None:
    unique, due_subjects, payer_subjects = plan(config.messages)
    chunks = [(start, min(unique, start + config.chunk - 1)) for start in range(1, unique + 1, config.chunk)]
    steps = max(len(chunks), CHAIN)
    links = {min(steps - 1, link * steps // CHAIN): link for link in range(CHAIN)}
    for step in range(steps):
        if step < len(chunks):
            _send_unique(*chunks[step])
        if step in links:
            _send_chain_link(links[step], due_subjects, payer_subjects)
    log(f"sent {config.messages:,} messages in {steps} steps")


# --- the run -----------------------------------------------------------------------------------


def _stuck_on_dead_letters() -> bool:
    """Dead letters exist and everything still pending waits behind one of them."""
    return bool(
        _count(
            """
            SELECT (EXISTS (SELECT 1 FROM sharing_pending WHERE status = 2)
                    AND NOT EXISTS (
                        SELECT 1 FROM sharing_pending p WHERE p.status = 0 AND NOT EXISTS (
                            SELECT 1 FROM sharing_pending d WHERE d.status = 2 AND d.subject = p.subject)))::int
            """
        )
    )


def tally_create() -> None:
    """The append-only tally of applications (``sharing.faults.after_handler`` writes it), empty."""
    _execute(f"DROP TABLE IF EXISTS {TALLY}; DROP SEQUENCE IF EXISTS {TALLY}_order")
    _execute(f"CREATE TABLE {TALLY} (message_id bigint NOT NULL, applied_order bigint NOT NULL)")
    _execute(f"CREATE SEQUENCE {TALLY}_order")


def _operator() -> Any:
    """The administrator who re-drives the dead letters (the documented path: the same service
    as the dead-letter pages and ``POST /api/sharing/dead-letters/redrive/``)."""
    from accounts.models import User
    from accounts.scope import Scope

    user = User.objects.filter(username="chaos_operator").first()
    if user is None:
        user = User.objects.create_superuser(username="chaos_operator", password=None, full_name="值班管理员")
    return Scope.for_user(user)


def _faults_log_counts(path: Path) -> tuple[int, int, int, int]:
    """Handler calls, calls that raised at random, failed calls on one message, calls that hit a
    poisoned subject."""
    calls = random_calls = single = poison = 0
    if path.exists():
        for line in path.read_text().splitlines():
            kind, _topic, size = line.split("\t")
            if kind == "call":
                calls += 1
                continue
            if kind == "random":
                random_calls += 1
            else:
                poison += 1
            if int(size) == 1:
                single += 1
    return calls, random_calls, single, poison


def run(
    config: ChaosConfig, *, env: dict[str, str], workdir: Path, log: Callable[[str], None] | None = None
) -> ChaosResult:
    """Send ``config.messages`` under every fault at once; wait until all is applied; check."""
    from django.db import connection

    from sharing import services

    say = log or (lambda message: print(f"[chaos] {message}", file=sys.stderr, flush=True))
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 - chaos, not cryptography
    workdir.mkdir(parents=True, exist_ok=True)
    fail_file, faults_log = workdir / "poison", workdir / "faults.log"
    fail_file.write_text("".join(f"{subject}\n" for subject in poison_subjects(config)))
    faults_log.write_text("")
    tally_create()
    first_id = _count("SELECT coalesce(max(id), 0) FROM sharing_outbox") + 1
    services.lanes_ensure()
    worker_env = {
        **env,
        "PORTAL_SHARING_FAULTS": json.dumps(
            {
                "rate": config.failure_rate,
                "fail_file": str(fail_file),
                "log_file": str(faults_log),
                "tally_table": TALLY,
                **({"delay": config.delay} if config.delay else {}),
            }
        ),
        "PORTAL_SHARING_BATCH_SIZE": str(config.batch_size),
        "PORTAL_SHARING_MAX_ATTEMPTS": str(config.max_attempts),
        "PORTAL_SHARING_RETRY_BASE_SECONDS": "0.2",
        "PORTAL_SHARING_RETRY_MAX_SECONDS": "1",
        "PORTAL_SHARING_SWEEP_SECONDS": "1",
        "PORTAL_SHARING_DRAIN_SECONDS": "5",
        "PORTAL_SHARING_FANOUT": str(config.workers),
        "PORTAL_HEARTBEAT_SECONDS": "3600",
    }
    result = ChaosResult(
        seed=seed,
        worker_processes=config.workers,
        batch_size=config.batch_size,
        failure_rate=config.failure_rate,
    )
    say(
        f"seed {seed}: {config.messages:,} messages, {config.workers} workers, ≥ {config.kills} kills, "
        f"≥ {config.redis_restarts} Redis restarts, {config.failure_rate:.0%} of handler calls raise, "
        f"{config.poison_subjects} poisoned subjects"
    )
    fleet = _Fleet(worker_env, workdir, config.workers)
    supervisor = _Supervisor(fleet, config, rng, say)
    started = time.perf_counter()
    try:
        supervisor.start()
        _send_all(config, say)
        result.send_seconds = round(time.perf_counter() - started, 2)
        deadline = time.monotonic() + config.timeout
        operator = None
        while _count("SELECT count(*) FROM sharing_pending") > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {config.timeout:.0f} s; see {workdir}")
            if supervisor.error is not None:
                raise RuntimeError(f"the supervisor failed: {supervisor.error!r}")
            if not supervisor.points and _stuck_on_dead_letters():
                fail_file.write_text("")  # the operator fixed the cause
                operator = operator or _operator()
                redriven = services.dead_letter_redrive(scope=operator, everything=True)
                result.dead_letters_redriven += redriven
                result.redrive_rounds += 1
                say(f"re-drove {redriven} dead letters")
            time.sleep(0.25)
        result.seconds = round(time.perf_counter() - started, 2)
        say(f"everything applied after {result.seconds:.1f} s")
    finally:
        supervisor.halt.set()
        supervisor.join(timeout=30)
        fleet.stop()
    if supervisor.points:
        result.failures.append(f"{len(supervisor.points)} planned faults never fired")
    result.kills_pool_child = supervisor.kills["pool_child"]
    result.kills_whole_worker = supervisor.kills["whole_worker"]
    result.kills = result.kills_pool_child + result.kills_whole_worker
    result.redis_restarts = supervisor.redis_restarts
    calls, random_calls, single, poison = _faults_log_counts(faults_log)
    result.handler_calls = calls
    result.injected_failures = random_calls
    result.injected_on_one_message = single
    result.handler_calls_failed_by_poison = poison
    check(result, config, first_id)
    connection.close()
    return result


def check(result: ChaosResult, config: ChaosConfig, first_id: int) -> None:
    """Every invariant, message by message, into ``result`` (figures and failures)."""
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from sharing import services

    run_ids = {"first": first_id}

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT topic, count(*) FROM sharing_outbox WHERE id >= %(first)s GROUP BY topic ORDER BY topic",
            run_ids,
        )
        result.by_topic = dict(cursor.fetchall())
    result.messages = sum(result.by_topic.values())
    result.applied = _count(
        f"SELECT count(DISTINCT message_id) FROM {TALLY} WHERE message_id >= %(first)s",  # noqa: S608
        run_ids,
    )
    result.lost = _count(
        f"""SELECT count(*) FROM sharing_outbox o WHERE o.id >= %(first)s
            AND (NOT EXISTS (SELECT 1 FROM {TALLY} t WHERE t.message_id = o.id)
                 OR NOT EXISTS (SELECT 1 FROM sharing_inbox i WHERE i.message_id = o.id))""",  # noqa: S608
        run_ids,
    )
    result.applied_twice = _count(
        f"SELECT count(*) FROM (SELECT message_id FROM {TALLY} GROUP BY message_id HAVING count(*) > 1) t"  # noqa: S608
    )
    result.out_of_order = _count(
        f"""SELECT count(*) FROM (
                SELECT o.seq, lag(o.seq) OVER (PARTITION BY o.subject ORDER BY t.applied_order) AS before
                FROM {TALLY} t JOIN sharing_outbox o ON o.id = t.message_id) x
            WHERE x.before >= x.seq"""  # noqa: S608
    )
    unknown = _count(
        f"SELECT count(*) FROM {TALLY} t WHERE NOT EXISTS (SELECT 1 FROM sharing_outbox o WHERE o.id = t.message_id)"  # noqa: S608
    )
    # Tax's ledgers hold each subject's last message; its history never goes back to an older one.
    due_mismatches = _count(
        """SELECT count(*) FROM (
               SELECT DISTINCT ON (subject) id, payload FROM sharing_outbox
               WHERE id >= %(first)s AND topic = 'assessment.due' ORDER BY subject, seq DESC) e
           LEFT JOIN collection_dueitem d
                  ON d.person_id = e.payload->>'person_id' AND d.insurance_year = (e.payload->>'insurance_year')::int
           WHERE d.id IS NULL OR d.source_message_id IS DISTINCT FROM e.id
              OR d.amount_fen <> (e.payload->>'amount_fen')::bigint""",
        run_ids,
    )
    payer_mismatches = _count(
        """SELECT count(*) FROM (
               SELECT DISTINCT ON (subject) id, topic, payload FROM sharing_outbox
               WHERE id >= %(first)s AND topic LIKE 'enrollment.%%' ORDER BY subject, seq DESC) e
           LEFT JOIN collection_payer p ON p.person_id = e.payload->>'person_id'
           WHERE p.id IS NULL OR p.source_message_id IS DISTINCT FROM e.id
              OR p.status <> CASE WHEN e.topic = 'enrollment.registered' THEN 'normal' ELSE e.payload->>'status' END""",
        run_ids,
    )
    extra_rows = _count(
        "SELECT count(*) FROM collection_dueitem WHERE person_id LIKE 'C%%' AND NOT EXISTS ("
        "SELECT 1 FROM sharing_outbox o WHERE o.id = source_message_id AND o.id >= %(first)s)",
        run_ids,
    )
    result.receiver_mismatches = due_mismatches + payer_mismatches + extra_rows
    result.history_regressions = sum(
        _count(
            f"""SELECT count(*) FROM (
                    SELECT sequence, lag(sequence) OVER (PARTITION BY pgh_obj_id ORDER BY pgh_id) AS before
                    FROM {table} WHERE source_message_id >= %(first)s) h
                WHERE h.before >= h.sequence""",  # noqa: S608
            run_ids,
        )
        for table in ("collection_dueitemevent", "collection_payerevent")
    )
    unique_events = _count(
        "SELECT count(*) FROM collection_dueitemevent WHERE source_message_id >= %(first)s AND person_id LIKE %(u)s",
        {**run_ids, "u": UNIQUE + "%"},
    )
    result.pending_left = _count("SELECT count(*) FROM sharing_pending")
    result.dead_left = _count("SELECT count(*) FROM sharing_pending WHERE status = 2")

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT (created_at AT TIME ZONE %s)::date FROM sharing_outbox WHERE id >= %s ORDER BY 1",
                       [timezone.get_current_timezone_name(), first_id])  # fmt: skip
        days = [row[0] for row in cursor.fetchall()]
    for day in days:
        report = services.reconciliation_run(day=day)
        result.reconciliation_days.append(day.isoformat())
        result.reconciliation_differences += report.difference_count
        result.reconciliation_lines_unequal += report.lines.exclude(
            sent_count=F("applied_count"), sent_amount_fen=F("applied_amount_fen")
        ).count()

    unique, _due, _payers = plan(config.messages)
    expectations = [
        (result.messages == config.messages, f"{result.messages:,} messages sent, {config.messages:,} planned"),
        (result.applied == config.messages, f"{result.applied:,} of {config.messages:,} applied"),
        (result.lost == 0, f"{result.lost:,} messages lost"),
        (result.applied_twice == 0, f"{result.applied_twice:,} messages applied more than once"),
        (unknown == 0, f"{unknown:,} applications of messages that were never sent"),
        (result.out_of_order == 0, f"{result.out_of_order:,} messages applied out of order"),
        (result.receiver_mismatches == 0, f"{result.receiver_mismatches:,} ledger rows differ from the last message"),
        (result.history_regressions == 0, f"{result.history_regressions:,} ledger changes went back to an older message"),
        (unique_events == unique, f"{unique_events:,} history events for {unique:,} one-message due items"),
        (result.pending_left == 0, f"{result.pending_left:,} messages still pending"),
        (result.dead_left == 0, f"{result.dead_left:,} dead letters left"),
        (result.reconciliation_differences == 0, f"{result.reconciliation_differences:,} reconciliation differences"),
        (result.reconciliation_lines_unequal == 0, f"{result.reconciliation_lines_unequal} reconciliation lines unequal"),
        (result.kills >= config.kills, f"{result.kills} kills, {config.kills} planned"),
        (result.redis_restarts >= config.redis_restarts, f"{result.redis_restarts} Redis restarts, {config.redis_restarts} planned"),
        (config.failure_rate == 0 or result.injected_failures > 0, "no handler call was made to raise"),
        (config.poison_subjects == 0 or result.dead_letters_redriven >= config.poison_subjects,
         f"{result.dead_letters_redriven} dead letters re-driven, {config.poison_subjects} poisoned subjects"),
    ]  # fmt: skip
    result.failures += [message for ok, message in expectations if not ok]


def summary(result: ChaosResult) -> str:
    """The printed figures of a run."""
    lines = [
        f"messages            {result.messages:,}  ({', '.join(f'{t} {n:,}' for t, n in result.by_topic.items())})",
        f"worker processes    {result.worker_processes} (batch {result.batch_size}), seed {result.seed}",
        f"kills (SIGKILL)     {result.kills} ({result.kills_pool_child} pool child, {result.kills_whole_worker} whole worker)",
        f"Redis restarts      {result.redis_restarts}",
        f"injected failures   {result.injected_failures:,} of {result.handler_calls:,} handler calls raised at random "
        f"({result.injected_failures / max(1, result.handler_calls):.1%}, rate {result.failure_rate:.0%}); "
        f"{result.handler_calls_failed_by_poison:,} calls hit a poisoned subject",
        f"retries (back-off)  {result.injected_on_one_message:,} failed calls on one message",
        f"dead letters        {result.dead_letters_redriven} re-driven in {result.redrive_rounds} round(s), {result.dead_left} left",
        f"duration            {result.seconds:.1f} s (sending {result.send_seconds:.1f} s)",
        f"applied             {result.applied:,}",
        f"lost                {result.lost}",
        f"applied twice       {result.applied_twice}",
        f"out of order        {result.out_of_order} (tally), {result.history_regressions} (tax's history)",
        f"ledger mismatches   {result.receiver_mismatches}",
        f"pending left        {result.pending_left}",
        f"reconciliation      {result.reconciliation_differences} differences "
        f"({', '.join(result.reconciliation_days)}), {result.reconciliation_lines_unequal} unequal lines",
        "result              " + ("OK" if result.ok else "FAILED: " + "; ".join(result.failures)),
    ]
    return "\n".join(lines)


# --- manage.py bench chaos --------------------------------------------------------------------


def config_for(messages: int, *, workers: int, seed: int | None) -> ChaosConfig:
    """The full run's settings: about one kill per 5,000 messages, one Redis restart per 40,000."""
    return ChaosConfig(
        messages=messages,
        kills=max(2, messages // 5000),
        redis_restarts=max(1, messages // 40_000),
        workers=workers,
        batch_size=500,
        chunk=10_000,
        delay=0.01,
        seed=seed,
    )


def run_inner(*, messages: int, workers: int, seed: int | None) -> dict[str, Any]:
    """Inside the scratch database: the run, its printed figures, and its result."""
    workdir = ROOT / "var" / "chaos"
    config = config_for(messages, workers=workers, seed=seed)
    result = run(config, env=dict(os.environ), workdir=workdir)
    print(summary(result), file=sys.stderr, flush=True)
    return result.as_dict()


def run_outer(*, messages: int, workers: int, seed: int | None, keep: bool) -> dict[str, Any]:
    from .scratch import run_in_scratch_database

    arguments = ["--size", str(messages), "--workers", str(workers)]
    if seed is not None:
        arguments += ["--seed", str(seed)]
    return run_in_scratch_database("chaos", arguments, keep=keep)


def from_dict(figures: dict[str, Any]) -> ChaosResult:
    known = set(ChaosResult.__dataclass_fields__)
    return ChaosResult(**{key: value for key, value in figures.items() if key in known})


def record(figures: dict[str, Any], out: str | None, command: str) -> tuple[Path, Path]:
    """``<out>.json`` and ``<out>.md`` (default ``bench-results/chaos-<UTC time>``): the machine,
    the command and every figure of the run."""
    from . import report

    started = report.now()
    stem = Path(out) if out else ROOT / "bench-results" / f"chaos-{started.replace(':', '')}"
    if stem.suffix in (".json", ".md"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    machine = report.machine()
    document = {"finished": started, "command": command, "machine": machine, "result": figures}
    json_path, md_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")
    json_path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    m = machine
    md_path.write_text(
        f"# Chaos run of the sharing platform, {started}\n\n"
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; PostgreSQL {m['postgresql']}, "
        f"Redis {m['redis']}; load average {m['load_average']}; commit {m['commit']}.\n\n"
        f"Command: `{command}`\n\n```\n{summary(from_dict(figures))}\n```\n"
    )
    return json_path, md_path
