"""The topic registry: every kind of message that crosses the sharing platform.

A topic names its sender and receiver bureau, how a message's *subject* is derived (messages
about one subject are applied in the order they were sent), where its region code and amount
live in the payload, and a versioned payload schema. The schema is plain Python so that a
single send validates in microseconds; the same schema renders as JSON Schema (for the API
documentation and the other bureaus) and as a SQL predicate (so that a bulk send of millions
of rows is validated in one set-based statement, never row by row in Python).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import Bureau

REGION_CODE_PATTERN = r"^[0-9]{12}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
_SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """One payload field. ``kind`` is one of str, int, bool, date, datetime, list."""

    kind: str
    required: bool = True
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    # For a list of objects: the schema every item must satisfy.
    items: Schema | None = None

    def problem(self, value: Any) -> str | None:
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return _("must be a whole number")
            if self.minimum is not None and value < self.minimum:
                return _("must be at least %(minimum)s") % {"minimum": self.minimum}
            if self.maximum is not None and value > self.maximum:
                return _("must be at most %(maximum)s") % {"maximum": self.maximum}
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else _("must be true or false")
        if self.kind == "list":
            if not isinstance(value, list):
                return _("must be a list")
            if self.items is not None:
                for index, item in enumerate(value):
                    found = self.items.problems(item)
                    if found:
                        return _("item %(index)s: %(problems)s") % {
                            "index": index,
                            "problems": "; ".join(found),
                        }
            return None
        if not isinstance(value, str):
            return _("must be text")
        pattern = self.effective_pattern
        if pattern and not re.match(pattern, value):
            return _("has the wrong format")
        if self.max_length is not None and len(value) > self.max_length:
            return _("is longer than %(length)s characters") % {"length": self.max_length}
        if self.choices is not None and value not in self.choices:
            return _("must be one of %(choices)s") % {"choices": ", ".join(self.choices)}
        return None

    @property
    def effective_pattern(self) -> str | None:
        if self.pattern:
            return self.pattern
        return {"date": DATE_PATTERN, "datetime": DATETIME_PATTERN}.get(self.kind)

    def as_jsonschema(self) -> dict[str, Any]:
        schema: dict[str, Any]
        if self.kind == "int":
            schema = {"type": "integer"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        elif self.kind == "bool":
            schema = {"type": "boolean"}
        elif self.kind == "list":
            schema = {"type": "array"}
            if self.items is not None:
                item_schema = self.items.as_jsonschema()
                item_schema.pop("$schema", None)
                schema["items"] = item_schema
        else:
            schema = {"type": "string"}
            if self.effective_pattern:
                schema["pattern"] = self.effective_pattern
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
            if self.choices is not None:
                schema["enum"] = list(self.choices)
            if self.kind == "date":
                schema["format"] = "date"
        return schema if self.required else {"anyOf": [schema, {"type": "null"}]}

    def sql_predicate(self, name: str, column: str) -> str:
        """A SQL boolean that holds when ``column`` (a jsonb object) satisfies this field."""
        value = f"({column}->'{name}')"
        text = f"({column}->>'{name}')"
        if self.kind == "int":
            checks = [f"jsonb_typeof({value}) = 'number'", f"scale({value}::numeric) = 0"]
            if self.minimum is not None:
                checks.append(f"{value}::numeric >= {int(self.minimum)}")
            if self.maximum is not None:
                checks.append(f"{value}::numeric <= {int(self.maximum)}")
        elif self.kind == "bool":
            checks = [f"jsonb_typeof({value}) = 'boolean'"]
        elif self.kind == "list":
            checks = [f"jsonb_typeof({value}) = 'array'"]
            if self.items is not None:
                # Every item satisfies the item schema (names come from the registry, not from input).
                item = f"item_{name}"
                each = self.items.sql_predicate(f"{item}.value")
                elements = f"jsonb_array_elements({value}) AS {item}(value)"
                checks.append(f"NOT EXISTS (SELECT 1 FROM {elements} WHERE NOT {each})")  # noqa: S608
        else:
            checks = [f"jsonb_typeof({value}) = 'string'", *self._text_checks(text)]
        # CASE keeps the casts from running on values of the wrong type.
        predicate = (
            "CASE WHEN " + checks[0] + " THEN " + (" AND ".join(checks[1:]) or "true") + " ELSE false END"
        )
        if self.required:
            return predicate
        return f"({value} IS NULL OR jsonb_typeof({value}) = 'null' OR {predicate})"

    def _text_checks(self, text: str) -> list[str]:
        """SQL checks of a string's value, ``text`` being a text expression."""
        checks = []
        pattern = self.effective_pattern
        if pattern:
            checks.extend(_pattern_checks(text, pattern))
        if self.max_length is not None:
            checks.append(f"length({text}) <= {int(self.max_length)}")
        if self.choices is not None:
            checks.append(f"{text} IN ({', '.join(sql_literal(choice) for choice in self.choices)})")
        return checks

    def column_types(self) -> frozenset[int]:
        """The PostgreSQL types (OIDs) of a column that JSON-encodes to this field's type: text for a
        string, an integer for a whole number, a boolean, date for a date as well as text, and jsonb
        for a list."""
        if self.kind in ("str", "datetime"):
            return _TEXT_TYPES
        if self.kind == "date":
            return _TEXT_TYPES | {_DATE_TYPE}
        if self.kind == "int":
            return _INTEGER_TYPES
        if self.kind == "bool":
            return frozenset({_BOOL_TYPE})
        return frozenset({_JSONB_TYPE})  # a list: jsonb, checked as JSON

    def sql_column_predicate(self, column: str, type_oid: int) -> str:
        """A SQL boolean that holds when ``column``, of a type from ``column_types``, JSON-encodes to
        a value this field accepts: the type is the column's, so only the value is checked."""
        if type_oid not in self.column_types():
            raise ValueError(f"a column of type {type_oid} cannot hold a {self.kind} field")
        checks: list[str] = []
        if self.kind == "list":
            # A JSON null is what a missing optional list becomes; the list itself is checked as JSON.
            nothing = f"{column} IS NULL OR jsonb_typeof({column}) = 'null'"
            every = "true"
            if self.items is not None:
                item = "item_" + re.sub(r"[^a-z0-9_]", "", column.lower())
                each = self.items.sql_predicate(f"{item}.value")
                every = f"NOT EXISTS (SELECT 1 FROM jsonb_array_elements({column}) AS {item}(value) WHERE NOT {each})"  # noqa: S608
            # CASE, not AND: the elements are walked only in an array.
            return (
                f"(CASE WHEN {nothing} THEN {'false' if self.required else 'true'}"
                f" WHEN jsonb_typeof({column}) <> 'array' THEN false ELSE {every} END)"
            )
        if self.kind == "int":
            if self.minimum is not None:
                checks.append(f"{column} >= {int(self.minimum)}")
            if self.maximum is not None:
                checks.append(f"{column} <= {int(self.maximum)}")
        elif type_oid == _DATE_TYPE:
            # A date encodes as YYYY-MM-DD only between these; infinity and BC dates do not.
            checks.append(f"{column} BETWEEN '0001-01-01'::date AND '9999-12-31'::date")
        elif self.kind != "bool":
            checks.extend(self._text_checks(column))
        value = " AND ".join(checks) or "true"
        if self.required:
            return f"({column} IS NOT NULL AND {value})"
        return f"({column} IS NULL OR {value})"


