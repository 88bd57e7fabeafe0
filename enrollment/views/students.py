"""A school's list of its students (学生名册): the school's clerk sees whom they are responsible
for — each student's enrollment and the insurance year's payment — filters it and exports it.

Thin: the scope, the query string, ``enrollment.students``, the template or the workbook. What is
typed into the search box (a name, an ID number) is POSTed and kept in the session, and so is
each page's keyset cursor (a name and an ID number): neither reaches an address
(``accounts.searches``). The export is a direct download: one school's students are bounded
(docs/performance.md, "Exports").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views import View
from openpyxl import Workbook

from accounts.access import ScopedViewMixin
from accounts.exports import Sheet, money, xlsx_response
from accounts.money import yuan
from accounts.roles import Action
from accounts.searches import PAGE_NOT_KEPT, PAGES_KEPT, SessionSearches

from .. import exports, reports, students
from ..models import EnrollmentStatus
from ..students import StudentCounts, StudentFilter, StudentRow

STUDENT_SEARCHES = SessionSearches("enrollment.students")
STUDENT_PAGES = SessionSearches(
    "enrollment.students.pages", kept=PAGES_KEPT, param="after", stale_message=PAGE_NOT_KEPT
)
QUERY_MAX = 40


def _status_labels() -> dict[str, str]:
    return {
        "": _("All students"),
        EnrollmentStatus.NORMAL: str(EnrollmentStatus.NORMAL.label),
        EnrollmentStatus.SUSPENDED: str(EnrollmentStatus.SUSPENDED.label),
        EnrollmentStatus.TERMINATED: str(EnrollmentStatus.TERMINATED.label),
        students.UNENROLLED: _("Not yet enrolled"),
    }


def _payment_labels() -> dict[str, str]:
    return {
        "": _("Any payment"),
        students.PAID: _("Paid (or by the government)"),
        students.DUE: _("Due, not paid"),
        students.UNASSESSED: _("Not assessed"),
    }


def _params(*, year: int, filters: StudentFilter, search_key: str) -> dict[str, str | int]:
    """The address's parameters of the list as it is shown (the search by its key)."""
    params: dict[str, str | int] = {"year": year}
    if filters.status:
        params["status"] = filters.status
    if filters.payment:
        params["payment"] = filters.payment
    if search_key:
        params["search"] = search_key
    return params


def _url(path: str, params: dict[str, str | int]) -> str:
    return f"{path}?{urlencode(params)}"


def _payment_text(row: StudentRow) -> str:
    if row.paid_on is not None and row.paid_fen is not None:
        return _("%(day)s · %(amount)s yuan") % {"day": row.paid_on.isoformat(), "amount": yuan(row.paid_fen)}
    if row.due_fen is not None:
        return _("%(amount)s yuan due") % {"amount": yuan(row.due_fen)}
    return ""


