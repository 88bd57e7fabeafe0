"""REST API of households, persons, enrollments, registration applications and transfers.

Thin like the pages: reads through enrollment.selectors with the caller's scope, every write
through one service of enrollment.services; errors in the portal's one format
(accounts.api_support). Large lists page by cursor (no COUNT over millions of rows); a ``?q=``
search answers its at most 20 best matches in the same shape.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.masking import shows_full_identity
from accounts.roles import Action
from accounts.scope import Scope, scope_of

from . import filters, selectors, serializers, services
from .models import ApplicationStatus, Enrollment, Household, Person, RegistrationApplication
from .views.review import log_full_view

Q_PARAMETER = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description="Identifier prefix (letters and digits, at least 4) or name prefix; at most 20 matches, no paging.",
)
ERRORS = {
    400: OpenApiResponse(
        description="Invalid request or refused by a rule: {error: {status, code, message, fields}}"
    ),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such record in the caller's area."),
}
CHANGE_PARSERS = [JSONParser, MultiPartParser, FormParser]


class CursorPage(CursorPagination):
    """Stable, COUNT-free paging for tables of millions of rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "id"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class _ScopedViewSet(viewsets.GenericViewSet):
    def scope(self) -> Scope:
        return scope_of(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": self.scope()}

    def _search_response(self, results: Any) -> Response:
        """A ``?q=`` search: the same shape as a cursor page, with nothing before or after it."""
        data = self.get_serializer(results, many=True).data
        return Response({"next": None, "previous": None, "results": data})


def _members() -> Prefetch:
    # No select_related("household"): the prefetch gives each member its household already, and
    # the join made PostgreSQL read the households table for the page's few members.
    return Prefetch("members", queryset=Person.objects.order_by("relation", "birth_date"))


@extend_schema_view(
    list=extend_schema(
        parameters=[Q_PARAMETER], summary="Households in the caller's area; ?q= finds one by any member"
    ),
    retrieve=extend_schema(
        summary="One household with its members", responses={200: serializers.HouseholdSerializer, **ERRORS}
    ),
)
class HouseholdViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ScopedViewSet):
    serializer_class = serializers.HouseholdSerializer
    filterset_class = filters.HouseholdFilter
    pagination_class = CursorPage
    ordering = ("id",)
    ordering_fields: list[str] = []
    required_actions = {"list": Action.ENROLLMENT_VIEW, "retrieve": Action.ENROLLMENT_VIEW}

    def get_queryset(self) -> QuerySet[Household]:
        return self.scope().filter(Household.objects.prefetch_related(_members()))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = request.query_params.get("q", "").strip()
        if query:
            return self._search_response(selectors.household_search(scope=self.scope(), query=query))
        return super().list(request, *args, **kwargs)

    def get_object(self) -> Household:
        scope = self.scope()
        household = selectors.household_detail(scope=scope, pk=self.kwargs["pk"])
        if shows_full_identity(scope, household.region_code):
            for person in household.members.all():
                log_full_view(self.request, person)
        return household


