"""Digits that come from outside (an address, a form, an uploaded file, a message): ASCII 0-9 only.

``str.isdigit()`` is also true for "²" or "①", which ``int()`` refuses with a ValueError (a 500, or
a whole file import failing), and for "٣" or "３", which ``int()`` reads as 3. A value checked with
``ascii_digits`` before ``int()`` or a query is answered as any other invalid value.
"""

from __future__ import annotations


def ascii_digits(value: str) -> bool:
    """True when ``value`` is one or more of the ASCII digits 0-9 and nothing else."""
    return value.isascii() and value.isdigit()
