"""The lookup benchmark's own logic at a small size inside the test database: every search finds
what it looks for, and the figures are reported."""

from __future__ import annotations

from bench.lookup import run_inner


def test_given_a_small_city_when_the_lookup_bench_runs_then_it_reports_every_figure(db):
    result = run_inner(size=2_000, queries=10, baseline_queries=2, counties=2, townships=1, villages=2)

    assert (result["name"], result["size"], result["queries"], result["baseline_queries"]) == (
        "lookup",
        2_000,
        40,
        4,
    )
    assert result["counties"] == 2 and result["county_persons"] > 1_000  # 尧都区 95 : 洪洞县 72
    for figure in (
        "p50_ms",
        "p99_ms",
        "baseline_p50_ms",
        "ratio",
        "person_by_id_p99_ms",
        "household_by_name_p99_ms",
    ):
        assert result[figure] > 0, figure
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["household_p50_ms"] <= result["household_p99_ms"]
    assert result["all_p99_ms"] >= min(result["p99_ms"], result["household_p99_ms"])


def test_given_a_kept_city_when_the_lookup_bench_reuses_it_then_it_measures_without_building(db):
    first = run_inner(size=2_000, queries=10, baseline_queries=2, counties=2, townships=1, villages=2)

    again = run_inner(size=1, queries=10, baseline_queries=2, reuse=True)

    assert (again["size"], again["households"], again["counties"]) == (2_000, first["households"], 2)
    assert again["build_seconds"] is None and first["build_seconds"] > 0
    assert again["county_persons"] == first["county_persons"]
    assert again["p99_ms"] > 0
