"""Finance's app sits inside ``refunds`` but is another bureau: the import-linter contracts keep it
apart both ways, and they name every module of ``refunds`` (a new one must be added to them)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import refunds

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_given_the_refunds_package_then_both_contracts_name_each_of_its_modules_but_finance():
    modules = {f"refunds.{m.name}" for m in pkgutil.iter_modules(refunds.__path__)} - {"refunds.finance"}
    contracts = _contracts()
    finance_side = contracts["Finance (refunds.finance) never reads insurance's or tax's code or tables"]
    insurance_side = contracts["The medical insurance bureau's refunds never read finance's code or tables"]

    assert modules - set(finance_side["forbidden_modules"]) == set()
    assert modules - set(insurance_side["source_modules"]) == set()
    assert finance_side["source_modules"] == ["refunds.finance"]
    assert insurance_side["forbidden_modules"] == ["refunds.finance"]


def test_given_the_code_then_every_import_contract_is_kept():
    linter = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
