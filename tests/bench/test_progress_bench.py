"""The collection-progress benchmark's own logic at a small size inside the test database: the
ledger is built, the summary refreshed from it, every page answered, and the figures reported."""

from __future__ import annotations

from bench.progress import run_inner


def test_given_a_small_ledger_when_the_progress_bench_runs_then_it_reports_every_figure(db):
    result = run_inner(size=3_000, queries=2, baseline_queries=1)

    assert (result["name"], result["size"], result["due_items"]) == ("progress", 3_000, 3_000)
    assert 0 < result["payments"] < 3_000
    for page in ("county", "township", "village", "county_xlsx", "city_admin"):
        assert 0 < result[f"{page}_p50_ms"] <= result[f"{page}_max_ms"], page
    assert result["refresh_again_written"] == 0
    assert result["summary_area_rows"] > 0 and result["baseline_p50_ms"] > 0
    # At this size the baseline's queries take a millisecond: the ratio is reported, not large.
    assert abs(result["ratio"] - result["baseline_p50_ms"] / result["county_p50_ms"]) <= 0.06  # both rounded
