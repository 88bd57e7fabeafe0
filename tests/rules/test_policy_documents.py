"""Policies as documents: the presets load, round-trip, carry Chinese reasons; a bad document lists every problem."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

import pytest
import yaml

from enrollment.rules.policy import Policy, PolicyError
from enrollment.rules.presets import PRESETS, all_presets, load_preset

from . import preset

CODES = ["guigang-2024", "jilin-2023", "lanshan-2016", "linfen-2021", "national-2025", "qinbei-2023"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_given_the_presets_directory_then_every_preset_is_listed_under_its_code():
    assert sorted(PRESETS) == CODES
    for code, path in PRESETS.items():
        assert path.name == f"{code}.yaml"
        assert load_preset(code).code == code


def test_given_all_presets_then_they_come_sorted_by_region_and_year_nationwide_first():
    assert [(policy.region_code, policy.insurance_year) for policy in all_presets()] == [
        ("", 2025),
        ("141000", 2021),
        ("220000", 2023),
        ("371302", 2016),
        ("450703", 2023),
        ("450800", 2024),
    ]


def test_given_an_unknown_code_then_load_preset_says_which_presets_exist():
    with pytest.raises(KeyError, match="linfen-2021"):
        load_preset("atlantis-2099")


@pytest.mark.parametrize("code", CODES)
def test_given_a_preset_when_exported_and_imported_then_it_is_the_same_policy(code):
    policy = preset(code)
    assert Policy.from_document(policy.to_document()) == policy


@pytest.mark.parametrize("code", CODES)
def test_given_a_preset_when_exported_as_json_or_yaml_and_read_back_then_it_is_the_same_policy(code):
    policy = preset(code)
    document = policy.to_document()
    assert Policy.from_document(json.loads(json.dumps(document, ensure_ascii=False))) == policy
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    assert Policy.from_document(yaml.safe_load(text)) == policy


@pytest.mark.parametrize("code", CODES)
def test_given_a_preset_then_every_rule_carries_a_chinese_note_for_the_clerk_to_read(code):
    policy = preset(code)
    notes = [rule.note for rule in policy.pricing + policy.benefit + policy.newborn]
    notes += [category.note or category.name for category in policy.subsidy_categories]
    # The refund words are the policy's general note, or each reason's own (Linfen's on paying twice).
    notes += [policy.refunds.note or "".join(policy.refunds.reason_notes.values()), policy.financing.note]
    if policy.back_payment:
        notes.append(policy.back_payment.note)
    assert all(CJK.search(note) for note in notes), notes


@pytest.mark.parametrize(
    ("code", "assumption"),
    [
        ("linfen-2021", "国家筹资标准"),
        ("jilin-2023", "国家筹资标准"),
        ("qinbei-2023", "国家标准"),
        ("guigang-2024", "国家筹资标准"),
        ("national-2025", "国家筹资标准"),
    ],
)
def test_given_a_number_the_document_does_not_give_then_the_preset_says_it_is_the_national_standard(
    code, assumption
):
    assert assumption in preset(code).financing.note


def test_given_a_collection_period_extension_then_it_is_recorded_with_its_note_and_round_trips():
    policy = preset("linfen-2021").with_collection_extended(to=date(2021, 1, 25), note="两部门协商延长")
    assert (policy.collection.extended_to, policy.collection.extension_note) == (
        date(2021, 1, 25),
        "两部门协商延长",
    )
    assert policy.collection.extension_days == 31
    assert policy.collection.window.end == date(2020, 12, 25)  # the original period is kept
    assert Policy.from_document(policy.to_document()) == policy


def test_given_an_unquoted_yaml_on_key_then_it_is_read_as_on():
    document = yaml.safe_load("years: 60\non: 2023-12-31\n")
    assert True in document  # what YAML 1.1 makes of it
    policy_document = preset("guigang-2024").to_document()
    policy_document["subsidy_categories"][0]["conditions"]["age_at_least"] = document
    policy = Policy.from_document(policy_document)
    assert policy.subsidy_categories[0].conditions.age_at_least.on == date(2023, 12, 31)


# --- validation: every problem, with its path --------------------------------------------------


def problems_of(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as caught:
        Policy.from_document(document)
    return caught.value.problems


def paths_of(document: Any) -> list[str]:
    return [path for path, _message in problems_of(document)]


def edited(code: str, edit) -> dict[str, Any]:
    document = copy.deepcopy(preset(code).to_document())
    edit(document)
    return document


@pytest.mark.parametrize(
    ("code", "edit", "path"),
    [
        ("linfen-2021", lambda d: d["coverage"].update({"from": "2021-02-30"}), "policy.coverage.from"),
        ("linfen-2021", lambda d: d["collection"].update({"to": "25 Dec 2020"}), "policy.collection.to"),
        ("linfen-2021", lambda d: d["collection"].update({"to": "2020-08-31"}), "policy.collection.to"),
        ("linfen-2021", lambda d: d.update({"colour": "red"}), "policy.colour"),
        ("linfen-2021", lambda d: d["pricing"][0].update({"price": 1}), "policy.pricing[0].price"),
        (
            "linfen-2021",
            lambda d: d["pricing"][0].update({"situations": ["orphan"]}),
            "policy.pricing[0].situations[0]",
        ),
        (
            "linfen-2021",
            lambda d: d["benefit"][0].update({"person_categories": ["alien"]}),
            "policy.benefit[0].person_categories",
        ),
        (
            "linfen-2021",
            lambda d: d["subsidy_categories"][1].update({"amount_fen": 32001}),
            "policy.subsidy_categories[1].amount_fen",
        ),
        (
            "linfen-2021",
            lambda d: d["subsidy_categories"][1].update({"scheme": "half"}),
            "policy.subsidy_categories[1].scheme",
        ),
        (
            "linfen-2021",
            lambda d: d["subsidy_categories"][1].update({"code": "poverty_registered"}),
            "policy.subsidy_categories",
        ),
        (
            "linfen-2021",
            lambda d: d["refunds"]["reasons"].update({"divorce": "always"}),
            "policy.refunds.reasons.divorce",
        ),
        (
            "linfen-2021",
            lambda d: d["refunds"]["reasons"].update({"death": "sometimes"}),
            "policy.refunds.reasons.death",
        ),
        (
            "linfen-2021",
            lambda d: d["refunds"]["reason_notes"].update({"divorce": "离婚可退"}),
            "policy.refunds.reason_notes.divorce",
        ),
        (
            "linfen-2021",
            lambda d: d["refunds"]["reason_notes"].update({"death": 5}),
            "policy.refunds.reason_notes.death",
        ),
        (
            "linfen-2021",
            lambda d: d["collection"].update({"days_of_month": [25, 1]}),
            "policy.collection.days_of_month",
        ),
        (
            "linfen-2021",
            lambda d: d["collection"].update({"extended_to": "2020-12-20", "extension_note": "x"}),
            "policy.collection.extended_to",
        ),
        ("linfen-2021", lambda d: d["newborn"][0].update({"pay_within_days": 90}), "policy.newborn[0]"),
        (
            "linfen-2021",
            lambda d: d["back_payment"].update({"start": {"kind": "someday"}}),
            "policy.back_payment.start.kind",
        ),
        (
            "linfen-2021",
            lambda d: d["benefit"][0].update({"start": {"kind": "date"}}),
            "policy.benefit[0].start.on",
        ),
        (
            "linfen-2021",
            lambda d: d["financing"].update({"individual_fen": 320.5}),
            "policy.financing.individual_fen",
        ),
        ("linfen-2021", lambda d: d.update({"region_code": "12345"}), "policy.region_code"),
        ("linfen-2021", lambda d: d.update({"insurance_year": 1999}), "policy.insurance_year"),
        ("linfen-2021", lambda d: d.pop("pricing"), "policy.pricing"),
        ("national-2025", lambda d: d.pop("waiting_period"), "policy.waiting_period"),
        (
            "national-2025",
            lambda d: d["waiting_period"].update({"exempt": ["baby"]}),
            "policy.waiting_period.exempt[0]",
        ),
        ("qinbei-2023", lambda d: d["collection"].pop("grace_until"), "policy.benefit[3].paid"),
        (
            "qinbei-2023",
            lambda d: d["collection"].update({"grace_until": "2022-12-01"}),
            "policy.collection.grace_until",
        ),
        (
            "qinbei-2023",
            lambda d: d["subsidy_categories"][6].update({"percent": 160}),
            "policy.subsidy_categories[6].percent",
        ),
        (
            "qinbei-2023",
            lambda d: d["subsidy_categories"][9].update({"tag": "rural low income"}),
            "policy.subsidy_categories[9].tag",
        ),
        (
            "lanshan-2016",
            lambda d: d["subsidy_categories"][4]["conditions"].update({"born_before": "1946-01-01"}),
            "policy.subsidy_categories[4].conditions.born_before",
        ),
    ],
)
def test_given_a_bad_document_then_the_problem_is_reported_at_its_path(code, edit, path):
    assert path in paths_of(edited(code, edit))


def test_given_a_waiting_period_start_without_a_waiting_period_in_a_back_payment_then_the_rule_is_named():
    def edit(document):
        document["back_payment"]["start"] = {"kind": "waiting_period"}

    messages = dict(problems_of(edited("linfen-2021", edit)))
    assert "policy.back_payment.start" in messages["policy.waiting_period"]


def test_given_several_problems_then_every_one_is_reported_not_only_the_first():
    def edit(document):
        document["coverage"]["from"] = "2021-13-01"
        document["pricing"][0]["situations"] = ["orphan"]
        document["subsidy_categories"][1]["amount_fen"] = 99_999
        document["unknown"] = True

    assert paths_of(edited("linfen-2021", edit)) == [
        "policy.unknown",
        "policy.coverage.from",
        "policy.pricing[0].situations[0]",
        "policy.subsidy_categories[1].amount_fen",
    ]


@pytest.mark.parametrize("document", [None, [], "linfen-2021"])
def test_given_a_document_that_is_not_a_mapping_then_the_policy_itself_is_the_problem(document):
    assert paths_of(document) == ["policy"]


def test_given_a_policy_error_then_its_message_lists_path_and_problem():
    def edit(document):
        document["colour"] = "red"

    with pytest.raises(PolicyError, match=r"policy\.colour"):
        Policy.from_document(edited("linfen-2021", edit))


def test_given_no_refund_reasons_then_nothing_is_refundable_and_the_document_round_trips():
    def edit(document):
        document["refunds"].pop("reasons")

    policy = Policy.from_document(edited("lanshan-2016", edit))
    assert policy.refunds.reasons == {}
    assert Policy.from_document(policy.to_document()) == policy


def test_given_a_note_of_each_refund_reason_then_each_is_its_own_and_the_document_round_trips():
    def edit(document):
        document["refunds"]["reason_notes"]["agency_error"] = "经办差错多缴的，核实后退还"

    policy = Policy.from_document(edited("linfen-2021", edit))
    assert policy.refunds.reason_notes == {
        "paid_twice": "重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由",
        "agency_error": "经办差错多缴的，核实后退还",
    }
    assert policy.refunds.note == ""
    assert Policy.from_document(policy.to_document()) == policy
