"""The rulebook is plain Python: importing and using it never loads Django's database layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from datetime import date

from django.conf import settings

settings.configure(USE_I18N=False)  # gettext without a project: the msgids

import enrollment.rules
from enrollment.rules import dates, engine, policy, presets

for preset in presets.all_presets():
    assert policy.Policy.from_document(preset.to_document()) == preset
facts = engine.PersonFacts(birth_date=date(1980, 1, 1), last_paid_year=2024)
assert engine.assess(presets.load_preset("national-2025"), facts).payable_fen == 40000
loaded = sorted(name for name in sys.modules if name == "django.db" or name.startswith("django.db."))
print(",".join(loaded) or "none")
"""


def test_given_a_fresh_interpreter_when_the_rulebook_is_imported_and_used_then_django_db_is_never_imported():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
