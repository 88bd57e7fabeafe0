"""Tax's counter: find a payer, see what is due, record a payment, print the receipt.

Thin: each view takes the scope, checks a form, calls one selector or service, renders. Every
rule (paid once and in full, the collection window, receipt numbers) is in ``services``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views import View
from django.views.decorators.cache import never_cache
from openpyxl import Workbook
from rest_framework.throttling import SimpleRateThrottle

from accounts.access import ScopedViewMixin, public_view, record_key
from accounts.audit import full_view_log
from accounts.digits import ascii_digits
from accounts.exports import Sheet, money, xlsx_response
from accounts.form_errors import add_service_errors
from accounts.masking import mask_id_number
from accounts.money import yuan
from accounts.roles import Action
from accounts.searches import SessionSearches
from accounts.selectors import region_names

from . import documents, exports, rules, selectors, services
from .codes import code_normalise
from .models import (
    SINGLE_PAYMENT_CHANNELS,
    BatchKind,
    BatchStatus,
    Channel,
    DueItem,
    DueStatus,
    OvercollectionReason,
    OvercollectionStatus,
    PaymentBatch,
    PaymentStatus,
    SubsidyMark,
    SubsidyMarkStatus,
)


class PaymentForm(forms.Form):
    amount_yuan = forms.DecimalField(
        label=gettext_lazy("Amount (yuan)"), min_value=Decimal("0.01"), decimal_places=2
    )
    # A single payment's channels only: a village's, a school's or a bank file's are a batch's.
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        choices=[(channel, channel.label) for channel in SINGLE_PAYMENT_CHANNELS],
    )
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
    windows = selectors.BackPaymentWindows()
    for item in items:
        accepted = selectors.acceptance_for(item=item, day=today, windows=windows)
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
                "refusal": "" if accepted.accepted else rules.window_reason(accepted),
                "today_amount": yuan(accepted.amount_fen) if accepted.accepted else "",
                "amount": yuan(item.amount_fen),
                "standing": standing,
                "form": form,
            }
        )
    return rows


# The kinds of subsidy a mark from insurance names (``subsidies.rosters.mark_kind``).
_SUBSIDY_KINDS: dict[str, Promise] = {
    "full": gettext_lazy("Full subsidy"),
    "partial": gettext_lazy("Partial subsidy"),
    "fixed": gettext_lazy("Fixed subsidy"),
}


def _mark_rows(marks: list[SubsidyMark]) -> list[dict[str, Any]]:
    """The payer's subsidy marks as the counter shows them: the kind in words, and the amount the
    government pays where it is not all of it (a full subsidy is never due at tax)."""
    return [
        {
            "mark": mark,
            "kind": _SUBSIDY_KINDS.get(mark.subsidy_kind, mark.subsidy_kind),
            "amount": "" if mark.subsidy_kind in ("full", "") else yuan(mark.subsidy_fen),
            "collects_nothing": mark.subsidy_kind == "full" and mark.status == SubsidyMarkStatus.ACTIVE,
        }
        for mark in marks
    ]


# The counter's searches, kept in the session by a random key (the address carries the key,
# never what was typed): the portal's one mechanism, accounts.searches.
SEARCHES = SessionSearches("collection.counter")


class _Counter(ScopedViewMixin, View):
    template_name = "collection/counter.html"

    def render_counter(
        self,
        request: HttpRequest,
        *,
        query: str = "",
        payer_id: int | None = None,
        forms_by_item: dict[int, PaymentForm] | None = None,
        error: str = "",
        notice: str = "",
        status: int = 200,
    ) -> HttpResponse:
        results = selectors.payer_search(scope=self.scope, query=query) if query and payer_id is None else []
        names = region_names({payer.region_code for payer in results})
        context: dict[str, Any] = {
            "query": query,
            "results": [
                {
                    "payer": payer,
                    "masked": mask_id_number(payer.person_id),
                    "place": names.get(payer.region_code, payer.region_code),
                }
                for payer in results
            ],
            "searched": bool(query) and payer_id is None,
            "error": error,
            "notice": notice,
            "can_record": self.scope.allows(Action.COLLECTION_RECORD),
        }
        if payer_id is not None:
            dues = selectors.payer_dues(scope=self.scope, payer_id=payer_id)
            # The payer's record: name, place, enrollment and every year's dues and payments.
            full_view_log(request, record="payer", record_id=dues.payer.pk)
            context["payer"] = dues.payer
            context["place"] = region_names({dues.payer.region_code}).get(
                dues.payer.region_code, dues.payer.region_code
            )
            context["masked"] = mask_id_number(dues.payer.person_id)
            context["rows"] = _item_rows(dues.due_items, dues.payer.name, forms_by_item or {})
            context["marks"] = _mark_rows(dues.subsidy_marks)
        return render(request, self.template_name, context, status=status)


class CounterView(_Counter):
    """Find a payer by identifier or name; their due items with a payment form for each one due today.

    The search is POSTed, so what was typed never reaches an address (server logs, history,
    Referer). It answers with a redirect: to the payer (``?payer=<key in tax's ledger>``) when one
    matches, otherwise to the results (``?search=<random key>``, the query kept in the session).
    """

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        if "payer" in request.GET:
            payer_id = record_key(request.GET["payer"])
            if payer_id is None:
                raise Http404(_("No such record in your area."))
            return self.render_counter(request, payer_id=payer_id)
        search = SEARCHES.recall(request)
        return self.render_counter(request, query=search.query, notice=search.notice)

    def post(self, request: HttpRequest) -> HttpResponse:
        query = request.POST.get("q", "").strip()[:60]
        if not query:
            return self.render_counter(
                request, notice=_("Type an identifier or a name to search."), status=400
            )
        results = selectors.payer_search(scope=self.scope, query=query)
        if len(results) == 1:
            return redirect(f"{reverse('collection:counter')}?payer={results[0].pk}")
        return SEARCHES.redirect(request, reverse("collection:counter"), query)


class PaymentRecordView(_Counter):
    """GET: the counter of the due item's payer. POST: record the payment; the receipt follows."""

    required_action = Action.COLLECTION_RECORD

    def _payer_of(self, item: DueItem) -> int:
        payer_id = selectors.payer_key(scope=self.scope, person_id=item.person_id)
        if payer_id is None:
            raise Http404(_("No such record in your area."))
        return payer_id

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self.scope.get_object_or_404(DueItem.objects.all(), pk=pk)
        return self.render_counter(request, payer_id=self._payer_of(item))

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
                payment = recorded.payment
                if recorded.replayed:  # the same form sent again: the payment it made then
                    note = _("This form was sent before: its payment, receipt %(receipt)s, is shown.")
                else:
                    note = _("Payment of ¥%(amount)s recorded; receipt %(receipt)s.")
                messages.success(
                    request, note % {"amount": yuan(payment.amount_fen), "receipt": payment.receipt}
                )
                return redirect("collection:receipt", pk=payment.pk)
        return self.render_counter(
            request,
            payer_id=self._payer_of(item),
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
    can_change = (
        payment.status == PaymentStatus.RECORDED
        and view.scope.allows(Action.COLLECTION_RECORD)
        and payment.agency_id == view.scope.agency_id
    )
    refunds = selectors.refunds_of_payment(payment=payment)
    certificate_refusal = selectors.certificate_refusal(payment=payment, refunds=refunds)
    context = {
        "payment": payment,
        "name": selectors.payer_name(payment.person_id),
        "masked": mask_id_number(payment.person_id),
        # "Back to the counter" opens the payer by the key of tax's ledger, not by the identifier.
        "counter_payer": selectors.payer_key(scope=view.scope, person_id=payment.person_id),
        "amount": yuan(payment.amount_fen),
        "channel": Channel(payment.channel).label,
        "voided": list(payment.voided_receipts.select_related("voided_by").order_by("voided_at")),
        "refunds": [(refund, yuan(refund.amount_fen)) for refund in refunds],
        "reverse_form": forms_.get("reverse") or ReasonForm(prefix="reverse"),
        "void_form": forms_.get("void") or ReasonForm(prefix="void"),
        # Reversal and reissue are the collecting agency's, on a payment that stands.
        "can_change": can_change,
        # Money of it that went back through insurance cannot be given back again by a reversal.
        "reversal_refusal": selectors.reversal_refusal(payment=payment, refunds=refunds)
        if can_change
        else None,
        # Any tax clerk of the area may certify a payment that stands: the payer asks wherever they are.
        "certificate": certificate,
        "can_certify": certificate_refusal is None and view.scope.allows(Action.COLLECTION_RECORD),
        # Why an issued certificate is not printed again (reversed, or all of it paid back).
        "certificate_refusal": certificate_refusal,
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
    # What the clerk is told after it, with the receipt number before (``before``) and after
    # (``after``) the change.
    done: Promise

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _render_receipt(request, self, pk)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        before = selectors.payment_detail(scope=self.scope, pk=pk).receipt  # outside the area: 404 first
        form = ReasonForm(request.POST, prefix=self.form_key)
        status = 400
        if form.is_valid():
            try:
                payment = type(self).service(
                    scope=self.scope, payment_id=pk, reason=form.cleaned_data["reason"]
                )
            except services.PaymentConflictError as conflict:
                form.add_error(None, conflict.message)
                status = 409
            except ValidationError as problem:
                form.add_error(None, problem.messages)
            else:
                messages.success(request, str(self.done) % {"before": before, "after": payment.receipt})
                return redirect("collection:receipt", pk=pk)
        return _render_receipt(request, self, pk, {self.form_key: form}, status=status)


class PaymentReverseView(_ReceiptChange):
    """Reverse the payment (冲正) with the reason."""

    form_key = "reverse"
    service = services.payment_reverse

    done = gettext_lazy(
        "Payment with receipt %(before)s reversed: the year is due again and insurance is told."
    )


class ReceiptVoidView(_ReceiptChange):
    """Void the receipt (作废) with the reason; the payment gets the next number."""

    form_key = "void"
    service = services.receipt_void

    done = gettext_lazy("Receipt %(before)s voided; the payment now has receipt %(after)s.")


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
        refunds = selectors.refunds_of_payment(payment=payment)
        refusal = selectors.certificate_refusal(payment=payment, refunds=refunds)
        if refusal is not None:
            messages.error(request, refusal)
            return redirect("collection:receipt", pk=pk)
        with translation.override("zh-hans"):  # a Chinese document, whatever the clerk's language
            channel = str(Channel(payment.channel).label)
        data = documents.CertificateData(
            name=selectors.payer_name(payment.person_id),
            id_number=payment.person_id,
            insurance_year=payment.insurance_year,
            # What stands of it: a part paid back (an over-collection) is not certified as paid.
            amount_fen=selectors.certificate_amount_fen(payment=payment, refunds=refunds),
            receipt_fen=payment.amount_fen,
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
        day = selectors.report_day(request.GET.get("day"))
        report = selectors.daily_report(scope=self.scope, day=day or timezone.localdate())
        context = {
            "report": report,
            "total": yuan(report.fen),
            "channels": [(line, yuan(line.fen)) for line in report.by_channel],
            "collectors": [(line, yuan(line.fen)) for line in report.by_collector],
            "reversed_fen": yuan(report.reversed.fen),
            # The sign before the currency mark: -¥400.00, as a negative amount is written.
            "net": ("-¥" if report.net_fen < 0 else "¥") + yuan(abs(report.net_fen)),
            "previous": report.day - dt.timedelta(days=1),
            # No day after today: nothing can have been collected on it yet.
            "next": report.day + dt.timedelta(days=1) if report.day < timezone.localdate() else None,
        }
        return render(request, "collection/daily.html", context)


# --- collective payments and bank debit files ----------------------------------------------------


class CollectiveForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Collected by"),
        choices=[(BatchKind.VILLAGE, BatchKind.VILLAGE.label), (BatchKind.SCHOOL, BatchKind.SCHOOL.label)],
    )
    unit_name = forms.CharField(label=gettext_lazy("Village or school"), max_length=100)
    paid_by = forms.CharField(label=gettext_lazy("Handed over by"), max_length=60)
    total_yuan = forms.DecimalField(
        label=gettext_lazy("Cash counted (yuan)"), min_value=Decimal("0.01"), decimal_places=2
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def total_fen(self) -> int:
        return int((self.cleaned_data["total_yuan"] * 100).to_integral_value())


def _year_of(request: HttpRequest, years: list[int]) -> int | None:
    requested = request.GET.get("year", "") or request.POST.get("year", "")
    if ascii_digits(requested) and int(requested) in years:
        return int(requested)
    return years[0] if years else None


def _person_list(text: str) -> list[str]:
    return [part for part in text.replace(",", "\n").replace("，", "\n").split() if part]


def _due_item_keys(values: list[str]) -> list[int]:
    """The ticked due items' keys as posted (the form carries keys, never an identifier). A value
    that is no key becomes 0, which no due item has, so the batch is refused as for a person
    not found rather than the value dropped."""
    return [record_key(value) or 0 for value in values]


class CollectiveView(ScopedViewMixin, View):
    """集体缴费: a village's (or, from a pasted list, a school's) persons due, ticked and paid as one
    batch against the cash counted; the ledger (台账) to sign follows."""

    required_action = Action.COLLECTION_VIEW
    template_name = "collection/collective.html"

    def _page(
        self,
        request: HttpRequest,
        *,
        form: CollectiveForm | None = None,
        chosen: set[int] | None = None,
        problems: list[services.LineProblem] | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        years = selectors.progress_years(scope=self.scope)
        year = _year_of(request, years)
        village = request.GET.get("village", "") or request.POST.get("village", "")
        # A school's list holds ID numbers: taken from the form's body only, never from an address
        # (where it would sit in the history, the logs and the Referer).
        people = request.POST.get("people", "")
        villages = selectors.villages_with_dues(scope=self.scope, year=year) if year else []
        listed = selectors.Collective(candidates=[], not_payable=[])
        unit_name = ""
        if year and people.strip():
            listed = selectors.collective_candidates_of_list(
                scope=self.scope, person_ids=_person_list(people), year=year
            )
        elif year and village:
            listed = selectors.collective_candidates_of_village(
                scope=self.scope, village_code=village, year=year
            )
            unit_name = next((name for code, name, _n in villages if code == village), "")
        candidates = listed.candidates
        if form is None:
            form = CollectiveForm(
                initial={
                    "kind": BatchKind.SCHOOL if people.strip() else BatchKind.VILLAGE,
                    "unit_name": unit_name,
                    "idempotency_key": uuid.uuid4().hex,
                }
            )
        context = {
            "years": years,
            "year": year,
            "village": village,
            "people": people,
            "villages": villages,
            "candidates": [
                (
                    candidate,
                    mask_id_number(candidate.item.person_id),
                    yuan(candidate.amount_fen),
                    chosen is None or candidate.item.pk in chosen,
                )
                for candidate in candidates
            ],
            "total": yuan(sum(candidate.amount_fen for candidate in candidates)),
            # Each person who cannot be paid for today with the reason; a malformed entry as typed.
            "not_payable": [
                (entry, mask_id_number(entry.person_id) if entry.well_formed else entry.person_id)
                for entry in listed.not_payable
            ],
            "shared_reason": listed.shared_reason,
            # A village where no one is payable for one reason (the window) says it once; a school's
            # list names every entry, since the clerk typed them.
            "list_not_payable": bool(listed.not_payable)
            and bool(candidates or people.strip() or not listed.shared_reason),
            "form": form,
            "problems": [(problem, mask_id_number(problem.line.person_id)) for problem in problems or []],
            "error": error,
            "can_record": self.scope.allows(Action.COLLECTION_RECORD),
            "recent": selectors.batches(scope=self.scope).exclude(kind=BatchKind.BANK_DEBIT)[:10],
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        if "record" not in request.POST:
            # A school's pasted list is shown by POST: it is too long for an address.
            if not request.POST.get("people", "").strip():
                return self._page(request, error=_("Paste the identifiers of the school's list."), status=400)
            return self._page(request)
        self.scope.require(Action.COLLECTION_RECORD)
        form = CollectiveForm(request.POST)
        keys = _due_item_keys(request.POST.getlist("due_item"))
        chosen = set(keys)
        years = selectors.progress_years(scope=self.scope)
        year = _year_of(request, years)
        if not form.is_valid() or year is None:
            return self._page(request, form=form, chosen=chosen, status=400)
        village = request.POST.get("village", "")
        kind = form.cleaned_data["kind"]
        try:
            batch = services.collective_payment_record(
                scope=self.scope,
                kind=kind,
                # A village's batch is the village's; a school's list may span villages.
                region_code=village
                if kind == BatchKind.VILLAGE and village
                else (self.scope.region_code or ""),
                unit_name=form.cleaned_data["unit_name"],
                paid_by=form.cleaned_data["paid_by"],
                due_items=[(key, year) for key in keys],
                total_fen=form.total_fen(),
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except services.BatchRefusedError as refused:
            return self._page(
                request,
                form=form,
                chosen=chosen,
                problems=refused.problems,
                error=refused.message,
                status=409,
            )
        except ValidationError as problem:
            form.add_error(None, problem.messages)
            return self._page(request, form=form, chosen=chosen, status=400)
        return redirect("collection:batch", pk=batch.pk)


class BankFileForm(forms.Form):
    bank_name = forms.CharField(label=gettext_lazy("Bank"), max_length=100)
    file = forms.FileField(label=gettext_lazy("Debit result file (.csv)"))


class BankDebitView(ScopedViewMixin, View):
    """银行批量扣款: upload a bank's debit result file; the lines are matched to due items and paid,
    the rest listed with the reason."""

    required_action = Action.COLLECTION_VIEW
    template_name = "collection/bank.html"

    def _page(
        self, request: HttpRequest, form: BankFileForm | None = None, status: int = 200
    ) -> HttpResponse:
        context = {
            "form": form or BankFileForm(),
            "can_record": self.scope.allows(Action.COLLECTION_RECORD),
            "recent": selectors.batches(scope=self.scope).filter(kind=BatchKind.BANK_DEBIT)[:20],
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        self.scope.require(Action.COLLECTION_RECORD)
        form = BankFileForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._page(request, form, status=400)
        try:
            batch = services.bank_debit_submit(
                scope=self.scope, bank_name=form.cleaned_data["bank_name"], upload=form.cleaned_data["file"]
            )
        except ValidationError as problem:
            form.add_error("file", problem.messages)
            return self._page(request, form, status=400)
        return redirect("collection:batch", pk=batch.pk)


def _bank_progress(batch: PaymentBatch) -> dict[str, Any]:
    progress = services.bank_progress(batch.pk)
    done, total = int(progress.get("done") or 0), progress.get("total")
    return {
        "finished": batch.status != BatchStatus.QUEUED,
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else None,
    }


class BatchProgressView(ScopedViewMixin, View):
    """A bank file's progress as JSON, polled by static/js/bulk.js while a worker matches it."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        return JsonResponse(_bank_progress(selectors.batch_detail(scope=self.scope, pk=pk)))


class BatchView(ScopedViewMixin, View):
    """A batch: who handed over what, its payments with their receipts, and the lines not matched."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        batch = selectors.batch_detail(scope=self.scope, pk=pk)
        lines = [
            (line, mask_id_number(line.payment.person_id), yuan(line.payment.amount_fen))
            for line in itertools.islice(selectors.batch_lines(batch=batch), PAGE_LINES)
        ]
        problems = [
            (
                problem,
                mask_id_number(problem.person_id) if problem.person_id else "",
                yuan(problem.amount_fen or 0),
            )
            for problem in selectors.batch_problems(batch=batch)[:PAGE_LINES]
        ]
        context = {
            "batch": batch,
            "progress": _bank_progress(batch),
            "total": yuan(batch.total_fen),
            "lines": lines,
            "more_lines": batch.payment_count > len(lines),
            "problems": problems,
            "more_problems": batch.problem_count > len(problems),
            "taken_unmatched": yuan(
                batch.problems.filter(money_taken=True).aggregate(fen=Sum("amount_fen"))["fen"] or 0
            ),
        }
        return render(request, "collection/batch.html", context)


# A batch's page shows this many lines; the workbooks hold them all.
PAGE_LINES = 500


class BatchLedgerView(ScopedViewMixin, View):
    """台账: the batch as a workbook. A village's or school's has a line per payer to sign, and lines
    for the clerk and the village head (or the school's) at the foot; a bank file's is the bank's
    debits, with the debit day instead of a signature (the bank took the money), signed off by the
    tax collector and a reviewer."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        batch = selectors.batch_detail(scope=self.scope, pk=pk)
        is_bank = batch.kind == BatchKind.BANK_DEBIT
        day = timezone.localtime(batch.created_at).date().isoformat()

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Ledger"), widths=(6, 12, 22, 8, 12, 20, 18))
            if is_bank:
                sheet.row([_("%(bank)s — bank batch debit ledger") % {"bank": batch.unit_name}], bold=True)
                sheet.row(
                    [
                        _("Debited by: %(bank)s · file %(file)s · %(day)s · %(agency)s")
                        % {
                            "bank": batch.unit_name,
                            "file": batch.file_name,
                            "day": day,
                            "agency": batch.agency.name,
                        }
                    ]
                )
            else:
                sheet.row([_("%(unit)s — collective payment ledger") % {"unit": batch.unit_name}], bold=True)
                sheet.row(
                    [
                        _("Paid through: %(unit)s · handed over by %(person)s · %(day)s · %(agency)s")
                        % {
                            "unit": batch.unit_name,
                            "person": batch.paid_by,
                            "day": day,
                            "agency": batch.agency.name,
                        }
                    ]
                )
            sheet.row([])
            sheet.row(
                [
                    _("No."),
                    pgettext("person", "Name"),
                    _("Identifier"),
                    _("Year"),
                    _("Amount (yuan)"),
                    _("Receipt"),
                    _("Debit date") if is_bank else _("Payer's signature"),
                ],
                bold=True,
                boxed=True,
            )
            sheet.print_titles("4:4")
            for line in selectors.batch_lines(batch=batch):
                sheet.row(
                    [
                        line.number,
                        line.name,
                        mask_id_number(line.payment.person_id),
                        line.payment.insurance_year,
                        money(line.payment.amount_fen),
                        line.payment.receipt,
                        timezone.localtime(line.payment.paid_at).date() if is_bank else "",
                    ],
                    boxed=True,
                    height=None if is_bank else 24,
                )
            sheet.row(
                [
                    _("Total"),
                    ngettext("%(count)s person", "%(count)s persons", batch.payment_count)
                    % {"count": batch.payment_count},
                    "",
                    "",
                    money(batch.total_fen),
                    "",
                    "",
                ],
                bold=True,
                boxed=True,
            )
            sheet.row([])
            if is_bank:
                sheet.row(
                    [_("Tax collector (signature):"), "", "", _("Reviewer (signature):"), "", _("Date:")]
                )
            else:
                sheet.row(
                    [
                        _("Collecting clerk (signature):"),
                        "",
                        "",
                        _("Village head (signature):"),
                        "",
                        _("Date:"),
                    ]
                )

        return xlsx_response(write, f"{batch.unit_name}-{_('ledger')}-{batch.pk}.xlsx")


class BatchProblemsView(ScopedViewMixin, View):
    """The lines of a bank file that were not paid, with the reason, as a workbook."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        batch = selectors.batch_detail(scope=self.scope, pk=pk)

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Not matched"), widths=(8, 22, 12, 8, 12, 22, 12, 60))
            sheet.row(
                [
                    _("Line"),
                    _("Identifier"),
                    pgettext("person", "Name"),
                    _("Year"),
                    _("Amount (yuan)"),
                    _("Bank reference"),
                    _("Money taken"),
                    _("Reason"),
                ],
                bold=True,
            )
            for problem in selectors.batch_problems(batch=batch).iterator(chunk_size=2000):
                sheet.row(
                    [
                        problem.line_number,
                        mask_id_number(problem.person_id) if problem.person_id else "",
                        problem.name,
                        problem.insurance_year,
                        money(problem.amount_fen) if problem.amount_fen is not None else "",
                        problem.reference,
                        _("yes") if problem.money_taken else _("no"),
                        problem.reason,
                    ]
                )

        return xlsx_response(write, f"{batch.unit_name}-{_('not matched')}-{batch.pk}.xlsx")


class DailyReportExportView(ScopedViewMixin, View):
    """征收日报 as a workbook."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        day = selectors.report_day(request.GET.get("day")) or timezone.localdate()
        report = selectors.daily_report(scope=self.scope, day=day)

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Daily collection report"), widths=(36, 12, 16))
            sheet.row([_("Daily collection report"), day.isoformat()], bold=True)
            sheet.row([])
            sheet.row([_("Channel"), _("Payments"), _("Amount (yuan)")], bold=True)
            for line in report.by_channel:
                sheet.row([str(line.label), line.count, money(line.fen)])
            sheet.row([_("Total"), report.count, money(report.fen)], bold=True)
            sheet.row([])
            sheet.row([_("Collector"), _("Payments"), _("Amount (yuan)")], bold=True)
            for line in report.by_collector:
                sheet.row([line.label, line.count, money(line.fen)])
            sheet.row([])
            sheet.row([_("Reversed this day"), report.reversed.count, money(report.reversed.fen)])
            sheet.row([_("Net takings of the day"), "", money(report.net_fen)], bold=True)

        return xlsx_response(write, f"{_('daily collection report')}-{day.isoformat()}.xlsx")


# A month of a city's refunds may run to thousands of lines; the export has them all.
REFUNDS_PER_PAGE = 100


class RefundDetailsView(ScopedViewMixin, View):
    """退费明细: the refunds insurance paid out in a month in the caller's area, by their receipts."""

    required_action = Action.COLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        months = selectors.refund_months(scope=self.scope)
        month = exports.month_of(self.scope, request.GET.get("month", ""), months=months)
        details = selectors.refunds_of_month(scope=self.scope, month=month) if month else None
        page = None
        if details:
            paginator = Paginator(details.refunds, REFUNDS_PER_PAGE)
            paginator.count = details.count  # counted with the month's total: no second COUNT
            page = paginator.get_page(request.GET.get("page"))
        context = {
            "months": months,
            "month": month,
            "page": page,
            "rows": [
                (refund, mask_id_number(refund.person_id), yuan(refund.amount_fen)) for refund in page or ()
            ],
            "count": details.count if details else 0,
            "total": yuan(details.fen if details else 0),
            # The month's details are written in the background (collection/exports.py).
            "export_kind": exports.REFUND_DETAILS,
            "export_params": [("month", month or "")],
            "export_label": _("Export (xlsx)"),
            "export_testid": "refunds-xlsx",
        }
        return render(request, "collection/refunds.html", context)


# --- over-collections tax caused, reported to insurance for refund -----------------------------


class OvercollectionForm(forms.Form):
    receipt = forms.CharField(label=gettext_lazy("Receipt number"), max_length=32)
    amount_yuan = forms.DecimalField(
        label=gettext_lazy("Amount over-collected (yuan)"), min_value=Decimal("0.01"), decimal_places=2
    )
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=OvercollectionReason.choices)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=150, required=False)


class OvercollectionListView(ScopedViewMixin, View):
    """多征退费: the over-collections tax reported, with tabs by where insurance and finance have got."""

    required_action = Action.OVERCOLLECTION_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope
        status = request.GET.get("status", "")
        if status not in OvercollectionStatus.values:
            status = ""
        page = Paginator(selectors.overcollection_list(scope=scope, status=status), 50).get_page(
            request.GET.get("page")
        )
        counts = selectors.overcollection_status_counts(scope=scope)
        context = {
            "page": page,
            "rows": [(r, mask_id_number(r.person_id), yuan(r.amount_fen)) for r in page],
            "status": status,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in OvercollectionStatus.choices
            ],
            "can_request": scope.allows(Action.OVERCOLLECTION_REQUEST),
        }
        return render(request, "collection/overcollections.html", context)


class OvercollectionNewView(ScopedViewMixin, View):
    """Report an over-collection on a receipt: GET ``?receipt=`` shows the payment and the form."""

    required_action = Action.OVERCOLLECTION_REQUEST

    def get(self, request: HttpRequest) -> HttpResponse:
        receipt = request.GET.get("receipt", "").strip()
        return self._render(OvercollectionForm(initial={"receipt": receipt}), receipt=receipt)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OvercollectionForm(request.POST)
        if not form.is_valid():
            return self._render(form, receipt=request.POST.get("receipt", ""), status=400)
        data = form.cleaned_data
        # Read before the service's errors are added: adding a field's error drops its cleaned value.
        receipt = data["receipt"]
        try:
            created = services.overcollection_request(
                scope=self.scope,
                receipt=receipt,
                amount_fen=int((data["amount_yuan"] * 100).to_integral_value()),
                reason=data["reason"],
                note=data["note"],
            )
        except ValidationError as error:
            add_service_errors(form, error, renamed={"amount_fen": "amount_yuan"})
            return self._render(form, receipt=receipt, status=400)
        messages.success(request, _("Reported to insurance; its answers appear on the request."))
        return redirect("collection:overcollection", pk=created.pk)

    def _render(self, form: OvercollectionForm, *, receipt: str, status: int = 200) -> HttpResponse:
        payment = None
        earlier: list[Any] = []
        lookup_error = ""
        if receipt:
            try:
                payment = services.payment_by_receipt(scope=self.scope, receipt=receipt)
                earlier = list(payment.overcollection_requests.order_by("-requested_at"))
            except ValidationError as error:
                lookup_error = " ".join(error.messages)
        context = {
            "form": form,
            "receipt": receipt,
            "payment": payment,
            "paid": yuan(payment.amount_fen) if payment else "",
            "masked": mask_id_number(payment.person_id) if payment else "",
            "earlier": [(r, yuan(r.amount_fen)) for r in earlier],
            "lookup_error": lookup_error,
        }
        return render(self.request, "collection/overcollection_new.html", context, status=status)


class OvercollectionDetailView(ScopedViewMixin, View):
    """One request: the payment, the amount, where it stands and every step insurance pushed."""

    required_action = Action.OVERCOLLECTION_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = selectors.overcollection_detail(scope=self.scope, pk=pk)
        context = {
            "item": item,
            "masked": mask_id_number(item.person_id),
            "amount": yuan(item.amount_fen),
            "paid": yuan(item.payment.amount_fen),
            "events": [
                (event, OvercollectionStatus(event.status).label)
                for event in selectors.overcollection_timeline(request=item)
            ],
        }
        return render(request, "collection/overcollection.html", context)
