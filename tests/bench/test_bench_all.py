"""``manage.py bench all``: every benchmark run, their figures checked against quality.md's targets,
a failing one reported as failed while the others still run, JSON and markdown written with the
machine's description."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sharing.management.commands import bench


def _fake(name: str, figures: dict) -> object:
    def run(options: dict) -> dict:
        return {"name": name, "size": options["size"], **figures}

    return run


def _broken(options: dict) -> dict:
    raise RuntimeError("the scratch database could not be created")


@pytest.fixture
def benchmarks(monkeypatch):
    fakes = {
        "sharing": _fake("sharing", {"ours_per_s": 15_946.0, "ratio": 230.0}),
        "assessment": _broken,
        "roster": _fake(
            "roster", {"ours_per_s": 9_000.0, "ratio": 50.0, "floor_ratio": 4.5, "peak_rss_mb": 165.0}
        ),
        "payments": _fake("payments", {"ratio": 0.15, "p99_ms": 700.0, "errors": 0}),
        "lookup": _fake("lookup", {"p99_ms": 3.2}),
    }
    monkeypatch.setattr(bench, "BENCHMARKS", fakes)
    return fakes


def test_given_every_benchmark_when_bench_all_runs_then_it_writes_the_figures_against_the_targets(
    db, benchmarks, tmp_path
):
    out = StringIO()
    call_command(
        "bench", "all", "--lookup-size", "1000", "--out", str(tmp_path / "run"), stdout=out, stderr=StringIO()
    )

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["benchmarks"] == {
        "sharing": "ok",
        "assessment": "failed",
        "roster": "ok",
        "payments": "ok",
        "lookup": "ok",
    }
    assert (summary["targets_met"], summary["targets_not_met"]) == (6, 4)
    report = json.loads((tmp_path / "run.json").read_text())
    assert {"cores", "memory_gib", "cpu", "os", "python", "postgresql", "redis"} <= report["machine"].keys()
    assert report["machine"]["postgresql"].split(".")[0].isdigit()
    assert report["benchmarks"]["lookup"]["size"] == 1000
    assert report["benchmarks"]["sharing"]["size"] == 100_000
    assert (
        report["benchmarks"]["assessment"]["error"]
        == "RuntimeError: the scratch database could not be created"
    )
    assert [(c["figure"], c["met"]) for c in report["benchmarks"]["roster"]["checks"]] == [
        ("ours_per_s", False),
        ("ratio", True),
        ("floor_ratio", False),
        ("peak_rss_mb", True),
    ]
    table = (tmp_path / "run.md").read_text()
    assert "| assessment | 100,000 (target stated for 1,000,000) | — | **failed**: RuntimeError" in table
    assert (
        "| lookup | 1,000 (target stated for 5,000,000) | p99, ms | 3.20 | < 10 (among 5 million) | ✓ |"
        in table
    )
    assert f"PostgreSQL {report['machine']['postgresql']}" in table


def test_given_only_two_benchmarks_when_bench_all_runs_then_only_those_run(db, benchmarks, tmp_path):
    out = StringIO()
    call_command(
        "bench",
        "all",
        "--only",
        "lookup,payments",
        "--out",
        str(tmp_path / "two"),
        stdout=out,
        stderr=StringIO(),
    )

    assert json.loads(out.getvalue().strip().splitlines()[-1])["benchmarks"] == {
        "payments": "ok",
        "lookup": "ok",
    }


def test_given_an_unknown_benchmark_when_bench_all_runs_then_it_is_refused(db, benchmarks):
    with pytest.raises(CommandError, match="unknown benchmarks: nosuch"):
        call_command("bench", "all", "--only", "nosuch", stdout=StringIO(), stderr=StringIO())
