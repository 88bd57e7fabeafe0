"""The refunds REST API: list, read and create applications; approve, reject, withdraw, pay out.

Thin: the scope, a serializer, one selector or service. A step the application's state does not
allow (or no longer allows: someone else was quicker) answers 409 with who did what when.
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
from accounts.scope import scope_of

from . import selectors, services
from .models import (
    FundPlan,
    FundPlanStatus,
    OvercollectionRefund,
    OvercollectionStatus,
    RefundApplication,
    RefundReason,
    RefundStatus,
)

ERRORS = {
    400: OpenApiResponse(
        description="Invalid, or refused by a rule: {error: {status, code, message, fields}}"
    ),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such record in the caller's area."),
}
CONFLICT = {
    409: OpenApiResponse(
        description="The application's state does not allow this step (or someone else took a step first): "
        "the message says who did what when."
    )
}


class EventSerializer(serializers.Serializer):
    action = serializers.CharField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    actor = serializers.SerializerMethodField()
    at = serializers.DateTimeField()
    note = serializers.CharField()

    def get_actor(self, event: Any) -> str | None:
        return event.actor.get_username() if event.actor else None


class RefundSerializer(serializers.ModelSerializer):
    person_id_number = serializers.SerializerMethodField()
    person_name = serializers.CharField(source="person.name", read_only=True)
    applied_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    paid_out_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    deposit_reference = serializers.CharField(
        read_only=True, help_text="The receipt of the payment the year keeps, when applied for."
    )
    # Only "paid twice" gives back a deposit of its own (the second payment); null otherwise.
    given_back_receipt = serializers.CharField(
        source="given_back_deposit.receipt_number",
        read_only=True,
        allow_null=True,
        help_text='"Paid twice": the receipt of the payment it gives back; null for other reasons.',
    )

    class Meta:
        model = RefundApplication
        fields = [
            "id", "person", "person_id_number", "person_name", "insurance_year", "region_code", "reason",
            "event_on", "note", "amount_fen", "deposit_reference", "given_back_receipt", "refundable", "rule",
            "rule_reason", "status", "applied_by", "applied_at", "due_on", "due_note", "decided_by",
            "decided_at", "decision_note", "paid_out_by", "paid_out_at", "bank_reference",
        ]  # fmt: skip
        read_only_fields = fields

    def get_person_id_number(self, application: RefundApplication) -> str:
        scope = self.context["scope"]
        return id_number_for(scope, application.person.id_number, application.person.region_code)


class RefundDetailSerializer(RefundSerializer):
    timeline = serializers.SerializerMethodField()
    allowed_steps = serializers.SerializerMethodField()

    class Meta(RefundSerializer.Meta):
        fields = [*RefundSerializer.Meta.fields, "timeline", "allowed_steps"]
        read_only_fields = fields

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, application: RefundApplication) -> list[dict[str, Any]]:
        return EventSerializer(selectors.refund_timeline(application=application), many=True).data

    def get_allowed_steps(self, application: RefundApplication) -> list[str]:
        return [t.action for t in services.REFUND_WORKFLOW.actions_for(application, self.context["scope"])]


class ApplySerializer(InputSerializer):
    person = serializers.IntegerField(min_value=1)
    insurance_year = serializers.IntegerField(min_value=2000, max_value=2100)
    reason = serializers.ChoiceField(choices=RefundReason.choices)
    event_on = serializers.DateField()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    evidence = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="PDF, JPEG or PNG; multipart only",
    )


class NoteSerializer(InputSerializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RejectSerializer(InputSerializer):
    reason = serializers.CharField(max_length=500)


class PayOutSerializer(InputSerializer):
    bank_reference = serializers.CharField(max_length=64)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RefundViewSet(
    WorkflowStepsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Refund applications in the caller's area (``?status=``, ``?overdue=1``), newest first."""

    serializer_class = RefundSerializer
    detail_selector = staticmethod(selectors.refund_detail)
    detail_serializer = RefundDetailSerializer
    step_conflict = services.TransitionConflictError
    full_view_record = "refund"
    filter_backends: list[type] = []
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    required_actions = {
        "list": Action.REFUND_VIEW,
        "retrieve": Action.REFUND_VIEW,
        "create": Action.REFUND_APPLY,
        "approve": Action.REFUND_REVIEW,
        "reject": Action.REFUND_REVIEW,
        "withdraw": Action.REFUND_APPLY,
        "pay_out": Action.REFUND_PAY_OUT,
    }

    def get_queryset(self) -> QuerySet[RefundApplication]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return RefundApplication.objects.none()
        params = self.request.query_params
        wanted = params.get("status", "")
        return selectors.refund_list(
            scope=self.scope(),
            status=wanted if wanted in RefundStatus.values else "",
            overdue=params.get("overdue") == "1",
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=RefundStatus.values),
            OpenApiParameter("overdue", OpenApiTypes.STR, enum=["1"], description="Only the overdue ones"),
        ],
        responses={200: RefundSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: RefundDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Apply for the refund of a paid contribution; the rules decide refundability at once",
        request={"application/json": ApplySerializer, "multipart/form-data": ApplySerializer},
        responses={
            201: OpenApiResponse(
                RefundDetailSerializer,
                description="Recorded. Not refundable → already rejected by the rules, with the reason.",
            ),
            **ERRORS,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ApplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        application = services.refund_apply(
            scope=self.scope(),
            person_id=data["person"],
            insurance_year=data["insurance_year"],
            reason=data["reason"],
            event_on=data["event_on"],
            note=data["note"],
            evidence=data["evidence"],
        )
        return Response(self._detail(application), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve (insurance staff; never the applicant)",
        request=NoteSerializer,
        responses={200: RefundDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, NoteSerializer, services.refund_approve)

    @extend_schema(
        summary="Reject with the reason (insurance staff; never the applicant)",
        request=RejectSerializer,
        responses={200: RefundDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, RejectSerializer, services.refund_reject)

    @extend_schema(
        summary="Withdraw one's own application while it waits for a decision",
        request=NoteSerializer,
        responses={200: RefundDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, NoteSerializer, services.refund_withdraw)

    @extend_schema(
        summary="Record the payout of an approved refund with the bank's reference",
        request=PayOutSerializer,
        responses={200: RefundDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="pay-out", url_name="pay-out")
    def pay_out(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, PayOutSerializer, services.refund_pay_out)


# --- over-collection refunds and fund-usage plans -------------------------------------------


class OvercollectionRefundSerializer(serializers.ModelSerializer):
    person_id = serializers.SerializerMethodField()

    class Meta:
        model = OvercollectionRefund
        fields = [
            "id", "request_id", "payment_id", "receipt_number", "person_id", "region_code", "insurance_year",
            "amount_fen", "reason", "requested_on", "received_at", "status", "refusal", "plan", "paid_out_at",
            "bank_reference",
        ]  # fmt: skip
        read_only_fields = fields

    def get_person_id(self, refund: OvercollectionRefund) -> str:
        return id_number_for(self.context["scope"], refund.person_id, refund.region_code)


class OvercollectionRefundViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Over-collections tax reported, in the caller's area (``?status=``), newest first."""

    serializer_class = OvercollectionRefundSerializer
    filter_backends: list[type] = []
    required_actions = {"list": Action.FUND_PLAN_VIEW, "retrieve": Action.FUND_PLAN_VIEW}

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": scope_of(self.request)}

    def get_queryset(self) -> QuerySet[OvercollectionRefund]:
        if getattr(self, "swagger_fake_view", False):
            return OvercollectionRefund.objects.none()
        wanted = self.request.query_params.get("status", "")
        return selectors.overcollection_refund_list(
            scope=scope_of(self.request), status=wanted if wanted in OvercollectionStatus.values else ""
        )

    def get_object(self) -> OvercollectionRefund:
        scope = scope_of(self.request)
        return scope.get_object_or_404(
            selectors.overcollection_refund_list(scope=scope), pk=int(self.kwargs["pk"])
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=OvercollectionStatus.values)],
        responses={200: OvercollectionRefundSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class FundPlanLineSerializer(serializers.Serializer):
    request_id = serializers.IntegerField(source="refund.request_id")
    receipt_number = serializers.CharField(source="refund.receipt_number")
    insurance_year = serializers.IntegerField(source="refund.insurance_year")
    reason = serializers.CharField(source="refund.reason")
    amount_fen = serializers.IntegerField()
    status = serializers.CharField(source="refund.status")


class FundPlanSerializer(serializers.ModelSerializer):
    prepared_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    paid_out_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FundPlan
        fields = [
            "id", "county_code", "region_code", "period", "refund_count", "amount_fen", "status", "prepared_by",
            "prepared_at", "submitted_by", "submitted_at", "decided_on", "finance_reason", "transferred_on",
            "voucher", "paid_out_by", "paid_out_at", "bank_reference",
        ]  # fmt: skip
        read_only_fields = fields


class FundPlanDetailSerializer(FundPlanSerializer):
    lines = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    allowed_steps = serializers.SerializerMethodField()

    class Meta(FundPlanSerializer.Meta):
        fields = [*FundPlanSerializer.Meta.fields, "lines", "timeline", "allowed_steps"]
        read_only_fields = fields

    @extend_schema_field(FundPlanLineSerializer(many=True))
    def get_lines(self, plan: FundPlan) -> list[dict[str, Any]]:
        return FundPlanLineSerializer(selectors.fund_plan_lines(plan=plan), many=True).data

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, plan: FundPlan) -> list[dict[str, Any]]:
        return EventSerializer(selectors.fund_plan_timeline(plan=plan), many=True).data

    def get_allowed_steps(self, plan: FundPlan) -> list[str]:
        return [t.action for t in services.FUND_PLAN_WORKFLOW.actions_for(plan, self.context["scope"])]


class SubmitSerializer(InputSerializer):
    amount_fen = serializers.IntegerField(help_text="The plan's total, confirmed (fen)")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DiscardSerializer(InputSerializer):
    reason = serializers.CharField(max_length=300)


class PrepareSerializer(InputSerializer):
    county = serializers.RegexField(r"^[0-9]{6}$", help_text="The county's 6-digit code")
    period = serializers.RegexField(r"^[0-9]{4}-[0-9]{2}$", help_text="The month, YYYY-MM")


class FundPlanViewSet(
    WorkflowStepsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Fund-usage plans (用款计划) of the caller's area (``?status=``): prepare one from the pool,
    add to the draft what reached the pool since, submit it to finance or discard it, record the
    payout once finance funded it."""

    serializer_class = FundPlanSerializer
    detail_selector = staticmethod(selectors.fund_plan_detail)
    detail_serializer = FundPlanDetailSerializer
    step_id = "plan_id"
    step_conflict = services.TransitionConflictError
    filter_backends: list[type] = []
    required_actions = {
        "list": Action.FUND_PLAN_VIEW,
        "retrieve": Action.FUND_PLAN_VIEW,
        "create": Action.FUND_PLAN_PREPARE,
        "gather": Action.FUND_PLAN_PREPARE,
        "submit": Action.FUND_PLAN_PREPARE,
        "discard": Action.FUND_PLAN_PREPARE,
        "pay_out": Action.FUND_PLAN_PAY_OUT,
    }

    def get_queryset(self) -> QuerySet[FundPlan]:
        if getattr(self, "swagger_fake_view", False):
            return FundPlan.objects.none()
        wanted = self.request.query_params.get("status", "")
        return selectors.fund_plan_list(
            scope=scope_of(self.request), status=wanted if wanted in FundPlanStatus.values else ""
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=FundPlanStatus.values)],
        responses={200: FundPlanSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: FundPlanDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Prepare a draft plan: the county's refunds waiting in the pool, requested up to the month's end",
        request=PrepareSerializer,
        responses={201: FundPlanDetailSerializer, **ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = PrepareSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        plan = services.fund_plan_prepare(
            scope=scope_of(request),
            county_code=payload.validated_data["county"],
            period=payload.validated_data["period"],
        )
        return Response(self._detail(plan), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Submit the draft, confirming its total, to finance (refund.fund_plan_submitted, with its lines)",
        request=SubmitSerializer,
        responses={200: FundPlanDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, SubmitSerializer, services.fund_plan_submit)

    @extend_schema(
        summary=(
            "Add to the draft the county's refunds that reached the pool after it was prepared "
            "(requested up to the plan's month end); 400 when none waits, 409 once the plan is submitted"
        ),
        request=None,
        responses={200: FundPlanDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def gather(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, serializers.Serializer, services.fund_plan_gather)

    @extend_schema(
        summary="Discard the draft; its refunds go back to the pool",
        request=DiscardSerializer,
        responses={200: FundPlanDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, DiscardSerializer, services.fund_plan_discard)

    @extend_schema(
        summary="Record the payout of a funded plan (bank reference); tax gets the month's refund details",
        request=PayOutSerializer,
        responses={200: FundPlanDetailSerializer, **CONFLICT, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="pay-out", url_name="pay-out")
    def pay_out(self, request: Request, pk: str | None = None) -> Response:
        return self._step(request, pk, PayOutSerializer, services.fund_plan_pay_out)
