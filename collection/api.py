"""Tax's REST API: find payers, read their due items, record a payment (with ``Idempotency-Key``),
read a payment. Thin: the scope, a serializer, one selector or service."""

from __future__ import annotations

import copy
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_support import InputSerializer
from accounts.masking import mask_id_number
from accounts.roles import Action
from accounts.scope import Scope, scope_of

from . import selectors, services
from .api_counter import payment_answer, payment_data, payment_record_from
from .models import (
    SINGLE_PAYMENT_CHANNELS,
    DueItem,
    OvercollectionReason,
    OvercollectionRequest,
    OvercollectionStatus,
    Payer,
    Payment,
)

ERRORS = {
    400: OpenApiResponse(
        description="Invalid, or refused by a rule: {error: {status, code, message, fields}}"
    ),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such record in the caller's area."),
}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="Up to 64 characters. The same key always answers with the same payment (200 after the first 201).",
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PayerSerializer(serializers.ModelSerializer):
    person_id = serializers.SerializerMethodField()

    class Meta:
        model = Payer
        fields = ["person_id", "name", "region_code", "category", "enrolled_on", "status"]

    def get_person_id(self, payer: Payer) -> str:
        return mask_id_number(payer.person_id)


class DueItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = DueItem
        fields = [
            "id",
            "insurance_year",
            "region_code",
            "amount_fen",
            "subsidy_fen",
            "subsidy_marker",
            "schedule",
            "status",
        ]


class PaymentSerializer(serializers.ModelSerializer):
    receipt = serializers.CharField(read_only=True)
    # Masked like the receipt: tax staff hold no ``person.full_view`` (the due item names the payer).
    person_id = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id", "due_item", "person_id", "insurance_year", "region_code", "amount_fen", "channel", "paid_at",
            "paid_time_known", "paid_by", "agency", "collector", "receipt", "status", "recorded_at",
        ]  # fmt: skip

    def get_person_id(self, payment: Payment) -> str:
        return mask_id_number(payment.person_id)


class SinglePaymentChannelField(serializers.ChoiceField):
    """A single payment's channel; a batch's (village, school, bank file) is refused with why."""

    def to_internal_value(self, data: Any) -> Any:
        if data in services.CHANNELS and data not in SINGLE_PAYMENT_CHANNELS:
            raise serializers.ValidationError(services.batch_channel_refusal(data), code="invalid_choice")
        return super().to_internal_value(data)