_TEXT_TYPES = frozenset({25, 1043})  # text, varchar (not char(n): its padding would change the length)
_INTEGER_TYPES = frozenset({20, 21, 23})  # bigint, smallint, integer
_DATE_TYPE = 1082
_BOOL_TYPE = 16
_JSONB_TYPE = 3802


# One character class repeated a bounded number of times, the whole value: ^[0-9]{12}$, ^[A-Z-]{6,32}$.
_BOUNDED_CLASS = re.compile(r"^\^(\[[^\]]+\])\{([0-9]+)(?:,([0-9]+))?\}\$$")


def _pattern_checks(text: str, pattern: str) -> list[str]:
    """SQL checks equal to ``text ~ pattern``; a bounded repetition of one class becomes the class
    repeated and a length check, which PostgreSQL's regex engine runs several times faster."""
    bounded = _BOUNDED_CLASS.match(pattern)
    if not bounded:
        return [f"{text} ~ {sql_literal(pattern)}"]
    character_class, least, most = bounded.group(1), int(bounded.group(2)), bounded.group(3)
    most_ = least if most is None else int(most)
    repeated = "^" + character_class + ("*" if least == 0 else "+") + "$"
    length = f"length({text}) = {least}" if least == most_ else f"length({text}) BETWEEN {least} AND {most_}"
    return [f"{text} ~ {sql_literal(repeated)}", length]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Schema:
    fields: Mapping[str, Field]

    def problems(self, payload: Any) -> list[str]:
        if not isinstance(payload, dict):
            return [_("The payload must be an object.")]
        found: list[str] = []
        for name, spec in self.fields.items():
            value = payload.get(name)
            if value is None:
                if spec.required:
                    found.append(_("%(field)s is missing") % {"field": name})
                continue
            problem = spec.problem(value)
            if problem:
                found.append(f"{name} {problem}")
        unknown = sorted(set(payload) - set(self.fields))
        if unknown:
            found.append(_("unknown fields: %(fields)s") % {"fields": ", ".join(unknown)})
        return found

    def as_jsonschema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {name: spec.as_jsonschema() for name, spec in self.fields.items()},
            "required": [name for name, spec in self.fields.items() if spec.required],
            "additionalProperties": False,
        }

    def sql_predicate(
        self, column: str = "payload", *, items_checked: Mapping[str, str] | None = None
    ) -> str:
        """A SQL boolean that holds when ``column`` (jsonb) satisfies this schema. ``items_checked``
        maps a list field whose items were checked already (on their columns, before the list was
        built from them) to a SQL boolean saying they passed: that list is then only checked to be
        one, not walked item by item."""
        for name in self.fields:
            if not _SQL_IDENTIFIER.match(name):
                raise ValueError(f"field name {name!r} is not a plain identifier")
        items_checked = items_checked or {}
        known = ", ".join(sql_literal(name) for name in self.fields)
        parts = [f"jsonb_typeof({column}) = 'object'", f"({column} - ARRAY[{known}]::text[]) = '{{}}'::jsonb"]
        for name, spec in self.fields.items():
            if name in items_checked:
                parts.append(f"jsonb_typeof({column}->'{name}') = 'array' AND {items_checked[name]}")
            else:
                parts.append(spec.sql_predicate(name, column))
        return "(" + " AND ".join(parts) + ")"


