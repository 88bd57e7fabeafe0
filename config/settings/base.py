"""Settings shared by every environment. Secrets and server addresses come only from the environment."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pghistory
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = embedded.VAR

DEBUG = False
ALLOWED_HOSTS = [host for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "pgtrigger",
    "pghistory",
    "axes",
    "csp",
    "accounts",
    "sharing",
    "enrollment",
    "subsidies",
    "collection",
    "refunds",
    "refunds.finance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "accounts.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the authentication outcome (django-axes requirement).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": {
        **embedded.database_settings(),
        # Django's PostgreSQL backend, its health check of a kept connection without a round trip.
        "ENGINE": "config.postgresql",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_DB_OFFSET = 0
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": embedded.redis_url(REDIS_DB_OFFSET + 1),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# How many reverse proxies stand in front of gunicorn, each appending the address it was reached
# from to X-Forwarded-For (docs/deployment.md). 0: the header is ignored (a client could write
# anything in it) and the address is REMOTE_ADDR. N: the client's address is the N-th entry from the
# right, the one the outermost proxy appended. One number for every reader of the client's address:
# django-axes, the per-address sign-in guard, the access and audit logs (accounts.audit.client_address)
# and REST framework's throttles (NUM_PROXIES, below).
PORTAL_NUM_PROXIES = int(os.environ.get("PORTAL_NUM_PROXIES", "0"))

# An API token works for this many days from its creation (accounts.api_authentication); then it is
# refused, and a token sign-in with the password issues a new one (accounts.services.token_renew).
# A token that never ends is a standing risk for the integration accounts (a bank, WeChat) using them.
PORTAL_API_TOKEN_DAYS = int(os.environ.get("PORTAL_API_TOKEN_DAYS", "90"))

# Login throttling: five failures for one username from one address lock it for 15 minutes.
# Axes takes the address from the portal (django-ipware, which its AXES_IPWARE_* settings configure,
# is not installed: those settings would be ignored and every client behind the proxy be one).
AXES_CLIENT_IP_CALLABLE = "accounts.audit.client_address"
AXES_USERNAME_CALLABLE = "accounts.login_guard.lockout_username"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# And thirty failures from one address, whatever the usernames, refuse it for the same 15 minutes
# (password spraying; accounts.login_guard), for the sign-in page and the API's token sign-in.
PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT = 30

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "accounts" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-security policy: everything from the portal itself, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REST_FRAMEWORK = {
    # The token first: DRF answers a failed or missing authentication with the first class's
    # challenge, so a bad, expired or missing token is a 401 (``WWW-Authenticate: Token``), not a
    # 403, which is the role's refusal. A request without the header falls through to the session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_authentication.PortalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api_permissions.ScopedActionPermission"],
    "DEFAULT_PAGINATION_CLASS": "accounts.api_support.Pagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "accounts.api_renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "accounts.api_renderers.ContentNegotiation",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "accounts.api_schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "accounts.api_support.exception_handler",
    # The client's address as accounts.audit.client_address reads it (PORTAL_NUM_PROXIES, above).
    "NUM_PROXIES": PORTAL_NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "login": "20/min",
        # The public check of payment certificate codes (/verify/), per client address.
        "certificate_check": "30/min",
    },
}
PORTAL_NAME = _("Urban-rural resident medical insurance portal")

SPECTACULAR_SETTINGS = {
    # Lazy: the docs page's title and the schema's say it in the caller's language (?lang= or the
    # portal's language switch), resolved per request.
    "TITLE": format_lazy("{} API", PORTAL_NAME),
    "DESCRIPTION": _("The portal's API, scoped to the caller's region and role."),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets used by several fields get one name each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "AgencyKindEnum": "accounts.roles.AgencyKind",
        "BureauEnum": "accounts.roles.Bureau",
        "DifferenceKindEnum": "sharing.models.DifferenceKind",
        "MessageStatusEnum": "sharing.models.MessageStatus",
        "HouseholdKindEnum": "enrollment.models.HouseholdKind",
        "ChangeKindEnum": "enrollment.models.ChangeKind",
        "ChangeReasonEnum": "enrollment.models.ChangeReason",
        "RefundReasonEnum": "refunds.models.RefundReason",
        "RefundStatusEnum": "refunds.models.RefundStatus",
        "BackPaymentStatusEnum": "refunds.models.BackPaymentStatus",
        "ChannelEnum": "collection.models.Channel",
        "OvercollectionReasonEnum": "collection.models.OvercollectionReason",
        "OvercollectionRequestStatusEnum": "collection.models.OvercollectionStatus",
        "OvercollectionRefundStatusEnum": "refunds.models.OvercollectionStatus",
        "FundPlanStatusEnum": "refunds.models.FundPlanStatus",
        "ReceivedPlanStatusEnum": "refunds.finance.models.PlanStatus",
    },
    "SERVE_PERMISSIONS": ["accounts.api_permissions.ScopedActionPermission"],
    # Every operation's error answers, with the one error body (accounts.api_schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api_schema.document_errors",
    ],
}
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PGHISTORY_APPEND_ONLY = True
# History is read by object (pgh_obj) and by context; the tracked models' foreign keys are copied
# into the event tables as plain columns, and indexing each of them (pghistory's default) made
# every tracked insert or update write several index entries nobody reads (a payment: five).
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
PGHISTORY_OBJ_FIELD = pghistory.ObjForeignKey(db_index=True)
PGHISTORY_CONTEXT_FIELD = pghistory.ContextForeignKey(db_index=True)

# PORTAL_BROKER_URL points workers (and the tests' private Redis) at another broker.
CELERY_BROKER_URL = os.environ.get("PORTAL_BROKER_URL") or embedded.redis_url(REDIS_DB_OFFSET)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


# The sharing platform (sharing/): lanes, batches, retries and the periodic sweep.
SHARING = {
    "LANES": int(_env_float("PORTAL_SHARING_LANES", 64)),
    "BATCH_SIZE": int(_env_float("PORTAL_SHARING_BATCH_SIZE", 2000)),
    "MAX_ATTEMPTS": int(_env_float("PORTAL_SHARING_MAX_ATTEMPTS", 8)),
    "RETRY_BASE_SECONDS": _env_float("PORTAL_SHARING_RETRY_BASE_SECONDS", 10),
    "RETRY_MAX_SECONDS": _env_float("PORTAL_SHARING_RETRY_MAX_SECONDS", 3600),
    # A batch transaction older than this is ended by PostgreSQL and its lane freed (the lease).
    "LEASE_SECONDS": int(_env_float("PORTAL_SHARING_LEASE_SECONDS", 300)),
    # One delivery task works this long, then hands over to a fresh task.
    "DRAIN_SECONDS": _env_float("PORTAL_SHARING_DRAIN_SECONDS", 30),
    # Delivery tasks started by a bulk send or a sweep (about the number of worker processes).
    "FANOUT": int(_env_float("PORTAL_SHARING_FANOUT", 2)),
    "SWEEP_SECONDS": _env_float("PORTAL_SHARING_SWEEP_SECONDS", 10),
    # A process nudges delivery after its commits at most this often (0: at each commit, in the
    # committing thread). Deposit records reach insurance this much later at most.
    "NUDGE_INTERVAL_SECONDS": _env_float("PORTAL_SHARING_NUDGE_INTERVAL_SECONDS", 0.1),
    "FAULTS": json.loads(os.environ.get("PORTAL_SHARING_FAULTS") or "{}"),
}

# The yearly assessment of a county runs in this many parts at once (separate connections and
# transactions, each part a range of villages with its assessments and messages). One per core.
ASSESSMENT_WORKERS = int(_env_float("PORTAL_ASSESSMENT_WORKERS", os.cpu_count() or 1))
# A county run waiting this long with nobody executing it (its lease free) is queued again by the
# sweep below: its worker died, or the queue lost the message.
ASSESSMENT_RESUME_GRACE_SECONDS = _env_float("PORTAL_ASSESSMENT_RESUME_GRACE_SECONDS", 120)

CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "accounts.tasks.heartbeat",
        "schedule": float(os.environ.get("PORTAL_HEARTBEAT_SECONDS", 30)),
    },
    # Nothing depends on the on-commit nudge: the sweep starts delivery for whatever is pending.
    "sharing-sweep": {"task": "sharing.tasks.sweep", "schedule": SHARING["SWEEP_SECONDS"]},
    # 对账: yesterday's messages, both sides, every night.
    "sharing-reconcile": {"task": "sharing.tasks.reconcile", "schedule": crontab(hour=1, minute=30)},
    # The tables of bulk sends built beside a transaction that then rolled back.
    "sharing-prune-beside-tables": {
        "task": "sharing.tasks.prune_beside_tables",
        "schedule": crontab(hour=2, minute=50),
    },
    # Duplicate enrollments (same identifier; same name and birth date), everywhere, every night.
    "enrollment-find-duplicates": {
        "task": "enrollment.tasks.find_duplicates",
        "schedule": crontab(hour=2, minute=15),
    },
    # Coverage figures per village for the dashboards (a few set-based statements).
    "enrollment-refresh-coverage": {
        "task": "enrollment.tasks.refresh_coverage",
        "schedule": float(os.environ.get("PORTAL_COVERAGE_REFRESH_SECONDS", 600)),
    },
    # Tax's collection-progress summary, recomputed from its ledger (collection/progress.py).
    "collection-refresh-progress": {
        "task": "collection.tasks.refresh_progress",
        "schedule": float(os.environ.get("PORTAL_PROGRESS_REFRESH_SECONDS", 300)),
    },
    # County assessment runs left waiting by a dead worker or a lost message, queued again.
    "enrollment-resume-assessment-runs": {
        "task": "enrollment.tasks.resume_assessment_runs",
        "schedule": float(os.environ.get("PORTAL_ASSESSMENT_SWEEP_SECONDS", 60)),
    },
    # Insurance tells finance the subsidy totals of every county and open year (enrollment/fund_totals.py).
    "enrollment-send-fund-totals": {
        "task": "enrollment.tasks.send_fund_totals",
        "schedule": crontab(hour=3, minute=10),
    },
    # Background exports are kept a week (accounts.services.EXPORT_KEEP_DAYS), then removed.
    "accounts-expire-exports": {
        "task": "accounts.tasks.expire_exports",
        "schedule": crontab(minute=20),
    },
    # The rows kept from roster previews whose import is no longer waiting for confirmation.
    "subsidies-prune-kept-rows": {
        "task": "subsidies.tasks.prune_kept_rows",
        "schedule": crontab(hour=2, minute=45),
    },
}

# The demo: its management commands load the Linfen demo data and the demo logins, which share a
# published password. Off here and in production; on only in the settings of one machine (dev,
# test, and demo, which `scripts/portal.py run` uses). Not read from the environment, so no
# deployment can switch it on by a stray variable.
PORTAL_DEMO = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "client_errors_without_traceback": {"()": "accounts.log_filters.ClientErrorsWithoutTraceback"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "portal": {"level": "INFO"},
        "django.request": {"filters": ["client_errors_without_traceback"]},
    },
}
