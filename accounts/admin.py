"""Admin pages for administrators: scoped like every other page, every write through services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin as RestFrameworkTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import services
from .admin_scope import ScopedAdminMixin
from .export_jobs import kind_of
from .models import Agency, ExportJob, Region, User
from .roles import Action
from .scope import scope_of
from .tokens import token_cutoff, token_expires_at


@admin.register(Region)
class RegionAdmin(ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.REGION_VIEW
    manage_action = Action.REGION_MANAGE
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]

    def get_readonly_fields(self, request: HttpRequest, obj: Region | None = None) -> list[str]:
        # A code is an identity: regions are renamed, never re-coded.
        return ["code", "level", "parent"] if obj else ["level"]

    def save_model(self, request: HttpRequest, obj: Region, form: forms.ModelForm, change: bool) -> None:
        scope = scope_of(request)
        if change:
            services.region_rename(region=obj, name=obj.name, scope=scope)
        else:
            created = services.region_create(code=obj.code, name=obj.name, parent=obj.parent, scope=scope)
            obj.pk, obj.level = created.pk, created.level


@admin.register(Agency)
class AgencyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.AGENCY_VIEW
    manage_action = Action.AGENCY_MANAGE
    list_display = ["name", "kind", "region", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "region__name", "region__code"]
    raw_id_fields = ["region"]

    def get_readonly_fields(self, request: HttpRequest, obj: Agency | None = None) -> list[str]:
        return ["kind", "region"] if obj else []

    def save_model(self, request: HttpRequest, obj: Agency, form: forms.ModelForm, change: bool) -> None:
        scope = scope_of(request)
        if change:
            services.agency_update(agency=obj, name=obj.name, is_active=obj.is_active, scope=scope)
        else:
            obj.pk = services.agency_create(name=obj.name, kind=obj.kind, region=obj.region, scope=scope).pk


class UserAdminForm(forms.ModelForm):
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput,
        required=False,
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = User
        fields = ["username", "full_name", "agency", "role", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every user works for an agency (the column is empty only for the installation's superuser).
        self.fields["agency"].required = True


@admin.register(User)
class UserAdmin(ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.USER_VIEW
    manage_action = Action.USER_MANAGE
    form = UserAdminForm
    list_display = ["username", "full_name", "role", "agency", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "full_name", "agency__name"]
    raw_id_fields = ["agency"]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        return ["username"] if obj else []

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        scope = scope_of(request)
        password = form.cleaned_data.get("password")
        if change:
            services.user_update(
                user=obj,
                full_name=obj.full_name,
                agency=obj.agency,
                role=obj.role,
                is_active=obj.is_active,
                scope=scope,
            )
            if password:
                services.user_set_password(user=obj, password=password)
        else:
            created = services.user_create(
                username=obj.username,
                password=password or "",
                full_name=obj.full_name,
                agency=obj.agency,
                role=obj.role,
                scope=scope,
            )
            obj.pk = created.pk


@admin.register(ExportJob)
class ExportJobAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Who exported what and when, for the audit: the parameters and row counts, not the file (only
    the user who asked reads it back, through the portal's page)."""

    view_action = Action.AUDIT_VIEW
    list_display = ["created_at", "user", "kind_label", "status", "rows_written", "finished_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "user__full_name", "filename"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    fields = [
        "user",
        "kind_label",
        "params",
        "language",
        "filename",
        "status",
        "rows_written",
        "rows_expected",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "expired_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("export"), ordering="kind")
    def kind_label(self, job: ExportJob) -> str:
        kind = kind_of(job.kind)
        return str(kind.label) if kind else job.kind


# --- API tokens: REST framework's page, for the installation's superuser only --------------------
# Administrators' roles give no Django permissions, so this page is not theirs (403;
# tests/test_access_matrix.py). It shows each token's expiry and finds the expired ones, and its
# writes go through the services like every other page's.


class TokenExpiryFilter(admin.SimpleListFilter):
    title = _("expiry")
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Expired")), ("no", _("Still working"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        cutoff = token_cutoff(timezone.now())
        if self.value() == "yes":
            return queryset.filter(created__lte=cutoff)
        if self.value() == "no":
            return queryset.filter(created__gt=cutoff)
        return queryset


class TokenIssueForm(forms.ModelForm):
    class Meta:
        model = TokenProxy
        fields = ["user"]
        help_texts = {
            "user": _("Saving issues a new token for this user; a token they held stops working at once.")
        }

    def validate_unique(self) -> None:
        # A user who holds a token gets a new one in its place (services.token_renew), not a refusal.
        pass


admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(RestFrameworkTokenAdmin):
    form = TokenIssueForm
    list_display = ("key", "user", "created", "expires_at", "working")
    list_filter = (TokenExpiryFilter, "created")
    list_select_related = ("user",)

    def get_fields(self, request: HttpRequest, obj: TokenProxy | None = None) -> list[str]:
        return ["user"] if obj is None else ["user", "key", "created", "expires_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: TokenProxy | None = None) -> list[str]:
        return [] if obj is None else ["user", "key", "created", "expires_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A token is issued or deleted, never edited (REST framework's form would move it to another user).
        return False

    @admin.display(description=_("expires at"), ordering="created")
    def expires_at(self, token: TokenProxy) -> str:
        # Formatted here: the change page shows what a method returns as text (UTC, unformatted).
        return formats.date_format(timezone.localtime(token_expires_at(token)), "DATETIME_FORMAT")

    @admin.display(description=_("still working"), boolean=True)
    def working(self, token: TokenProxy) -> bool:
        return token_expires_at(token) > timezone.now()

    def save_model(self, request: HttpRequest, obj: TokenProxy, form: forms.ModelForm, change: bool) -> None:
        issued = services.token_renew(user=obj.user)
        obj.key, obj.created = issued.key, issued.created
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: TokenProxy) -> None:
        services.user_tokens_revoke(user=obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for token in queryset.select_related("user"):
            services.user_tokens_revoke(user=token.user)
