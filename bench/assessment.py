"""Benchmark: the yearly assessment of N enrolled persons, pushed to tax, against a per-person ORM loop.

Data (``bench.city.households_and_persons``, INSERT … SELECT inside PostgreSQL): N persons with
valid resident ID numbers in households across 60 villages of one county, with plausible ages
(heads 25–80, their spouses, children, parents, grandchildren) and categories, all normally
enrolled; about 8% holding subsidy tags (full, fixed), 85% paid last year (so most are continuous
enrollments), a policy for the year (Linfen's rules with the 2025 national standard).

Ours: ``assessment_run_now`` — the set-based run the page and the command use (facts in one
statement, the engine once per class of facts, one INSERT, the payable amounts to the outbox in
one bulk send). Then a re-run, which must change nothing. Baseline: for a sample of persons in a
second county, the obvious per-person loop — read the person, tags and last year through the ORM,
ask the engine, save the assessment, send the message — as a rate.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .scratch import log, run_in_scratch_database

COUNTY = "141002"
BASELINE_COUNTY = "141024"
YEAR = 2027


def _regions(county: str, villages: int) -> list[str]:
    from accounts.models import Region, RegionLevel

    city = Region.objects.get_or_create(
        code="141000000000",
        defaults={
            "name": "临汾市",
            "level": RegionLevel.CITY,
            "parent": Region.objects.get_or_create(
                code="140000000000", defaults={"name": "山西省", "level": RegionLevel.PROVINCE}
            )[0],
        },
    )[0]
    county_region = Region.objects.get_or_create(
        code=county.ljust(12, "0"), defaults={"name": county, "level": RegionLevel.COUNTY, "parent": city}
    )[0]
    codes = []
    for township_index in range(1, villages // 10 + 2):
        township = Region.objects.get_or_create(
            code=f"{county}{township_index:03d}000",
            defaults={
                "name": f"乡镇{township_index}",
                "level": RegionLevel.TOWNSHIP,
                "parent": county_region,
            },
        )[0]
        for village_index in range(1, 11):
            code = f"{county}{township_index:03d}{village_index:03d}"
            Region.objects.get_or_create(
                code=code,
                defaults={"name": f"村{village_index}", "level": RegionLevel.VILLAGE, "parent": township},
            )
            codes.append(code)
    return codes[:villages]


def _tags_and_history(
    prefix: str, rng_seed: int, last_year_version_id: int, *, year: int = YEAR - 1, analyze: bool = True
) -> None:
    """About 8% of the persons whose region starts with ``prefix`` tagged (tekun, severe disability,
    dibao, clergy); 85% of their enrollments assessed for ``year`` and paid."""
    from django.db import connection

    from .city import history_decision

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO subsidies_subsidytag (person_id, category, region_code, source, valid_from, created_at, end_reason)
            SELECT p.id, (ARRAY['tekun', 'severe_disability', 'dibao', 'dibao', 'clergy'])[1 + (p.id %% 5)],
                   p.region_code, 'bench roster', '2026-06-01', now(), ''
            FROM enrollment_person p WHERE p.region_code LIKE %s AND abs(hashint4(p.id::int + %s)) %% 100 < 8
            """,
            [prefix + "%", rng_seed],
        )
        decision_id = history_decision(last_year_version_id)
        cursor.execute(
            """
            INSERT INTO enrollment_assessment (person_id, enrollment_id, insurance_year, county_code, region_code,
                decision_id, situation, standard_fen, subsidy_fen, government_fen, payable_fen, subsidy_category,
                subsidy_marker, status, revision, assessed_at, paid_on, paid_fen,
                deposit_reference, benefit_start, benefit_end, benefit_reason)
            SELECT e.person_id, e.id, %s, e.county_code, e.region_code, %s, 'continuous', 40000, 0, 70000, 40000, '',
                   '', 'paid', 1, now(), '2025-10-10', 40000, 'BENCH',
                   '2026-01-01', '2026-12-31', 'bench history'
            FROM enrollment_enrollment e
            WHERE e.region_code LIKE %s AND abs(hashint4(e.person_id::int + 7)) %% 100 < 85
            """,
            [year, decision_id, prefix + "%"],
        )
        if analyze:
            cursor.execute("ANALYZE")


