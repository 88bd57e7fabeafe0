"""Tax's counter: find a payer, see what is due, record a payment, print the receipt.

Thin: each view takes the scope, checks a form, calls one selector or service, renders. Every
rule (paid once and in full, the collection window, receipt numbers) is in ``services``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.access import ScopedViewMixin, public_view
from accounts.masking import mask_id_number
from accounts.money import yuan
from accounts.roles import Action

from . import documents, selectors, services
from .codes import code_normalise
from .models import Channel, DueItem, DueStatus, PaymentStatus
from .rules import acceptance_on


class PaymentForm(forms.Form):
    amount_yuan = forms.DecimalField(
        label=gettext_lazy("Amount (yuan)"), min_value=Decimal("0.01"), decimal_places=2
    )
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=Channel.choices)
    paid_by = forms.CharField(label=gettext_lazy("Paid by"), max_length=60)
    # One key per rendered form: a double click or a resubmitted page records one payment.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def amount_fen(self) -> int:
        try:
            return int((self.cleaned_data["amount_yuan"] * 100).to_integral_value())
        except (InvalidOperation, TypeError) as error:
            raise ValidationError(_("Enter an amount in yuan.")) from error


def _item_rows(
    items: list[DueItem], payer_name: str, forms_by_item: dict[int, PaymentForm]
) -> list[dict[str, Any]]:
    today = timezone.localdate()
    rows = []
    for item in items:
        accepted = acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=today)
        standing = next((p for p in item.payments.all() if p.status == PaymentStatus.RECORDED), None)
        form = forms_by_item.get(item.pk)
        if form is None and item.status == DueStatus.DUE and accepted.accepted:
            form = PaymentForm(
                initial={
                    "amount_yuan": Decimal(accepted.amount_fen) / 100,
                    "channel": Channel.COUNTER_CASH,
                    "paid_by": payer_name,
                    "idempotency_key": uuid.uuid4().hex,
                },
                prefix=f"item{item.pk}",
            )
        rows.append(
            {
                "item": item,
                "accepted": accepted,
                "today_amount": yuan(accepted.amount_fen) if accepted.accepted else "",
                "amount": yuan(item.amount_fen),
                "standing": standing,
                "form": form,
            }
        )
    return rows


class _Counter(ScopedViewMixin, View):
    template_name = "collection/counter.html"

    def render_counter(
        self,
        request: HttpRequest,
        *,
        query: str,
        person_id: str,
        forms_by_item: dict[int, PaymentForm] | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        results = selectors.payer_search(scope=self.scope, query=query) if query and not person_id else []
        if len(results) == 1 and not person_id:
            person_id = results[0].person_id
        context: dict[str, Any] = {
            "query": query,
            "results": [{"payer": payer, "masked": mask_id_number(payer.person_id)} for payer in results],
            "searched": bool(query) and not person_id,
            "error": error,
            "can_record": self.scope.allows(Action.COLLECTION_RECORD),
        }
        if person_id:
            dues = selectors.payer_dues(scope=self.scope, person_id=person_id)
            context["payer"] = dues.payer
            context["masked"] = mask_id_number(dues.payer.person_id)
            context["rows"] = _item_rows(dues.due_items, dues.payer.name, forms_by_item or {})
        return render(request, self.template_name, context, status=status)


class CounterView(_Counter):
    """Find a payer by identifier or name; their due items with a payment form for each one due today."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_counter(
            request, query=request.GET.get("q", ""), person_id=request.GET.get("person", "")
        )


class PaymentRecordView(_Counter):
    """GET: the counter of the due item's payer. POST: record the payment; the receipt follows."""

    required_action = Action.COLLECTION_RECORD

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self.scope.get_object_or_404(DueItem.objects.all(), pk=pk)
        return self.render_counter(request, query="", person_id=item.person_id)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self.scope.get_object_or_404(DueItem.objects.all(), pk=pk)
        form = PaymentForm(request.POST, prefix=f"item{item.pk}")
        error = ""
        status = 400
        if form.is_valid():
            try:
                recorded = services.payment_record(
                    scope=self.scope,
                    due_item_id=item.pk,
                    amount_fen=form.amount_fen(),
                    channel=form.cleaned_data["channel"],
                    paid_by=form.cleaned_data["paid_by"],
                    idempotency_key=form.cleaned_data["idempotency_key"],
                )
            except services.PaymentConflictError as conflict:
                error, status = conflict.message, 409
            except ValidationError as problem:
                if hasattr(problem, "error_dict"):
                    for name, messages_ in problem.message_dict.items():
                        form.add_error("amount_yuan" if name == "amount_fen" else None, messages_)
                else:
                    form.add_error(None, problem.messages)
            else:
                return redirect("collection:receipt", pk=recorded.payment.pk)
        return self.render_counter(
            request,
            query="",
            person_id=item.person_id,
            forms_by_item={item.pk: form},
            error=error,
            status=status,
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200, min_length=2)


