"""How the access matrix picks an object inside / outside a caller's area, one module per app.

Each module exports ``OBJECT_KWARGS``: URL name -> ``f(world, user, own: bool) -> kwargs``.
``own=True`` must give an object inside ``user``'s area (create it if needed), ``own=False``
one outside it. tests/test_access_matrix.py merges them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable


def all_object_kwargs() -> dict[str, Callable]:
    merged: dict[str, Callable] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        merged.update(getattr(module, "OBJECT_KWARGS", {}))
    return merged
