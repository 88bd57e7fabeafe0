"""Tax's marks of a tag given or ended by hand (``subsidy.marks_batch``), like a roster import's,
and of a new version of a policy that changes what a tag grants (``policy_marks_send``).

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

from django.conf import settings
from django.db import connection
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from enrollment.models import Person
from enrollment.models import Policy as PolicyRecord
from enrollment.policies import policy_for_county, policy_years_for_county
from enrollment.rules.policy import SCHOOL_CATEGORIES, Policy
from sharing.services import ListItems, message_send_bulk

from . import rosters
from .models import SubsidyTag
from .selectors import counties_governed_with_tags


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
        marker, kind, fen = rosters.mark_terms(loaded.rules, granted)
        found.append(
            _Year(year=year, own_start=cover.start, own_end=cover.end, marker=marker, kind=kind, fen=fen)
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
        revision = rosters.mark_revision_next(cursor)
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


def hand_tags_marks_send(*, county_code: str, insurance_year: int, rules: Policy) -> int:
    """Tell tax of every tag given by hand in the county that counts in ``insurance_year`` under
    ``rules`` (the county's policy of that year): an active mark each, as ``tag_marks_send`` would
    send for it now. A tag's own change marks only the years that had a policy then; a policy for a
    new year comes later, and its year's marks come from here (``subsidy_marks_send``). Roster tags
    are left out: their import marked them for their roster's year, with that roster's dates.
    In the caller's transaction, which holds ``marks_lock``. Returns the messages sent."""
    categories = _granted_terms(rules)
    low, high = county_code + "000000", county_code + "999999"
    # Most counties have no tag given by hand: no revision taken, nothing sent.
    if (
        not categories
        or not SubsidyTag.objects.filter(roster__isnull=True, region_code__range=(low, high)).exists()
    ):
        return 0
    return _year_marks_send(
        counties=[county_code],
        insurance_year=insurance_year,
        rules=rules,
        categories=categories,
        withdrawn_for="",
        kind="hand",
        roster_tags=False,
    )


def _granted_terms(rules: Policy) -> dict[str, tuple[str, str, int]]:
    """Each roster tag ``rules`` grants, with what its mark says (marker, kind, amount)."""
    return {code: rosters.mark_terms(rules, c) for code, c in rosters.granted_categories(rules).items()}


def policy_marks_send(*, record: PolicyRecord, before: Policy | None, after: Policy) -> int:
    """Tell tax what a new version of ``record`` (``after``; ``before`` the version it replaces,
    None for a new policy) changes of its year's marks, in the counties it governs: for a roster tag
    whose category's terms (marker, kind, amount) changed, or that a category grants anew, the mark
    again, active with the new terms (a tag given by hand whose dates reach the year, a standing tag
    of the year's roster); for one no category grants any more, a withdrawal. Every way of saving a
    version comes here (``policy_save``): the categories page, the editor, a file, the API, presets.
    A year that is over is reassessed no more: nothing. In the caller's transaction, which holds
    the policy's row FOR UPDATE and, taken after it, ``marks_lock``. Returns the messages sent."""
    if record.insurance_year < timezone.localdate().year:
        return 0
    terms_before = _granted_terms(before) if before is not None else {}
    terms_after = _granted_terms(after)
    changed = {code: terms for code, terms in terms_after.items() if terms_before.get(code) != terms}
    # A withdrawal says the marker tax knew, and no kind or amount.
    lost = {
        code: (marker, "", 0)
        for code, (marker, _kind, _fen) in terms_before.items()
        if code not in terms_after
    }
    sent = 0
    if changed:
        sent += _year_marks_send(
            counties=counties_governed_with_tags(record=record, tags=list(changed)),
            insurance_year=record.insurance_year,
            rules=after,
            categories=changed,
            withdrawn_for="",
            kind="terms",
            roster_tags=True,
        )
    if lost:
        # Kept in tax's ledger: the portal's language, not the administrator's.
        with translation.override(settings.LANGUAGE_CODE):
            reason = _("The category was removed from the policy of %(year)d") % {
                "year": record.insurance_year
            }
        sent += _year_marks_send(
            counties=counties_governed_with_tags(record=record, tags=list(lost)),
            insurance_year=record.insurance_year,
            rules=after,
            categories=lost,
            withdrawn_for=reason[:200],
            kind="removed",
            roster_tags=True,
        )
    return sent


def _year_marks_send(
    *,
    counties: list[str],
    insurance_year: int,
    rules: Policy,
    categories: dict[str, tuple[str, str, int]],
    withdrawn_for: str,
    kind: str,
    roster_tags: bool,
) -> int:
    """One mark per person and tag code of ``categories`` (code → marker, kind, amount) whose tag in
    ``counties`` reaches the person's own cover of ``insurance_year`` under ``rules``: a tag given
    by hand, or with ``roster_tags`` one of the year's roster (standing, for an active mark: one an
    import ended was withdrawn by it). Active when ``withdrawn_for`` is empty, else withdrawn with
    that reason. Set-based, one bulk send: a message per county, source (tax keeps it as
    the mark's roster) and ``MARK_ITEMS`` items, under a subject of this send's revision."""
    school_cover = rules.student_coverage or rules.coverage
    # Of several tags reaching the year, a standing one, else the latest (two items about one mark
    # in one message would leave tax to pick one).
    marks = """marks AS MATERIALIZED (
        SELECT DISTINCT ON (g.person_id, g.category)
               left(g.region_code, 6) AS county, g.id AS tag_id, g.source, p.id_number::text AS person_id,
               g.region_code::text AS region_code, g.category::text AS category, c.marker,
               CASE WHEN %(reason)s = '' THEN 'active' ELSE 'withdrawn' END::text AS status,
               c.kind AS subsidy_kind, c.fen AS subsidy_fen, g.valid_from, g.valid_to,
               %(reason)s::text AS reason
        FROM subsidies_subsidytag g
        JOIN enrollment_person p ON p.id = g.person_id
        JOIN unnest(%(codes)s::text[], %(markers)s::text[], %(kinds)s::text[], %(fens)s::bigint[])
             AS c(code, marker, kind, fen) ON c.code = g.category
        LEFT JOIN subsidies_subsidyroster ro ON ro.id = g.roster_id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN p.category = ANY(%(school)s) THEN %(school_start)s::date ELSE %(start)s::date END AS own_start,
                   CASE WHEN p.category = ANY(%(school)s) THEN %(school_end)s::date ELSE %(end)s::date END AS own_end
        ) y
        WHERE left(g.region_code, 6) = ANY(%(counties)s::text[])
          AND (g.roster_id IS NULL
               OR (%(roster_tags)s AND ro.insurance_year = %(year)s AND (%(reason)s <> '' OR g.end_reason = '')))
          AND g.valid_from <= y.own_end AND (g.valid_to IS NULL OR g.valid_to >= y.own_start)
        ORDER BY g.person_id, g.category, (g.end_reason = '') DESC, g.valid_from DESC, g.id DESC
    ),
    numbered AS MATERIALIZED (
        SELECT m.*, dense_rank() OVER (ORDER BY m.county, m.source, m.chunk) AS batch,
               row_number() OVER (PARTITION BY m.county, m.source, m.chunk ORDER BY m.tag_id) AS place
        FROM (
            SELECT m.*,
                   (row_number() OVER (PARTITION BY m.county, m.source ORDER BY m.tag_id) - 1) / %(batch_items)s
                       AS chunk
            FROM marks m
        ) AS m
    )"""
    with connection.cursor() as cursor:
        revision = rosters.mark_revision_next(cursor)
    return message_send_bulk(
        topic="subsidy.marks_batch",
        # A subject of this send's own (its revision): a message held back holds back no other's.
        query="""
            SELECT 'marks-batch:' || min(n.county) || ':' || %(year)s || ':' || %(kind)s || '-' || %(revision)s
                       || ':' || n.batch AS subject,
                   NULL::text AS region_code, n.batch::text AS message,
                   jsonb_build_object(
                       'county_code', min(n.county), 'insurance_year', %(year)s::int,
                       'region_code', min(n.county) || '000000', 'roster', left(min(n.source), 64),
                       'batch', n.batch, 'subsidy_fen', sum(n.subsidy_fen)) AS payload
            FROM numbered n
            GROUP BY n.batch""",
        items=ListItems(
            query=f"""
                SELECT n.batch::text AS message, n.place::bigint AS place, {rosters.mark_item_columns("n")}
                FROM numbered n""",  # noqa: S608 - generated column names
            ctes=marks,
        ),
        params={
            "counties": counties,
            "year": insurance_year,
            "kind": kind,
            "revision": revision,
            "reason": withdrawn_for,
            "roster_tags": roster_tags,
            "codes": list(categories),
            "markers": [marker for marker, _, _ in categories.values()],
            "kinds": [kind_ for _, kind_, _ in categories.values()],
            "fens": [fen for _, _, fen in categories.values()],
            "school": list(SCHOOL_CATEGORIES),
            "start": rules.coverage.start,
            "end": rules.coverage.end,
            "school_start": school_cover.start,
            "school_end": school_cover.end,
            "batch_items": rosters.MARK_ITEMS,
        },
    )
