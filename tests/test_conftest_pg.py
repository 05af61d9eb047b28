"""The PostgreSQL fixtures really give PostGIS, and ``store`` covers both backends."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from geo.store import Store


@pytest.mark.postgis
def test_pg_url_has_postgis(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT postgis_version(), current_setting('server_encoding')"
        ).fetchone()
    assert row is not None
    version, encoding = row
    assert version.split()[0].startswith("3.")
    assert encoding == "UTF8"


@pytest.mark.postgis
def test_pg_url_computes_geography(pg_url: str) -> None:
    """PostGIS answers a real question: ~1.11 km per 0.01° of latitude near Thủ Thiêm."""
    query = (
        "SELECT ST_Distance("
        "ST_GeogFromText('POINT(106.72 10.77)'), ST_GeogFromText('POINT(106.72 10.78)'))"
    )
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    assert row[0] == pytest.approx(1106, abs=5)


@pytest.mark.postgis
def test_pg_database_is_fresh_and_dropped(pg_url: str, pg_database: Callable[..., str]) -> None:
    with_postgis = pg_database()
    bare = pg_database(postgis=False)
    assert len({pg_url, with_postgis, bare}) == 3
    with psycopg.connect(with_postgis) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys'"
        ).fetchone()
        extensions = conn.execute("SELECT extname FROM pg_extension ORDER BY 1").fetchall()
    assert tables == (0,)
    assert ("postgis",) in extensions
    with psycopg.connect(bare) as conn:
        extensions = conn.execute("SELECT extname FROM pg_extension").fetchall()
    assert ("postgis",) not in extensions


def test_store_fixture_gives_each_backend(store: Store, request: pytest.FixtureRequest) -> None:
    """``store`` runs once per backend (ids ``gpkg``, ``postgis``), migrated and empty."""
    backend = request.node.callspec.params["store"]
    assert backend in {"gpkg", "postgis"}
    assert store.backend == backend
    assert (request.node.get_closest_marker("postgis") is not None) == (backend == "postgis")
    assert store.schema_version() > 0
    assert store.list_layers() == []
