"""The deployment files: Dockerfile, docker-compose.yml and .dockerignore.

docker-compose.yml is checked by a real Compose implementation (`docker-compose config`, Debian's
docker-compose 1.29, or the `docker compose` v2 plugin when present), which validates the file
against the Compose schema and interpolates variables without needing a Docker engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

APP_SERVICES = ("migrate", "web", "worker", "beat")
DUMMY_ENV = {
    "DJANGO_SECRET_KEY": "dummy-secret-for-validation",
    "DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn",
    "POSTGRES_PASSWORD": "dummy-db-password",
}
GUNICORN_COMMAND = [
    "gunicorn",
    "config.wsgi:application",
    "--config",
    "python:config.gunicorn",
    "--bind",
    "0.0.0.0:8000",
    "--workers",
    "4",
    "--timeout",
    "60",
    "--graceful-timeout",
    "30",
    "--worker-tmp-dir",
    "/dev/shm",  # noqa: S108 - the expected argument, not a file this test uses
    "--access-logfile",
    "-",
    "--error-logfile",
    "-",
]


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.fail(
        "no Compose implementation found: install Debian's `docker-compose` package "
        "(apt-get install --no-install-recommends docker-compose) or the docker compose v2 plugin"
    )


def _run_compose(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An empty --env-file keeps a developer's own .env out of the result; the environment is minimal
    # so that no DOCKER_HOST or COMPOSE_* variable of the machine changes what is validated.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    process_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env}
    return subprocess.run(
        [*_compose_command(), "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw_line in DOCKERFILE.read_text().splitlines():
        line = raw_line.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


# --- docker-compose.yml through a real Compose implementation ----------------------------------


def test_given_the_required_variables_when_compose_validates_the_file_then_it_exits_zero(tmp_path):
    result = _run_compose(tmp_path, "config", "-q", env=DUMMY_ENV)

    assert (result.returncode, result.stderr) == (0, "")


def test_given_no_secret_key_when_compose_validates_the_file_then_it_refuses(tmp_path):
    env = {name: value for name, value in DUMMY_ENV.items() if name != "DJANGO_SECRET_KEY"}

    result = _run_compose(tmp_path, "config", "-q", env=env)

    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr


def test_given_the_required_variables_when_compose_resolves_the_file_then_apps_get_them(tmp_path):
    result = _run_compose(tmp_path, "config", env=DUMMY_ENV)

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert environment["DJANGO_SECRET_KEY"] == "dummy-secret-for-validation"
        assert environment["DJANGO_ALLOWED_HOSTS"] == "portal.example.gov.cn"
        assert environment["DATABASE_URL"] == "postgres://portal:dummy-db-password@db:5432/portal"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert str(environment["DJANGO_SECURE_SSL_REDIRECT"]) == "1"
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == "dummy-db-password"


# --- docker-compose.yml as YAML --------------------------------------------------------------------


def test_given_the_compose_file_when_parsed_then_it_has_exactly_the_six_services():
    services = _compose()["services"]

    assert sorted(services) == ["beat", "db", "migrate", "redis", "web", "worker"]


def test_given_the_compose_file_when_parsed_then_no_secret_is_hard_coded():
    services = _compose()["services"]

    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DJANGO_SECRET_KEY"] == "${DJANGO_SECRET_KEY:?set DJANGO_SECRET_KEY}"
        assert environment["DJANGO_ALLOWED_HOSTS"] == "${DJANGO_ALLOWED_HOSTS:?set DJANGO_ALLOWED_HOSTS}"
        assert environment["DATABASE_URL"] == (
            "postgres://${POSTGRES_USER:-portal}:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
            "@db:5432/${POSTGRES_DB:-portal}"
        )
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"


def test_given_the_compose_file_when_parsed_then_the_apps_count_the_one_proxy_in_front_of_gunicorn():
    # gunicorn is published on 127.0.0.1 behind one TLS proxy: its X-Forwarded-For entry is the client
    services = _compose()["services"]

    for name in APP_SERVICES:
        assert services[name]["environment"]["PORTAL_NUM_PROXIES"] == "${PORTAL_NUM_PROXIES:-1}"


def test_given_the_compose_file_when_parsed_then_the_apps_take_the_api_tokens_lifetime_from_the_operator():
    services = _compose()["services"]

    for name in APP_SERVICES:
        assert services[name]["environment"]["PORTAL_API_TOKEN_DAYS"] == "${PORTAL_API_TOKEN_DAYS:-90}"


def test_given_the_compose_file_when_parsed_then_the_apps_take_the_assessments_parts_from_the_operator():
    # docs/deployment.md documents PORTAL_ASSESSMENT_WORKERS; Compose passes only what it lists
    services = _compose()["services"]

    for name in APP_SERVICES:
        assert services[name]["environment"]["PORTAL_ASSESSMENT_WORKERS"] == "${PORTAL_ASSESSMENT_WORKERS:-}"


def test_given_the_compose_file_when_parsed_then_web_worker_and_beat_wait_for_migrate():
    services = _compose()["services"]

    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert services["migrate"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_given_the_compose_file_when_parsed_then_each_app_service_runs_its_role_from_one_image():
    services = _compose()["services"]

    assert {services[name]["image"] for name in APP_SERVICES} == {
        "${PORTAL_IMAGE:-resident-insurance-portal:latest}"
    }
    assert all(
        services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"} for name in APP_SERVICES
    )
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert services["web"]["command"] == GUNICORN_COMMAND
    assert services["worker"]["command"] == [
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "4",
    ]
    assert services["beat"]["command"] == [
        "celery",
        "-A",
        "config",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        "/tmp/celerybeat-schedule",  # noqa: S108 - the expected argument, not a file this test uses
    ]


def test_given_the_compose_file_when_parsed_then_db_and_redis_keep_data_in_named_volumes():
    compose = _compose()
    services = compose["services"]

    assert services["db"]["image"] == "postgres:16"
    assert services["db"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["db"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert services["db"]["healthcheck"]["test"][1].startswith("pg_isready ")
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    assert services["redis"]["volumes"] == ["redis-data:/data"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert sorted(compose["volumes"]) == ["media", "postgres-data", "redis-data"]


# --- production settings -----------------------------------------------------------------------


def test_given_production_settings_when_the_deploy_checks_run_then_they_report_no_issue(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "deploy-check-" + "k7Qx2mVb9RtLw4Zp" * 4,
        "DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn",
        # Only parsed: with both URLs set, importing the settings connects to nothing.
        "DATABASE_URL": "postgres://portal:unused@db.invalid:5432/portal",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "System check identified no issues (0 silenced).\n",
        "",
    )


# --- Dockerfile ------------------------------------------------------------------------------------


def test_given_the_dockerfile_when_parsed_then_gunicorn_serves_the_wsgi_application():
    instructions = _dockerfile_instructions()
    commands = [arguments for keyword, arguments in instructions if keyword == "CMD"]

    assert [keyword for keyword, _ in instructions if keyword == "ENTRYPOINT"] == []
    assert len(commands) == 1
    assert json.loads(commands[0]) == GUNICORN_COMMAND


def test_given_the_dockerfile_when_parsed_then_it_builds_a_slim_image_run_by_a_non_root_user():
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]

    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert [arguments for keyword, arguments in instructions if keyword == "USER"] == ["portal"]
    assert keywords.index("USER") > max(index for index, keyword in enumerate(keywords) if keyword == "RUN")
    assert ("WORKDIR", "/app") in instructions


def test_given_the_dockerfile_when_parsed_then_it_installs_compiles_and_collects_at_build_time():
    runs = [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "RUN"]
    build_step = next(run for run in runs if "collectstatic" in run)

    assert any(run.startswith("pip install /tmp/portal-build") for run in runs)
    assert build_step.startswith("python -m config.i18n_compile && ")
    assert (
        "DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=postgres://x@localhost/x "
        "REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput"
    ) in build_step


def test_given_the_dockerfile_when_parsed_then_no_secret_is_baked_into_the_image():
    environment = " ".join(arguments for keyword, arguments in _dockerfile_instructions() if keyword == "ENV")

    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in environment
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD"):
        assert name not in environment


def test_given_the_dockerfile_when_parsed_then_the_healthcheck_asks_health_over_the_proxy_headers():
    healthchecks = [
        arguments for keyword, arguments in _dockerfile_instructions() if keyword == "HEALTHCHECK"
    ]

    assert len(healthchecks) == 1
    assert "http://127.0.0.1:8000/health/" in healthchecks[0]
    assert "'X-Forwarded-Proto': 'https'" in healthchecks[0]


def test_given_the_dockerignore_when_read_then_local_state_and_secrets_stay_out_of_the_image():
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".git", ".venv", "var", ".env", "**/__pycache__"} <= patterns