@dataclass(frozen=True)
class Topic:
    name: str
    sender: str
    receiver: str
    description: str | Promise  # marked for translation: the monitor shows it in the page's language
    # Version -> schema. New versions are added, old ones kept while messages of them may be in flight.
    versions: Mapping[int, Schema]
    # The subject is "<subject_kind>:<value of each subject field>"; one subject's messages keep their order.
    subject_kind: str
    subject_fields: tuple[str, ...]
    region_field: str | None = "region_code"
    amount_field: str | None = None
    labels: tuple[str, ...] = field(default=())

    @property
    def version(self) -> int:
        return max(self.versions)

    def schema(self, version: int | None = None) -> Schema:
        try:
            return self.versions[version or self.version]
        except KeyError as error:
            raise ValidationError(
                _("Topic %(topic)s has no payload version %(version)s.")
                % {"topic": self.name, "version": version}
            ) from error

    def subject_of(self, payload: Mapping[str, Any]) -> str:
        return ":".join([self.subject_kind, *(str(payload.get(name, "")) for name in self.subject_fields)])

    def subject_sql(self, column: str = "payload") -> str:
        parts = [sql_literal(self.subject_kind)] + [
            f"coalesce({column}->>'{name}', '')" for name in self.subject_fields
        ]
        return " || ':' || ".join(parts)

    def validate(self, payload: Any, version: int | None = None) -> None:
        problems = self.schema(version).problems(payload)
        if problems:
            raise ValidationError(
                _("Message for %(topic)s is invalid: %(problems)s")
                % {"topic": self.name, "problems": "; ".join(problems)}
            )


REGISTRY: dict[str, Topic] = {}


def register(topic: Topic) -> Topic:
    if topic.name in REGISTRY and REGISTRY[topic.name] != topic:
        raise ValueError(f"topic {topic.name} registered twice")
    if (
        topic.sender not in Bureau.values
        or topic.receiver not in Bureau.values
        or topic.sender == topic.receiver
    ):
        raise ValueError(f"topic {topic.name} needs two different bureaus")
    REGISTRY[topic.name] = topic
    return topic


def get(name: str) -> Topic:
    try:
        return REGISTRY[name]
    except KeyError as error:
        raise ValidationError(_("Unknown topic %(topic)s.") % {"topic": name}) from error


def all_topics() -> list[Topic]:
    return sorted(REGISTRY.values(), key=lambda topic: topic.name)


