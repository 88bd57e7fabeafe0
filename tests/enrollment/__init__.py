"""Enrollment tests. Helpers shared by the identifier tests (Python and browser check) live here.

The check digit is computed independently of the code under test: GB 11643-1999 weights
2^(17-i) mod 11 over the first 17 digits, remainder r -> "10X98765432"[r].
"""

from datetime import date

# A fixed "today" (Beijing time) for birth-date bounds.
TODAY = date(2026, 6, 15)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check_digit(first17: str) -> str:
    """The 17 digits followed by their GB 11643 (ISO 7064 MOD 11-2) check character."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def resident_id(address: str = "110105", birth: str = "19491231", sequence: str = "002") -> str:
    """A resident ID number with a correct check digit (the default is the published sample)."""
    return with_check_digit(address + birth + sequence)


def with_wrong_check_digit(number: str) -> str:
    """The same 17 digits with a check character that is not the right one."""
    right = with_check_digit(number[:17])[-1]
    return number[:17] + ("0" if right != "0" else "1")
