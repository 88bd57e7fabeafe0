"""Run a benchmark inside a scratch database (created, migrated, dropped), in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def scratch_database_url(name: str) -> str:
    from urllib.parse import quote

    from django.db import connection

    s = connection.settings_dict
    host = quote(str(s["HOST"] or ""), safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    password = f":{quote(str(s['PASSWORD']), safe='')}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{host}{port}/{name}"


def _exists(name: str) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def run_in_scratch_database(
    benchmark: str, arguments: list[str], *, keep: bool, reuse: bool = False
) -> dict[str, Any]:
    """``manage.py bench <benchmark> --inner <arguments>`` against a fresh, migrated database —
    or, with ``reuse``, against the one an earlier ``--keep`` run left (migrated again, not
    rebuilt; the benchmark then measures on the data it finds)."""
    from django.db import connection

    from config import embedded

    # One scratch database per benchmark: two benchmarks (or a kept one) never drop each other's data.
    name = f"{connection.settings_dict['NAME']}_bench_{benchmark}"
    reused = reuse and _exists(name)
    log(f"scratch database {name}" + (" (kept from an earlier run)" if reused else ""))
    if not reused:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    broker = os.environ.get("PORTAL_BENCH_BROKER_URL") or embedded.redis_url(5)
    env = dict(os.environ, DATABASE_URL=scratch_database_url(name), PORTAL_BROKER_URL=broker)
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=str(ROOT), check=True)
        inner = subprocess.run(
            [*manage, "bench", benchmark, "--inner", *arguments, *(["--reuse"] if reused else [])],
            env=env,
            cwd=str(ROOT),
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        if not keep:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return json.loads(inner.stdout.strip().splitlines()[-1])
