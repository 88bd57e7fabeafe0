"""REST API of the rulebook (policies), the yearly assessment (runs and assessments) and the coverage check.

Thin like the pages: reads through ``enrollment.policies`` and ``enrollment.selectors_assessment``
with the caller's scope, writes through one service; identifiers masked as the role requires;
errors in the portal's one format (``accounts.api_support``), a policy's problems listed one by one
under ``fields.document``. Included from config/urls.py under /api/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.api_support import InputSerializer
from accounts.digits import ascii_digits
from accounts.masking import id_number_for
from accounts.roles import Action
from accounts.scope import Scope, scope_of

from . import assessment, policies, selectors_assessment
from .api import CursorPage
from .models import Assessment, AssessmentRun, AssessmentStatus, Policy, PolicyVersion, RunStatus
from .views.rulebook import CODE_PATH, CODE_PATTERN, RESERVED_CODES

ERRORS = {
    400: OpenApiResponse(
        description="Invalid request or refused by a rule: {error: {status, code, message, fields}}"
    ),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such record in the caller's area."),
}
CODE_REGEX = "[A-Za-z0-9_-]+"


def _enum(values: list[str]) -> dict[str, Any]:
    """An inline enum (no named component, so no name clash with other ``status`` enums)."""
    return {"type": "string", "enum": list(values)}


# --- policies ---------------------------------------------------------------------------------------


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = Policy
        fields = ["code", "name", "region_code", "insurance_year", "version", "updated_at"]


class PolicyVersionSerializer(serializers.ModelSerializer):
    saved_by = serializers.SerializerMethodField()

    class Meta:
        model = PolicyVersion
        fields = ["number", "note", "saved_by", "saved_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_saved_by(self, version: PolicyVersion) -> str | None:
        user = version.saved_by
        return (user.full_name or user.username) if user is not None else None


class PolicyDetailSerializer(PolicySerializer):
    document = serializers.JSONField(help_text="The policy document (enrollment/rules/policy.py's format).")
    versions = serializers.SerializerMethodField()

    class Meta(PolicySerializer.Meta):
        fields = [*PolicySerializer.Meta.fields, "document", "versions"]

    @extend_schema_field(PolicyVersionSerializer(many=True))
    def get_versions(self, policy: Policy) -> list[dict[str, Any]]:
        return PolicyVersionSerializer(policies.policy_versions(policy=policy), many=True).data


class PolicySaveSerializer(InputSerializer):
    document = serializers.JSONField(
        required=False, help_text="The policy document as JSON; or give it as YAML or JSON text in `text`."
    )
    text = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=policies.MAX_DOCUMENT_BYTES,
        help_text="YAML or JSON text.",
    )
    note = serializers.CharField(
        max_length=300, help_text="Why the policy is saved (kept in the version history)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "document" not in attrs and "text" not in attrs:
            raise serializers.ValidationError({"document": [_("Give the policy document.")]})
        if "text" in attrs and "document" not in attrs:
            try:
                attrs["document"] = policies.policy_read_text(text=attrs["text"], filename="policy.yaml")
            except DjangoValidationError as error:
                raise serializers.ValidationError({"text": error.messages}) from error
        return attrs


class _FileRenderer(BaseRenderer):
    """Only for content negotiation of the export: the view answers the file itself."""

    media_type = "application/yaml"
    format = "yaml"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return data if isinstance(data, bytes) else b""


class _Scoped(viewsets.GenericViewSet):
    filter_backends: list[type] = []

    def scope(self) -> Scope:
        return scope_of(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": self.scope()}


@extend_schema_view(
    list=extend_schema(
        summary="Policies the caller may read: their area's and those of the regions above it"
    ),
)
class PolicyViewSet(mixins.ListModelMixin, _Scoped):
    """The rulebook: one policy per region and insurance year, every version kept."""

    serializer_class = PolicySerializer
    lookup_field = "code"
    lookup_value_regex = CODE_REGEX
    required_actions = {
        "list": Action.POLICY_VIEW,
        "retrieve": Action.POLICY_VIEW,
        "create": Action.POLICY_MANAGE,
        "export": Action.POLICY_VIEW,
    }

    def get_queryset(self) -> QuerySet[Policy]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Policy.objects.none()
        return policies.policy_list(scope=self.scope()).order_by("region_prefix", "-insurance_year", "code")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ?format=yaml|json names the file to export, not one of the API's renderers.
        if getattr(self, "action", None) == "export":
            renderer = JSONRenderer() if request.query_params.get("format") == "json" else _FileRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        # A refused export answers the API's error (JSON), not an empty "file".
        response = super().handle_exception(exc)
        if getattr(self, "action", None) == "export":
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        summary="One policy: its document, version and history",
        responses={200: PolicyDetailSerializer, **ERRORS},
    )
    def retrieve(self, request: Request, code: str | None = None) -> Response:
        policy = policies.policy_detail(scope=self.scope(), code=code or "")
        return Response(PolicyDetailSerializer(policy, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Save a policy (new, or a new version of the one with the document's code); every problem listed",
        request=PolicySaveSerializer,
        responses={
            200: OpenApiResponse(
                PolicyDetailSerializer,
                description="A new version of an existing policy (or none if identical).",
            ),
            201: OpenApiResponse(PolicyDetailSerializer, description="A new policy."),
            **ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        scope = self.scope()
        payload = PolicySaveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        document = payload.validated_data["document"]
        code = document.get("code") if isinstance(document, dict) else None
        owner = selectors_assessment.policy_code_owner(code=code) if isinstance(code, str) else None
        if isinstance(code, str) and code and (not CODE_PATTERN.fullmatch(code) or code in RESERVED_CODES):
            raise serializers.ValidationError(
                {"document": [CODE_PATH + _("may contain only letters, digits, hyphens and underscores")]}
            )
        if owner is not None and not policies.policy_can_manage(scope=scope, policy=owner):
            raise serializers.ValidationError(
                {
                    "document": [
                        CODE_PATH + _("%(code)s is taken by a policy you may not change") % {"code": code}
                    ]
                }
            )
        try:
            loaded = policies.policy_save(
                document=document, note=payload.validated_data["note"], scope=scope, actor_id=request.user.pk
            )
        except DjangoValidationError as error:
            if hasattr(error, "error_dict"):
                raise
            raise serializers.ValidationError({"document": error.messages}) from error
        data = PolicyDetailSerializer(loaded.record, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_200_OK if owner is not None else status.HTTP_201_CREATED)

    @extend_schema(
        summary="The current document as a YAML or JSON file",
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["yaml", "json"], description="yaml (default) or json"
            )
        ],
        responses={
            (200, "application/yaml"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            403: ERRORS[403],
            404: ERRORS[404],
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, code: str | None = None) -> HttpResponse:
        policy = policies.policy_detail(scope=self.scope(), code=code or "")
        fmt = "json" if request.query_params.get("format") == "json" else "yaml"
        content, content_type, filename = policies.policy_export(policy=policy, fmt=fmt)
        response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response


# --- assessment runs --------------------------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    phase = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class AssessmentRunSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()
    policy_version = serializers.SerializerMethodField()
    started_by = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = AssessmentRun
        fields = [
            "id",
            "county_code",
            "insurance_year",
            "person",
            "kind",
            "status",
            "policy",
            "policy_version",
            "reason",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
            "enrollments",
            "distinct_facts",
            "created",
            "changed",
            "unchanged",
            "cancelled",
            "government_paid",
            "government_paid_fen",
            "pushed",
            "payable_fen",
            "back_payments_withdrawn",
            "back_payment_applications_withdrawn",
            "error",
            "progress",
        ]

    @extend_schema_field(_enum(RunStatus.values))
    def get_status(self, run: AssessmentRun) -> str:
        return run.status

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="The policy's code."))
    def get_policy(self, run: AssessmentRun) -> str | None:
        return run.policy_version.policy.code if run.policy_version else None

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text="The version's number."))
    def get_policy_version(self, run: AssessmentRun) -> int | None:
        return run.policy_version.number if run.policy_version else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_started_by(self, run: AssessmentRun) -> str | None:
        user = run.started_by
        return (user.full_name or user.username) if user is not None else None

    @extend_schema_field(ProgressSerializer(allow_null=True))
    def get_progress(self, run: AssessmentRun) -> dict[str, Any] | None:
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return None
        return assessment.progress_of(run.pk)


class AssessmentRunStartSerializer(InputSerializer):
    county_code = serializers.RegexField(r"^\d{6}$", help_text="6-digit county code")
    insurance_year = serializers.IntegerField(min_value=2000, max_value=2100)


@extend_schema_view(
    list=extend_schema(
        summary="County-wide assessment runs in the caller's area, newest first",
        parameters=[
            OpenApiParameter("county_code", OpenApiTypes.STR, description="6-digit county code"),
            OpenApiParameter("insurance_year", OpenApiTypes.INT),
        ],
    ),
)
class AssessmentRunViewSet(mixins.ListModelMixin, _Scoped):
    serializer_class = AssessmentRunSerializer
    lookup_value_regex = r"\d+"
    required_actions = {
        "list": Action.ASSESSMENT_VIEW,
        "retrieve": Action.ASSESSMENT_VIEW,
        "create": Action.ASSESSMENT_RUN,
    }

    def get_queryset(self) -> QuerySet[AssessmentRun]:
        if getattr(self, "swagger_fake_view", False):
            return AssessmentRun.objects.none()
        params = self.request.query_params
        runs = selectors_assessment.assessment_run_list(
            scope=self.scope(), county_code=params.get("county_code", "")
        )
        year = params.get("insurance_year", "")
        if year:
            if not ascii_digits(year):
                raise serializers.ValidationError({"insurance_year": [_("Give a year such as 2027.")]})
            runs = runs.filter(insurance_year=int(year))
        return runs

    @extend_schema(
        summary="One run, with its counts and (while it runs) its progress",
        responses={200: AssessmentRunSerializer, **ERRORS},
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        run = selectors_assessment.assessment_run_detail(scope=self.scope(), pk=pk)
        return Response(self.get_serializer(run).data)

    @extend_schema(
        summary="Queue the yearly assessment of a county; a second start returns the run already queued or running",
        request=AssessmentRunStartSerializer,
        responses={202: AssessmentRunSerializer, **ERRORS},
    )
    def create(self, request: Request) -> Response:
        payload = AssessmentRunStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = assessment.assessment_run_start(
            scope=self.scope(),
            county_code=payload.validated_data["county_code"],
            insurance_year=payload.validated_data["insurance_year"],
            actor_id=request.user.pk,
        )
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- assessments ------------------------------------------------------------------------------------


class AssessmentSerializer(serializers.ModelSerializer):
    """One person's assessment for a year: identifier masked unless the caller may see it in full."""

    person_name = serializers.CharField(source="person.name", read_only=True)
    id_number = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    # The decision's texts, shared by every person of the same class of facts.
    rule = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    schedule = serializers.JSONField(read_only=True)
    policy = serializers.SerializerMethodField()
    policy_version = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "id",
            "person",
            "person_name",
            "id_number",
            "insurance_year",
            "county_code",
            "region_code",
            "situation",
            "standard_fen",
            "subsidy_fen",
            "government_fen",
            "payable_fen",
            "subsidy_category",
            "subsidy_marker",
            "status",
            "rule",
            "reason",
            "schedule",
            "revision",
            "assessed_at",
            "paid_on",
            "paid_fen",
            "benefit_start",
            "benefit_end",
            "benefit_reason",
            "policy",
            "policy_version",
        ]

    @extend_schema_field(serializers.CharField())
    def get_id_number(self, item: Assessment) -> str:
        return id_number_for(self.context["scope"], item.person.id_number, item.person.region_code)

    @extend_schema_field(_enum(AssessmentStatus.values))
    def get_status(self, item: Assessment) -> str:
        return item.status

    @extend_schema_field(serializers.CharField())
    def get_policy(self, item: Assessment) -> str:
        return item.policy_version.policy.code

    @extend_schema_field(serializers.IntegerField())
    def get_policy_version(self, item: Assessment) -> int:
        return item.policy_version.number


