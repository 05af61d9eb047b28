"""Shared fixtures: settings, the ``../shared/data`` folder, and a store on every backend.

PostGIS tests run against a throwaway PostgreSQL cluster that is started once per test session
(``initdb`` in a temporary folder, Unix socket only, no TCP) and stopped at the end, or against
the server named by ``GIS_TEST_PG_URL``. Without PostgreSQL and PostGIS the PostGIS tests
fail with a hint to run ``scripts/setup --system``, unless ``GIS_TEST_BACKENDS=gpkg`` asks to
leave them out, in which case they are skipped.

Environment
-----------
GIS_TEST_PG_URL
    ``postgresql://`` URL of an existing database with PostGIS; its user must be allowed to
    create databases (one per test). No cluster is started then.
GIS_TEST_BACKENDS
    Comma-separated backends to test, from ``gpkg`` and ``postgis``; default both.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql

from geo import auth
from geo.config import Settings, load_settings
from geo.store import Store, open_store

BACKENDS = ("gpkg", "postgis")
SETUP_HINT = (
    "run `scripts/setup --system` (installs postgresql and postgresql-15-postgis-3), "
    "or set GIS_TEST_BACKENDS=gpkg to skip the PostGIS tests"
)
TEMPLATE_DB = "ward_gis_template"
PG_START_TIMEOUT_S = 30


# --- Backend selection ---------------------------------------------------------------------------


def selected_backends() -> frozenset[str]:
    """The backends named by ``GIS_TEST_BACKENDS`` (default: all).

    Raises
    ------
    pytest.UsageError
        If the variable names an unknown backend.
    """
    raw = os.environ.get("GIS_TEST_BACKENDS", "").strip()
    if not raw:
        return frozenset(BACKENDS)
    chosen = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not chosen or not chosen <= set(BACKENDS):
        msg = f"GIS_TEST_BACKENDS: expected a comma-separated subset of {BACKENDS}, got {raw!r}"
        raise pytest.UsageError(msg)
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    """Check ``GIS_TEST_BACKENDS`` before collecting anything."""
    selected_backends()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests of backends left out by ``GIS_TEST_BACKENDS``."""
    backends = selected_backends()
    setting = f"GIS_TEST_BACKENDS={os.environ.get('GIS_TEST_BACKENDS', '')}"
    for item in items:
        callspec = getattr(item, "callspec", None)
        store_param = callspec.params.get("store") if callspec is not None else None
        if "postgis" not in backends and (
            item.get_closest_marker("postgis") is not None or store_param == "postgis"
        ):
            item.add_marker(pytest.mark.skip(reason=f"{setting}: PostGIS tests not selected"))
        elif "gpkg" not in backends and store_param == "gpkg":
            item.add_marker(pytest.mark.skip(reason=f"{setting}: GeoPackage tests not selected"))


# --- A throwaway PostgreSQL cluster ------------------------------------------------------------


class PostgresUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed, or the cluster could not start."""


def _server_version(bindir: Path) -> tuple[int, ...]:
    """The major version of the binaries in ``/usr/lib/postgresql/<version>/bin``, for sorting."""
    name = bindir.parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit()) or (0,)


def _has_server(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def _has_postgis(bindir: Path) -> bool:
    """Whether the PostGIS extension is installed for the server in ``bindir``."""
    pg_config = bindir / "pg_config"
    if not pg_config.is_file():
        pg_config = Path(shutil.which("pg_config") or "pg_config")
    try:
        result = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return (Path(result.stdout.strip()) / "extension" / "postgis.control").is_file()


def find_pg_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl``/``postgres`` for a server that has PostGIS.

    Tries ``pg_config --bindir`` first, then ``/usr/lib/postgresql/*/bin``, newest first.

    Raises
    ------
    PostgresUnavailable
        If no PostgreSQL server, or none with PostGIS, is installed.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=_server_version, reverse=True
    )
    servers = [bindir for bindir in dict.fromkeys(candidates) if _has_server(bindir)]
    if not servers:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found: {SETUP_HINT}"
        )
    for bindir in servers:
        if _has_postgis(bindir):
            return bindir
    found = ", ".join(str(bindir) for bindir in servers)
    raise PostgresUnavailable(
        f"PostGIS is not installed for the PostgreSQL in {found}: {SETUP_HINT}"
    )


def _free_port() -> int:
    """A TCP port nobody listens on; only names the socket file, since TCP stays off."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, reachable only through a Unix socket.

    Root may not run ``postgres``; as root the cluster belongs to the ``postgres`` system
    user and its tools run through ``runuser``.
    """

    bindir: Path
    base: Path
    port: int
    run_as: list[str] = field(default_factory=list)
    running: bool = False

    @classmethod
    def create(cls) -> PostgresCluster:
        """Make an empty cluster (``initdb``) in a new temporary folder; do not start it."""
        bindir = find_pg_bindir()
        run_as: list[str] = []
        tmp_parent: str | None = None
        owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            import pwd  # Unix only, like the rest of this class

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as e:
                msg = (
                    "running as root, the test cluster must run as the 'postgres' system user, "
                    f"which does not exist: {SETUP_HINT}"
                )
                raise PostgresUnavailable(msg) from e
            run_as = ["runuser", "-u", "postgres", "--"]
            owner = (entry.pw_uid, entry.pw_gid)
            tmp_parent = "/tmp"  # a private TMPDIR under /root would be closed to 'postgres'
        base = Path(tempfile.mkdtemp(prefix="ward-gis-pg-", dir=tmp_parent))
        if owner is not None:
            os.chown(base, *owner)
        cluster = cls(bindir=bindir, base=base, port=_free_port(), run_as=run_as)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data_dir), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
            )  # fmt: skip
        except PostgresUnavailable:
            cluster.remove()
            raise
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for a database of this cluster, connecting as ``postgres``."""
        return (
            f"postgresql://postgres@/{dbname}?host={quote(str(self.socket_dir))}&port={self.port}"
        )

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*self.run_as, str(self.bindir / tool), *args]
        result = subprocess.run(
            command,
            cwd=self.base,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            msg = (
                f"{shlex.join(command)} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )
            raise PostgresUnavailable(msg)
        return result

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = " ".join(
            [
                f"-k {shlex.quote(str(self.socket_dir))}",
                f"-p {self.port}",
                "-c listen_addresses=''",
                # A throwaway cluster: durability only costs time.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self.running = True  # set first: a half-started server must be stopped too
        self._run(
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", str(PG_START_TIMEOUT_S), "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``); safe to call more than once."""
        if not self.running:
            return
        self.running = False
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        except PostgresUnavailable as e:
            pid = self._postmaster_pid()
            if pid is None:
                return  # it never started, or is already gone
            print(f"pg_ctl stop failed, sending SIGQUIT to postmaster {pid}: {e}", file=sys.stderr)
            os.kill(pid, signal.SIGQUIT)

    def _postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        try:
            shutil.rmtree(self.base)
        except FileNotFoundError:
            return
        except OSError as e:
            print(f"could not remove the test cluster in {self.base}: {e}", file=sys.stderr)


# --- PostgreSQL fixtures ---------------------------------------------------------------------


def _with_dbname(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` (same server, user and options)."""
    return urlsplit(url)._replace(path="/" + dbname).geturl()


def _execute_autocommit(url: str, statement: sql.SQL | sql.Composed) -> None:
    """Run one statement outside a transaction (``CREATE DATABASE`` needs that)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server on which tests create and drop their own databases.

    Attributes
    ----------
    admin_url
        A database to connect to for ``CREATE DATABASE`` / ``DROP DATABASE``.
    template
        A database with PostGIS installed, cloned for each test database.
    """

    admin_url: str
    template: str

    def create_database(self, *, postgis: bool = True) -> str:
        """Create an empty database; return its URL.

        Parameters
        ----------
        postgis
            Clone the template that already has the PostGIS extension (fast), rather than
            create a bare database (to test that migrations install the extension).
        """
        name = f"test_{uuid.uuid4().hex}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if postgis:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(self.template))
        _execute_autocommit(self.admin_url, statement)
        return _with_dbname(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing its connections."""
        name = urlsplit(url).path.lstrip("/")
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        _execute_autocommit(self.admin_url, statement)


def _install_postgis(url: str) -> None:
    try:
        _execute_autocommit(url, sql.SQL("CREATE EXTENSION IF NOT EXISTS postgis"))
    except psycopg.Error as e:
        raise PostgresUnavailable(f"PostGIS is not available on {url}: {e}; {SETUP_HINT}") from e


def _create_postgis_database(admin_url: str, dbname: str) -> None:
    """Create database ``dbname`` with the PostGIS extension."""
    try:
        _execute_autocommit(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.Error as e:
        raise PostgresUnavailable(f"could not create a test database via {admin_url}: {e}") from e
    _install_postgis(_with_dbname(admin_url, dbname))


def _stop_on_sigterm(cluster: PostgresCluster) -> Callable[[], None]:
    """Stop the cluster if the session is killed with SIGTERM (atexit does not run then).

    Returns a function that restores the previous handler. Leaves a handler someone else
    installed alone.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if previous != signal.SIG_DFL or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop_and_die(signum: int, frame: FrameType | None) -> None:
        cluster.remove()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, stop_and_die)
    return restore


def _start_pg_server() -> Iterator[PgServer]:
    """Yield a server with a PostGIS template database; clean up afterwards.

    The first ``next()`` raises :class:`PostgresUnavailable` if there is no usable server.
    """
    external = os.environ.get("GIS_TEST_PG_URL", "").strip()
    if external:
        _install_postgis(external)
        server = PgServer(admin_url=external, template=f"ward_gis_template_{uuid.uuid4().hex}")
        try:
            _create_postgis_database(external, server.template)
            yield server
        finally:
            server.drop_database(_with_dbname(external, server.template))
        return

    cluster = PostgresCluster.create()
    atexit.register(cluster.remove)  # if the session dies before the finally below
    restore_sigterm = _stop_on_sigterm(cluster)
    try:
        cluster.start()
        _create_postgis_database(cluster.url(), TEMPLATE_DB)
        yield PgServer(admin_url=cluster.url(), template=TEMPLATE_DB)
    finally:
        cluster.remove()
        restore_sigterm()
        atexit.unregister(cluster.remove)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server for this session (throwaway cluster or ``GIS_TEST_PG_URL``)."""
    if "postgis" not in selected_backends():
        pytest.skip("GIS_TEST_BACKENDS leaves out postgis")
    servers = _start_pg_server()
    try:
        server = next(servers)
    except PostgresUnavailable as e:
        problem = str(e)
    else:
        yield server
        next(servers, None)  # runs the clean-up after the generator's yield
        return
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a PostGIS database shared by the whole session.

    With ``GIS_TEST_PG_URL`` set, that URL; else ``postgresql://postgres@/<db>?host=<socket
    folder>&port=<port>`` on the throwaway cluster.
    """
    external = os.environ.get("GIS_TEST_PG_URL", "").strip()
    if external:
        yield external
        return
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    """A factory of fresh databases, ``pg_database(postgis=True) -> url``, dropped afterwards."""
    made: list[str] = []

    def make(*, postgis: bool = True) -> str:
        url = pg_server.create_database(postgis=postgis)
        made.append(url)
        return url

    try:
        yield make
    finally:
        for url in made:
            pg_server.drop_database(url)


# --- Stores, settings, shared data -----------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with tiny costs, so tests that make accounts stay fast.

    Only the cost parameters change; the app's own (RFC 9106, 64 MiB) are checked in a
    subprocess by ``tests/test_auth.py``. Servers started by the end-to-end tests use them.
    """
    monkeypatch.setattr(
        auth, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(
    params=[
        pytest.param("gpkg", id="gpkg"),
        pytest.param("postgis", id="postgis", marks=pytest.mark.postgis),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated, empty store on each backend (GeoPackage file, PostGIS database)."""
    if request.param == "gpkg":
        with open_store(str(tmp_path / "store.gpkg")) as opened:
            yield opened
        return
    pg_database: Callable[..., str] = request.getfixturevalue("pg_database")
    with open_store(pg_database()) as opened:
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for the default ward with ``var_dir`` in ``tmp_path`` and no basemap.

    An empty config file keeps a developer's own ``gis.toml`` out of the tests.
    """
    config_file = tmp_path / "gis.toml"
    config_file.write_text("", encoding="utf-8")
    env = {"GIS_CONFIG": str(config_file), "GIS_VAR_DIR": str(tmp_path), "GIS_BASEMAP": "none"}
    return load_settings(env=env)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project: real ward data that is not shipped in ``data/``."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (expected ../shared/data beside the project)")
    return path