# --- the topics of the domain brief -----------------------------------------------------------

PERSON_ID = Field("str", pattern=r"^[0-9A-Za-z\-]{6,32}$")
YEAR = Field("int", minimum=2000, maximum=2100)
REGION = Field("str", pattern=REGION_CODE_PATTERN)
FEN = Field("int", minimum=0)
SIGNED_FEN = Field("int")
TEXT = Field("str", max_length=200)
OPTIONAL_TEXT = Field("str", required=False, max_length=200)
DATE = Field("date")
OPTIONAL_DATE = Field("date", required=False)
REFERENCE = Field("str", max_length=64)

INSURANCE, TAX, FINANCE = Bureau.INSURANCE.value, Bureau.TAX.value, Bureau.FINANCE.value

_enrollment_fields = {
    "person_id": PERSON_ID,
    "region_code": REGION,
    "enrollment_id": Field("int", minimum=1),
    "person_name": Field("str", max_length=60),
    "category": Field("str", max_length=32),
}

register(
    Topic(
        "enrollment.registered",
        INSURANCE,
        TAX,
        gettext_lazy("An enrollment was registered, with its enrollment date."),
        {1: Schema({**_enrollment_fields, "enrolled_on": DATE})},
        "person",
        ("person_id",),
    )
)
register(
    Topic(
        "enrollment.changed",
        INSURANCE,
        TAX,
        gettext_lazy("An enrollment's data or status changed."),
        {
            1: Schema(
                {
                    **_enrollment_fields,
                    "status": Field("str", choices=("normal", "suspended")),
                    "changed_on": DATE,
                    "reason": OPTIONAL_TEXT,
                }
            )
        },
        "person",
        ("person_id",),
    )
)
register(
    Topic(
        "enrollment.terminated",
        INSURANCE,
        TAX,
        gettext_lazy("An enrollment was terminated."),
        {1: Schema({**_enrollment_fields, "terminated_on": DATE, "reason": TEXT})},
        "person",
        ("person_id",),
    )
)
# A mistyped identifier corrected (enrollment.services.person_identifier_correct). Its subject is
# the OLD identifier's person subject: it is applied after every enrollment message sent under the
# old number, and before any later one (the number's next holder's). Tax re-keys its ledger from
# the old identifier to the new one and, for the messages sent before ``corrected_at`` that still
# name the old one (other subjects: due items, subsidy marks, refunds), reads them as the new one.
register(
    Topic(
        "person.identifier_corrected",
        INSURANCE,
        TAX,
        gettext_lazy(
            "A person's identifier was corrected: tax re-keys its payer, amounts due, payments and marks"
            " from the old identifier to the new one."
        ),
        {
            1: Schema(
                {
                    "old_person_id": PERSON_ID,
                    "person_id": PERSON_ID,
                    "region_code": REGION,
                    "correction_id": Field("int", minimum=1),
                    "id_kind": Field("str", max_length=32),
                    # The moment the correction was made (just before it committed): messages sent
                    # by transactions that began earlier may still name the old identifier.
                    "corrected_at": Field("datetime"),
                    "reason": TEXT,
                }
            )
        },
        "person",
        ("old_person_id",),
    )
)
register(
    Topic(
        "assessment.due",
        INSURANCE,
        TAX,
        gettext_lazy("The amount one person owes for one insurance year (whole fen)."),
        {
            1: Schema(
                {
                    "person_id": PERSON_ID,
                    "insurance_year": YEAR,
                    "region_code": REGION,
                    "amount_fen": FEN,
                    "standard_fen": Field("int", required=False, minimum=0),
                    "subsidy_fen": Field("int", required=False, minimum=0),
                    # Added compatibly (optional): the subsidy category and its city-wide marker,
                    # when a payment is accepted and at what amount, and whether the item is
                    # withdrawn (the person became fully subsidised or is no longer enrolled).
                    "subsidy_category": Field("str", required=False, max_length=32),
                    "subsidy_marker": Field("str", required=False, max_length=16),
                    "schedule": Field("list", required=False),
                    "status": Field("str", required=False, choices=("due", "cancelled")),
                    # Added compatibly (optional): the assessment's revision; tax keeps the newest.
                    "revision": Field("int", required=False, minimum=1),
                }
            )
        },
        "due",
        ("person_id", "insurance_year"),
        amount_field="amount_fen",
    )
)
_DUE_ITEM = Schema(
    {
        "person_id": PERSON_ID,
        "region_code": REGION,
        "amount_fen": FEN,
        "standard_fen": Field("int", minimum=0),
        "subsidy_fen": Field("int", minimum=0),
        "subsidy_category": Field("str", max_length=32),
        "subsidy_marker": Field("str", max_length=16),
        "schedule": Field("list"),
        "status": Field("str", choices=("due", "cancelled")),
        "revision": Field("int", minimum=1),
    }
)
register(
    Topic(
        "assessment.due_batch",
        INSURANCE,
        TAX,
        gettext_lazy(
            "The amounts many persons of one county owe for one insurance year (the yearly run, or the"
            " reassessment of a list such as a subsidy roster's), in one message; each item carries its"
            " assessment's revision and tax keeps the newest."
        ),
        {
            1: Schema(
                {
                    "county_code": Field("str", pattern=r"^[0-9]{6}$"),
                    "insurance_year": YEAR,
                    "region_code": REGION,
                    # The part of the county (its first village code, or empty) and the batch in it;
                    # for the reassessment of a list of persons, "list-" and a number of its own.
                    "part": Field("str", pattern=r"^([0-9]{0,12}|list-[0-9]{1,20})$"),
                    "batch": Field("int", minimum=1),
                    "amount_fen": FEN,
                    "items": Field("list", items=_DUE_ITEM),
                }
            )
        },
        "due-batch",
        ("county_code", "insurance_year", "part", "batch"),
        amount_field="amount_fen",
    )
)
_SUBSIDY_MARK = Schema(
    {
        "person_id": PERSON_ID,
        "region_code": REGION,
        "category": Field("str", max_length=32),
        # The category's city-wide unified marker (全市统一标识), empty when the policy has none.
        "marker": Field("str", max_length=16),
        # active: tagged (with the kind and the amount the government pays); withdrawn: the tag ended.
        "status": Field("str", choices=("active", "withdrawn")),
        "subsidy_kind": Field("str", choices=("full", "partial", "fixed", "")),
        "subsidy_fen": FEN,
        "valid_from": DATE,
        "valid_to": OPTIONAL_DATE,
        "reason": Field("str", max_length=200),
        "revision": Field("int", minimum=1),
    }
)
_MARKS_BATCH_V1 = {
    "county_code": Field("str", pattern=r"^[0-9]{6}$"),
    "insurance_year": YEAR,
    "region_code": REGION,
    "roster": Field("str", max_length=64),
    "import_id": Field("int", minimum=1),
    "batch": Field("int", minimum=1),
    # The money the government pays for the items tagged (withdrawn ones count 0).
    "subsidy_fen": FEN,
    "items": Field("list", items=_SUBSIDY_MARK),
}
register(
    Topic(
        "subsidy.marks_batch",
        INSURANCE,
        TAX,
        gettext_lazy(
            "Subsidy tags of persons of one county for one insurance year, given or withdrawn by one"
            " roster import or by one tag given or ended by hand, in one message; each item carries a"
            " revision and tax keeps the newest."
        ),
        {
            1: Schema(_MARKS_BATCH_V1),
            # Version 2: also a tag given or ended by hand (``tag_id``, without ``import_id``); the
            # roster (``roster``) is then the tag's source. Tax's handler reads both alike.
            2: Schema(
                {
                    **_MARKS_BATCH_V1,
                    "import_id": Field("int", minimum=1, required=False),
                    "tag_id": Field("int", minimum=1, required=False),
                }
            ),
        },
        "marks-batch",
        ("county_code", "insurance_year", "import_id", "batch"),
        amount_field="subsidy_fen",
    )
)
register(
    Topic(
        "backpayment.due",
        INSURANCE,
        TAX,
        gettext_lazy("An approved back-payment amount."),
        {
            1: Schema(
                {
                    "person_id": PERSON_ID,
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "application_id": Field("int", minimum=1),
                    "amount_fen": FEN,
                    "approved_on": DATE,
                }
            ),
            # Version 2 (the first one sent): until when tax accepts it, the rule in words for the
            # counter, and the assessment's revision, so tax keeps the newest of this message and
            # the item's assessment.due messages.
            2: Schema(
                {
                    "person_id": PERSON_ID,
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "application_id": Field("int", minimum=1),
                    "amount_fen": FEN,
                    "approved_on": DATE,
                    "pay_until": DATE,
                    "rule": Field("str", max_length=64),
                    "reason": Field("str", max_length=500),
                    "revision": Field("int", minimum=1),
                }
            ),
        },
        "due",
        ("person_id", "insurance_year"),
        amount_field="amount_fen",
    )
)
_REFUND_DETAIL = {
    "refund_id": Field("int", minimum=1),
    "person_id": PERSON_ID,
    "region_code": REGION,
    "month": Field("str", pattern=r"^[0-9]{4}-[0-9]{2}$"),
    "amount_fen": FEN,
    "receipt_number": REFERENCE,
    "paid_on": DATE,
}
register(
    Topic(
        "refund.monthly_details",
        INSURANCE,
        TAX,
        gettext_lazy(
            "One refund paid out, reported in the month's refund details. Version 2 says which kind of"
            " refund it is: an application's (refund_id = insurance's application) or an over-collection"
            " tax reported (refund_id = tax's own request); the two number apart, and so do their subjects."
        ),
        {
            1: Schema(_REFUND_DETAIL),
            2: Schema({**_REFUND_DETAIL, "kind": Field("str", choices=("application", "overcollection"))}),
        },
        "refund",
        ("kind", "refund_id"),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "payment.deposited",
        TAX,
        INSURANCE,
        gettext_lazy("A payment was deposited to the treasury (入库)."),
        {
            1: Schema(
                {
                    "payment_id": Field("int", minimum=1),
                    "person_id": PERSON_ID,
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "amount_fen": FEN,
                    "channel": Field("str", max_length=32),
                    "receipt_number": REFERENCE,
                    "paid_at": Field("datetime"),
                }
            )
        },
        "due",
        ("person_id", "insurance_year"),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "payment.reversed",
        TAX,
        INSURANCE,
        gettext_lazy("A payment was reversed, with the reason."),
        {
            1: Schema(
                {
                    "payment_id": Field("int", minimum=1),
                    "person_id": PERSON_ID,
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "amount_fen": FEN,
                    "reason": TEXT,
                    "reversed_at": Field("datetime"),
                }
            )
        },
        "due",
        ("person_id", "insurance_year"),
        amount_field="amount_fen",
    )
)
_OVERCOLLECTION = {
    "request_id": Field("int", minimum=1),
    "payment_id": Field("int", minimum=1),
    "person_id": PERSON_ID,
    "region_code": REGION,
    "insurance_year": YEAR,
    "amount_fen": FEN,
    "reason": TEXT,
}
register(
    Topic(
        "refund.overcollection_requested",
        TAX,
        INSURANCE,
        gettext_lazy(
            "Tax reports an over-collection it caused, for refund. Version 2 adds the receipt (the"
            " refund details name it back to tax), the day it was requested and the reason's code."
        ),
        {
            1: Schema(_OVERCOLLECTION),
            2: Schema(
                {
                    **_OVERCOLLECTION,
                    "receipt_number": REFERENCE,
                    "reason_code": Field(
                        "str", choices=("charged_twice", "wrong_amount", "bank_debited_twice", "other")
                    ),
                    "requested_on": DATE,
                }
            ),
        },
        "overcollection",
        ("request_id",),
        amount_field="amount_fen",
    )
)
_FUND_PLAN = {
    "plan_id": Field("int", minimum=1),
    "region_code": REGION,
    "period": Field("str", max_length=16),
    "refund_count": Field("int", minimum=0),
    "amount_fen": FEN,
}
_FUND_PLAN_LINE = Schema(
    {
        "request_id": Field("int", minimum=1),
        "person_id": Field("str", max_length=32),
        "region_code": REGION,
        "insurance_year": YEAR,
        "receipt_number": REFERENCE,
        "reason": TEXT,
        "amount_fen": FEN,
    }
)
register(
    Topic(
        "refund.fund_plan_submitted",
        INSURANCE,
        FINANCE,
        gettext_lazy(
            "A refund fund-usage plan (用款计划) for finance. Version 2 carries its lines, so finance"
            " sees what it approves (masked identifiers: finance pays, it does not need whom in full)."
        ),
        {
            1: Schema(_FUND_PLAN),
            2: Schema(
                {
                    **_FUND_PLAN,
                    "submitted_on": DATE,
                    "lines": Field("list", items=_FUND_PLAN_LINE),
                }
            ),
        },
        "fund_plan",
        ("plan_id",),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "subsidy.fund_totals",
        INSURANCE,
        FINANCE,
        gettext_lazy(
            "Subsidy totals per category for one region and year. Version 2 carries a county's whole"
            " year (every category, as of a moment): it replaces whatever finance held for that county"
            " and year, so a category that emptied disappears."
        ),
        {
            1: Schema(
                {
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "category": Field("str", max_length=32),
                    "person_count": Field("int", minimum=0),
                    "amount_fen": FEN,
                }
            ),
            2: Schema(
                {
                    "region_code": REGION,
                    "insurance_year": YEAR,
                    "as_of": Field("datetime"),
                    "person_count": Field("int", minimum=0),
                    "amount_fen": FEN,
                    "categories": Field(
                        "list",
                        items=Schema(
                            {
                                "category": Field("str", max_length=32),
                                "name": Field("str", max_length=100),
                                "person_count": Field("int", minimum=0),
                                "amount_fen": FEN,
                            }
                        ),
                    ),
                }
            ),
        },
        "subsidy_totals",
        ("region_code", "insurance_year", "category"),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "refund.fund_plan_decided",
        FINANCE,
        INSURANCE,
        gettext_lazy("Finance approved or rejected a fund-usage plan."),
        {
            1: Schema(
                {
                    "plan_id": Field("int", minimum=1),
                    "region_code": REGION,
                    "decision": Field("str", choices=("approved", "rejected")),
                    "reason": OPTIONAL_TEXT,
                    "amount_fen": FEN,
                    "decided_on": DATE,
                }
            )
        },
        "fund_plan",
        ("plan_id",),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "refund.funds_transferred",
        FINANCE,
        INSURANCE,
        gettext_lazy("Finance transferred the funds of an approved plan."),
        {
            1: Schema(
                {
                    "plan_id": Field("int", minimum=1),
                    "region_code": REGION,
                    "amount_fen": FEN,
                    "transferred_on": DATE,
                    "voucher": REFERENCE,
                }
            )
        },
        "fund_plan",
        ("plan_id",),
        amount_field="amount_fen",
    )
)