class AssessmentFilterSerializer(serializers.Serializer):
    insurance_year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    county_code = serializers.RegexField(r"^\d{6}$", required=False)
    status = serializers.ChoiceField(choices=AssessmentStatus.values, required=False)
    subsidy_category = serializers.CharField(required=False, max_length=32)


@extend_schema_view(
    list=extend_schema(
        summary="Assessments in the caller's area (identifiers masked as the role requires); cursor pages",
        parameters=[
            OpenApiParameter("insurance_year", OpenApiTypes.INT),
            OpenApiParameter("county_code", OpenApiTypes.STR, description="6-digit county code"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=AssessmentStatus.values),
            OpenApiParameter(
                "subsidy_category", OpenApiTypes.STR, description="A category code; '-' for none"
            ),
        ],
    ),
)
class AssessmentViewSet(mixins.ListModelMixin, _Scoped):
    serializer_class = AssessmentSerializer
    pagination_class = CursorPage
    required_actions = {"list": Action.ASSESSMENT_VIEW}

    def get_queryset(self) -> QuerySet[Assessment]:
        if getattr(self, "swagger_fake_view", False):
            return Assessment.objects.none()
        filters = AssessmentFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return selectors_assessment.assessment_list(
            scope=self.scope(),
            county_code=data.get("county_code"),
            insurance_year=data.get("insurance_year"),
            status=data.get("status"),
            subsidy_category=data.get("subsidy_category"),
        ).order_by("id")


