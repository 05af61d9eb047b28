"""A throwaway PostgreSQL cluster for the benchmarks (the tests' cluster, always removed)."""

from __future__ import annotations

import atexit
import shlex
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def throwaway_cluster(*, loopback: bool = False) -> Iterator[str | None]:
    """Start the cluster of ``tests.conftest`` and yield its admin URL, or None with a printed
    reason when there is no server. Always stopped and removed, also when the benchmark dies
    or is ended with SIGTERM.

    Parameters
    ----------
    loopback
        Listen on 127.0.0.1 at a free port with the default, durable commit settings (a
        server of the office); else a Unix socket only with ``fsync=off``, as in the tests.
    """
    try:
        from tests.conftest import PostgresCluster, PostgresUnavailable, _stop_on_sigterm
    except ImportError as e:  # pytest or argon2 missing: a runtime-only install
        print(f"  PostGIS: skipped (no server): tests.conftest not importable: {e}", flush=True)
        yield None
        return

    class LoopbackCluster(PostgresCluster):
        """The test cluster, reached over TCP on 127.0.0.1 like a server of the office."""

        def start(self) -> None:
            options = " ".join([
                f"-k {shlex.quote(str(self.socket_dir))}", f"-p {self.port}",
                "-c listen_addresses=127.0.0.1", "-c max_connections=100",
            ])  # fmt: skip
            self.running = True  # set first: a half-started server must be stopped too
            self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-w", "-t", "30", "-o", options)  # fmt: skip

        def url(self, dbname: str = "postgres") -> str:
            return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    try:
        cluster = (LoopbackCluster if loopback else PostgresCluster).create()
    except PostgresUnavailable as e:
        print(f"  PostGIS: skipped (no server): {str(e).splitlines()[0]}", flush=True)
        yield None
        return
    atexit.register(cluster.remove)  # if the benchmark dies before the finally below
    restore_sigterm = _stop_on_sigterm(cluster)
    try:
        try:
            cluster.start()
        except PostgresUnavailable as e:
            print(f"  PostGIS: skipped (the server did not start): {e}", flush=True)
            yield None
            return
        yield cluster.url()
    finally:
        cluster.remove()
        restore_sigterm()
        atexit.unregister(cluster.remove)