def _render_receipt(
    request: HttpRequest,
    view: ScopedViewMixin,
    pk: int,
    forms_: dict[str, ReasonForm] | None = None,
    status: int = 200,
    certificate_error: str = "",
) -> HttpResponse:
    payment = selectors.payment_detail(scope=view.scope, pk=pk)
    forms_ = forms_ or {}
    certificate = selectors.certificate_issued(payment)
    context = {
        "payment": payment,
        "name": selectors.payer_name(payment.person_id),
        "masked": mask_id_number(payment.person_id),
        "amount": yuan(payment.amount_fen),
        "channel": Channel(payment.channel).label,
        "voided": list(payment.voided_receipts.select_related("voided_by").order_by("voided_at")),
        "reverse_form": forms_.get("reverse") or ReasonForm(prefix="reverse"),
        "void_form": forms_.get("void") or ReasonForm(prefix="void"),
        # Reversal and reissue are the collecting agency's, on a payment that stands.
        "can_change": payment.status == PaymentStatus.RECORDED
        and view.scope.allows(Action.COLLECTION_RECORD)
        and payment.agency_id == view.scope.agency_id,
        # Any tax clerk of the area may certify a payment that stands: the payer asks wherever they are.
        "certificate": certificate,
        "can_certify": payment.status == PaymentStatus.RECORDED
        and view.scope.allows(Action.COLLECTION_RECORD),
        "certificate_error": certificate_error,
    }
    return render(request, "collection/receipt.html", context, status=status)


