"""Pages: sign-in, the home page of each role, regions, agencies, users, system status."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseServerError,
    JsonResponse,
)
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from . import health, selectors
from .access import ScopedViewMixin, public_view
from .agency_panels import DUTIES, agency_panels_for
from .api_support import api_error_response
from .login_guard import address_blocked
from .masking import region_path
from .models import RegionLevel
from .navigation import entries_for, home_alerts_for
from .roles import Action, AgencyKind, Role


class LoginView(auth_views.LoginView):
    access_public = True
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if address_blocked(request):
            return render(request, "accounts/locked_out.html", status=429)
        return super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    access_public = True


class HomeView(ScopedViewMixin, TemplateView):
    """Each role's home: what it is responsible for, where, and its own recent changes."""

    required_action = Action.PORTAL_USE
    template_name = "accounts/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scope = self.scope
        root = selectors.region_root(scope=scope)
        work = [entry for entry, _url in entries_for(scope) if entry.url_name != "home"]
        context.update(
            role_label=Role(scope.role).label if scope.role else "",
            root=root,
            ancestors=selectors.region_ancestors(region=root) if root else [],
            region_counts=_region_counts(scope),
            agency_count=selectors.agency_list(scope=scope).count(),
            user_count=selectors.user_list(scope=scope).count() if scope.allows(Action.USER_VIEW) else None,
            work=work,
            recent=[
                {"at": change.at, "changes": [_change_text(*each) for each in change.changes]}
                for change in selectors.recent_changes_by(user_id=self.request.user.pk)
            ],
            alerts=home_alerts_for(scope),
        )
        return context


_CHANGE_TEXTS = {
    "insert": gettext_lazy("%(kind)s: %(count)s added"),
    "update": gettext_lazy("%(kind)s: %(count)s changed"),
    "delete": gettext_lazy("%(kind)s: %(count)s removed"),
}


def _change_text(kind: str, label: str, count: int) -> str:
    """One line of a recent change as the home page says it: "参保人：新增 4"."""
    shown = f"{selectors.RECENT_COUNT_CAP:,}+" if count > selectors.RECENT_COUNT_CAP else f"{count:,}"
    template = _CHANGE_TEXTS.get(label)
    if template is None:
        return f"{kind}: {shown} {label}"
    return str(template) % {"kind": kind, "count": shown}


def _region_counts(scope) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    from django.db.models import Count

    counts = dict(
        selectors.region_list(scope=scope)
        .order_by()
        .values_list("level")
        .annotate(n=Count("id"))
        .values_list("level", "n")
    )
    return [{"label": RegionLevel(level).label, "count": counts[level]} for level in sorted(counts)]


class RegionView(ScopedViewMixin, TemplateView):
    """A region with its children, agencies and history; the root is the user's own region."""

    required_action = Action.REGION_VIEW
    template_name = "accounts/region_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        code = kwargs.get("code")
        region = (
            selectors.region_detail(scope=self.scope, code=code)
            if code
            else selectors.region_root(scope=self.scope)
        )
        if region is None:
            from django.http import Http404

            raise Http404
        ancestors = [
            a for a in selectors.region_ancestors(region=region) if self.scope.covers_region_code(a.code)
        ]
        context.update(
            region=region,
            ancestors=ancestors,
            children=selectors.region_children(scope=self.scope, region=region),
            agencies=selectors.agency_list(scope=self.scope).filter(region=region),
            history=selectors.history_of(obj=region) if self.scope.allows(Action.AUDIT_VIEW) else None,
        )
        return context


class AgencyListView(ScopedViewMixin, TemplateView):
    required_action = Action.AGENCY_VIEW
    template_name = "accounts/agency_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        kind = self.request.GET.get("kind") or None
        agencies = selectors.agency_list(scope=self.scope, kind=kind).order_by("region__code", "kind", "name")
        page = Paginator(agencies, 50).get_page(self.request.GET.get("page"))
        context.update(page=page, kinds=AgencyKind.choices, kind=kind)
        return context


