#!/usr/bin/env python3
"""One entry point for a fresh machine that has only Python 3.11.

    python3 scripts/portal.py run    # set up, load demo data, run web + Celery worker + beat
    python3 scripts/portal.py test   # set up, run ruff, import-linter and the whole test suite

Only the standard library is used here: this file runs before the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed-from"
CHROMIUM = Path("/usr/bin/chromium")
# Debian packages the tests need: the browser, fonts that cover Chinese (screenshots, PDFs) and
# docker-compose 1.29, which validates docker-compose.yml offline (no Docker engine runs here).
# poppler-utils reads generated PDFs back in tests; fonts-wqy-zenhei (CJK Extension A) and
# fonts-hanazono (Extension B) cover rare name characters, as in the production image.
DEBIAN_PACKAGES = [
    "chromium",
    "fonts-noto-cjk",
    "docker-compose",
    "poppler-utils",
    "fonts-wqy-zenhei",
    "fonts-hanazono",
]


def say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


def run(command: list[str], **kwargs) -> None:
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def ensure_virtualenv() -> None:
    """Create .venv and install the project from pyproject.toml when it changed."""
    if sys.version_info[:2] != (3, 11):
        say(f"warning: expected Python 3.11, running {sys.version.split()[0]}")
    if not VENV_PYTHON.exists():
        say("creating the virtual environment in .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
        run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        say("installing the project and its dependencies from pyproject.toml")
        run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[dev]"])
        STAMP.write_text(wanted)


def ensure_debian_packages() -> None:
    """Browser tests drive Debian's Chromium; install it, CJK fonts and docker-compose when missing."""
    fonts_present = Path("/usr/share/fonts/opentype/noto").exists()
    zenhei_present = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc").exists()
    hanazono_present = Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf").exists()
    tools_present = all(shutil.which(tool) for tool in ("docker-compose", "pdftotext"))
    if CHROMIUM.exists() and fonts_present and zenhei_present and hanazono_present and tools_present:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say("Debian packages are missing and cannot be installed here (needs root and apt-get)")
        return
    say("installing Debian packages: " + " ".join(DEBIAN_PACKAGES))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run([str(VENV_PYTHON), "manage.py", *args], env=env)


def prepare(env: dict[str, str]) -> None:
    """Steps shared by `run` and `test`: translations compiled, servers up."""
    run([str(VENV_PYTHON), "-m", "config.i18n_compile"], env=env)
    # Starts (or finds) the embedded PostgreSQL and Redis when no URLs are given.
    run([str(VENV_PYTHON), "-m", "config.embedded", "ensure"], env=env)


def command_run() -> int:
    ensure_virtualenv()
    env = dict(os.environ)
    # Served like a deployment (DEBUG off, the portal's own error pages, collected static files),
    # with the demo data and logins its settings allow (config/settings/demo.py).
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.demo")
    # The demo's payments reach insurance over the sharing platform as the workers start: recount
    # the coverage figures every minute (ten in production) so the dashboards show them soon.
    env.setdefault("PORTAL_COVERAGE_REFRESH_SECONDS", "60")
    prepare(env)
    say("migrating the database")
    manage("migrate", "--no-input", "--verbosity", "0", env=env)
    manage("collectstatic", "--no-input", "--verbosity", "0", env=env)
    manage("demo_data", env=env)
    manage("demo_records", env=env)
    manage("demo_payments", env=env)
    manage("demo_refunds", env=env)
    manage("demo_finance", env=env)
    host = env.get("PORTAL_HOST", "127.0.0.1")
    port = env.get("PORTAL_PORT", "8000")
    bin_dir = VENV / "bin"
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    children = {
        "web": [
            str(bin_dir / "gunicorn"),
            "config.wsgi:application",
            "--config",
            "python:config.gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "3",
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
        "worker": [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            "worker@%h",
        ],
        "beat": [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
            "--pidfile",
            "",
        ],
    }
    for name, command in children.items():
        # Own process group, so Ctrl-C in this terminal reaches only this supervisor.
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    time.sleep(2)
    print(
        "\n"
        f"  Portal:    http://{host}:{port}/\n"
        f"  API docs:  http://{host}:{port}/api/docs/ (administrators)\n"
        f"  Health:    http://{host}:{port}/health/\n",
        flush=True,
    )
    subprocess.run(
        [str(VENV_PYTHON), "manage.py", "demo_data", "--print-logins"], cwd=ROOT, env=env, check=False
    )
    print("  Press Ctrl-C to stop the web server, the worker, beat and the embedded servers.\n", flush=True)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                say(f"{name} exited with code {process.returncode}; stopping everything")
                exit_code = 1
                stopping = True
                break
        time.sleep(0.5)
    say("stopping web, worker and beat")
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    run([str(VENV_PYTHON), "-m", "config.embedded", "stop"], env=env)
    say("stopped")
    return exit_code


def embedded_running(env: dict[str, str]) -> bool:
    """Whether the embedded PostgreSQL or Redis under var/ is already up (a demo, an earlier run)."""
    command = [str(VENV_PYTHON), "-m", "config.embedded", "running"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode == 0


def command_test(extra: list[str]) -> int:
    ensure_virtualenv()
    ensure_debian_packages()
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    # Servers this command starts, it stops at the end; ones it found running it leaves running.
    started_here = not embedded_running(env)
    try:
        return _checks(env, extra)
    finally:
        if started_here:
            run([str(VENV_PYTHON), "-m", "config.embedded", "stop"], env=env)


def _checks(env: dict[str, str], extra: list[str]) -> int:
    prepare(env)
    bin_dir = VENV / "bin"
    steps = [
        ("ruff", [str(bin_dir / "ruff"), "check", "."]),
        ("import-linter", [str(bin_dir / "lint-imports")]),
        ("pytest", [str(bin_dir / "pytest"), "-n", "2", "--dist", "loadfile", *extra]),
    ]
    failed = []
    for name, command in steps:
        say(f"running {name}")
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            failed.append(name)
    if failed:
        say("FAILED: " + ", ".join(failed))
        return 1
    say("all checks passed")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    if argv[0] == "run":
        return command_run()
    return command_test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
