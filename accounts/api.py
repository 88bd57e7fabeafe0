"""REST API for regions, agencies and users; thin, scoped, calling services for every write."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from . import selectors, serializers, services
from .api_permissions import ScopedQuerysetMixin
from .login_guard import address_blocked
from .models import Agency, Region, User
from .roles import Action
from .scope import scope_of
from .tokens import token_expires_at


class RegionFilter(django_filters.FilterSet):
    parent = django_filters.CharFilter(field_name="parent__code")
    name = django_filters.CharFilter(lookup_expr="contains")

    class Meta:
        model = Region
        fields = ["level", "parent", "name"]


class RegionViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """Regions in the caller's subtree. Look one up by its 12-digit code."""

    queryset = Region.objects.select_related("parent").order_by("code")
    serializer_class = serializers.RegionSerializer
    lookup_field = "code"
    filterset_class = RegionFilter
    ordering_fields = ["code", "name"]
    required_actions = {
        "list": Action.REGION_VIEW,
        "retrieve": Action.REGION_VIEW,
        "history": Action.AUDIT_VIEW,
    }

    def get_object(self) -> Region:
        # The code as shown (6 or 9 digits) or as stored (12 digits).
        return selectors.region_detail(scope=scope_of(self.request), code=self.kwargs["code"])

    @extend_schema(responses=serializers.HistoryEventSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def history(self, request: Request, code: str | None = None) -> Response:
        region = self.get_object()
        return Response(serializers.HistoryEventSerializer(selectors.history_of(obj=region), many=True).data)


class LoginThrottle(AnonRateThrottle):
    scope = "login"


class AgencyViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Agency.objects.select_related("region").order_by("region__code", "name")
    serializer_class = serializers.AgencySerializer
    filterset_fields = ["kind", "is_active"]
    ordering_fields = ["name"]
    required_actions = {
        "list": Action.AGENCY_VIEW,
        "retrieve": Action.AGENCY_VIEW,
        "create": Action.AGENCY_MANAGE,
        "history": Action.AUDIT_VIEW,
    }

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return serializers.AgencyWriteSerializer if self.action == "create" else serializers.AgencySerializer

    @extend_schema(request=serializers.AgencyWriteSerializer, responses={201: serializers.AgencySerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        payload = serializers.AgencyWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        scope = scope_of(request)
        region = selectors.region_detail(
            scope=scope, code=services.normalise_region_code(payload.validated_data["region_code"])
        )
        agency = services.agency_create(
            name=payload.validated_data["name"],
            kind=payload.validated_data["kind"],
            region=region,
            scope=scope,
        )
        return Response(serializers.AgencySerializer(agency).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=serializers.HistoryEventSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        return Response(
            serializers.HistoryEventSerializer(selectors.history_of(obj=self.get_object()), many=True).data
        )


class UserViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = User.objects.select_related("agency__region").order_by("username")
    serializer_class = serializers.UserSerializer
    filterset_fields = ["role", "agency", "is_active"]
    required_actions = {
        "list": Action.USER_VIEW,
        "retrieve": Action.USER_VIEW,
        "create": Action.USER_MANAGE,
        "history": Action.AUDIT_VIEW,
    }

    @extend_schema(request=serializers.UserCreateSerializer, responses={201: serializers.UserSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        payload = serializers.UserCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        scope = scope_of(request)
        data = payload.validated_data
        agency = selectors.agency_detail(scope=scope, pk=data["agency"])
        user = services.user_create(
            username=data["username"],
            password=data["password"],
            full_name=data["full_name"],
            agency=agency,
            role=data["role"],
            scope=scope,
        )
        return Response(serializers.UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=serializers.HistoryEventSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        return Response(
            serializers.HistoryEventSerializer(selectors.history_of(obj=self.get_object()), many=True).data
        )


class MeView(APIView):
    """Who the caller is, where, and what their role may do."""

    required_action = Action.PORTAL_USE

    @extend_schema(responses=serializers.MeSerializer)
    def get(self, request: Request) -> Response:
        scope = scope_of(request)
        user = request.user
        return Response(
            serializers.MeSerializer(
                {
                    "username": user.username,
                    "full_name": user.full_name,
                    "role": user.role,
                    "agency": user.agency.name if user.agency else None,
                    "region_code": scope.region_code,
                    "actions": sorted(scope.actions),
                }
            ).data
        )


class TokenLoginView(ObtainAuthToken):
    """Exchange a username and password for an API token (throttled, locked after repeated failures).

    The answer is the token the user holds while it works, else a new one; ``renew`` asks for a new
    one anyway. A token works until ``expires_at`` (``PORTAL_API_TOKEN_DAYS`` after it was issued)."""

    access_public = True
    # The password is the credential here: a client that still sends its expired (or revoked)
    # token with the sign-in gets the new one, not that token's 401; and everyone is throttled
    # by address (the throttle lets authenticated callers through).
    authentication_classes: list[type] = []
    throttle_classes = [LoginThrottle]
    serializer_class = serializers.TokenSignInSerializer

    @extend_schema(
        auth=[],
        responses={
            200: serializers.TokenSerializer,
            400: OpenApiResponse(description="Wrong username or password, or a field missing."),
            403: OpenApiResponse(description="The username is locked after repeated failures."),
            429: OpenApiResponse(description="Too many attempts from this address; try again later."),
        },
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        if address_blocked(request):
            return Response(
                {"detail": _("Too many failed sign-in attempts from this address. Try again in 15 minutes.")},
                status=429,
            )
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token = services.user_token_issue(
            user=serializer.validated_data["user"], renew=serializer.validated_data["renew"]
        )
        return Response(
            serializers.TokenSerializer({"token": token.key, "expires_at": token_expires_at(token)}).data
        )
