"""The rulebook, yearly-assessment and coverage pages and their API, through the test client.

Every check reads codes, numbers, data-testid hooks and context values, never wording from the
message catalogue. The policy under test is the Linfen 2021 preset moved to 2027 (I 320 yuan,
S 580 yuan; collection 2026-09-01 to 2026-12-25, the 1st to the 25th of each month).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.scope import Scope
from enrollment import assessment
from enrollment.models import AssessmentRun, Policy, PolicyVersion, RunStatus
from enrollment.policies import policy_read_text, policy_save
from enrollment.rules import engine
from enrollment.rules.policy import Window
from subsidies.models import SubsidyRoster, SubsidyTag
from subsidies.services import subsidy_category_remove, subsidy_tag_add
from tests.conftest import World
from tests.matrix.enrollment_review import QINBI, TUNLI, make_enrollment, make_person
from tests.matrix.enrollment_rulebook import make_run, policy_document

D = dt.date
YEAR = 2027
CODE = "linfen-2027"


def signed_in(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    return client


def html(response: Any) -> str:
    return response.content.decode()


def tagged(response: Any, name: str) -> list[str]:
    """The opening tags carrying data-testid=name."""
    return re.findall(rf'<[^>]*data-testid="{re.escape(name)}"[^>]*>', html(response))


def attribute(tag: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', tag)
    return found.group(1) if found else ""


@pytest.fixture
def linfen(world: World) -> Policy:
    return policy_save(document=policy_document(code=CODE, year=YEAR), note="测试").record


@pytest.fixture
def run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's part runs at once when the run is queued (the task would, a moment later)."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment.assessment_run_execute(run_id=run_id),
    )


@pytest.fixture
def assessed(world: World, linfen: Policy) -> dict[str, Any]:
    """Three enrolled persons of 屯里村 — one without a subsidy, one 低保 (160 yuan), one 特困 (全额) —
    one of 秦壁村, and the 2027 assessment of 尧都区."""
    plain = make_person(TUNLI, name="王一")
    dibao = make_person(TUNLI, name="李二")
    tekun = make_person(TUNLI, name="张三")
    elsewhere = make_person(QINBI, name="赵四")
    for person in (plain, dibao, tekun, elsewhere):
        make_enrollment(person, enrolled_on=D(2024, 1, 1))
    subsidy_tag_add(person=dibao, category="dibao", source="测试名单", valid_from=D(2026, 6, 1))
    subsidy_tag_add(person=tekun, category="tekun", source="测试名单", valid_from=D(2026, 6, 1))
    run = assessment.assessment_run_now(county_code="141002", insurance_year=YEAR)
    return {"plain": plain, "dibao": dibao, "tekun": tekun, "elsewhere": elsewhere, "run": run}


# --- the list -----------------------------------------------------------------------------------


def test_given_policies_of_several_regions_when_listed_then_each_user_sees_their_area_and_above(
    world, linfen
):
    policy_save(document=policy_document(code="taiyuan-2027", region_code="140100"), note="测试")
    policy_save(document=policy_document(code="yaodu-2027", region_code="141002"), note="测试")
    policy_save(document=policy_document(code="country-2027", region_code=""), note="测试")

    admin = signed_in(world, "admin").get(reverse("enrollment:policy-list"))
    tax = signed_in(world, "tax_b").get(reverse("enrollment:policy-list"))
    clerk = signed_in(world, "clerk_a").get(reverse("enrollment:policy-list"))

    listed = [attribute(tag, "data-code") for tag in tagged(admin, "policy-row")]
    assert sorted(listed) == ["country-2027", CODE, "yaodu-2027"]
    assert sorted(attribute(tag, "data-code") for tag in tagged(tax, "policy-row")) == ["country-2027", CODE]
    assert tagged(admin, "policy-new") and not tagged(tax, "policy-new")
    assert [row["can_manage"] for row in admin.context["rows"] if row["policy"].code == CODE] == [True]
    assert clerk.status_code == 403


# --- one policy -----------------------------------------------------------------------------------


def test_given_the_linfen_policy_when_a_tax_officer_opens_it_then_every_rule_is_shown_with_its_path(
    world, linfen
):
    response = signed_in(world, "tax_a").get(reverse("enrollment:policy-detail", args=[CODE]))

    assert response.status_code == 200
    paths = [attribute(tag, "data-path") for tag in tagged(response, "rule")]
    assert paths == [
        "pricing[0]",
        "benefit[0]",
        "newborn[0]",
        "newborn[1]",
        *[f"subsidy_categories[{index}]" for index in range(5)],
        *[f"refunds.reasons.{reason}" for reason in ("paid_twice", "death", "employee_insurance")],
        *[f"refunds.reasons.{reason}" for reason in ("enrolled_elsewhere", "emigration", "agency_error")],
    ]
    sections = {section.key: section for section in response.context["sections"]}
    financing = [value for _label, value in sections["financing"].facts]
    assert [re.sub(r"[^0-9.,]", "", value) for value in financing[:3]] == ["320.00", "580.00", "900.00"]
    collection = dict(sections["collection"].facts)
    assert engine.say_window(Window(D(2026, 9, 1), D(2026, 12, 25))) in collection.values()
    assert [attribute(tag, "data-number") for tag in tagged(response, "version")] == ["1"]
    assert tagged(response, "download-yaml") and not tagged(response, "policy-edit")


def test_given_the_linfen_policy_then_the_refund_note_is_shown_beside_its_own_reason_alone(world, linfen):
    response = signed_in(world, "tax_a").get(reverse("enrollment:policy-detail", args=[CODE]))

    # Linfen's note is on paying twice ("重复缴费可申请退费…"): under that reason, no other
    reasons = [attribute(tag, "data-path") for tag in tagged(response, "rule") if "refunds." in tag]
    noted = re.findall(r'data-note-for="([^"]+)".*?data-testid="rule-note">([^<]*)<', html(response), re.S)
    assert len(reasons) == 6
    assert noted == [
        ("refunds.reasons.paid_twice", "重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由")
    ]


def test_given_a_policy_outside_the_area_then_its_page_is_not_found(world, linfen):
    policy_save(document=policy_document(code="taiyuan-2027", region_code="140100"), note="测试")
    policy_save(document=policy_document(code="hongdong-2027", region_code="141024"), note="测试")

    assert (
        signed_in(world, "admin").get(reverse("enrollment:policy-detail", args=["taiyuan-2027"])).status_code
        == 404
    )
    insurance = signed_in(world, "insurance_a")
    assert insurance.get(reverse("enrollment:policy-detail", args=["hongdong-2027"])).status_code == 404
    assert insurance.get(reverse("enrollment:policy-download", args=["hongdong-2027"])).status_code == 404
    assert insurance.get(reverse("enrollment:policy-detail", args=[CODE])).status_code == 200


def test_given_facts_in_the_try_box_then_the_engine_decides_with_rule_and_amount(world, linfen):
    url = reverse("enrollment:policy-detail", args=[CODE])
    client = signed_in(world, "insurance_a")
    base = {"try-birth_date": "1980-05-01", "try-person_category": "rural", "try-last_paid_year": "2026"}

    on_time = client.get(url, {**base, "try-paid_on": "2026-10-20", "try-tags": "dibao"})
    off_day = client.get(url, {**base, "try-paid_on": "2026-10-27"})

    result = tagged(on_time, "try-result")[0]
    assert (
        attribute(result, "data-accepted"),
        attribute(result, "data-rule"),
        attribute(result, "data-payable"),
    ) == (
        "true",
        "pricing[0]",
        "16000",
    )
    benefit = tagged(on_time, "try-benefit")[0]
    assert (attribute(benefit, "data-rule"), attribute(benefit, "data-start")) == ("benefit[0]", "2027-01-01")
    refused = tagged(off_day, "try-result")[0]
    assert (attribute(refused, "data-accepted"), attribute(refused, "data-rule")) == (
        "false",
        "collection.days_of_month",
    )
    assert Policy.objects.get(code=CODE).version == 1


# --- editing --------------------------------------------------------------------------------------


def _edit(client: Client, text: str, note: str = "按2027年文件调整") -> Any:
    return client.post(reverse("enrollment:policy-edit", args=[CODE]), {"text": text, "note": note})


def _current_text(client: Client) -> str:
    return client.get(reverse("enrollment:policy-edit", args=[CODE])).context["form"].initial["text"]


def test_given_a_yaml_syntax_error_when_the_administrator_saves_then_the_line_and_column_are_said_and_the_parsers_text_is_kept_whole(
    world, linfen
):
    client = signed_in(world, "admin")
    broken = "format: 1\ncode: linfen-2027\nfinancing:\n  individual_fen: [40000\n  subsidy_fen: 70000\n"

    response = _edit(client, broken)

    assert response.status_code == 400
    assert [(row["message"], row["detail"]) for row in response.context["problems"]] == [
        (
            "文档不是有效的YAML或JSON格式：第5行第14列有语法错误。",
            'while parsing a flow sequence\n  in "<unicode string>", line 4, column 19:\n'
            "      individual_fen: [40000\n                      ^\n"
            "expected ',' or ']', but got ':'\n"
            '  in "<unicode string>", line 5, column 14:\n'
            "      subsidy_fen: 70000\n                 ^",
        )
    ]
    assert '<pre class="problem-detail" data-testid="problem-detail">while parsing a flow sequence\n' in html(
        response
    )


def test_given_two_mistakes_when_the_administrator_saves_then_both_are_listed_with_their_paths_and_the_text_is_kept(
    world, linfen
):
    client = signed_in(world, "admin")
    text = _current_text(client)
    broken = text.replace("subsidy_fen: 58000", "subsidy_fen: -5").replace(
        "basis: individual", "basis: everything", 1
    )
    assert broken.count("-5") == 1 and "everything" in broken

    response = _edit(client, broken)

    assert response.status_code == 400
    paths = [attribute(tag, "data-path") for tag in tagged(response, "problem")]
    assert paths == ["policy.financing.subsidy_fen", "policy.pricing[0].basis"]
    assert response.context["form"].data["text"] == broken
    assert (
        Policy.objects.get(code=CODE).version,
        PolicyVersion.objects.filter(policy__code=CODE).count(),
    ) == (1, 1)


def test_given_no_note_when_saving_then_nothing_is_saved(world, linfen):
    client = signed_in(world, "admin")
    response = _edit(
        client, _current_text(client).replace("individual_fen: 32000", "individual_fen: 38000"), note=""
    )

    assert response.status_code == 400
    assert tagged(response, "note-error")
    assert Policy.objects.get(code=CODE).document["financing"]["individual_fen"] == 32000


def test_given_a_correct_change_when_saved_then_version_2_records_who_and_why(world, linfen):
    client = signed_in(world, "admin")

    response = _edit(client, _current_text(client).replace("individual_fen: 32000", "individual_fen: 38000"))

    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:policy-detail", args=[CODE]),
    )
    policy = Policy.objects.get(code=CODE)
    assert (policy.version, policy.document["financing"]["individual_fen"]) == (2, 38000)
    latest = PolicyVersion.objects.get(policy=policy, number=2)
    assert (latest.note, latest.saved_by.username) == ("按2027年文件调整", "admin")
    detail = client.get(reverse("enrollment:policy-detail", args=[CODE]))
    assert [attribute(tag, "data-number") for tag in tagged(detail, "version")] == ["2", "1"]
    old = client.get(reverse("enrollment:policy-version", args=[CODE, 1]))
    assert "individual_fen: 32000" in old.context["text"]


def test_given_the_same_text_when_saved_then_no_version_is_added(world, linfen):
    client = signed_in(world, "admin")

    response = _edit(client, _current_text(client))

    assert response.status_code == 302
    assert Policy.objects.get(code=CODE).version == 1


def test_given_a_changed_code_when_editing_then_it_is_refused(world, linfen):
    client = signed_in(world, "admin")

    response = _edit(client, _current_text(client).replace(f"code: {CODE}", "code: other-2027"))

    assert response.status_code == 400
    assert [attribute(tag, "data-path") for tag in tagged(response, "problem")] == ["policy.code"]
    assert not Policy.objects.filter(code="other-2027").exists()


def test_given_a_dibao_tag_counting_in_2027_when_the_editor_renames_the_category_then_refused_and_the_version_stays(
    world, linfen
):
    person = make_person(TUNLI, name="李二")
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="民政", valid_from=D(2026, 6, 1)
    )
    client = signed_in(world, "admin")
    text = _current_text(client)
    assert text.count("code: dibao") == 1

    response = _edit(client, text.replace("code: dibao", "code: low_income"))

    assert response.status_code == 400
    assert [attribute(tag, "data-path") for tag in tagged(response, "problem")] == [
        "policy.subsidy_categories"
    ]
    assert [row["message"] for row in response.context["problems"]] == [
        "本政策区域内有1人持有在2027年度有效的dibao标识，而此版本没有dibao的资助类别：下次核定时其资助将终止。"
        "请保留一个资助标识为dibao的类别，或在资助类别页面有意终止该类别。"
    ]
    policy = Policy.objects.get(code=CODE)
    assert (policy.version, [c["code"] for c in policy.document["subsidy_categories"]].count("dibao")) == (
        1,
        1,
    )


def test_given_dibao_tags_only_on_a_2026_roster_when_the_editor_renames_the_2027_category_then_saved(
    world, linfen
):
    person = make_person(TUNLI, name="李二")
    roster = SubsidyRoster.objects.create(region_code="141000000000", source="民政局", insurance_year=2026)
    SubsidyTag.objects.create(
        person=person,
        category="dibao",
        region_code=TUNLI,
        source="民政局",
        valid_from=D(2026, 6, 1),
        valid_to=D(2026, 12, 31),
        roster=roster,
    )
    client = signed_in(world, "admin")

    response = _edit(client, _current_text(client).replace("code: dibao", "code: low_income"))

    assert response.status_code == 302
    policy = Policy.objects.get(code=CODE)
    assert (policy.version, "low_income" in [c["code"] for c in policy.document["subsidy_categories"]]) == (
        2,
        True,
    )


def test_given_a_dibao_tag_counting_in_2027_when_the_category_is_removed_on_the_categories_page_then_it_is_ended_on_purpose(
    world, linfen
):
    person = make_person(TUNLI, name="李二")
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="民政", valid_from=D(2026, 6, 1)
    )

    loaded = subsidy_category_remove(
        scope=Scope.for_user(world.users["admin"]),
        policy_code=CODE,
        code="dibao",
        note="2027年起不再单列",
        actor_id=None,
    )

    assert (
        loaded.record.version,
        [c["code"] for c in loaded.record.document["subsidy_categories"]].count("dibao"),
    ) == (
        2,
        0,
    )


def test_given_staff_without_the_manage_action_then_edit_import_and_extend_are_refused(world, linfen):
    for key in ("insurance_a", "tax_a"):
        client = signed_in(world, key)
        assert client.get(reverse("enrollment:policy-edit", args=[CODE])).status_code == 403
        assert client.post(reverse("enrollment:policy-extend", args=[CODE]), {}).status_code == 403
        assert client.get(reverse("enrollment:policy-import")).status_code == 403


def test_given_the_nationwide_policy_when_a_city_administrator_opens_its_edit_page_then_it_is_refused(world):
    policy_save(document=policy_document(code="country-2027", region_code=""), note="测试")
    client = signed_in(world, "admin")

    assert client.get(reverse("enrollment:policy-detail", args=["country-2027"])).status_code == 200
    assert client.get(reverse("enrollment:policy-edit", args=["country-2027"])).status_code == 403


# --- a new year's policy ------------------------------------------------------------------------


def test_given_the_new_policy_form_then_it_holds_next_years_copy_and_saving_it_adds_the_policy(world, linfen):
    client = signed_in(world, "admin")

    form = client.get(reverse("enrollment:policy-new"))
    text = form.context["form"].initial["text"]
    document = yaml.safe_load(text)
    response = client.post(reverse("enrollment:policy-new"), {"text": text, "note": "2028年度政策"})

    assert form.context["chosen"] == f"policy:{CODE}"
    assert (document["code"], document["insurance_year"]) == ("linfen-2028", 2028)
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:policy-detail", args=["linfen-2028"]),
    )
    added = Policy.objects.get(code="linfen-2028")
    assert (added.insurance_year, added.region_code, added.version) == (2028, "141000", 1)
    assert added.document["collection"]["from"] == "2027-09-01"
    assert added.document["coverage"] == {"from": "2028-01-01", "to": "2028-12-31"}
    assert Policy.objects.get(code=CODE).version == 1


def test_given_a_preset_as_the_source_then_the_form_starts_from_it(world):
    response = signed_in(world, "admin").get(reverse("enrollment:policy-new"), {"from": "preset:qinbei-2023"})

    document = yaml.safe_load(response.context["form"].initial["text"])
    assert (document["code"], document["insurance_year"], document["region_code"]) == (
        "qinbei-2024",
        2024,
        "450703",
    )


def test_given_a_code_that_is_taken_when_adding_a_policy_then_it_is_refused(world, linfen):
    policy_save(document=policy_document(code="taiyuan-2027", region_code="140100"), note="测试")
    # Another city's administrator may not take over Linfen's policy by reusing its code.
    client = signed_in(world, "admin_other")
    text = yaml.safe_dump(policy_document(code=CODE, region_code="140100", year=2029), allow_unicode=True)

    response = client.post(reverse("enrollment:policy-new"), {"text": text, "note": "抢占"})

    assert response.status_code == 400
    assert [attribute(tag, "data-path") for tag in tagged(response, "problem")] == ["policy.code"]
    linfen.refresh_from_db()
    assert (linfen.region_code, linfen.version) == ("141000", 1)


# --- import, export -------------------------------------------------------------------------------


def test_given_the_exported_files_when_read_back_then_they_are_the_stored_document(world, linfen):
    client = signed_in(world, "tax_a")
    as_yaml = client.get(reverse("enrollment:policy-download", args=[CODE]), {"format": "yaml"})
    as_json = client.get(reverse("enrollment:policy-download", args=[CODE]), {"format": "json"})

    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_json["Content-Type"].startswith("application/json")
    assert f"{CODE}-v1.yaml" in as_yaml["Content-Disposition"]
    stored = Policy.objects.get(code=CODE).document
    assert policy_read_text(text=as_yaml.content, filename="x.yaml") == stored
    assert policy_read_text(text=as_json.content, filename="x.json") == stored


def _upload(client: Client, name: str, content: bytes, note: str = "导入") -> Any:
    return client.post(
        reverse("enrollment:policy-import"), {"file": SimpleUploadedFile(name, content), "note": note}
    )


def test_given_an_exported_file_changed_elsewhere_when_imported_then_it_is_a_new_version(world, linfen):
    client = signed_in(world, "admin")
    unchanged = client.get(reverse("enrollment:policy-download", args=[CODE]), {"format": "json"}).content
    changed = json.loads(unchanged)
    changed["financing"]["subsidy_fen"] = 64000

    same = _upload(client, "linfen.json", unchanged)
    assert (same.status_code, Policy.objects.get(code=CODE).version) == (302, 1)
    response = _upload(client, "linfen.json", json.dumps(changed, ensure_ascii=False).encode())

    assert response.status_code == 302
    policy = Policy.objects.get(code=CODE)
    assert (policy.version, policy.document["financing"]["subsidy_fen"]) == (2, 64000)


def test_given_bad_files_when_imported_then_each_is_refused_and_nothing_saved(world, linfen):
    client = signed_in(world, "admin")
    broken = yaml.safe_dump(
        policy_document(code="linfen-2031", year=2031, refunds={"reasons": {"lost": "always"}})
    )

    wrong_type = _upload(client, "policy.txt", b"code: x")
    not_yaml = _upload(client, "policy.yaml", b"code: [unclosed")
    invalid = _upload(client, "policy.yaml", broken.encode())

    assert (wrong_type.status_code, not_yaml.status_code, invalid.status_code) == (400, 400, 400)
    assert [attribute(tag, "data-path") for tag in tagged(invalid, "problem")] == [
        "policy.refunds.reasons.lost",
        "policy.refunds.decision_working_days",
    ]
    assert not Policy.objects.filter(code="linfen-2031").exists()


# --- extending the collection period --------------------------------------------------------------


def test_given_a_later_last_day_when_the_period_is_extended_then_a_version_records_it(world, linfen):
    client = signed_in(world, "admin")
    url = reverse("enrollment:policy-extend", args=[CODE])

    too_early = client.post(url, {"extended_to": "2026-12-20", "note": "税务局与医保局联合通知"})
    response = client.post(
        url, {"extended_to": "2027-01-10", "note": "税务局与医保局联合通知", "step": "confirm"}
    )

    assert too_early.status_code == 400 and tagged(too_early, "extended-to-error")
    assert response.status_code == 302
    policy = Policy.objects.get(code=CODE)
    assert policy.version == 2
    assert (
        policy.document["collection"]["extended_to"],
        policy.document["collection"]["extension_note"],
    ) == (
        "2027-01-10",
        "税务局与医保局联合通知",
    )
    detail = client.get(reverse("enrollment:policy-detail", args=[CODE]))
    collection = dict(
        next(section for section in detail.context["sections"] if section.key == "collection").facts
    )
    assert engine.say_date(D(2027, 1, 10)) in collection.values()


# --- the yearly assessment ------------------------------------------------------------------------


def test_given_insurance_staff_when_they_start_the_assessment_then_the_run_page_ends_in_the_counts(
    world, linfen, run_inline, django_capture_on_commit_callbacks
):
    people = [make_person(TUNLI, name=name) for name in ("王一", "李二", "张三")]
    for person in people:
        make_enrollment(person)
    subsidy_tag_add(person=people[1], category="dibao", source="测试名单", valid_from=D(2026, 6, 1))
    subsidy_tag_add(person=people[2], category="tekun", source="测试名单", valid_from=D(2026, 6, 1))
    client = signed_in(world, "insurance_a")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("enrollment:assessment-start"), {"county_code": "141002", "insurance_year": YEAR}
        )

    run = AssessmentRun.objects.get(person__isnull=True)
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("enrollment:assessment-run", args=[run.pk]),
    )
    page = client.get(response["Location"])
    assert attribute(tagged(page, "run-status")[0], "data-status") == "done"
    counts = {
        attribute(tag, "data-key"): int(attribute(tag, "data-value"))
        for tag in re.findall(r"<div class=\"stat [^>]*>", html(page))
    }
    assert counts == {
        "enrollments": 3,
        "distinct_facts": 3,
        "created": 3,
        "changed": 0,
        "unchanged": 0,
        "cancelled": 0,
        "government_paid": 1,
        "government_paid_fen": 32000,
        "pushed": 2,
        "payable": 48000,
    }
    assert (run.policy_version.policy.code, run.policy_version.number, run.started_by.username) == (
        CODE,
        1,
        "insurance_a",
    )
    assert not tagged(page, "progress")


def _figures(response: Any, section: str) -> dict[str, int]:
    """The data-key → data-value of the figures inside one section of the run page."""
    body = html(response)
    start = body.index(f'data-testid="{section}"')
    part = body[start : body.index("</section>", start)]
    return {key: int(value) for key, value in re.findall(r'data-key="([^"]+)" data-value="(-?\d+)"', part)}


def test_given_an_assessed_county_when_a_roster_reassesses_one_person_then_the_run_page_tells_its_figures_from_the_countys(
    world, assessed
):
    plain = assessed["plain"]
    SubsidyTag.objects.create(
        person=plain, category="tekun", region_code=TUNLI, source="测试名单", valid_from=D(2026, 6, 1)
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE listed_persons (person_id bigint)")
        cursor.execute("INSERT INTO listed_persons VALUES (%s)", [plain.pk])
    (run,) = assessment.assessment_reassess_persons(
        person_table="listed_persons", reason="资助名单：测试名单（导入编号1）", today=D(2026, 11, 20)
    )

    page = signed_in(world, "admin").get(reverse("enrollment:assessment-run", args=[run.pk]))

    assert attribute(tagged(page, "run-whose")[0], "data-kind") == "persons"
    # The run: 王一 alone, now paid by the government (320 yuan), owing nothing.
    assert _figures(page, "counts") == {
        "enrollments": 1,
        "distinct_facts": 1,
        "created": 0,
        "changed": 1,
        "unchanged": 0,
        "cancelled": 0,
        "government_paid": 1,
        "government_paid_fen": 32000,
        "pushed": 1,
        "payable": 0,
    }
    # The county: 王一 and 张三 paid by the government, 李二 owing 160 yuan.
    assert _figures(page, "county-figures") == {
        "county_assessed": 3,
        "county_government_paid": 2,
        "county_government_paid_fen": 64000,
        "county_payable": 16000,
    }


def test_given_a_county_outside_the_area_or_a_year_without_policy_then_no_run_starts(world, linfen):
    client = signed_in(world, "insurance_a")

    outside = client.post(
        reverse("enrollment:assessment-start"), {"county_code": "141024", "insurance_year": YEAR}
    )
    no_policy = client.post(
        reverse("enrollment:assessment-start"), {"county_code": "141002", "insurance_year": 2040}
    )

    assert (outside.status_code, no_policy.status_code) == (400, 400)
    assert tagged(outside, "county_code-error") and tagged(no_policy, "start-error")
    assert not AssessmentRun.objects.exists()
    assert signed_in(world, "admin").get(reverse("enrollment:assessment-start")).status_code == 403


def test_given_a_running_run_then_its_page_shows_the_progress_and_the_json_the_phase(world, linfen):
    run = make_run("141002", year=YEAR, status=RunStatus.RUNNING)
    assessment._progress_setter(run.pk)("deciding", 5, 10)
    client = signed_in(world, "insurance_a")

    page = client.get(reverse("enrollment:assessment-run", args=[run.pk]))
    progress = client.get(reverse("enrollment:assessment-run-progress", args=[run.pk])).json()

    assert attribute(tagged(page, "progress")[0], "data-progress-url") == reverse(
        "enrollment:assessment-run-progress", args=[run.pk]
    )
    assert 'value="45"' in html(page)
    assert progress == {
        "status": "running",
        "phase": "deciding",
        "done": 5,
        "total": 10,
        "percent": 45,
        "finished": False,
    }


def test_given_runs_of_two_counties_then_each_county_sees_its_own(world, linfen):
    own, other = make_run("141002", year=YEAR), make_run("141024", year=YEAR)

    listed = signed_in(world, "insurance_a").get(reverse("enrollment:assessment-runs"))
    city = signed_in(world, "admin").get(reverse("enrollment:assessment-runs"))

    assert [attribute(tag, "data-run") for tag in tagged(listed, "run-row")] == [str(own.pk)]
    assert sorted(attribute(tag, "data-run") for tag in tagged(city, "run-row")) == sorted(
        [str(own.pk), str(other.pk)]
    )
    assert tagged(listed, "start-form") and not tagged(city, "start-form")
    assert (
        signed_in(world, "insurance_a").get(reverse("enrollment:assessment-run", args=[other.pk])).status_code
        == 404
    )


def test_given_an_assessed_county_then_the_list_filters_by_status_and_category_and_masks_for_the_administrator(
    world, assessed
):
    url = reverse("enrollment:assessment-list", args=["141002", YEAR])
    insurance = signed_in(world, "insurance_a")

    everyone = insurance.get(url)
    government = insurance.get(url, {"status": "government"})
    dibao = insurance.get(url, {"category": "dibao"})
    masked = signed_in(world, "admin").get(url)

    rows = {
        attribute(tag, "data-category"): attribute(tag, "data-payable")
        for tag in tagged(everyone, "assessment-row")
    }
    assert rows == {"": "32000", "dibao": "16000", "tekun": "0"}
    assert [attribute(tag, "data-status") for tag in tagged(government, "assessment-row")] == ["government"]
    assert [attribute(tag, "data-category") for tag in tagged(dibao, "assessment-row")] == ["dibao"]
    full = {row["person"].name: row["id_number"] for row in everyone.context["rows"]}
    assert full["王一"] == assessed["plain"].id_number
    hidden = {row["person"].name: row["id_number"] for row in masked.context["rows"]}
    assert hidden["王一"] != assessed["plain"].id_number and "*" in hidden["王一"]
    assert len(tagged(everyone, "assessment-reason")) == 3
    assert insurance.get(reverse("enrollment:assessment-list", args=["141024", YEAR])).status_code == 404
    assert (
        signed_in(world, "admin")
        .get(reverse("enrollment:assessment-list", args=["140105", YEAR]))
        .status_code
        == 404
    )


def test_given_an_assessed_person_then_their_page_shows_the_breakdown_schedule_and_benefit_period(
    world, assessed
):
    url = reverse("enrollment:person-detail", args=[assessed["dibao"].pk])

    staff = signed_in(world, "insurance_a").get(url)
    clerk = signed_in(world, "clerk_a").get(url)

    item = tagged(staff, "person-assessment")[0]
    assert (
        attribute(item, "data-year"),
        attribute(item, "data-status"),
        attribute(item, "data-payable"),
    ) == (
        str(YEAR),
        "due",
        "16000",
    )
    assert tagged(staff, "schedule-line")
    row = staff.context["assessments"][0]
    assert (row["standard"], row["subsidy"], row["payable"]) == ("320.00", "160.00", "160.00")
    assert row["schedule"][0]["start"] == "2026-09-01"
    assert clerk.status_code == 200 and not tagged(clerk, "person-assessments")


# --- coverage -------------------------------------------------------------------------------------


def _check(client: Client, id_number: str, day: str) -> Any:
    return client.post(reverse("enrollment:coverage-check"), {"id_number": id_number, "day": day})


def test_given_a_paid_and_an_unpaid_person_then_the_check_answers_covered_and_not_covered_with_the_rule(
    world, assessed
):
    client = signed_in(world, "clerk_a")

    covered = _check(client, assessed["tekun"].id_number.lower(), "2027-03-01")
    unpaid = _check(client, assessed["plain"].id_number, "2027-03-01")

    answer = tagged(covered, "coverage-answer")[0]
    assert (attribute(answer, "data-covered"), attribute(answer, "data-rule")) == (
        "true",
        "coverage.normal_paid",
    )
    period = tagged(covered, "coverage-period")[0]
    assert (attribute(period, "data-start"), attribute(period, "data-end")) == ("2027-01-01", "2027-12-31")
    assert tagged(covered, "coverage-timeline")
    refused = tagged(unpaid, "coverage-answer")[0]
    assert (attribute(refused, "data-covered"), attribute(refused, "data-rule")) == (
        "false",
        "coverage.unpaid",
    )


def test_given_someone_outside_the_area_or_unknown_then_the_check_finds_nobody_and_shows_nothing(
    world, assessed
):
    client = signed_in(world, "insurance_a")

    outside = _check(client, assessed["elsewhere"].id_number, "2027-03-01")
    unknown = _check(client, "141002199001011234", "2027-03-01")

    for response in (outside, unknown):
        assert response.status_code == 404
        assert tagged(response, "coverage-error") and not tagged(response, "coverage-answer")
    assert "赵四" not in html(outside)


# --- the API --------------------------------------------------------------------------------------


def test_given_the_api_then_policies_are_listed_read_and_exported(world, linfen):
    client = signed_in(world, "tax_a")

    listed = client.get("/api/policies/").json()
    one = client.get(f"/api/policies/{CODE}/").json()
    as_yaml = client.get(f"/api/policies/{CODE}/export/", {"format": "yaml"})
    as_json = client.get(f"/api/policies/{CODE}/export/", {"format": "json"})

    assert [row["code"] for row in listed["results"]] == [CODE]
    assert (one["version"], one["document"]["financing"]["individual_fen"], one["versions"][0]["number"]) == (
        1,
        32000,
        1,
    )
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.content) == one["document"]
    assert as_json.json() == one["document"]
    assert client.get("/api/policies/taiyuan-2027/").status_code == 404


def test_given_a_document_with_mistakes_by_api_then_every_problem_is_listed(world, linfen):
    client = signed_in(world, "admin")
    document = policy_document(code="linfen-2031", year=2031)
    document["financing"]["subsidy_fen"] = "many"
    document["pricing"][0]["basis"] = "everything"

    response = client.post(
        "/api/policies/", {"document": document, "note": "接口"}, content_type="application/json"
    )

    assert response.status_code == 400
    problems = response.json()["error"]["fields"]["document"]
    assert [problem.split(":")[0] for problem in problems] == [
        "policy.financing.subsidy_fen",
        "policy.pricing[0].basis",
    ]


def test_given_a_dibao_tag_counting_in_2027_when_a_document_without_dibao_comes_by_api_then_400_at_the_categories(
    world, linfen
):
    person = make_person(TUNLI, name="李二")
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="民政", valid_from=D(2026, 6, 1)
    )
    document = Policy.objects.get(code=CODE).document
    document["subsidy_categories"] = [c for c in document["subsidy_categories"] if c["code"] != "dibao"]

    response = signed_in(world, "admin").post(
        "/api/policies/", {"document": document, "note": "接口"}, content_type="application/json"
    )

    assert response.status_code == 400
    problems = response.json()["error"]["fields"]["document"]
    assert [problem.split(":")[0] for problem in problems] == ["policy.subsidy_categories"]
    assert Policy.objects.get(code=CODE).version == 1


def test_given_documents_by_api_then_a_new_code_is_created_and_a_known_one_gets_a_version(world, linfen):
    client = signed_in(world, "admin")
    changed = policy_document(code=CODE, year=YEAR)
    changed["financing"]["individual_fen"] = 40000

    created = client.post(
        "/api/policies/",
        {"document": policy_document(code="linfen-2031", year=2031), "note": "接口"},
        content_type="application/json",
    )
    updated = client.post(
        "/api/policies/", {"text": yaml.safe_dump(changed), "note": "接口"}, content_type="application/json"
    )
    refused = signed_in(world, "tax_a").post(
        "/api/policies/", {"document": changed, "note": "x"}, content_type="application/json"
    )

    assert (created.status_code, created.json()["version"]) == (201, 1)
    assert (updated.status_code, updated.json()["version"]) == (200, 2)
    assert refused.status_code == 403


def test_given_the_api_then_runs_start_and_report_and_assessments_are_listed_masked(
    world, assessed, run_inline, django_capture_on_commit_callbacks
):
    staff, admin = signed_in(world, "insurance_a"), signed_in(world, "admin")

    with django_capture_on_commit_callbacks(execute=True):
        started = staff.post(
            "/api/assessment-runs/",
            {"county_code": "141002", "insurance_year": YEAR},
            content_type="application/json",
        )
    run_id = started.json()["id"]
    detail = staff.get(f"/api/assessment-runs/{run_id}/").json()
    outside = staff.post(
        "/api/assessment-runs/",
        {"county_code": "141024", "insurance_year": YEAR},
        content_type="application/json",
    )
    government = staff.get("/api/assessments/", {"insurance_year": YEAR, "status": "government"}).json()
    masked = admin.get("/api/assessments/", {"county_code": "141002"}).json()

    assert started.status_code == 202
    assert (
        detail["status"],
        detail["enrollments"],
        detail["unchanged"],
        detail["changed"],
        detail["progress"],
    ) == (
        "done",
        3,
        3,
        0,
        None,
    )
    assert outside.status_code == 403
    assert [(row["person_name"], row["payable_fen"], row["id_number"]) for row in government["results"]] == [
        ("张三", 0, assessed["tekun"].id_number)
    ]
    assert sorted(row["payable_fen"] for row in masked["results"]) == [0, 16000, 32000]
    assert all("*" in row["id_number"] for row in masked["results"])
    assert staff.get("/api/assessments/", {"status": "lost"}).status_code == 400


def test_given_the_api_then_coverage_answers_with_a_masked_identifier_and_404_outside_the_area(
    world, assessed
):
    tekun = assessed["tekun"]

    answer = signed_in(world, "admin").get(f"/api/coverage/{tekun.id_number}/", {"date": "2027-03-01"}).json()
    outside = signed_in(world, "insurance_a").get(f"/api/coverage/{assessed['elsewhere'].id_number}/")
    bad_date = signed_in(world, "insurance_a").get(
        f"/api/coverage/{tekun.id_number}/", {"date": "03/01/2027"}
    )

    assert (answer["covered"], answer["start"], answer["end"], answer["rule"]) == (
        True,
        "2027-01-01",
        "2027-12-31",
        "coverage.normal_paid",
    )
    assert answer["person"]["name"] == "张三" and answer["person"]["id_number"] != tekun.id_number
    assert (outside.status_code, bad_date.status_code) == (404, 400)


def test_given_a_policy_saved_then_tax_is_told_when_it_takes_back_payment_applications(world):
    from sharing.models import OutboxMessage

    saved = policy_save(document=policy_document(code="yaodu-2027", region_code="141002"), note="测试")
    without = policy_document(code="country-2027", region_code="")
    without["back_payment"] = None
    policy_save(document=without, note="测试")

    sent = [
        m.payload for m in OutboxMessage.objects.filter(topic="policy.back_payment_window").order_by("id")
    ]
    back = saved.rules.back_payment
    assert sent == [
        {
            "policy_code": "yaodu-2027",
            "policy_version": 1,
            "region_code": "141002000000",
            "region_prefix": "141002",
            "insurance_year": saved.record.insurance_year,
            "back_payment": True,
            "apply_from": back.apply_from.isoformat(),
            "apply_until": back.apply_until.isoformat(),
        },
        {
            "policy_code": "country-2027",
            "policy_version": 1,
            "region_code": "000000000000",
            "region_prefix": "",
            "insurance_year": saved.record.insurance_year,
            "back_payment": False,
            "apply_from": None,
            "apply_until": None,
        },
    ]


def test_given_policies_saved_before_the_message_when_the_command_runs_then_each_window_is_sent_once(world):
    from django.core.management import call_command

    from sharing.models import OutboxMessage

    policy_save(document=policy_document(code="yaodu-2027", region_code="141002"), note="测试")
    policy_save(document=policy_document(code="hongdong-2027", region_code="141024"), note="测试")
    OutboxMessage.objects.filter(topic="policy.back_payment_window").delete()  # as before the upgrade

    out = io.StringIO()
    call_command("send_back_payment_windows", stdout=out)

    sent = OutboxMessage.objects.filter(topic="policy.back_payment_window").order_by("id")
    assert [(m.payload["policy_code"], m.payload["policy_version"]) for m in sent] == [
        ("hongdong-2027", 1),
        ("yaodu-2027", 1),
    ]
    assert out.getvalue() == "2 policies: back-payment windows sent to tax\n"
