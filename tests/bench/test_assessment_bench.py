"""The assessment benchmark's own logic, at a small size inside the test database.

``manage.py bench assessment`` runs ``run_inner`` in a scratch database; here it runs in the
test's transaction, so the county is assessed as one part.
"""

from __future__ import annotations

from bench.assessment import run_inner


def test_given_a_small_size_when_the_assessment_bench_runs_then_it_reports_every_figure(db):
    result = run_inner(size=300, baseline_size=20)

    assert {"name", "size", "ours_per_s", "baseline_per_s", "ratio", "seconds"} <= result.keys()
    assert (result["name"], result["size"], result["created"]) == ("assessment", 300, 300)
    assert (result["rerun_changed"], result["rerun_pushed"]) == (0, 0)
    assert result["pushed"] == result["due"]
    assert result["due"] + result["government_paid"] == 300
    assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