def _baseline(county: str, sample: int) -> float:
    """The per-person loop: ORM reads, the engine with the exact facts, ORM write, one message each."""
    from django.db import transaction
    from django.utils import timezone

    from enrollment.models import Assessment, AssessmentDecision, Enrollment
    from enrollment.policies import policy_for_county
    from enrollment.rules import engine
    from sharing.services import message_send
    from subsidies.models import SubsidyTag

    enrollments = list(
        Enrollment.objects.filter(county_code=county, status="normal").values_list("pk", flat=True)[:sample]
    )
    started = time.perf_counter()
    with transaction.atomic():
        for enrollment_id in enrollments:
            enrollment = Enrollment.objects.select_related("person").get(pk=enrollment_id)
            person = enrollment.person
            loaded = policy_for_county(county_code=county, insurance_year=YEAR)
            assert loaded is not None
            tags = tuple(
                engine.Tag(tag.category, tag.valid_from, tag.valid_to)
                for tag in SubsidyTag.objects.filter(person=person)
            )
            last = (
                Assessment.objects.filter(
                    person=person, insurance_year__lt=YEAR, status__in=["paid", "government"]
                )
                .order_by("-insurance_year")
                .values_list("insurance_year", flat=True)
                .first()
            )
            facts = engine.PersonFacts(
                birth_date=person.birth_date,
                person_category=person.category,
                hukou_in_region=person.hukou_region_code.startswith(loaded.record.region_prefix),
                tags=tags,
                last_paid_year=last,
            )
            decision = engine.assess(loaded.rules, facts)
            category = decision.subsidy.category
            schedule = [line.as_document() for line in decision.schedule]
            stored, _created = AssessmentDecision.objects.get_or_create(
                policy_version=loaded.version,
                digest=hashlib.sha256(
                    json.dumps([decision.rule, decision.reason, decision.payable_fen, schedule]).encode()
                ).hexdigest(),
                defaults={
                    "situation": decision.situation.value,
                    "standard_fen": decision.standard_fen,
                    "subsidy_fen": decision.subsidy.subsidy_fen,
                    "government_fen": decision.government_fen,
                    "payable_fen": decision.payable_fen,
                    "subsidy_category": category.code if category else "",
                    "subsidy_marker": category.marker if category else "",
                    "government_pays_all": decision.government_pays_all,
                    "rule": decision.rule,
                    "reason": decision.reason,
                    "schedule": schedule,
                },
            )
            Assessment.objects.update_or_create(
                person=person,
                insurance_year=YEAR,
                defaults={
                    "enrollment": enrollment,
                    "county_code": county,
                    "region_code": enrollment.region_code,
                    "decision": stored,
                    "situation": decision.situation.value,
                    "standard_fen": decision.standard_fen,
                    "subsidy_fen": decision.subsidy.subsidy_fen,
                    "government_fen": decision.government_fen,
                    "payable_fen": decision.payable_fen,
                    "subsidy_category": category.code if category else "",
                    "subsidy_marker": category.marker if category else "",
                    "status": "government" if decision.government_pays_all else "due",
                    "assessed_at": timezone.now(),
                },
            )
            if not decision.government_pays_all:
                message_send(
                    topic="assessment.due",
                    payload={
                        "person_id": person.id_number,
                        "insurance_year": YEAR,
                        "region_code": enrollment.region_code,
                        "amount_fen": decision.payable_fen,
                        "standard_fen": decision.standard_fen,
                        "subsidy_fen": decision.subsidy.subsidy_fen,
                        "schedule": [line.as_document() for line in decision.schedule],
                        "status": "due",
                    },
                )
    seconds = time.perf_counter() - started
    return len(enrollments) / seconds if seconds else 0.0


def run_inner(*, size: int, baseline_size: int) -> dict[str, Any]:
    from django.db import connection

    from enrollment.assessment import assessment_run_now
    from enrollment.demo import _shifted
    from enrollment.models import AssessmentDecision
    from enrollment.policies import policy_save

    from .city import households_and_persons

    started = time.perf_counter()
    log(f"building {size:,} enrolled persons in {COUNTY} and {baseline_size:,} in {BASELINE_COUNTY}")
    policy_save(document=_shifted("bench-2026", 5, 40000, 70000), note="bench")
    current = policy_save(document=_shifted("bench-2027", 6, 40000, 70000), note="bench")
    last_year = AssessmentDecision._meta.get_field("policy_version").related_model.objects.get(
        policy__code="bench-2026"
    )
    for county, count in ((COUNTY, size), (BASELINE_COUNTY, baseline_size)):
        villages = _regions(county, 60)
        households_and_persons(villages=[(village, 1.0) for village in villages], size=count, seed=2027)
        _tags_and_history(county, 11, last_year.pk)
    build_seconds = time.perf_counter() - started
    log(f"built in {build_seconds:.1f} s; assessing {size:,} persons")

    started = time.perf_counter()
    run = assessment_run_now(county_code=COUNTY, insurance_year=YEAR, reason="bench")
    seconds = time.perf_counter() - started
    log(
        f"assessed in {seconds:.1f} s: {run.created:,} new, {run.distinct_facts:,} classes of facts, {run.pushed:,} sent to tax"
    )

    started = time.perf_counter()
    rerun = assessment_run_now(county_code=COUNTY, insurance_year=YEAR, reason="bench re-run")
    rerun_seconds = time.perf_counter() - started
    log(f"re-run in {rerun_seconds:.1f} s: {rerun.changed} changed, {rerun.pushed} sent")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'due'), count(*) FILTER (WHERE status = 'government'), "
            "coalesce(sum(payable_fen) FILTER (WHERE status = 'due'), 0) FROM enrollment_assessment "
            "WHERE county_code = %s AND insurance_year = %s",
            [COUNTY, YEAR],
        )
        due, government, payable = cursor.fetchone()
        payable = int(payable)
    log(f"baseline: per-person ORM loop over {baseline_size:,} persons")
    baseline_per_s = _baseline(BASELINE_COUNTY, baseline_size)
    ours_per_s = size / seconds if seconds else 0.0
    return {
        "name": "assessment",
        "size": size,
        "ours_per_s": round(ours_per_s, 1),
        "baseline_per_s": round(baseline_per_s, 1),
        "ratio": round(ours_per_s / baseline_per_s, 1) if baseline_per_s else None,
        "seconds": round(seconds, 2),
        "baseline_size": baseline_size,
        "distinct_facts": run.distinct_facts,
        "created": run.created,
        "due": due,
        "government_paid": government,
        "pushed": run.pushed,
        "payable_fen": payable,
        "rerun_seconds": round(rerun_seconds, 2),
        "rerun_changed": rerun.changed,
        "rerun_pushed": rerun.pushed,
        "build_seconds": round(build_seconds, 1),
        "policy_version": current.version.number,
    }


def run(*, size: int, baseline_size: int, keep: bool) -> dict[str, Any]:
    return run_in_scratch_database(
        "assessment", ["--size", str(size), "--baseline-size", str(baseline_size)], keep=keep
    )
