"""Finance's REST API: the plans received; approve, reject with the reason, record the transfer.
A step the plan's state no longer allows (someone else was quicker) answers 409 with who did what when."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_support import InputSerializer, WorkflowStepsMixin
from accounts.roles import Action
from accounts.scope import scope_of

from . import selectors, services
from .models import PlanStatus, ReceivedPlan

ERRORS = {
    400: OpenApiResponse(
        description="Invalid, or refused by a rule: {error: {status, code, message, fields}}"
    ),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such record in the caller's area."),
    409: OpenApiResponse(
        description="The plan's state does not (or no longer) allow this step: who did what when."
    ),
}


class PlanEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    actor = serializers.SerializerMethodField()
    at = serializers.DateTimeField()
    note = serializers.CharField()

    def get_actor(self, event: Any) -> str | None:
        return event.actor.get_username() if event.actor else None


class PlanSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    transferred_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReceivedPlan
        fields = [
            "id", "plan_id", "region_code", "period", "refund_count", "amount_fen", "submitted_on", "received_at",
            "status", "decided_by", "decided_at", "decision_reason", "transferred_by", "transferred_at",
            "transferred_on", "voucher",
        ]  # fmt: skip
        read_only_fields = fields


class PlanDetailSerializer(PlanSerializer):
    timeline = serializers.SerializerMethodField()
    allowed_steps = serializers.SerializerMethodField()

    class Meta(PlanSerializer.Meta):
        fields = [*PlanSerializer.Meta.fields, "lines", "timeline", "allowed_steps"]
        read_only_fields = fields

    @extend_schema_field(PlanEventSerializer(many=True))
    def get_timeline(self, plan: ReceivedPlan) -> list[dict[str, Any]]:
        return PlanEventSerializer(selectors.plan_timeline(plan=plan), many=True).data

    def get_allowed_steps(self, plan: ReceivedPlan) -> list[str]:
        return services.steps_for(plan, scope_of(self.context["request"]))


class FinancePlanApproveSerializer(InputSerializer):
    amount_fen = serializers.IntegerField(help_text="The total approved: must be the plan's (fen)")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class FinancePlanRejectSerializer(InputSerializer):
    reason = serializers.CharField(max_length=200)


class FinancePlanTransferSerializer(InputSerializer):
    voucher = serializers.CharField(max_length=64)
    transferred_on = serializers.DateField(required=False, allow_null=True, default=None)


class PlanViewSet(
    WorkflowStepsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Fund-usage plans finance received, in the caller's area (``?status=``), newest first."""

    serializer_class = PlanSerializer
    detail_selector = staticmethod(selectors.plan_detail)
    detail_serializer = PlanDetailSerializer
    step_id = "plan_id"
    step_conflict = services.PlanConflictError
    filter_backends: list[type] = []
    required_actions = {
        "list": Action.FINANCE_PLAN_VIEW,
        "retrieve": Action.FINANCE_PLAN_VIEW,
        "approve": Action.FINANCE_PLAN_DECIDE,
        "reject": Action.FINANCE_PLAN_DECIDE,
        "transfer": Action.FINANCE_PLAN_TRANSFER,
    }

    def get_queryset(self) -> QuerySet[ReceivedPlan]:
        if getattr(self, "swagger_fake_view", False):
            return ReceivedPlan.objects.none()
        wanted = self.request.query_params.get("status", "")
        return selectors.plan_list(
            scope=scope_of(self.request), status=wanted if wanted in PlanStatus.values else ""
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=PlanStatus.values)],
        responses={200: PlanSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: PlanDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Approve the plan for its total",
        request=FinancePlanApproveSerializer,
        responses={200: PlanDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, FinancePlanApproveSerializer, services.plan_approve)

    @extend_schema(
        summary="Reject the plan with the reason",
        request=FinancePlanRejectSerializer,
        responses={200: PlanDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, FinancePlanRejectSerializer, services.plan_reject)

    @extend_schema(
        summary="Record the transfer of an approved plan's funds (voucher number, day)",
        request=FinancePlanTransferSerializer,
        responses={200: PlanDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, FinancePlanTransferSerializer, services.plan_transfer)
