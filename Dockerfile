# Production image of the resident medical insurance portal.
# One image runs every role: gunicorn (the default command), the one-shot migration,
# the Celery worker and Celery beat; docker-compose.yml picks the role per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings.production

# Fonts for the PDFs' rare name characters (accounts/pdf.py): the pip package's WenQuanYi Micro Hei
# covers the basic CJK ideographs only. fonts-wqy-zenhei adds Extension A (䶮) in the same sans
# style; fonts-hanazono (HanaMinA/HanaMinB, TrueType) adds Extension B (𠮷), which no other
# TrueType font of Debian bookworm covers (Noto CJK is CFF, which reportlab cannot embed).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei fonts-hanazono \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin portal

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
# `[tool.setuptools] packages = []`: the project installs its dependencies only; the code is run
# from /app (WORKDIR and PYTHONPATH), never from site-packages.
COPY pyproject.toml /tmp/portal-build/pyproject.toml
RUN pip install /tmp/portal-build && rm -rf /tmp/portal-build

WORKDIR /app
COPY . /app

# Translations and static files are built into the image. The settings need a secret and the
# server addresses to import; these dummies exist only for this RUN step (with DATABASE_URL and
# REDIS_URL set, config/embedded.py starts no server, and collectstatic connects to neither).
RUN python -m config.i18n_compile \
    && DJANGO_SECRET_KEY=build-only \
       DJANGO_ALLOWED_HOSTS=localhost \
       DATABASE_URL=postgres://x@localhost/x \
       REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media \
    && chown -R portal:portal /app/var

USER portal

EXPOSE 8000

# /health/ answers 200 when the database and Redis answer (503 otherwise). The request names the
# first allowed host and says it arrived over HTTPS, as the TLS-terminating proxy would, so that
# ALLOWED_HOSTS and SECURE_SSL_REDIRECT do not turn it into a 400 or a redirect.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; host = os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.').replace('*', '') or 'localhost'; request = urllib.request.Request('http://127.0.0.1:8000/health/', headers={'Host': host, 'X-Forwarded-Proto': 'https'}); sys.exit(0 if urllib.request.urlopen(request, timeout=8).status == 200 else 1)"]

CMD ["gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "60", "--graceful-timeout", "30", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-", "--error-logfile", "-"]
