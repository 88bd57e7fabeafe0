from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from .api_support import InputSerializer
from .models import Agency, Region, User


class RegionSerializer(serializers.ModelSerializer):
    national_code = serializers.CharField(read_only=True)
    parent_code = serializers.CharField(source="parent.code", read_only=True, allow_null=True, default=None)
    level_label = serializers.CharField(source="get_level_display", read_only=True)

    class Meta:
        model = Region
        fields = ["code", "national_code", "name", "level", "level_label", "parent_code"]


class AgencySerializer(serializers.ModelSerializer):
    region_code = serializers.CharField(source="region.code", read_only=True)
    region_name = serializers.CharField(source="region.name", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Agency
        fields = ["id", "name", "kind", "kind_label", "region_code", "region_name", "is_active"]


class AgencyWriteSerializer(InputSerializer):
    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(choices=Agency._meta.get_field("kind").choices)
    region_code = serializers.CharField(max_length=12)


class UserSerializer(serializers.ModelSerializer):
    agency_name = serializers.CharField(source="agency.name", read_only=True, default=None)
    region_code = serializers.CharField(source="agency.region.code", read_only=True, default=None)
    role_label = serializers.CharField(source="get_role_display", read_only=True, default=None)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "role",
            "role_label",
            "agency",
            "agency_name",
            "region_code",
            "is_active",
        ]


class UserCreateSerializer(InputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, min_length=1)
    full_name = serializers.CharField(max_length=60)
    agency = serializers.IntegerField()
    role = serializers.ChoiceField(choices=User._meta.get_field("role").choices)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    full_name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    agency = serializers.CharField(allow_null=True)
    region_code = serializers.CharField(allow_null=True)
    actions = serializers.ListField(child=serializers.CharField())


class HistoryEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    label = serializers.CharField()
    user = serializers.CharField()
    url = serializers.CharField()
    diff = serializers.DictField()


class TokenSignInSerializer(AuthTokenSerializer):
    """A token sign-in: the username and password, and whether to renew a token still working."""

    # No username is longer (the user model's bound). Checked before signing in: a failed sign-in
    # is recorded for the lockout with its username, in 255 characters at most, and a longer one
    # made that record fail with a server error.
    username = serializers.CharField(label=_("Username"), write_only=True, max_length=150)
    renew = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text=(
            "true: a new token even if the one held still works (a new key and a new expiry; "
            "the old key is refused from then on)."
        ),
    )


class TokenSerializer(InputSerializer):
    """The answer of a token sign-in."""

    token = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(
        read_only=True,
        help_text="When the token stops working (PORTAL_API_TOKEN_DAYS days after it was issued).",
    )
