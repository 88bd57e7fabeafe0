"""The policies that ship with the portal, one YAML document per region and insurance year.

Pure Python (PyYAML and pathlib): no database. ``PRESETS`` maps a preset's code (its file name,
which is also the document's ``code``) to its file; ``load_preset`` validates and returns one
policy, ``all_presets`` every one, sorted by region code and insurance year.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..policy import Policy

DIRECTORY = Path(__file__).resolve().parent

PRESETS: dict[str, Path] = {path.stem: path for path in sorted(DIRECTORY.glob("*.yaml"))}


def load_preset(code: str) -> Policy:
    """The preset ``code`` (such as ``linfen-2021``), validated; KeyError for an unknown code."""
    try:
        path = PRESETS[code]
    except KeyError:
        raise KeyError(f"no preset {code!r}; known presets: {', '.join(PRESETS)}") from None
    with path.open(encoding="utf-8") as file:
        return Policy.from_document(yaml.safe_load(file))


def all_presets() -> list[Policy]:
    """Every preset, sorted by region code ('' — nationwide — first) and insurance year."""
    return sorted(
        (load_preset(code) for code in PRESETS),
        key=lambda policy: (policy.region_code, policy.insurance_year),
    )
