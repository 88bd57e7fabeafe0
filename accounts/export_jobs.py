"""Background exports: the registry each bureau's app adds its long exports to, and the builder.

An export whose size grows with the persons, payments or refunds of an area (a city holds up to
5 million persons) is built by a worker into a file the user downloads later; small bounded ones
(a template, one batch's file, an import's report, a table per village or county) stay direct
downloads (docs/performance.md, "Exports"). ``accounts`` never imports the bureaus' apps: each
registers its exports from ``AppConfig.ready()``.

A registered export has two halves:

- ``params(scope, data)`` reads what the page posted (the area, the year, a filter …) and checks it
  as the page itself would (403/404 through the scope), answering the parameters to keep;
- ``write(scope, params, book, progress)`` writes the sheets with ``accounts.exports.Sheet`` from
  streamed reads, calling ``progress(rows)`` as it goes, and answers the file name.

The worker rebuilds the scope from the user's id at run time, so a user deactivated or moved in
the meantime gets nothing beyond what they may see now. The export's ``action`` is required by
``accounts.services`` before ``params`` (when the job is asked for) and before ``write`` (when it
runs): the halves need not check it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from openpyxl import Workbook

from .scope import Scope

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportKind:
    key: str
    label: str | Promise
    # The role's action the export needs (the page's own action).
    action: str
    params: Callable[[Scope, Mapping[str, str]], dict[str, Any]]
    write: Callable[[Scope, dict[str, Any], Workbook, Progress], str]
    # Optional and cheap (pre-aggregated figures): how many rows to expect, for the progress bar.
    expected: Callable[[Scope, dict[str, Any]], int | None] | None = None


REGISTRY: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> None:
    """Feature apps add their long exports here from AppConfig.ready()."""
    REGISTRY[kind.key] = kind


def kind_of(key: str) -> ExportKind | None:
    return REGISTRY.get(key)


class ProgressCounter:
    """Counts written rows; every ``every`` rows it reports the count (the job's live progress)."""

    def __init__(self, report: Callable[[int], None], every: int = 2000) -> None:
        self.report = report
        self.every = every
        self.rows = 0
        self._reported = 0

    def __call__(self, rows: int) -> None:
        self.rows = rows
        if rows - self._reported >= self.every:
            self._reported = rows
            self.report(rows)
