"""REST API of the sharing platform: monitor figures, dead letters and re-drive, reconciliation."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Action
from accounts.scope import scope_of

from . import selectors, serializers, services
from .models import ReconciliationDifference


class MonitorApiView(APIView):
    """Per topic and bureau: sent and delivered today, pending, dead, oldest pending age."""

    required_action = Action.SHARING_MONITOR

    @extend_schema(responses=serializers.MonitorSerializer)
    def get(self, request: Request) -> Response:
        return Response(serializers.MonitorSerializer(selectors.monitor_stats(scope=scope_of(request))).data)


class DeadLetterViewSet(viewsets.ReadOnlyModelViewSet):
    """Messages that failed too often, with why; re-drive some, a topic's, or all."""

    serializer_class = serializers.DeadLetterSerializer
    lookup_value_regex = r"[0-9]+"
    required_actions = {
        "list": Action.SHARING_MONITOR,
        "retrieve": Action.SHARING_MONITOR,
        "redrive": Action.SHARING_REDRIVE,
    }

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.dead_letter_list(
            scope=scope_of(self.request), topic=self.request.query_params.get("topic")
        )

    def get_object(self):  # type: ignore[no-untyped-def]
        return selectors.dead_letter_detail(scope=scope_of(self.request), pk=int(self.kwargs["pk"]))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": scope_of(self.request)}

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if self.action == "retrieve":
            return serializers.DeadLetterDetailSerializer
        if self.action == "redrive":
            return serializers.RedriveSerializer
        return serializers.DeadLetterSerializer

    @extend_schema(request=serializers.RedriveSerializer, responses=serializers.RedriveResultSerializer)
    @action(detail=False, methods=["post"])
    def redrive(self, request: Request) -> Response:
        payload = serializers.RedriveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        count = services.dead_letter_redrive(
            scope=scope_of(request),
            ids=data.get("ids") or None,
            topic=data.get("topic") or None,
            everything=data.get("everything", False),
        )
        return Response({"redriven": count})


class ReconciliationReportListView(generics.ListAPIView):
    """Daily reconciliation reports, newest first, with per-topic counts and sums."""

    required_action = Action.SHARING_MONITOR
    serializer_class = serializers.ReconciliationReportSerializer
    filterset_fields = ["day"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.reconciliation_report_list().prefetch_related("lines")


class ReconciliationDifferenceListView(generics.ListAPIView):
    """The differences of one report (``?report=``, the newest by default) in the caller's area."""

    required_action = Action.SHARING_MONITOR
    serializer_class = serializers.ReconciliationDifferenceSerializer
    filter_backends: list = []

    @extend_schema(parameters=[OpenApiParameter("report", int), OpenApiParameter("kind", str)])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        raw = self.request.query_params.get("report")
        reports = selectors.reconciliation_report_list()
        try:
            report = reports.get(pk=int(raw)) if raw else reports.first()
        except (ValueError, reports.model.DoesNotExist) as error:
            raise Http404(_("No such report.")) from error
        if report is None:
            return ReconciliationDifference.objects.none()
        return selectors.reconciliation_differences(
            scope=scope_of(self.request), report=report, kind=self.request.query_params.get("kind")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": scope_of(self.request)}