class ReceiptView(ScopedViewMixin, View):
    """The receipt of one payment, to print, with its voided numbers."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _render_receipt(request, self, pk)


class _ReceiptChange(ScopedViewMixin, View):
    """GET: the receipt with its forms. POST: the change with its reason; back to the receipt."""

    required_action = Action.COLLECTION_RECORD
    form_key = ""
    # The service that makes the change: f(*, scope, payment_id, reason).
    service: Callable[..., Any]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _render_receipt(request, self, pk)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        selectors.payment_detail(scope=self.scope, pk=pk)  # outside the area: 404 first
        form = ReasonForm(request.POST, prefix=self.form_key)
        status = 400
        if form.is_valid():
            try:
                type(self).service(scope=self.scope, payment_id=pk, reason=form.cleaned_data["reason"])
            except services.PaymentConflictError as conflict:
                form.add_error(None, conflict.message)
                status = 409
            except ValidationError as problem:
                form.add_error(None, problem.messages)
            else:
                return redirect("collection:receipt", pk=pk)
        return _render_receipt(request, self, pk, {self.form_key: form}, status=status)


class PaymentReverseView(_ReceiptChange):
    """Reverse the payment (冲正) with the reason."""

    form_key = "reverse"
    service = services.payment_reverse


class ReceiptVoidView(_ReceiptChange):
    """Void the receipt (作废) with the reason; the payment gets the next number."""

    form_key = "void"
    service = services.receipt_void


class CertificateIssueView(ScopedViewMixin, View):
    """GET: the receipt. POST: issue the payment certificate (缴费证明), once, and open it."""

    required_action = Action.COLLECTION_RECORD

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _render_receipt(request, self, pk)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        selectors.payment_detail(scope=self.scope, pk=pk)  # outside the area: 404 first
        try:
            services.certificate_issue(scope=self.scope, payment_id=pk)
        except ValidationError as problem:
            return _render_receipt(
                request, self, pk, status=400, certificate_error=" ".join(problem.messages)
            )
        return redirect("collection:certificate", pk=pk)


class CertificatePdfView(ScopedViewMixin, View):
    """The issued certificate as a PDF, opened in the browser to print: the same code every time."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = selectors.certificate_of(scope=self.scope, payment_id=pk)
        payment = certificate.payment
        if payment.status != PaymentStatus.RECORDED:
            messages.error(
                request, _("This payment was reversed: its certificate is void and is not printed again.")
            )
            return redirect("collection:receipt", pk=pk)
        with translation.override("zh-hans"):  # a Chinese document, whatever the clerk's language
            channel = str(Channel(payment.channel).label)
        data = documents.CertificateData(
            name=selectors.payer_name(payment.person_id),
            id_number=payment.person_id,
            insurance_year=payment.insurance_year,
            amount_fen=payment.amount_fen,
            paid_on=timezone.localtime(payment.paid_at).date(),
            channel=channel,
            receipt=payment.receipt,
            agency=payment.agency.name,
            code=certificate.code,
            verify_url=request.build_absolute_uri(reverse("certificate-verify")),
            issued_on=timezone.localtime(certificate.issued_at).date(),
        )
        response = HttpResponse(documents.certificate_pdf(data), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(False, f"缴费证明-{payment.receipt}.pdf")
        response["Cache-Control"] = "private, no-store"
        return response


class CertificateCheckThrottle(SimpleRateThrottle):
    """Checks of certificate codes per client address, counted in the Django cache: DRF's throttle,
    as for the API's sign-in (rate ``certificate_check`` in REST_FRAMEWORK's DEFAULT_THROTTLE_RATES)."""

    scope = "certificate_check"

    def get_cache_key(self, request: Any, view: Any) -> str:
        # Signed in or not: the public page counts every caller by address.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


@public_view
@never_cache
def certificate_verify(request: HttpRequest) -> HttpResponse:
    """The public check of a certificate's code, without signing in: the insurance year, whether the
    payment stands, and the masked name — nothing else. An unknown code gets the same page and the
    same single lookup as a known one, so the answer gives no hint for guessing."""
    typed = request.GET.get("code", "").strip()[:64]
    context: dict[str, Any] = {"code": typed, "checked": False, "throttled": False}
    if not typed:
        return render(request, "collection/verify.html", context)
    throttle = CertificateCheckThrottle()
    if not throttle.allow_request(request, None):
        context["throttled"] = True
        response = render(request, "collection/verify.html", context, status=429)
        response["Retry-After"] = str(math.ceil(throttle.wait() or 60))
        return response
    normalised = code_normalise(typed)
    context.update(
        code=normalised or typed,
        checked=True,
        malformed=normalised is None,
        result=selectors.certificate_check(code=typed),
    )
    return render(request, "collection/verify.html", context)


class DailyReportView(ScopedViewMixin, View):
    """征收日报: a day's takings in the caller's area by channel and by collector, and its reversals."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            day = dt.date.fromisoformat(request.GET.get("day", "")) if request.GET.get("day") else None
        except ValueError:
            day = None
        report = selectors.daily_report(scope=self.scope, day=day or timezone.localdate())
        context = {
            "report": report,
            "total": yuan(report.fen),
            "channels": [(line, yuan(line.fen)) for line in report.by_channel],
            "collectors": [(line, yuan(line.fen)) for line in report.by_collector],
            "reversed_fen": yuan(report.reversed.fen),
            "previous": report.day - dt.timedelta(days=1),
            "next": report.day + dt.timedelta(days=1),
        }
        return render(request, "collection/daily.html", context)


class ProgressView(ScopedViewMixin, View):
    """征收进度: per village, persons paid of those with something to pay, and the money, for a year."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        years = selectors.progress_years(scope=self.scope)
        requested = request.GET.get("year", "")
        year = (
            int(requested)
            if requested.isdigit() and int(requested) in years
            else (years[0] if years else None)
        )
        rows = selectors.collection_progress(scope=self.scope, year=year) if year else []
        persons, paid = sum(row.persons for row in rows), sum(row.paid for row in rows)
        context = {
            "years": years,
            "year": year,
            "rows": [(row, yuan(row.due_fen), yuan(row.paid_fen)) for row in rows],
            "persons": persons,
            "paid": paid,
            "percent": round(100 * paid / persons, 1) if persons else 0.0,
            "due_total": yuan(sum(row.due_fen for row in rows)),
            "paid_total": yuan(sum(row.paid_fen for row in rows)),
        }
        return render(request, "collection/progress.html", context)
