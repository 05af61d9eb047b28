"""The app survives a PostgreSQL restart, and says so while the database is down.

These tests stop and start a PostgreSQL cluster of their own (the session's shared one serves
every other test and must stay up): one store object, and one running app, keep working across
the restart without being reopened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from geo.errors import StoreError
from geo.store import open_store
from geo.store_pg import CONNECT_TIMEOUT_S
from tests.conftest import PostgresCluster, PostgresUnavailable, selected_backends

pytestmark = pytest.mark.postgis

ROOT = Path(__file__).resolve().parent.parent
DOWN = r"the database at .+ is not reachable: .+; retrying on the next action"
FAST_S = 2.0
"""A refusal while the server is down takes at most this long (a local socket)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for this module only, which its tests stop and start."""
    if "postgis" not in selected_backends():
        pytest.skip("GIS_TEST_BACKENDS leaves out postgis")
    if os.environ.get("GIS_TEST_PG_URL", "").strip():
        pytest.skip("GIS_TEST_PG_URL names a server these tests may not stop")
    try:
        made = PostgresCluster.create()
    except PostgresUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    try:
        made.start()
        yield made
    finally:
        made.remove()


@pytest.fixture
def db_url(cluster: PostgresCluster) -> Iterator[str]:
    """A fresh PostGIS database on the private cluster; the cluster is up again afterwards."""
    name = f"t{time.monotonic_ns()}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = cluster.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    yield url
    if not cluster.running:
        cluster.start()
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def stop(cluster: PostgresCluster, mode: str = "fast") -> None:
    """Stop the server as a restart does (``fast``: connections are ended, committed work is
    kept; the test cluster runs without synchronous commit, so ``immediate``, a crash, may
    lose the last commits)."""
    cluster._run("pg_ctl", "stop", "-D", str(cluster.data_dir), "-m", mode, "-w")
    cluster.running = False


def squares(n: int, first: int = 0) -> gpd.GeoDataFrame:
    geoms = [box(106.71 + i * 1e-4, 10.77, 106.71 + i * 1e-4 + 8e-5, 10.77 + 8e-5)
             for i in range(first, first + n)]  # fmt: skip
    return gpd.GeoDataFrame({"n": range(first, first + n)}, geometry=geoms, crs=4326)


def refused_quickly(action: object) -> StoreError:
    """Run ``action()``; it must raise StoreError with the plain message, fast."""
    started = time.monotonic()
    with pytest.raises(StoreError, match=DOWN) as caught:
        action()  # type: ignore[operator]
    assert time.monotonic() - started < FAST_S
    return caught.value


def test_the_same_store_reads_and_writes_again_after_a_restart(
    cluster: PostgresCluster, db_url: str
) -> None:
    with open_store(db_url) as store:
        store.write_layer("thua", squares(5), user="lan")
        assert len(store.read_layer("thua")) == 5
        stop(cluster)
        error = refused_quickly(store.list_layers)
        assert f"{cluster.socket_dir}:{cluster.port}" in str(error)
        assert "postgres@" not in str(error)
        refused_quickly(lambda: store.read_layer("thua"))
        refused_quickly(lambda: store.write_layer("thua", squares(2, 5), mode="append"))
        refused_quickly(store.schema_version)  # again and again: each try is a fresh attempt
        cluster.start()
        assert len(store.read_layer("thua")) == 5  # nothing was written while it was down
        store.write_layer("thua", squares(2, 5), mode="append", user="lan")
        assert len(store.read_layer("thua")) == 7
        assert [e for e in store.layer_events()["feature_count"]] == [5, 2]  # type: ignore[attr-defined]


def test_a_restart_between_two_actions_costs_no_error(
    cluster: PostgresCluster, db_url: str
) -> None:
    """The connection left from before the restart is found dead by a ping and replaced."""
    with open_store(db_url) as store:
        store.write_layer("thua", squares(3), user="lan")
        stop(cluster)
        cluster.start()
        time.sleep(store.PING_AFTER_S)  # type: ignore[attr-defined]
        assert len(store.read_layer("thua")) == 3
        store.write_layer("thua", squares(1, 3), mode="append", user="lan")
        assert len(store.read_layer("thua")) == 4


def test_a_crashed_server_is_reported_and_reconnected_to(
    cluster: PostgresCluster, db_url: str
) -> None:
    with open_store(db_url) as store:
        store.write_layer("thua", squares(3), user="lan")
        stop(cluster, "immediate")
        refused_quickly(store.list_layers)
        cluster.start()
        store.write_layer("sau", squares(2), user="lan")
        assert len(store.read_layer("sau")) == 2


def test_a_write_cut_off_by_the_server_is_not_saved_nor_retried(
    cluster: PostgresCluster, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(db_url) as store:
        store.write_layer("thua", squares(3), user="lan")
        stop_inside = type(store)._after_insert

        def server_dies(*args: object, **kwargs: object) -> None:
            stop_inside(store, *args, **kwargs)  # type: ignore[arg-type]
            stop(cluster)

        monkeypatch.setattr(store, "_after_insert", server_dies)
        with pytest.raises(StoreError, match="lost during a write, which was not saved"):
            store.write_layer("thua", squares(4, 3), mode="append", user="lan")
        monkeypatch.undo()
        cluster.start()
        assert len(store.read_layer("thua")) == 3  # not saved, and not silently done again
        assert len(store.layer_events()) == 1  # type: ignore[attr-defined]


def test_a_commit_cut_off_says_the_change_may_not_have_been_saved(
    cluster: PostgresCluster, db_url: str
) -> None:
    with open_store(db_url) as store:
        store.write_layer("thua", squares(3), user="lan")
        saved = pytest.raises(StoreError, match="may or may not have been saved, check before")
        with saved, store._write() as cur:  # type: ignore[attr-defined]
            cur.execute("UPDATE layers SET title = 'đổi' WHERE layer_id = 'thua'")
            stop(cluster)  # the server goes while the commit is on its way
        cluster.start()
        assert store.layer_info("thua").title == "thua"


def test_a_server_that_never_answers_is_given_up_on_within_the_connect_timeout(
    tmp_path: Path,
) -> None:
    """An address nobody answers (or that is unreachable): refused within the timeout."""
    store = open_store("postgresql://gis@10.255.255.1:5432/gis?connect_timeout=60", migrate=False)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"the database at 10\.255\.255\.1:5432 is not reachable"):
        store.list_layers()
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 2


# --- the app -------------------------------------------------------------------------------


def _texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "error", "text", "info", "warning"):
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def test_the_app_shows_a_banner_while_the_database_is_down_and_comes_back(
    cluster: PostgresCluster, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GIS_DB", db_url)
    monkeypatch.setenv("GIS_BASEMAP", "none")
    monkeypatch.setenv("GIS_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("GIS_LANG", raising=False)
    monkeypatch.delenv("GIS_WARD", raising=False)
    monkeypatch.setenv("GIS_ANONYMOUS_READ", "true")  # a guest reading the map, no sign-in
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "Bản đồ phường An Khánh" in _texts(at)

    stop(cluster)
    at.run()
    assert not at.exception
    texts = _texts(at)
    assert "Cơ sở dữ liệu tạm thời không kết nối được" in texts
    assert "not reachable" in texts and "postgres@" not in texts
    assert "Bản đồ phường An Khánh" not in texts
    assert at.button(key="db_retry").label == "Thử lại"
    at.button(key="db_retry").click().run()  # still down: still the banner
    assert not at.exception
    assert "Cơ sở dữ liệu tạm thời không kết nối được" in _texts(at)

    cluster.start()
    at.button(key="db_retry").click().run()
    assert not at.exception
    texts = _texts(at)
    assert "Cơ sở dữ liệu tạm thời không kết nối được" not in texts
    assert "Bản đồ phường An Khánh" in texts

    at.radio(key="lang").set_value("en").run()  # the same in English
    stop(cluster)
    at.run()
    assert "The database is not reachable at the moment" in _texts(at)
    assert at.button(key="db_retry").label == "Try again"
    cluster.start()
    at.button(key="db_retry").click().run()
    assert not at.exception
    assert "Map of An Khánh ward" in _texts(at)
    at.switch_page("views/merger.py").run()  # another page reads the store: it works
    assert not at.exception
    assert "Merger: An Khánh ward" in _texts(at)