class SchoolStudentListView(ScopedViewMixin, View):
    """The school's students, by name, a page at a time, with tabs by state and their counts."""

    required_action = Action.ENROLLMENT_VIEW
    template_name = "enrollment/students/list.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, pk)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The search box: the query kept in the session, the answer a redirect to its key."""
        school = students.school_for_students(scope=self.scope, pk=pk)
        query = request.POST.get("q", "").strip()[:QUERY_MAX]
        filters = StudentFilter.of(
            status=request.POST.get("status", ""), payment=request.POST.get("payment", "")
        )
        year = exports.year_of(request.POST.get("year", ""))
        if not query:
            return self._render(
                request, school.pk, notice=_("Type a name or an ID number to search."), status=400
            )
        params = _params(year=year, filters=filters, search_key="")
        return STUDENT_SEARCHES.redirect(request, request.path, query, **params)

    def _render(self, request: HttpRequest, pk: int, *, notice: str = "", status: int = 200) -> HttpResponse:
        scope = self.scope
        school = students.school_for_students(scope=scope, pk=pk)
        year = exports.year_of(request.GET.get("year", ""))
        search = STUDENT_SEARCHES.recall(request)
        cursor = STUDENT_PAGES.recall(request)
        filters = StudentFilter.of(
            status=request.GET.get("status", ""),
            payment=request.GET.get("payment", ""),
            query=search.query,
        )
        page = students.student_page(
            scope=scope,
            school=school,
            insurance_year=year,
            filters=filters,
            after=cursor.query or None,
            page_size=students.PAGE_SIZE,
        )
        counts = students.student_counts(scope=scope, school=school, insurance_year=year)
        params = _params(year=year, filters=filters, search_key=search.key)
        path = request.path
        context = {
            "school": school,
            "year": year,
            "years": reports.report_years(),
            "filters": filters,
            "query": search.query,
            "search_key": search.key,
            "counts": counts,
            "tabs": self._tabs(path, params, counts, filters.status),
            "payments": [
                {"value": value, "label": label, "count": counts.of_payment(value)}
                for value, label in _payment_labels().items()
            ],
            "rows": [{"row": row, "payment_text": _payment_text(row)} for row in page.rows],
            "next_url": STUDENT_PAGES.address(request, path, page.next_after, **params)
            if page.next_after
            else "",
            "first_url": _url(path, params) if cursor.query else "",
            "clear_url": _url(path, {key: value for key, value in params.items() if key != "search"})
            if search.query
            else "",
            "xlsx_url": _url(reverse("enrollment:school-students-xlsx", kwargs={"pk": school.pk}), params),
            "notice": notice or search.notice or cursor.notice,
            "can_edit": scope.allows(Action.ENROLLMENT_REGISTER),
            "is_own_school": scope.school_id == school.pk,
        }
        return render(request, self.template_name, context, status=status)

    @staticmethod
    def _tabs(
        path: str, params: dict[str, str | int], counts: StudentCounts, current: str
    ) -> list[dict[str, Any]]:
        tabs = []
        for value, label in _status_labels().items():
            shown = {key: item for key, item in params.items() if key != "status"}
            if value:
                shown["status"] = value
            tabs.append(
                {
                    "value": value or "all",
                    "label": label,
                    "count": counts.of_status(value),
                    "url": _url(path, shown),
                    "current": value == current,
                }
            )
        return tabs


def _filter_text(filters: StudentFilter) -> str:
    parts = []
    if filters.status:
        parts.append(_status_labels()[filters.status])
    if filters.payment:
        parts.append(_payment_labels()[filters.payment])
    if filters.query:
        parts.append(_("name or ID number starting with “%(query)s”") % {"query": filters.query})
    return "; ".join(parts)


class SchoolStudentXlsxView(ScopedViewMixin, View):
    """The list as it is filtered, whole, as a workbook (a direct download: one school)."""

    required_action = Action.ENROLLMENT_VIEW

    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        scope = self.scope
        school = students.school_for_students(scope=scope, pk=pk)
        year = exports.year_of(request.GET.get("year", ""))
        filters = StudentFilter.of(
            status=request.GET.get("status", ""),
            payment=request.GET.get("payment", ""),
            query=STUDENT_SEARCHES.recall(request).query,
        )
        rows = students.students_all(scope=scope, school=school, insurance_year=year, filters=filters)

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Students"), widths=(12, 22, 12, 6, 12, 16, 12, 18, 12, 12, 12))
            heading = _("%(school)s — students, insurance year %(year)s (printed %(day)s)") % {
                "school": school.name,
                "year": year,
                "day": timezone.localdate().isoformat(),
            }
            sheet.row([heading], bold=True)
            sheet.row([_filter_text(filters) or _("All students")])
            sheet.row(
                [
                    pgettext("person", "Name"), _("ID number"), _("Birth date"), _("Sex"), _("Category"),
                    _("Enrollment status"), _("Enrolled since"), _("Payment %(year)s") % {"year": year},
                    _("Amount due (yuan)"), _("Paid on"), _("Paid (yuan)"),
                ],
                bold=True,
                boxed=True,
            )  # fmt: skip
            sheet.print_titles("3:3")
            for row in rows:
                sheet.row(
                    [
                        row.name, row.id_number, row.birth_date, row.sex, row.category, row.state_label,
                        row.enrolled_on, row.payment_label, money(row.due_fen), row.paid_on, money(row.paid_fen),
                    ],
                    boxed=True,
                )  # fmt: skip

        return xlsx_response(write, f"{school.name}-{year}-{_('students')}.xlsx")