class PaymentRequestSerializer(InputSerializer):
    due_item = serializers.IntegerField(min_value=1)
    amount_fen = serializers.IntegerField(min_value=1)
    channel = SinglePaymentChannelField(
        choices=[(channel, channel.label) for channel in SINGLE_PAYMENT_CHANNELS]
    )
    paid_by = serializers.CharField(max_length=60)
    paid_at = serializers.DateTimeField(
        required=False,
        help_text="When the money was taken (default: now); at most 24 hours back, never ahead.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies the declared fields for every instance, which cost a payment more than
        # validating it. These plain fields keep nothing of their own but what binding sets on
        # the copy (name, parent, source), so a shallow copy of each serves as well.
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class ReasonSerializer(InputSerializer):
    reason = serializers.CharField(max_length=200, min_length=2)


class _Scoped(viewsets.GenericViewSet):
    pagination_class = None
    filter_backends: list[type] = []

    def scope(self) -> Scope:
        return scope_of(self.request)


class PayerViewSet(mixins.ListModelMixin, _Scoped):
    """Payers in the caller's area: ``?q=`` an identifier prefix (4 or more) or a name prefix, 20 at most."""

    serializer_class = PayerSerializer
    required_actions = {"list": Action.COLLECTION_VIEW}

    def get_queryset(self) -> QuerySet[Payer]:
        return self.scope().filter(Payer.objects.none())

    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="Identifier or name prefix")],
        responses={200: PayerSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payers = selectors.payer_search(scope=self.scope(), query=request.query_params.get("q", ""))
        return Response(PayerSerializer(payers, many=True).data)


class DueItemViewSet(mixins.ListModelMixin, _Scoped):
    """The due items of one payer (``?person_id=``, the full identifier), newest year first."""

    serializer_class = DueItemSerializer
    required_actions = {"list": Action.COLLECTION_VIEW}

    def get_queryset(self) -> QuerySet[DueItem]:
        return selectors.due_items_of(
            scope=self.scope(), person_id=self.request.query_params.get("person_id", "")
        )

    @extend_schema(
        parameters=[OpenApiParameter("person_id", OpenApiTypes.STR, required=True)],
        responses={200: DueItemSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class PaymentViewSet(mixins.RetrieveModelMixin, _Scoped):
    """Record the payment of a due item, in full; read a payment with its receipt number."""

    serializer_class = PaymentSerializer
    required_actions = {
        "create": Action.COLLECTION_RECORD,
        "retrieve": Action.COLLECTION_VIEW,
        "reverse": Action.COLLECTION_RECORD,
        "void_receipt": Action.COLLECTION_RECORD,
    }

    def get_queryset(self) -> QuerySet[Payment]:
        return self.scope().filter(Payment.objects.select_related("agency"))

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The usual payment call is answered without REST framework's cycle (``api_counter``);
        # anything else, and every refusal, goes through it.
        if self.action_map.get(request.method.lower()) == "create":
            answered = payment_answer(request, allowed_methods=self.allowed_methods)
            if answered is not None:
                return answered
        return super().dispatch(request, *args, **kwargs)

    def get_object(self) -> Payment:
        return selectors.payment_detail(scope=self.scope(), pk=int(self.kwargs["pk"]))

    @extend_schema(
        request=PaymentRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: PaymentSerializer,
            200: OpenApiResponse(PaymentSerializer, description="The key was seen: the payment made then."),
            409: OpenApiResponse(description="Paid already, or the key was used for another payment."),
            **ERRORS,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = PaymentRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            recorded = payment_record_from(
                data, scope=self.scope(), idempotency_key=request.headers.get("Idempotency-Key")
            )
        except services.PaymentConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        return Response(
            payment_data(recorded.payment),
            status=status.HTTP_200_OK if recorded.replayed else status.HTTP_201_CREATED,
        )

    def _change(self, request: Request, pk: str | None, change: Any) -> Response:
        scope = self.scope()
        selectors.payment_detail(scope=scope, pk=int(pk or 0))  # outside the area: 404 first
        payload = ReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            payment = change(scope=scope, payment_id=int(pk or 0), reason=payload.validated_data["reason"])
        except services.PaymentConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        return Response(PaymentSerializer(payment).data)

    @extend_schema(
        summary="Reverse the payment (冲正) with the reason; insurance is told",
        request=ReasonSerializer,
        responses={200: PaymentSerializer, 409: OpenApiResponse(description="Already reversed."), **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="reverse", url_name="reverse")
    def reverse(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, pk, services.payment_reverse)

    @extend_schema(
        summary="Void the receipt (作废) with the reason; the payment gets the agency's next number",
        request=ReasonSerializer,
        responses={
            200: PaymentSerializer,
            409: OpenApiResponse(description="The payment was reversed."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="void-receipt", url_name="void-receipt")
    def void_receipt(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, pk, services.receipt_void)


# --- over-collections tax reported for refund ------------------------------------------------


class OvercollectionEventSerializer(serializers.Serializer):
    status = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()
    plan_id = serializers.IntegerField(allow_null=True)


class OvercollectionSerializer(serializers.ModelSerializer):
    person_id = serializers.SerializerMethodField()
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = OvercollectionRequest
        fields = [
            "id", "payment", "receipt_number", "person_id", "insurance_year", "region_code", "amount_fen",
            "reason", "note", "requested_by", "requested_at", "status", "status_at", "status_note", "plan_id",
            "period", "paid_on", "bank_reference",
        ]  # fmt: skip
        read_only_fields = fields

    def get_person_id(self, item: OvercollectionRequest) -> str:
        return mask_id_number(item.person_id)


class OvercollectionDetailSerializer(OvercollectionSerializer):
    timeline = serializers.SerializerMethodField()

    class Meta(OvercollectionSerializer.Meta):
        fields = [*OvercollectionSerializer.Meta.fields, "timeline"]
        read_only_fields = fields

    @extend_schema_field(OvercollectionEventSerializer(many=True))
    def get_timeline(self, item: OvercollectionRequest) -> list[dict[str, Any]]:
        return OvercollectionEventSerializer(selectors.overcollection_timeline(request=item), many=True).data


class OvercollectionCreateSerializer(InputSerializer):
    receipt = serializers.CharField(
        max_length=32, help_text="The printed receipt number, e.g. 0004-2026-000001"
    )
    amount_fen = serializers.IntegerField(min_value=1)
    reason = serializers.ChoiceField(choices=OvercollectionReason.choices)
    note = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class OvercollectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Over-collections tax reported for refund, in the caller's area (``?status=``), newest first;
    each with where insurance and finance have got (pushed by insurance)."""

    serializer_class = OvercollectionSerializer
    filter_backends: list[type] = []
    required_actions = {
        "list": Action.OVERCOLLECTION_VIEW,
        "retrieve": Action.OVERCOLLECTION_VIEW,
        "create": Action.OVERCOLLECTION_REQUEST,
    }

    def get_queryset(self) -> QuerySet[OvercollectionRequest]:
        if getattr(self, "swagger_fake_view", False):
            return OvercollectionRequest.objects.none()
        wanted = self.request.query_params.get("status", "")
        return selectors.overcollection_list(
            scope=scope_of(self.request), status=wanted if wanted in OvercollectionStatus.values else ""
        )

    def get_object(self) -> OvercollectionRequest:
        return selectors.overcollection_detail(scope=scope_of(self.request), pk=int(self.kwargs["pk"]))

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return OvercollectionSerializer if self.action == "list" else OvercollectionDetailSerializer

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=OvercollectionStatus.values)],
        responses={200: OvercollectionSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: OvercollectionDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Report an over-collection on a receipt, for insurance to refund",
        request=OvercollectionCreateSerializer,
        responses={201: OvercollectionDetailSerializer, **ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = OvercollectionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.overcollection_request(scope=scope_of(request), **payload.validated_data)
        fresh = selectors.overcollection_detail(scope=scope_of(request), pk=created.pk)
        return Response(OvercollectionDetailSerializer(fresh).data, status=status.HTTP_201_CREATED)