# --- coverage ---------------------------------------------------------------------------------------


class CoveragePersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    id_number = serializers.CharField(help_text="Masked unless the caller may see it in full.")


class CoverageSerializer(serializers.Serializer):
    covered = serializers.BooleanField()
    date = serializers.DateField()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    rule = serializers.CharField()
    reason = serializers.CharField()
    person = CoveragePersonSerializer()


class CoverageViewSet(_Scoped):
    """Is the person with this identifier covered on a day? 404 for anyone outside the caller's area."""

    serializer_class = CoverageSerializer
    lookup_field = "id_number"
    lookup_value_regex = "[0-9A-Za-z]+"
    pagination_class = None
    required_actions = {"retrieve": Action.COVERAGE_VIEW}

    def get_queryset(self) -> QuerySet[Assessment]:
        return Assessment.objects.none()

    @extend_schema(
        summary="Covered or not on a day (default today), with the period, the rule and the reason",
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, description="YYYY-MM-DD; today when left out")
        ],
        responses={200: CoverageSerializer, **ERRORS},
    )
    def retrieve(self, request: Request, id_number: str | None = None) -> Response:
        raw = request.query_params.get("date", "")
        try:
            day = dt.date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError as error:
            raise serializers.ValidationError({"date": [_("Give the date as YYYY-MM-DD.")]}) from error
        scope = self.scope()
        answer = assessment.coverage_check(scope=scope, id_number=id_number or "", day=day)
        person = answer.person
        decision = answer.decision
        data = {
            "covered": decision.covered,
            "date": day,
            "start": decision.start,
            "end": decision.end,
            "rule": decision.rule,
            "reason": decision.reason,
            "person": {
                "id": person.pk,
                "name": person.name,
                "id_number": id_number_for(scope, person.id_number, person.region_code),
            },
        }
        return Response(CoverageSerializer(data).data)


router = SimpleRouter()
router.register("policies", PolicyViewSet, basename="policy")
router.register("assessment-runs", AssessmentRunViewSet, basename="assessment-run")
router.register("assessments", AssessmentViewSet, basename="assessment")
router.register("coverage", CoverageViewSet, basename="coverage")

urlpatterns = router.urls