# Every state change of an over-collection request, pushed back to tax (who asked for it).
OVERCOLLECTION_STATES = ("received", "planned", "approved", "rejected", "funded", "paid_out")
_OVERCOLLECTION_STATUS = {
    "request_id": Field("int", minimum=1),
    "region_code": REGION,
    "status": Field("str", choices=OVERCOLLECTION_STATES),
    "at": Field("datetime"),
    "amount_fen": FEN,
    "plan_id": Field("int", required=False, minimum=1),
    "period": Field("str", required=False, max_length=16),
    "note": Field("str", required=False, max_length=500),
    "paid_on": OPTIONAL_DATE,
    "bank_reference": Field("str", required=False, max_length=64),
}
register(
    Topic(
        "refund.overcollection_status",
        INSURANCE,
        TAX,
        gettext_lazy(
            "Where an over-collection refund tax asked for stands: received by insurance, in a fund-usage"
            " plan, approved or rejected by finance (back to the pool for the next plan), funded, paid out."
            " Version 2 adds refused: more was asked than insurance finds left of the payment (the note says why)."
        ),
        {
            1: Schema(_OVERCOLLECTION_STATUS),
            2: Schema(
                {
                    **_OVERCOLLECTION_STATUS,
                    "status": Field("str", choices=(*OVERCOLLECTION_STATES, "refused")),
                }
            ),
        },
        "overcollection-status",
        ("request_id",),
        amount_field="amount_fen",
    )
)
register(
    Topic(
        "policy.back_payment_window",
        INSURANCE,
        TAX,
        gettext_lazy(
            "When a region's policy takes back-payment (补缴) applications for an insurance year, or"
            " that it takes none: what the tax counter tells a payer after the collection period."
        ),
        {
            1: Schema(
                {
                    "policy_code": Field("str", max_length=64),
                    "policy_version": Field("int", minimum=1),
                    "region_code": REGION,
                    # The region prefix the policy applies to ('' = everywhere): tax takes, for a
                    # due item, the longest prefix of its region among the year's windows.
                    "region_prefix": Field("str", pattern=r"^[0-9]{0,12}$"),
                    "insurance_year": YEAR,
                    "back_payment": Field("bool"),
                    "apply_from": OPTIONAL_DATE,
                    "apply_until": OPTIONAL_DATE,
                }
            )
        },
        "policy",
        ("policy_code",),
    )
)