class AgencyDetailView(ScopedViewMixin, TemplateView):
    required_action = Action.AGENCY_VIEW
    template_name = "accounts/agency_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scope = self.scope
        agency = selectors.agency_detail(scope=scope, pk=kwargs["pk"])
        may_view_users = scope.allows(Action.USER_VIEW)
        context.update(
            agency=agency,
            region_path=[
                {"region": region, "shown": scope.covers_region_code(region.code)}
                for region in region_path(agency.region.code)
                if region.level >= RegionLevel.CITY
            ],
            duties=DUTIES.get(agency.kind, ""),
            is_own=scope.agency_id == agency.pk,
            users=selectors.user_list(scope=scope).filter(agency=agency) if may_view_users else None,
            # Those who may not view users still see who works with them (not their accounts).
            colleagues=None if may_view_users else selectors.agency_colleagues(scope=scope, agency=agency),
            panels=agency_panels_for(scope, agency),
            history=selectors.history_of(obj=agency) if scope.allows(Action.AUDIT_VIEW) else None,
        )
        return context


class UserListView(ScopedViewMixin, TemplateView):
    required_action = Action.USER_VIEW
    template_name = "accounts/user_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        role = self.request.GET.get("role") or None
        users = selectors.user_list(scope=self.scope)
        if role:
            users = users.filter(role=role)
        context.update(
            page=Paginator(users, 50).get_page(self.request.GET.get("page")), roles=Role.choices, role=role
        )
        return context


class UserDetailView(ScopedViewMixin, TemplateView):
    required_action = Action.USER_VIEW
    template_name = "accounts/user_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        shown = selectors.user_detail(scope=self.scope, pk=kwargs["pk"])
        context.update(
            shown=shown,
            history=selectors.history_of(obj=shown) if self.scope.allows(Action.AUDIT_VIEW) else None,
        )
        return context


class SystemStatusView(ScopedViewMixin, TemplateView):
    required_action = Action.SYSTEM_MONITOR
    template_name = "accounts/system_status.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["health"] = report = health.report()
        context["status_label"] = {
            "ok": pgettext("overall system status", "All working"),
            "degraded": pgettext("overall system status", "Partly working"),
            "down": pgettext("overall system status", "Down"),
        }.get(report["status"], report["status"])
        return context


@public_view
@never_cache
def health_endpoint(request: HttpRequest) -> JsonResponse:
    """For load balancers and operators: 200 when the database and Redis answer, 503 otherwise;
    the workers' check stops at the first worker that answers (the system page lists them all)."""
    result = health.report(first_worker_only=True)
    return JsonResponse(result, status=503 if result["status"] == "down" else 200)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django could not read (a broken multipart body, a host the portal does not serve):
    the portal's page, or under /api/ the API's error. Rendered without the request's context
    processors, which would read the very host or session that made the request unreadable."""
    if _is_api(request):
        return api_error_response(400, "bad_request", _("The request could not be read."))
    page = loader.get_template("400.html").render({"portal_name": settings.PORTAL_NAME})
    return HttpResponseBadRequest(page)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_error_response(
            403, "permission_denied", str(exception or "") or _("Your role may not do this.")
        )
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """An address nothing answers: the page, or under /api/ the API's error format (JSON)."""
    if _is_api(request):
        return api_error_response(404, "not_found", _("No such address in the API."))
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """An unhandled error: the portal's page in the visitor's language, or under /api/ the API's
    error. Rendered without the request's context processors (no session, user, menu or CSRF
    token): the database or Redis behind them may be what failed."""
    if _is_api(request):
        return api_error_response(500, "server_error", _("The server could not complete the request."))
    page = loader.get_template("500.html").render({"portal_name": settings.PORTAL_NAME})
    return HttpResponseServerError(page)
