"""The back-payment REST API: list, read and create applications; approve, reject, withdraw.

Thin, with the refunds API's error semantics: 409 when the application's state does not (or no
longer) allow the step, with who did what when; 400 invalid or refused by a rule (four-eyes,
only the applicant withdraws, the rules no longer allow it); 403 the role; 404 outside the area.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_support import InputSerializer, WorkflowStepsMixin
from accounts.masking import id_number_for
from accounts.roles import Action

from . import selectors_backpay as selectors
from . import services_backpay as services
from .api import CONFLICT, ERRORS, EventSerializer, NoteSerializer, RejectSerializer
from .models_backpay import BackPaymentApplication, BackPaymentStatus


class BackPaymentSerializer(serializers.ModelSerializer):
    person_id_number = serializers.SerializerMethodField()
    person_name = serializers.CharField(source="person.name", read_only=True)
    applied_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BackPaymentApplication
        fields = [
            "id", "person", "person_id_number", "person_name", "insurance_year", "region_code", "reason",
            "allowed", "amount_fen", "rule", "rule_reason", "pay_until", "status", "applied_by", "applied_at",
            "decided_by", "decided_at", "decision_note",
        ]  # fmt: skip
        read_only_fields = fields

    def get_person_id_number(self, application: BackPaymentApplication) -> str:
        scope = self.context["scope"]
        return id_number_for(scope, application.person.id_number, application.person.region_code)


class BackPaymentDetailSerializer(BackPaymentSerializer):
    timeline = serializers.SerializerMethodField()
    allowed_steps = serializers.SerializerMethodField()

    class Meta(BackPaymentSerializer.Meta):
        fields = [*BackPaymentSerializer.Meta.fields, "timeline", "allowed_steps"]
        read_only_fields = fields

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, application: BackPaymentApplication) -> list[dict[str, Any]]:
        return EventSerializer(selectors.back_payment_timeline(application=application), many=True).data

    def get_allowed_steps(self, application: BackPaymentApplication) -> list[str]:
        workflow = services.BACK_PAYMENT_WORKFLOW
        return [t.action for t in workflow.actions_for(application, self.context["scope"])]


class BackPaymentApplySerializer(InputSerializer):
    person = serializers.IntegerField(min_value=1)
    insurance_year = serializers.IntegerField(min_value=2000, max_value=2100)
    reason = serializers.CharField(max_length=500, help_text="Why the collection period was missed")
    evidence = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="PDF, JPEG or PNG; multipart only",
    )


class BackPaymentViewSet(
    WorkflowStepsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Back-payment applications in the caller's area (``?status=``), newest first."""

    serializer_class = BackPaymentSerializer
    detail_selector = staticmethod(selectors.back_payment_detail)
    detail_serializer = BackPaymentDetailSerializer
    step_conflict = services.TransitionConflictError
    full_view_record = "back_payment"
    filter_backends: list[type] = []
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    required_actions = {
        "list": Action.BACKPAY_VIEW,
        "retrieve": Action.BACKPAY_VIEW,
        "create": Action.BACKPAY_APPLY,
        "approve": Action.BACKPAY_REVIEW,
        "reject": Action.BACKPAY_REVIEW,
        "withdraw": Action.BACKPAY_APPLY,
    }

    def get_queryset(self) -> QuerySet[BackPaymentApplication]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return BackPaymentApplication.objects.none()
        wanted = self.request.query_params.get("status", "")
        return selectors.back_payment_list(
            scope=self.scope(), status=wanted if wanted in BackPaymentStatus.values else ""
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=BackPaymentStatus.values)],
        responses={200: BackPaymentSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: BackPaymentDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Apply to pay an unpaid year back; the rules decide at once whether and for how much",
        request={
            "application/json": BackPaymentApplySerializer,
            "multipart/form-data": BackPaymentApplySerializer,
        },
        responses={
            201: OpenApiResponse(
                BackPaymentDetailSerializer,
                description="Recorded. Not allowed by the rules → already rejected by them, with the reason.",
            ),
            **ERRORS,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = BackPaymentApplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        application = services.back_payment_apply(
            scope=self.scope(),
            person_id=data["person"],
            insurance_year=data["insurance_year"],
            reason=data["reason"],
            evidence=data["evidence"],
        )
        return Response(self._detail(application), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve (insurance staff; never the applicant): the year becomes payable at tax",
        request=NoteSerializer,
        responses={200: BackPaymentDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, NoteSerializer, services.back_payment_approve)

    @extend_schema(
        summary="Reject with the reason (insurance staff; never the applicant)",
        request=RejectSerializer,
        responses={200: BackPaymentDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, RejectSerializer, services.back_payment_reject)

    @extend_schema(
        summary="Withdraw one's own application while it waits for a decision",
        request=NoteSerializer,
        responses={200: BackPaymentDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, NoteSerializer, services.back_payment_withdraw)
