"""Tax's marks of a tag given or ended by hand (``subsidy.marks_batch``), like a roster import's.

A tag *counts* in an insurance year when the policy of its county for that year tags its category
and the tag's dates reach the person's own year of cover there (``Policy.coverage_for``: a
student's academic year where the policy has one) — the rule the engine applies
(``engine._tag_holds``) and a roster import's withdrawals read (``rosters.no_other_tag_sql``). A
roster's tag counts in its roster's year alone; a tag given by hand in every year its dates reach.
The years looked at are those not over (from this calendar year on, as ``open_years_for``) for
which the county has a policy: a year that is over is reassessed no more, and a year without a
policy has no cover to reach.

- Given: an active mark for each year the tag counts in.
- Ended: for each year it counted in before, an active mark with its new end where it still counts,
  else a withdrawal, unless another standing tag of the category still holds the person for the
  year (the roster import's rule, ``rosters.no_other_tag_sql``).

Every item carries a revision taken under ``rosters.MARKS_LOCK``, which the caller holds from before
it changes the tag until it commits (``marks_lock``): roster imports and changes by hand then
commit in the order of their revisions, and tax, keeping the newest, ends with the later state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from enrollment.models import Person
from enrollment.policies import policy_for_county, policy_years_for_county
from sharing.services import ListItems, message_send_bulk

from . import rosters
from .models import SubsidyTag


def marks_lock() -> None:
    """Take the lock under which marks get their revision, until the caller's transaction ends.
    Taken before the tag is read or locked: a roster import takes it before the tags it ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [rosters.MARKS_LOCK])


@dataclass(frozen=True)
class _Year:
    year: int
    own_start: dt.date
    own_end: dt.date
    marker: str
    kind: str
    fen: int


def _years(tag: SubsidyTag, person: Person, today: dt.date) -> list[_Year]:
    """The years not over whose policy tags the tag's category, with the person's own cover in each."""
    county = tag.region_code[:6]
    if tag.roster_id is not None:
        year = tag.roster.insurance_year
        candidates = [year] if year >= today.year else []
    else:
        candidates = policy_years_for_county(county_code=county, from_year=today.year)
    found = []
    for year in candidates:
        loaded = policy_for_county(county_code=county, insurance_year=year)
        granted = rosters.granted_categories(loaded.rules).get(tag.category) if loaded else None
        if loaded is None or granted is None:
            continue
        cover = loaded.rules.coverage_for(person.category)
        found.append(
            _Year(
                year=year,
                own_start=cover.start,
                own_end=cover.end,
                marker=granted.marker or "",
                kind=rosters.mark_kind(granted),
                fen=rosters.category_amount(loaded.rules, granted),
            )
        )
    return found


def tag_marks_send(*, tag: SubsidyTag, counted_from: dt.date, counted_to: dt.date | None) -> int:
    """Tell tax of a tag given or ended: one message per year (``subsidy.marks_batch``, one bulk
    send); ``counted_from``/``counted_to`` are the tag's dates before the change (a new tag's own).
    In the caller's transaction, which holds ``marks_lock``. Returns the messages sent (one item each)."""
    person = Person.objects.get(pk=tag.person_id)
    years = _years(tag, person, timezone.localdate())
    if not years:
        return 0
    # One row per year the tag counted in (``before``); active where it still counts, withdrawn
    # where no other standing tag holds the person; nothing where another does.
    reaches = "{start} <= y.own_end AND ({end} IS NULL OR {end} >= y.own_start)"
    no_other_tag = rosters.no_other_tag_sql(
        withdrawn="g", year="y.year", own_start="y.own_start", own_end="y.own_end"
    )
    marks = f"""marks AS MATERIALIZED (
        SELECT left(g.region_code, 6) AS county, y.year, p.id_number::text AS person_id,
               g.region_code::text AS region_code, g.category::text AS category, y.marker,
               CASE WHEN now_ THEN 'active' ELSE 'withdrawn' END::text AS status,
               CASE WHEN now_ THEN y.subsidy_kind ELSE '' END::text AS subsidy_kind,
               CASE WHEN now_ THEN y.subsidy_fen ELSE 0 END::bigint AS subsidy_fen,
               g.valid_from, g.valid_to,
               CASE WHEN now_ THEN '' ELSE left(g.end_reason, 200) END::text AS reason
        FROM unnest(%(years)s::int[], %(starts)s::date[], %(ends)s::date[], %(markers)s::text[],
                    %(kinds)s::text[], %(fens)s::bigint[])
                 AS y(year, own_start, own_end, marker, subsidy_kind, subsidy_fen)
        CROSS JOIN subsidies_subsidytag g
        JOIN enrollment_person p ON p.id = g.person_id
        CROSS JOIN LATERAL (SELECT {reaches.format(start="g.valid_from", end="g.valid_to")} AS now_) n
        WHERE g.id = %(tag)s
          AND {reaches.format(start="%(counted_from)s::date", end="%(counted_to)s::date")}
          AND (now_ OR {no_other_tag})
    )"""  # noqa: S608 - generated names
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('subsidies_mark_revision')")
        (revision,) = cursor.fetchone()
    return message_send_bulk(
        topic="subsidy.marks_batch",
        # A subject of the tag's own: a message held back (dead-lettered) holds back no other tag's.
        query="""
            SELECT 'marks-batch:' || m.county || ':' || m.year || ':tag-' || %(tag)s || ':1' AS subject,
                   NULL::text AS region_code, m.year::text AS message,
                   jsonb_build_object(
                       'county_code', m.county, 'insurance_year', m.year, 'region_code', m.county || '000000',
                       'roster', %(roster)s, 'tag_id', %(tag)s::bigint, 'batch', 1,
                       'subsidy_fen', sum(m.subsidy_fen)) AS payload
            FROM marks m
            GROUP BY m.county, m.year""",
        items=ListItems(
            query=f"""
                SELECT m.year::text AS message, 1::bigint AS place, {rosters.mark_item_columns("m")}
                FROM marks m""",  # noqa: S608 - generated column names
            ctes=marks,
        ),
        params={
            "tag": tag.pk,
            "roster": tag.source[:64],
            "revision": revision,
            "counted_from": counted_from,
            "counted_to": counted_to,
            "years": [y.year for y in years],
            "starts": [y.own_start for y in years],
            "ends": [y.own_end for y in years],
            "markers": [y.marker for y in years],
            "kinds": [y.kind for y in years],
            "fens": [y.fen for y in years],
        },
    )
