"""A throwaway PostgreSQL cluster for the test session, and per-test databases.

When PostgreSQL's binaries are found (``/usr/lib/postgresql/*/bin``, where
Debian keeps them, or ``PATH``) one cluster is started per test session on a
temporary directory and a free loopback port, as an unprivileged user when we
are root (``initdb`` refuses root). ``FOLEY_TEST_DATABASE_URL`` points the tests
at an existing server instead. Each test gets a fresh database cloned from a
migrated template, so a PostgreSQL variant costs a few milliseconds to set up.

Without PostgreSQL the ``postgresql`` variants skip, and one line at the end
of the run (pytest's ``-ra`` summary) says how to enable them (under
``CI=true`` a skip is a failure).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BACKENDS = ["sqlite", "postgresql"]
ENABLE_HINT = (
    "PostgreSQL variants skipped: PostgreSQL is not installed. Install it "
    "(Debian: apt-get install -y postgresql) or set FOLEY_TEST_DATABASE_URL=postgresql://… "
    "to run the storage, ledger, job and crash suites on PostgreSQL too."
)
_names = itertools.count()


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if Path(folder, "pg_ctl").is_file() and Path(folder, "initdb").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    admin_url: str
    template: str
    stop: list[str] | None = None
    user: str | None = None
    root: Path | None = None  # the temporary directory, removed after stop

    def url(self, dbname: str) -> str:
        base, _ = self.admin_url.rsplit("/", 1)
        return f"{base}/{dbname}"


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def start_cluster(bin_dir: Path) -> Cluster:
    """initdb + pg_ctl start on a temp dir and port; returns the admin URL."""
    user = None
    if os.geteuid() == 0:
        user = "nobody"
        pwd.getpwnam(user)
    root = Path(tempfile.mkdtemp(prefix="foley-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    if user:
        shutil.chown(root, user)
    port = _free_port()
    subprocess.run(
        _as_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "foley",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user,
        ),
        check=True,
        capture_output=True,
        cwd=root,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ],
            user,
        ),
        check=True,
        capture_output=True,
        cwd=root,
    )
    stop = _as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user)
    return Cluster(
        f"postgresql://foley@127.0.0.1:{port}/postgres", "foley_template", stop, user, root
    )


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _prepare_template(cluster: Cluster) -> None:
    from bot.storage.db import Database

    await _admin(
        cluster.admin_url,
        f"DROP DATABASE IF EXISTS {cluster.template}",
        f"CREATE DATABASE {cluster.template}",
    )
    db = await Database.open(cluster.url(cluster.template))
    await db.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster | None]:
    external = os.environ.get("FOLEY_TEST_DATABASE_URL", "").strip()
    if external:
        cluster = Cluster(external, "foley_template")
    else:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            yield None
            return
        cluster = start_cluster(bin_dir)
    try:
        # Its own thread and loop: the fixture may be first asked for inside a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _prepare_template(cluster)).result()
        yield cluster
    finally:
        if cluster.stop:
            subprocess.run(cluster.stop, capture_output=True, check=False)
        if cluster.root:
            shutil.rmtree(cluster.root, ignore_errors=True)


async def fresh_pg_database(cluster: Cluster) -> str:
    """A new database cloned from the migrated template; its URL."""
    name = f"t_{os.getpid()}_{next(_names)}"
    await _admin(cluster.admin_url, f"CREATE DATABASE {name} TEMPLATE {cluster.template}")
    return cluster.url(name)


async def empty_pg_database(cluster: Cluster) -> str:
    """A new database without Foley's schema (migration tests)."""
    name = f"e_{os.getpid()}_{next(_names)}"
    await _admin(cluster.admin_url, f"CREATE DATABASE {name} TEMPLATE template0")
    return cluster.url(name)


def require_pg(cluster: Cluster | None) -> Cluster:
    # Every skip comes from this line, so pytest's -ra summary shows it once.
    if cluster is None:
        pytest.skip(ENABLE_HINT)
    return cluster


@pytest.fixture(params=BACKENDS)
async def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's database lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "foley.sqlite3"
    cluster = require_pg(request.getfixturevalue("pg_cluster"))
    return await fresh_pg_database(cluster)
