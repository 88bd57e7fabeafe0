"""Verification codes of payment certificates: 80 random bits written in Crockford's base32 (digits
and letters without I, L, O, U, so nothing is misread), in four groups: 7KQ2-M9XD-4TRB-HW3C.

Plain Python, no database: the service draws codes, the public check reads what a person typed.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BITS = 80
LENGTH = BITS // 5  # 16 characters, 5 bits each
GROUP = 4
# What people type for the letters the alphabet leaves out (Crockford's decoding rules).
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s\-_.·—–]+")


def code_new() -> str:
    """A fresh code from the operating system's secure random source."""
    value = secrets.randbits(BITS)
    characters = "".join(ALPHABET[(value >> (5 * shift)) & 31] for shift in reversed(range(LENGTH)))
    return grouped(characters)


def grouped(characters: str) -> str:
    return "-".join(characters[start : start + GROUP] for start in range(0, len(characters), GROUP))


def code_normalise(typed: str) -> str | None:
    """The code as stored (upper case, grouped with dashes) from what a person typed — any case,
    spaces or dashes anywhere or none, O for 0, I or L for 1 — or None when it cannot be a code."""
    characters = _SEPARATORS.sub("", typed).upper().translate(_READ_AS)
    if len(characters) != LENGTH or any(character not in ALPHABET for character in characters):
        return None
    return grouped(characters)
