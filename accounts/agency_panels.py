"""What an agency's page shows beyond its name: its part in the work, and the panels the bureau
apps add (a village's coverage and collection of the year, a school's students).

``accounts`` never imports the bureaus' apps: each registers a function (scope, agency → panel or
None) from ``AppConfig.ready()``, as with the home page's alerts. A function answers None when the
agency is not its kind or the viewer's role may not see what it would show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Agency
from .roles import AgencyKind
from .scope import Scope

# The part an agency of each kind takes in resident insurance, as the portal knows it (domain.md):
# what its clerks do here and what it collects. The bureaus' own offices need no such line.
DUTIES: dict[str, Promise] = {
    AgencyKind.VILLAGE_COMMITTEE: _(
        "Registers the village's households and their members for resident insurance, follows up "
        "those not enrolled or not paid, and collects the yearly contributions of households paying "
        "through the village in cash for the tax bureau (代收), handed over with the village's list "
        "and ledger (台账)."
    ),
    AgencyKind.SCHOOL: _(
        "Registers its students for resident insurance in rosters (学生名册), which the county's "
        "insurance office reviews, and collects the yearly contributions of students paying through "
        "the school for the tax bureau."
    ),
}


@dataclass(frozen=True)
class PanelFigure:
    label: str | Promise
    value: str
    testid: str = ""


@dataclass(frozen=True)
class PanelLink:
    label: str | Promise
    url: str


@dataclass(frozen=True)
class AgencyPanel:
    title: str | Promise
    testid: str
    figures: list[PanelFigure] = field(default_factory=list)
    links: list[PanelLink] = field(default_factory=list)
    note: str | Promise = ""


AgencyPanelSource = Callable[[Scope, Agency], AgencyPanel | None]
AGENCY_PANELS: list[AgencyPanelSource] = []


def register_agency_panel(source: AgencyPanelSource) -> None:
    """Feature apps add their panels here from AppConfig.ready()."""
    if source not in AGENCY_PANELS:
        AGENCY_PANELS.append(source)


def agency_panels_for(scope: Scope, agency: Agency) -> list[AgencyPanel]:
    found = (source(scope, agency) for source in AGENCY_PANELS)
    return [panel for panel in found if panel is not None]
