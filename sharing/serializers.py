from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_support import InputSerializer
from accounts.masking import payload_for, text_for
from accounts.scope import Scope

from . import topics
from .models import PendingDelivery, ReconciliationDifference, ReconciliationLine, ReconciliationReport


class TopicStatsSerializer(serializers.Serializer):
    topic = serializers.CharField()
    description = serializers.CharField()
    sender = serializers.CharField()
    receiver = serializers.CharField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    pending = serializers.IntegerField()
    dead = serializers.IntegerField()
    oldest_pending_seconds = serializers.FloatField(allow_null=True)


class BureauStatsSerializer(serializers.Serializer):
    bureau = serializers.CharField()
    label = serializers.CharField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    pending = serializers.IntegerField()
    dead = serializers.IntegerField()
    oldest_pending_seconds = serializers.FloatField(allow_null=True)


class MonitorSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    at = serializers.DateTimeField()
    topics = TopicStatsSerializer(many=True)
    bureaus = BureauStatsSerializer(many=True)


def _scope(serializer: serializers.Serializer) -> Scope:
    return serializer.context.get("scope") or Scope.nobody()


class DeadLetterSerializer(serializers.ModelSerializer):
    """Who a message is about (payload, subject, error, traceback) masked unless the caller sees
    full identifiers in the message's region (``accounts.masking.payload_for``)."""

    id = serializers.IntegerField(source="message_id")
    seq = serializers.IntegerField(source="message.seq")
    sender = serializers.CharField(source="message.sender")
    receiver = serializers.CharField(source="message.receiver")
    subject = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()

    class Meta:
        model = PendingDelivery
        fields = [
            "id",
            "topic",
            "subject",
            "seq",
            "sender",
            "receiver",
            "region_code",
            "sent_at",
            "attempts",
            "dead_at",
            "redrives",
            "last_error",
            "payload",
        ]

    def get_subject(self, letter: PendingDelivery) -> str:
        return text_for(_scope(self), letter.subject, letter.region_code)

    def get_last_error(self, letter: PendingDelivery) -> str:
        return text_for(_scope(self), letter.last_error, letter.region_code)

    @extend_schema_field(serializers.JSONField())
    def get_payload(self, letter: PendingDelivery) -> Any:
        return payload_for(_scope(self), letter.message.payload, letter.region_code)


class DeadLetterDetailSerializer(DeadLetterSerializer):
    last_traceback = serializers.SerializerMethodField()

    class Meta(DeadLetterSerializer.Meta):
        fields = [*DeadLetterSerializer.Meta.fields, "last_traceback"]

    def get_last_traceback(self, letter: PendingDelivery) -> str:
        return text_for(_scope(self), letter.last_traceback, letter.region_code)


class RedriveSerializer(InputSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10000)
    topic = serializers.CharField(required=False, allow_blank=False, max_length=100)
    everything = serializers.BooleanField(required=False, default=False)

    def validate_topic(self, value: str) -> str:
        # An unknown topic is this field's error, not a refusal of the whole request.
        if value not in topics.REGISTRY:
            raise serializers.ValidationError(_("Unknown topic %(topic)s.") % {"topic": value})
        return value

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("ids") or attrs.get("topic") or attrs.get("everything")):
            raise serializers.ValidationError("Choose dead letters to re-drive: ids, a topic, or everything.")
        return attrs


class RedriveResultSerializer(serializers.Serializer):
    redriven = serializers.IntegerField()


class ReconciliationLineSerializer(serializers.ModelSerializer):
    balanced = serializers.BooleanField(read_only=True)

    class Meta:
        model = ReconciliationLine
        fields = [
            "topic",
            "sender",
            "receiver",
            "sent_count",
            "sent_amount_fen",
            "applied_count",
            "applied_amount_fen",
            "balanced",
        ]


class ReconciliationReportSerializer(serializers.ModelSerializer):
    lines = ReconciliationLineSerializer(many=True, read_only=True)

    class Meta:
        model = ReconciliationReport
        fields = ["id", "day", "created_at", "difference_count", "lines"]


class ReconciliationDifferenceSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = ReconciliationDifference
        fields = [
            "report",
            "topic",
            "kind",
            "message_id",
            "subject",
            "region_code",
            "sent_amount_fen",
            "applied_amount_fen",
            "status",
            "last_error",
        ]

    def get_subject(self, difference: ReconciliationDifference) -> str:
        return text_for(_scope(self), difference.subject, difference.region_code)

    def get_last_error(self, difference: ReconciliationDifference) -> str:
        return text_for(_scope(self), difference.last_error, difference.region_code)
