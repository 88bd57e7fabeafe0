"""``manage.py bench all``: the machine it ran on, every benchmark's figures against the targets of
``quality.md``, written as JSON and as a markdown table."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .scratch import ROOT


@dataclass(frozen=True)
class Target:
    """One line of ``quality.md``'s performance table, as a check of one figure."""

    figure: str
    label: str
    check: Callable[[float], bool]
    text: str


# quality.md, "Performance targets". The assessment's "< 60 s for 1 million" is checked as a rate
# (1,000,000 ÷ 60 s = 16,667 persons/s), so that a smaller run says something too.
TARGETS: dict[str, list[Target]] = {
    "sharing": [
        Target("ours_per_s", "records/s", lambda v: v >= 10_000, "≥ 10,000"),
        Target("ratio", "× one task per record", lambda v: v >= 20, "≥ 20×"),
    ],
    "assessment": [
        Target("ours_per_s", "persons/s", lambda v: v >= 1_000_000 / 60, "≥ 16,667 (1 million in < 60 s)"),
        Target("ratio", "× per-person ORM loop", lambda v: v >= 50, "≥ 50×"),
    ],
    "roster": [
        Target("ours_per_s", "rows/s", lambda v: v >= 20_000, "≥ 20,000"),
        Target("ratio", "× django-import-export", lambda v: v >= 20, "≥ 20×"),
        Target("floor_ratio", "× the floor (read + COPY)", lambda v: v <= 3, "≤ 3×"),
        Target("peak_rss_mb", "peak RSS, MB", lambda v: v < 500, "< 500 (at 1 million rows)"),
    ],
    "payments": [
        Target("ratio", "of the database-free rate", lambda v: v >= 0.25, "≥ 0.25"),
        Target("p99_ms", "p99, ms", lambda v: v < 150, "< 150"),
        Target("errors", "errors", lambda v: v == 0, "0"),
    ],
    "lookup": [
        Target("p99_ms", "p99, ms", lambda v: v < 10, "< 10 (among 5 million)"),
    ],
    # Each dashboard page answers in under a second at 5 million persons: insurance's and tax's.
    "dashboards": [
        Target("p99_ms", "p99 of every page, ms", lambda v: v < 1000, "< 1,000 (at 5 million)"),
    ],
    "progress": [
        Target("max_ms", "slowest page, ms", lambda v: v < 1000, "< 1,000 (among 5 million)"),
    ],
}
# The size each target is stated for (quality.md).
TARGET_SIZES = {
    "sharing": 1_000_000,
    "assessment": 1_000_000,
    "roster": 100_000,
    "payments": 0,
    "lookup": 5_000_000,
    "dashboards": 5_000_000,
    "progress": 5_000_000,
}


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine() -> dict[str, Any]:
    """Cores, memory, CPU, OS, Python, PostgreSQL and Redis versions, the code's commit, the load."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    try:
        import redis

        redis_version = redis.Redis.from_url(settings.CELERY_BROKER_URL).info("server")["redis_version"]
    except Exception as error:
        redis_version = f"unknown ({error.__class__.__name__})"
    memory_kb = _first("/proc/meminfo", "MemTotal").split()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kb[0]) / 2**20, 1) if memory_kb else None,
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "postgresql": postgres,
        "shared_buffers": shared_buffers,
        "redis": redis_version,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def checks(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the benchmark's targets: the figure, its value, the target, met or not."""
    rows = []
    for target in TARGETS.get(name, []):
        value = result.get(target.figure)
        rows.append(
            {
                "figure": target.figure,
                "label": target.label,
                "value": value,
                "target": target.text,
                "met": None if value is None else bool(target.check(float(value))),
            }
        )
    return rows


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Benchmarks, {report['started']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}; Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} (shared_buffers {m['shared_buffers']}), Redis {m['redis']}; "
        f"load average at the start {m['load_average']}; commit {m['commit']}.",
        "",
        f"Command: `{report['command']}`",
        "",
        "| benchmark | size | figure | value | target | met | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["benchmarks"].items():
        size = _number(entry.get("size"))
        if entry.get("size") and entry["size"] < TARGET_SIZES.get(name, 0):
            size += f" (target stated for {TARGET_SIZES[name]:,})"
        if entry["status"] != "ok":
            lines.append(f"| {name} | {size} | — | **failed**: {entry['error']} | | ✗ | {entry['seconds']} |")
            continue
        for check in entry["checks"]:
            met = {True: "✓", False: "✗", None: "—"}[check["met"]]
            lines.append(
                f"| {name} | {size} | {check['label']} | {_number(check['value'])} | {check['target']} "
                f"| {met} | {entry['seconds']} |"
            )
    lines += ["", "Every figure of each benchmark (its last-line JSON):", ""]
    for name, entry in report["benchmarks"].items():
        lines.append(
            f"- **{name}**: `{json.dumps(entry.get('result') or entry.get('error'), ensure_ascii=False)}`"
        )
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: str | None) -> tuple[Path, Path]:
    """``<out>.json`` and ``<out>.md`` (default ``bench-results/<UTC time>``)."""
    stem = Path(out) if out else ROOT / "bench-results" / report["started"].replace(":", "")
    if stem.suffix in (".json", ".md"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
