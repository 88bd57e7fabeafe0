"""The menu: each entry names the action it needs, so every role sees exactly its own work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .roles import Action
from .scope import Scope


@dataclass(frozen=True)
class NavEntry:
    section: str | Promise
    label: str | Promise
    url_name: str
    action: str
    # Sections are shown in the order of their lightest entry: daily work first, administration last.
    weight: int = 50
    # A further condition on the scope, when the one action does not say it all.
    shown_to: Callable[[Scope], bool] | None = None


def _may_export(scope: Scope) -> bool:
    """我的导出 is for the roles that may ask for some background export."""
    from .export_jobs import REGISTRY

    return any(scope.allows(kind.action) for kind in REGISTRY.values())


ENTRIES: list[NavEntry] = [
    NavEntry(_("Work"), _("Home"), "home", Action.PORTAL_USE, weight=0),
    NavEntry(
        _("Work"), _("My exports"), "accounts:export-list", Action.PORTAL_USE, weight=0, shown_to=_may_export
    ),
    NavEntry(_("Organisation"), _("Regions"), "accounts:region-root", Action.REGION_VIEW, weight=60),
    NavEntry(_("Organisation"), _("Agencies"), "accounts:agency-list", Action.AGENCY_VIEW, weight=60),
    NavEntry(_("Organisation"), _("Users"), "accounts:user-list", Action.USER_VIEW, weight=60),
    NavEntry(_("System"), _("System health"), "system-status", Action.SYSTEM_MONITOR, weight=90),
    NavEntry(_("System"), _("API documentation"), "api-docs", Action.API_DOCS_VIEW, weight=90),
]


@dataclass(frozen=True)
class HomeAlert:
    """Something on the home page that needs attention now (e.g. overdue refund applications)."""

    label: str | Promise
    count: int
    url: str
    testid: str


# Feature apps add a function (scope → HomeAlert or None) from AppConfig.ready(); the home page
# shows each alert that has a count, prominently, with a link to the list behind it.
HOME_ALERTS: list[Callable[[Scope], HomeAlert | None]] = []


def register_home_alert(alert: Callable[[Scope], HomeAlert | None]) -> None:
    if alert not in HOME_ALERTS:
        HOME_ALERTS.append(alert)


def home_alerts_for(scope: Scope) -> list[HomeAlert]:
    found = (alert(scope) for alert in HOME_ALERTS)
    return [alert for alert in found if alert is not None and alert.count > 0]


def register(entry: NavEntry) -> None:
    """Feature apps add their pages here from AppConfig.ready()."""
    if entry not in ENTRIES:
        ENTRIES.append(entry)


def entries_for(scope: Scope) -> list[tuple[NavEntry, str]]:
    """The entries the scope is shown, each with its URL, in the menu's order: the sidebar and the
    home page's list of work both read it, so the two never differ."""
    # A section's weight is that of its lightest entry (one pass: translating each section's
    # name per pair of entries made the menu the slowest part of every page).
    weights: dict[str, int] = {}
    for entry in ENTRIES:
        section = str(entry.section)
        weights[section] = min(weights.get(section, entry.weight), entry.weight)
    ordered = sorted(ENTRIES, key=lambda e: weights[str(e.section)])
    shown = []
    for entry in ordered:
        if not scope.allows(entry.action) or (entry.shown_to is not None and not entry.shown_to(scope)):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        shown.append((entry, url))
    return shown


def menu_for(scope: Scope, current_path: str = "") -> list[dict[str, object]]:
    sections: dict[str, list[dict[str, object]]] = {}
    items: list[dict[str, object]] = []
    for entry, url in entries_for(scope):
        item = {"label": entry.label, "url": url, "active": False}
        items.append(item)
        sections.setdefault(str(entry.section), []).append(item)
    # Only the entry whose URL is the longest prefix of the current path is marked active.
    matching = [
        i
        for i in items
        if current_path == i["url"] or (i["url"] != "/" and current_path.startswith(str(i["url"])))
    ]
    if matching:
        max(matching, key=lambda i: len(str(i["url"])))["active"] = True
    return [{"title": title, "items": entries} for title, entries in sections.items()]