@extend_schema_view(
    list=extend_schema(
        parameters=[Q_PARAMETER],
        summary="Persons in the caller's area (identifiers masked as the role requires)",
    ),
)
class PersonViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ScopedViewSet):
    serializer_class = serializers.PersonBriefSerializer
    filterset_class = filters.PersonFilter
    pagination_class = CursorPage
    ordering = ("id",)
    ordering_fields: list[str] = []
    required_actions = {
        "list": Action.ENROLLMENT_VIEW,
        "retrieve": Action.ENROLLMENT_VIEW,
        "update": Action.ENROLLMENT_REGISTER,
        "correct_identifier": Action.PERSON_IDENTIFIER_CORRECT,
    }

    def get_queryset(self) -> QuerySet[Person]:
        return self.scope().filter(Person.objects.select_related("household"))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = request.query_params.get("q", "").strip()
        if query:
            return self._search_response(selectors.person_search(scope=self.scope(), query=query))
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="One person's full record: data, enrollments and the timeline (a full view is logged)",
        responses={200: serializers.PersonDetailSerializer, **ERRORS},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scope = self.scope()
        person = selectors.person_detail(scope=scope, pk=kwargs["pk"])
        if shows_full_identity(scope, person.region_code):
            log_full_view(request, person)
        context = {
            **self.get_serializer_context(),
            "enrollments": selectors.person_enrollments(person=person).select_related("person"),
            "timeline": selectors.person_timeline(person=person),
        }
        return Response(serializers.PersonDetailSerializer(person, context=context).data)

    @extend_schema(
        summary="Correct a person's data, as read at a revision (409, nothing saved, if it changed since)",
        request=serializers.PersonUpdateSerializer,
        responses={
            200: serializers.PersonDetailSerializer,
            409: OpenApiResponse(
                description="Someone changed the person after the given revision: who and when."
            ),
            **ERRORS,
        },
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scope = self.scope()
        person = selectors.person_detail(scope=scope, pk=kwargs["pk"])  # outside the area: 404 first
        payload = serializers.PersonUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        revision = data.pop("revision")
        try:
            services.person_update(
                scope=scope, person_id=person.pk, member=services.MemberInput(**data), revision=revision
            )
        except services.EditConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        return self.retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Correct a person's mistyped identifier (after assessment too); tax is told in the same step",
        request=serializers.IdentifierCorrectionSerializer,
        responses={
            200: serializers.PersonDetailSerializer,
            409: OpenApiResponse(description="Someone changed the person after the given revision."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="correct-identifier")
    def correct_identifier(self, request: Request, pk: str | None = None) -> Response:
        scope = self.scope()
        person = selectors.person_detail(scope=scope, pk=pk)  # outside the area: 404 first
        payload = serializers.IdentifierCorrectionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.person_identifier_correct(scope=scope, person_id=person.pk, **payload.validated_data)
        except services.EditConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        return self.retrieve(request, pk=pk)


def _change_schema(request_serializer: type, summary: str) -> Any:
    return extend_schema(
        summary=summary,
        request={"application/json": request_serializer, "multipart/form-data": request_serializer},
        responses={200: serializers.EnrollmentSerializer, **ERRORS},
    )


class EnrollmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ScopedViewSet):
    """Enrollments in the caller's area; status changes (state machine) each pushed to tax."""

    serializer_class = serializers.EnrollmentSerializer
    filterset_class = filters.EnrollmentFilter
    pagination_class = CursorPage
    ordering = ("id",)
    ordering_fields: list[str] = []
    required_actions = {
        "list": Action.ENROLLMENT_VIEW,
        "retrieve": Action.ENROLLMENT_VIEW,
        "suspend": Action.ENROLLMENT_CHANGE,
        "resume": Action.ENROLLMENT_CHANGE,
        "terminate": Action.ENROLLMENT_CHANGE,
    }

    def get_queryset(self) -> QuerySet[Enrollment]:
        return self.scope().filter(Enrollment.objects.select_related("person"))

    def get_object(self) -> Enrollment:
        return selectors.enrollment_detail(scope=self.scope(), pk=self.kwargs["pk"])

    def _change(self, request: Request, serializer_class: type, call: Any) -> Response:
        enrollment = self.get_object()
        payload = serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data["evidence"] = data.get("evidence") or None
        call(scope=self.scope(), enrollment_id=enrollment.pk, **data)
        fresh = selectors.enrollment_detail(scope=self.scope(), pk=enrollment.pk)
        return Response(self.get_serializer(fresh).data)

    @_change_schema(
        serializers.SuspendSerializer, "Suspend a normal enrollment (employment, moving, imprisonment…)"
    )
    @action(detail=True, methods=["post"], parser_classes=CHANGE_PARSERS)
    def suspend(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, serializers.SuspendSerializer, services.enrollment_suspend)

    @_change_schema(serializers.ResumeSerializer, "Resume a suspended enrollment")
    @action(detail=True, methods=["post"], parser_classes=CHANGE_PARSERS)
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, serializers.ResumeSerializer, services.enrollment_resume)

    @_change_schema(
        serializers.TerminateSerializer,
        "Terminate an enrollment (death, emigration, duplicate, employee insurance)",
    )
    @action(detail=True, methods=["post"], parser_classes=CHANGE_PARSERS)
    def terminate(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, serializers.TerminateSerializer, services.enrollment_terminate)


