"""Pages of the sharing platform for administrators: monitor, dead letters, reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from accounts.access import ScopedViewMixin
from accounts.roles import Action

from . import exports, selectors, services, topics
from .models import DifferenceKind, ReconciliationReport


class MonitorView(ScopedViewMixin, TemplateView):
    """Per topic and bureau: sent, delivered, pending, dead, oldest pending; refreshed by static JS."""

    required_action = Action.SHARING_MONITOR
    template_name = "sharing/monitor.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["stats"] = selectors.monitor_stats(scope=self.scope)
        context["can_redrive"] = self.scope.allows(Action.SHARING_REDRIVE)
        return context


@method_decorator(never_cache, name="dispatch")
class MonitorDataView(ScopedViewMixin, View):
    """The monitor's figures as JSON, polled every few seconds by static/sharing/monitor.js."""

    required_action = Action.SHARING_MONITOR

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(selectors.monitor_stats(scope=self.scope))


class DeadLetterListView(ScopedViewMixin, TemplateView):
    required_action = Action.SHARING_MONITOR
    template_name = "sharing/dead_letters.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        topic = self.request.GET.get("topic") or None
        letters = selectors.dead_letter_list(scope=self.scope, topic=topic)
        context.update(
            page=Paginator(letters, 50).get_page(self.request.GET.get("page")),
            topic=topic,
            topic_counts=selectors.dead_letter_topics(scope=self.scope),
            can_redrive=self.scope.allows(Action.SHARING_REDRIVE),
        )
        return context


class DeadLetterDetailView(ScopedViewMixin, TemplateView):
    required_action = Action.SHARING_MONITOR
    template_name = "sharing/dead_letter_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["letter"] = selectors.dead_letter_detail(scope=self.scope, pk=kwargs["pk"])
        context["can_redrive"] = self.scope.allows(Action.SHARING_REDRIVE)
        return context


class RedriveForm(forms.Form):
    ids = forms.Field(required=False)
    topic = forms.ChoiceField(required=False, choices=())
    everything = forms.BooleanField(required=False, label=gettext_lazy("All dead letters"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "—")] + [(t.name, t.name) for t in topics.all_topics()]

    def clean_ids(self) -> list[int]:
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else self.data.get("ids", [])
        try:
            return [int(value) for value in raw]
        except (TypeError, ValueError) as error:
            raise ValidationError(_("Message numbers are whole numbers.")) from error

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("ids") or data.get("topic") or data.get("everything")):
            raise ValidationError(_("Choose dead letters to re-drive: some, a topic, or all."))
        return data


class RedriveView(ScopedViewMixin, View):
    """GET: what would be re-driven, for confirmation. POST: re-drive it."""

    required_action = Action.SHARING_REDRIVE
    template_name = "sharing/redrive.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        topic = request.GET.get("topic") or ""
        letters = selectors.dead_letter_list(scope=self.scope, topic=topic or None)
        return render(
            request, self.template_name, {"topic": topic, "count": letters.count(), "form": RedriveForm()}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RedriveForm(request.POST)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form, "count": None, "topic": ""}, status=400)
        data = form.cleaned_data
        count = services.dead_letter_redrive(
            scope=self.scope,
            ids=data["ids"] or None,
            topic=data["topic"] or None,
            everything=bool(data["everything"]),
        )
        messages.success(request, _("%(count)s dead letters sent round again.") % {"count": count})
        return redirect("sharing:dead-letters")


class ReconciliationView(ScopedViewMixin, TemplateView):
    """The reports, newest first, and one report (``?report=``; the newest by default) in full."""

    required_action = Action.SHARING_MONITOR
    template_name = "sharing/reconciliation.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = _report_from(self.request)
        kind = self.request.GET.get("kind") or None
        differences = (
            selectors.reconciliation_differences(scope=self.scope, report=report, kind=kind)
            if report
            else None
        )
        context.update(
            reports=selectors.reconciliation_report_list()[:60],
            report=report,
            lines=selectors.reconciliation_lines(report=report) if report else [],
            page=Paginator(differences, 100).get_page(self.request.GET.get("page"))
            if differences is not None
            else None,
            kind=kind,
            kinds=DifferenceKind.choices,
            # The report is written in the background (sharing/exports.py).
            export_kind=exports.RECONCILIATION,
            export_params=[("report", report.pk)] if report else [],
            export_label=_("Download as xlsx"),
            export_testid="reconciliation-xlsx",
        )
        return context


def _report_from(request: HttpRequest) -> ReconciliationReport | None:
    return exports.report_of(request.GET.get("report"))


class ReconciliationRunForm(forms.Form):
    day = forms.DateField(label=gettext_lazy("Day"))

    def clean_day(self) -> date:
        day = self.cleaned_data["day"]
        if day > timezone.localdate():
            raise ValidationError(_("A day in the future cannot be reconciled."))
        return day


class ReconciliationRunView(ScopedViewMixin, View):
    """GET: choose a day. POST: reconcile it in the background (the nightly job does yesterday)."""

    required_action = Action.SHARING_MONITOR
    template_name = "sharing/reconciliation_run.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            self.template_name,
            {"form": ReconciliationRunForm(initial={"day": timezone.localdate()})},
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ReconciliationRunForm(request.POST)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        from .tasks import reconcile

        day = form.cleaned_data["day"]
        try:
            reconcile.apply_async(args=[day.isoformat()], retry=False)
        except Exception:
            messages.error(request, _("The background workers cannot be reached; try again later."))
        else:
            messages.success(request, _("Reconciliation of %(day)s started.") % {"day": day})
        return redirect(reverse("sharing:reconciliation-list"))
