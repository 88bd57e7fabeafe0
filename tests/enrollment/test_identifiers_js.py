"""The browser's resident-ID check (static/js/identifiers.js) against the Python one, case by case.

Node.js runs the file in a fresh `vm` context whose only global is a fake `window`; every case
goes through `PortalIdentifiers.checkResidentId` and `parse_identifier("resident_id", ...)`,
and ok / code / normalised number / birth date / sex must be the same.
"""

import json
import random
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from enrollment.identifiers import PROVINCE_CODES, IdentifierError, normalise, parse_identifier
from tests.enrollment import TODAY, resident_id, with_check_digit, with_wrong_check_digit

SCRIPT = Path(settings.BASE_DIR) / "static" / "js" / "identifiers.js"

HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const path = process.argv[1];
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const context = vm.createContext({ window: {} });
vm.runInContext(fs.readFileSync(path, "utf8"), context, { filename: path });
const api = context.window.PortalIdentifiers;
const options = input.today === null ? undefined : { today: input.today };
const results = input.cases.map((value) => {
  const r = api.checkResidentId(value, options);
  return { ok: r.ok, code: r.code, number: r.number, birthDate: r.birthDate, sex: r.sex };
});
process.stdout.write(JSON.stringify({
  globals: Object.keys(context).sort(),
  windowKeys: Object.keys(context.window).sort(),
  apiKeys: Object.keys(api).sort(),
  results: results,
}));
"""


def run_in_node(cases: list[str], today: date | None) -> dict:
    node = shutil.which("node")
    assert node, "Node.js is needed to test static/js/identifiers.js"
    completed = subprocess.run(
        [node, "-e", HARNESS, str(SCRIPT)],
        input=json.dumps({"cases": cases, "today": today.isoformat() if today else None}),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout)


def in_python(value: str, today: date | None) -> dict:
    try:
        parsed = parse_identifier("resident_id", value, today=today)
    except IdentifierError as error:
        return {"ok": False, "code": error.code, "number": normalise(value), "birthDate": None, "sex": None}
    return {
        "ok": True,
        "code": None,
        "number": parsed.number,
        "birthDate": parsed.birth_date.isoformat(),
        "sex": str(parsed.sex),
    }


TABLE = {
    "published-sample": "11010519491231002X",
    "lowercase-x": "11010519491231002x",
    "published-invalid": "110105194912310021",
    "full-width-and-spaces": "\u3000１１０１０５ １９４９１２３１\t００２ｘ ",
    "nbsp-and-bom": "\u00a011010519491231002X\ufeff",
    "male": resident_id(sequence="001"),
    "female": resident_id(sequence="010"),
    "leap-2000": resident_id(birth="20000229"),
    "leap-2024": resident_id(birth="20240229"),
    "not-leap-1900": resident_id(birth="19000229"),
    "no-such-day": resident_id(birth="19900230"),
    "month-13": resident_id(birth="19901301"),
    "year-0": resident_id(birth="00000101"),
    "earliest": resident_id(birth="18900101"),
    "too-early": resident_id(birth="18891231"),
    "born-today": resident_id(birth=TODAY.strftime("%Y%m%d")),
    "born-tomorrow": resident_id(birth=(TODAY + timedelta(days=1)).strftime("%Y%m%d")),
    "province-10": resident_id(address="100105"),
    "province-91": resident_id(address="910000"),
    "province-72": resident_id(address="720000"),
    "wrong-check": with_wrong_check_digit(resident_id()),
    "empty": "",
    "blank": " \t ",
    "seventeen": "11010519491231002",
    "nineteen": "110105194912310021X",
    "x-inside": "1101051949123100X2",
    "letter": "11010519491231002Y",
    "chinese-character": "1101051949123100号",
    "arabic-indic-digits": "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",
    "astral-digits": "𝟏𝟏𝟎𝟏𝟎𝟓𝟏𝟗𝟒𝟗𝟏𝟐𝟑𝟏𝟎𝟎𝟐X",
    "hyphen": "110105-19491231002X",
}


def sweep(count: int = 3000, seed: int = 20240229) -> list[str]:
    """Numbers near the edges: valid ones, one digit changed, a character lost or added, odd dates."""
    rng = random.Random(seed)
    provinces = [*sorted(PROVINCE_CODES), "00", "10", "19", "39", "72", "80", "84", "92", "99"]
    cases = []
    for _ in range(count):
        if rng.random() < 0.6:
            born = date(1880, 1, 1) + timedelta(days=rng.randint(0, 54_000))
            birth = born.strftime("%Y%m%d")
        else:
            birth = f"{rng.randint(0, 2100):04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        number = with_check_digit(
            f"{rng.choice(provinces)}{rng.randint(0, 9999):04d}{birth}{rng.randint(0, 999):03d}"
        )
        roll = rng.random()
        position = rng.randrange(18)
        if roll < 0.2:
            number = number[:position] + rng.choice("0123456789X") + number[position + 1 :]
        elif roll < 0.3:
            number = number[:position] + number[position + 1 :]
        elif roll < 0.35:
            number = number[:position] + rng.choice("0123456789Xx ") + number[position:]
        elif roll < 0.4:
            number = "".join(chr(ord(c) + 0xFEE0) if rng.random() < 0.5 else c for c in number.lower())
        cases.append(number)
    return cases


SWEEP = sweep()


@pytest.fixture(scope="module")
def node_run() -> dict:
    return run_in_node([*TABLE.values(), *SWEEP], TODAY)


@pytest.mark.parametrize("name", list(TABLE))
def test_given_a_case_then_the_browser_and_the_server_agree(node_run, name):
    in_node = node_run["results"][list(TABLE).index(name)]
    assert in_node == in_python(TABLE[name], TODAY)


def test_given_three_thousand_numbers_near_the_edges_then_the_browser_and_the_server_agree(node_run):
    in_node = node_run["results"][len(TABLE) :]
    differing = [
        (value, js, in_python(value, TODAY))
        for value, js in zip(SWEEP, in_node, strict=True)
        if js != in_python(value, TODAY)
    ]
    assert differing == []


def test_given_the_sweep_then_it_reaches_every_code_of_the_browser_check(node_run):
    codes = {r["code"] for r in node_run["results"][len(TABLE) :]}
    assert codes == {
        None,
        "characters",
        "length",
        "province_code",
        "birth_date_invalid",
        "birth_date_too_early",
        "birth_date_future",
        "check_digit",
    }


def test_given_the_script_then_it_adds_only_portal_identifiers_to_window(node_run):
    assert (node_run["globals"], node_run["windowKeys"], node_run["apiKeys"]) == (
        ["window"],
        ["PortalIdentifiers"],
        ["checkResidentId", "normalise"],
    )


def test_given_no_today_then_both_bound_birth_dates_by_the_current_date_in_china():
    cases = [resident_id(birth="20990101"), resident_id(birth="20000101")]
    assert [r["code"] for r in run_in_node(cases, None)["results"]] == ["birth_date_future", None]


def test_given_the_script_then_it_loads_nothing_from_elsewhere():
    source = SCRIPT.read_text(encoding="utf-8")
    assert [word for word in ("require(", "import ", "http", "fetch(", "eval(") if word in source] == []