@extend_schema_view(
    list=extend_schema(summary="Registration applications in the caller's area, oldest first"),
    retrieve=extend_schema(responses={200: serializers.ApplicationSerializer, **ERRORS}),
)
class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ScopedViewSet):
    """A clerk registers a household (create); county insurance staff approve, return or reject it."""

    serializer_class = serializers.ApplicationSerializer
    filterset_class = filters.ApplicationFilter
    ordering = ("submitted_at", "id")
    ordering_fields = ["submitted_at", "decided_at"]
    required_actions = {
        "list": Action.ENROLLMENT_VIEW,
        "retrieve": Action.ENROLLMENT_VIEW,
        "create": Action.ENROLLMENT_REGISTER,
        "approve": Action.ENROLLMENT_REVIEW,
        "reject": Action.ENROLLMENT_REVIEW,
        "return_for_correction": Action.ENROLLMENT_REVIEW,
    }

    def get_queryset(self) -> QuerySet[RegistrationApplication]:
        return selectors.application_queue(scope=self.scope(), status=None)

    def get_object(self) -> RegistrationApplication:
        return selectors.application_detail(scope=self.scope(), pk=self.kwargs["pk"])

    @extend_schema(
        summary="Register a household and submit its members for enrollment",
        request=serializers.HouseholdRegisterSerializer,
        responses={
            201: serializers.ApplicationSerializer,
            409: OpenApiResponse(
                description="The household found again, or one of its members, changed after the given revision."
            ),
            **ERRORS,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = serializers.HouseholdRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        scope = self.scope()
        household = (
            selectors.household_detail(scope=scope, pk=data["household"]) if data["household"] else None
        )
        members = [dict(member) for member in data["members"]]
        revisions = [member.pop("revision") for member in members]
        try:
            application = services.household_register(
                scope=scope,
                region_code=data["region_code"],
                members=[services.MemberInput(**member) for member in members],
                kind=data["kind"],
                address=data["address"],
                residence_permit_number=data["residence_permit_number"],
                household=household,
                household_revision=data["household_revision"],
                member_revisions=revisions,
            )
        except services.EditConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        fresh = selectors.application_detail(scope=scope, pk=application.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)

    def _decide(self, application: RegistrationApplication, call: Any, **arguments: Any) -> Response:
        scope = self.scope()
        try:
            call(scope=scope, application_id=application.pk, **arguments)
        except ValidationError as error:
            current = selectors.application_detail(scope=scope, pk=application.pk)
            if current.status != ApplicationStatus.SUBMITTED:
                # Decided by someone else meanwhile (or before): a conflict, said plainly.
                raise Conflict(" ".join(error.messages)) from error
            raise
        return Response(
            self.get_serializer(selectors.application_detail(scope=scope, pk=application.pk)).data
        )

    @extend_schema(
        summary="Approve: every member is enrolled (normal) from enrollment_date and tax is told",
        request=serializers.ApproveSerializer,
        responses={
            200: serializers.ApplicationSerializer,
            409: OpenApiResponse(description="Already decided."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        payload = serializers.ApproveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._decide(
            application,
            services.application_approve,
            enrollment_date=payload.validated_data["enrollment_date"],
        )

    @extend_schema(
        summary="Reject, with the reason the clerk sees",
        request=serializers.DecisionReasonSerializer,
        responses={
            200: serializers.ApplicationSerializer,
            409: OpenApiResponse(description="Already decided."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        payload = serializers.DecisionReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._decide(application, services.application_reject, reason=payload.validated_data["reason"])

    @extend_schema(
        summary="Return to the clerk for correction, saying what to correct",
        request=serializers.DecisionReasonSerializer,
        responses={
            200: serializers.ApplicationSerializer,
            409: OpenApiResponse(description="Already decided."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_for_correction(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        payload = serializers.DecisionReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._decide(application, services.application_return, reason=payload.validated_data["reason"])


class TransferViewSet(_ScopedViewSet):
    """转移接续 into the caller's county: the old enrollment ends the day before, the new one starts."""

    serializer_class = serializers.TransferSerializer
    parser_classes = CHANGE_PARSERS
    filter_backends: list[type] = []
    pagination_class = None
    required_actions = {"create": Action.ENROLLMENT_CHANGE}

    def get_queryset(self) -> QuerySet[Enrollment]:
        return self.scope().filter(Enrollment.objects.none())

    @extend_schema(
        summary="Transfer a person in from another county, by identifier",
        request={
            "application/json": serializers.TransferSerializer,
            "multipart/form-data": serializers.TransferSerializer,
        },
        responses={201: serializers.EnrollmentSerializer, **ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = serializers.TransferSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        scope = self.scope()
        household_id = (
            selectors.household_detail(scope=scope, pk=data["household"]).pk if data["household"] else None
        )
        enrollment = services.enrollment_transfer(
            scope=scope,
            id_number=data["id_number"],
            to_region_code=data["to_region_code"],
            household_id=household_id,
            relation=data["relation"],
            effective_on=data["effective_on"],
            note=data["note"],
            evidence=data.get("evidence") or None,
        )
        fresh = selectors.enrollment_detail(scope=scope, pk=enrollment.pk)
        context = self.get_serializer_context()
        return Response(
            serializers.EnrollmentSerializer(fresh, context=context).data, status=status.HTTP_201_CREATED
        )
