"""A throwaway PostgreSQL server on 127.0.0.1, for the tests and benchmarks of the PostgreSQL review store.

`PostgresCluster` runs Debian's (or any installed) `initdb` and `pg_ctl` on a
fresh data folder, listens on 127.0.0.1 only, on a free port, with password
authentication (scram-sha-256) for TCP connections, and removes everything on
stop(). PostgreSQL refuses to run as root, so under root the server runs as
the `postgres` system user that Debian's package creates.

    with PostgresCluster() as cluster:
        url = cluster.create_database("review")   # postgresql://reprolab:...@127.0.0.1:PORT/review
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

SUPERUSER = "reprolab"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs were found on this machine."""


def find_bindir() -> Path:
    """Return the folder holding `initdb`, `pg_ctl` and `postgres`, newest version first.

    Looks at $PATH and then at Debian's /usr/lib/postgresql/<version>/bin.
    """
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    raise PostgresUnavailable(
        "PostgreSQL's initdb and pg_ctl were not found; install Debian's postgresql package "
        "(`apt-get install postgresql`)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, started by start() and removed by stop().

    `durable=False` turns off fsync and synchronous commit, which is right for
    unit tests and wrong for a benchmark of what survives a crash.
    """

    def __init__(self, *, durable: bool = True, start_timeout: int = 60) -> None:
        self.bindir = find_bindir()
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "PostgreSQL does not run as root, and there is no `postgres` user to run it as; "
                    "install Debian's postgresql package, which creates one"
                ) from None
        self.durable = durable
        self.start_timeout = start_timeout
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.root: Path | None = None
        self._run_as: dict[str, object] = {}

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True, text=True, check=False, **self._run_as,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed with exit code {result.returncode}: {result.stderr.strip()}")
        return result

    def start(self) -> PostgresCluster:
        self.root = Path(tempfile.mkdtemp(prefix="reprolab-pg-"))
        try:
            if self._user is not None:
                user = self._user
                os.chown(self.root, user.pw_uid, user.pw_gid)
                self._run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if self._run_as:
                os.chown(pwfile, self._run_as["user"], self._run_as["group"])  # type: ignore[arg-type]
            self._run(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale",
                "--no-instructions",
            )
            pwfile.unlink()
            self.port = free_port()
            self.launch()
        except BaseException:
            self._remove()
            raise
        logger.info("PostgreSQL test server on 127.0.0.1:%d (data in %s)", self.port, self.data)
        return self

    def launch(self) -> None:
        """Start the server on the cluster's data folder and port (again, after shutdown())."""
        assert self.root is not None
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=200",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", str(self.start_timeout),
            "-l", str(self.root / "server.log"), "-o", " ".join(options),
        )

    def shutdown(self) -> None:
        """Stop the server (fast shutdown: open connections are closed) and keep its data for launch()."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL (with the password)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder. Calling stop() again does nothing."""
        if self.root is None:
            return
        try:
            if (self.data / "postmaster.pid").exists():
                self.shutdown()
        finally:
            self._remove()

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
