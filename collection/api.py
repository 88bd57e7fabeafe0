"""Tax's REST API: find payers, read their due items, record a payment (with ``Idempotency-Key``),
read a payment. Thin: the scope, a serializer, one selector or service."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.masking import mask_id_number
from accounts.roles import Action
from accounts.scope import Scope, scope_of

from . import selectors, services
from .models import Channel, DueItem, Payer, Payment

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

    class Meta:
        model = Payment
        fields = [
            "id", "due_item", "person_id", "insurance_year", "region_code", "amount_fen", "channel", "paid_at",
            "paid_by", "agency", "collector", "receipt", "status", "recorded_at",
        ]  # fmt: skip


# One instance, built once: a ModelSerializer builds its fields from the model on every
# instance, which cost more than the rest of the answer. Representing is read-only and keeps no
# state on the serializer, so one instance serves every request and thread.
_PAYMENT_OUT = PaymentSerializer()


def _payment_data(payment: Payment) -> dict[str, Any]:
    """The payment as ``PaymentSerializer`` answers it."""
    return _PAYMENT_OUT.to_representation(payment)


class PaymentRequestSerializer(serializers.Serializer):
    due_item = serializers.IntegerField(min_value=1)
    amount_fen = serializers.IntegerField(min_value=1)
    channel = serializers.ChoiceField(choices=Channel.choices)
    paid_by = serializers.CharField(max_length=60)
    paid_at = serializers.DateTimeField(required=False)


class ReasonSerializer(serializers.Serializer):
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
        scope = self.scope()
        try:
            recorded = services.payment_record(
                scope=scope,
                due_item_id=data["due_item"],
                amount_fen=data["amount_fen"],
                channel=data["channel"],
                paid_by=data["paid_by"],
                paid_at=data.get("paid_at"),
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except services.PaymentConflictError as conflict:
            raise Conflict(conflict.message) from conflict
        return Response(
            _payment_data(recorded.payment),
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
