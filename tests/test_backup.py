"""``geo.backup`` and ``python -m geo backup/restore`` on both backends, and across them.

A store gets the ward layers, a parcel layer with edits (history rows), a deleted layer
(layer events), documents (one of them deleted), accounts where the schema has them, and a
layer with a missing geometry. It is backed up, restored into a fresh store, and every table
is compared row by row through the databases' own drivers, beside the store's own reads.
Hostile and damaged files are refused before the target is touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, box

from geo import backup, cli, wards
from geo.config import load_settings
from geo.errors import GISInputError, UploadError
from geo.migrations import LATEST, MIGRATIONS, Migration
from geo.store import FeatureUpdate, Store, open_store
from geo.store_gpkg import decode_gpkg

ROOT = Path(__file__).resolve().parent.parent
PROFILE = load_settings({"GIS_WARD": "an-khanh"}).profile
LON0, LAT0, CELL = 106.7145, 10.7705, 0.0002
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PDF = b"%PDF-1.7\n" + "Biên bản bàn giao mặt bằng\n".encode() * 200 + b"%%EOF\n"
NASTY = ["'; DROP TABLE features; --", "dòng một\ndòng hai\ttab", "Nguyễn Thị Đảm — Cát Lái",
         '{"looks": "like json"}', "\u2028 line separator", "😀 không BMP"]  # fmt: skip
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$ZmFrZWhhc2hmYWtlaGFzaA"


# --- a store with something of everything -----------------------------------------------------


def parcels(n: int, first: int = 0) -> gpd.GeoDataFrame:
    geoms = [
        box(LON0 + (i % 10) * CELL, LAT0 + (i // 10) * CELL,
            LON0 + (i % 10 + 0.8) * CELL, LAT0 + (i // 10 + 0.8) * CELL)
        for i in range(first, first + n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(
        {
            "map_sheet": ["12"] * n,
            "parcel_no": [str(i + 1) for i in range(first, first + n)],
            "holder": [NASTY[i % len(NASTY)] for i in range(first, first + n)],
            "area_m2": [300.0 + 10.25 * i for i in range(first, first + n)],
            "rooms": [i % 4 for i in range(first, first + n)],
        },
        geometry=geoms,
        crs=4326,
    )


def fill(store: Store) -> dict[str, Any]:
    """Write a bit of everything; return the ids a test checks afterwards."""
    wards.seed_store(store, PROFILE)
    made = store.apply_edits(
        "parcels", inserts=parcels(30), user="lan", reason="nhập hồ sơ", title="Thửa đất",
        source="test", licence="nội bộ", meta={"kind": "parcels", "demo": False},
    )  # fmt: skip
    f1, f2, f3 = made.inserted[:3]
    store.apply_edits(
        "parcels",
        updates=[
            FeatureUpdate(f1, 1, props={"holder": "Ông Lý Văn Bảy", "note": "đã hẹn"}),
            FeatureUpdate(f2, 1, geometry=box(LON0, LAT0, LON0 + CELL, LAT0 + CELL),
                          reason="đo lại", effective_at="2025-07-01"),
        ],
        user="an",
        reason="cập nhật",
    )  # fmt: skip
    store.update_feature("parcels", f1, expected_version=2, props={"rooms": None}, user="lan")
    store.write_layer("tam", parcels(3, 50), title="Lớp tạm", user="lan")
    store.delete_layer("tam", user="admin")
    points = gpd.GeoDataFrame(
        {"name": ["có", "không có hình"]}, geometry=[Point(LON0, LAT0), None], crs=4326
    )
    store.write_layer("diem", points, title="Điểm", source="khảo sát")
    kept = store.add_attachment(
        "parcels", f1, filename="Quyết định.pdf", mime="application/pdf", data=PDF,
        sha256=hashlib.sha256(PDF).hexdigest(), user="lan", reason="quyết định thu hồi",
    )  # fmt: skip
    gone = store.add_attachment(
        "parcels", f3, filename="ảnh.png", mime="image/png", data=PNG,
        sha256=hashlib.sha256(PNG).hexdigest(), user="an",
    )  # fmt: skip
    store.delete_attachment(gone.id, user="an", reason="nhầm thửa")
    add_user = getattr(store, "add_user", None)
    if add_user is not None:  # accounts exist from schema version 3
        add_user("lan", display_name="Trần Thị Ngọc Lan", role="editor", password_hash=HASH,
                 actor="admin", actor_role="admin")  # fmt: skip
    return {"fids": (f1, f2, f3), "attachments": (kept.id, gone.id)}


# --- reading every table without the store or geo.backup -------------------------------------


def _norm(value: Any) -> Any:
    """Backend differences that are not differences: bool vs 0/1, JSONB text vs JSON text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def raw_tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every application table's rows, ordered by their first column, geometries as WKB."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    if store.backend == "gpkg":
        with closing(sqlite3.connect(store.url)) as conn:
            names = [
                n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not n.startswith(("gpkg_", "rtree_", "sqlite_"))
            ]  # fmt: skip
            for name in names:
                cur = conn.execute(f'SELECT * FROM "{name}" ORDER BY 1')
                cols = [d[0] for d in cur.description]
                out[name] = [
                    tuple(
                        decode_gpkg(v) if c == "geom" and v is not None else _norm(v)
                        for c, v in zip(cols, row, strict=True)
                    )
                    for row in cur.fetchall()
                ]
        return out
    with psycopg.connect(store.url) as conn:
        names = [
            n for (n,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys'"
            )
        ]  # fmt: skip
        for name in names:
            cols = conn.execute(
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                (name,),
            ).fetchall()
            select = ", ".join(
                f'ST_AsBinary("{c}")' if t == "geometry" else f'"{c}"::text' if "json" in t
                else f'"{c}"'
                for c, t in cols
            )  # fmt: skip
            rows = conn.execute(f'SELECT {select} FROM "{name}" ORDER BY 1').fetchall()
            out[name] = [tuple(_norm(v) for v in row) for row in rows]
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows with missing values as None (backends differ in NaN or None there)."""
    return [
        {k: None if not isinstance(v, dict | list) and pd.isna(v) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def assert_same_store(a: Store, b: Store) -> None:
    """Every table equal row by row, and the store's own reads equal."""
    raw_a, raw_b = raw_tables(a), raw_tables(b)
    assert sorted(raw_a) == sorted(raw_b)
    for name in raw_a:
        assert raw_a[name] == raw_b[name], name
    assert a.list_layers() == b.list_layers()
    for info in a.list_layers():
        assert_geodataframe_equal(a.read_layer(info.layer_id), b.read_layer(info.layer_id))
    for layer_id in ("parcels", "tam", "diem", wards.NEW_LAYER):
        assert records(a.history(layer_id)) == records(b.history(layer_id))
    assert records(a.layer_events()) == records(b.layer_events())  # type: ignore[attr-defined]
    for fid in a.read_layer("parcels").index:
        listed = a.list_attachments("parcels", int(fid), include_deleted=True)
        assert listed == b.list_attachments("parcels", int(fid), include_deleted=True)
        for att in listed:
            meta_a, data_a = a.read_attachment(att.id)
            meta_b, data_b = b.read_attachment(att.id)
            assert meta_a == meta_b
            assert data_a == data_b
            assert hashlib.sha256(data_b).hexdigest() == meta_b.sha256


def next_ids(store: Store, fids: tuple[int, int, int]) -> dict[str, Any]:
    """Edit after a restore: the new ids (features, history, attachments) and versions."""
    made = store.apply_edits("parcels", inserts=parcels(2, 80), user="sau", reason="sau khôi phục")
    f1 = fids[0]
    version = store.get_feature("parcels", f1).version
    updated = store.update_feature(
        "parcels", f1, expected_version=version, props={"note": "sau khôi phục"}, user="sau"
    )
    att = store.add_attachment(
        "parcels", f1, filename="moi.png", mime="image/png", data=PNG,
        sha256=hashlib.sha256(PNG).hexdigest(), user="sau",
    )  # fmt: skip
    store.write_layer("tam", parcels(1, 90), user="sau")  # a deleted layer's fids are not reused
    return {
        "inserted": made.inserted,
        "version": updated.version,
        "attachment": att.id,
        "tam_fids": list(store.read_layer("tam").index),
        "history_rows": len(store.history("parcels")),
    }


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few rows, so that every table goes through several."""
    monkeypatch.setattr(backup, "BATCH_ROWS", 7)
    monkeypatch.setattr(backup, "BLOB_BATCH_ROWS", 1)


def _fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> Store:
    if backend == "gpkg":
        return open_store(str(tmp_path / f"{name}.gpkg"), migrate=False)
    pg_database: Callable[..., str] = request.getfixturevalue("pg_database")
    return open_store(pg_database(), migrate=False)


@pytest.fixture
def fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Store]]:
    """A factory of empty, unmigrated stores: ``fresh("gpkg")`` or ``fresh("postgis")``."""
    opened: list[Store] = []

    def make(backend: str) -> Store:
        made = _fresh(backend, tmp_path, request, f"fresh{len(opened)}")
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()


# --- round trips ---------------------------------------------------------------------------


def test_a_store_round_trips_on_its_own_backend(
    store: Store, fresh: Callable[[str], Store], tmp_path: Path, small_batches: None
) -> None:
    ids = fill(store)
    seen: list[tuple[str, str, int, int]] = []
    report = backup.backup(store, tmp_path / "ward.zip", progress=lambda *a: seen.append(a))
    assert report.file_bytes == (tmp_path / "ward.zip").stat().st_size > 0
    assert {s[1] for s in seen} >= {"features", "feature_history", "attachments"}
    features = [s for s in seen if s[1] == "features"]
    assert len(features) > 5 and features[-1][2] == features[-1][3]  # in batches, to the end
    target = fresh(store.backend)
    backup.restore(tmp_path / "ward.zip", target)
    assert target.schema_version() == LATEST
    assert_same_store(store, target)
    assert next_ids(target, ids["fids"]) == next_ids(store, ids["fids"])  # no id collides


@pytest.mark.postgis
@pytest.mark.parametrize("source, dest", [("gpkg", "postgis"), ("postgis", "gpkg")])
def test_a_store_restores_into_the_other_backend(
    source: str, dest: str, fresh: Callable[[str], Store], tmp_path: Path
) -> None:
    origin = fresh(source)
    origin.migrate()
    ids = fill(origin)
    backup.backup(origin, tmp_path / "ward.zip")
    target = fresh(dest)
    backup.restore(tmp_path / "ward.zip", target)
    assert target.backend == dest
    assert_same_store(origin, target)
    assert next_ids(target, ids["fids"]) == next_ids(origin, ids["fids"])  # no id collides
    again = tmp_path / "again.zip"
    backup.backup(target, again)  # and back: the same tables, rows and checksums
    round_trip = backup.inspect(again)
    assert {t.name: t.rows for t in round_trip.tables} == {
        name: len(rows) for name, rows in raw_tables(origin).items()
    }


def test_the_manifest_lists_every_application_table_with_counts_and_checksums(
    store: Store, tmp_path: Path
) -> None:
    fill(store)
    report = backup.backup(store, tmp_path / "ward.zip")
    manifest = report.manifest
    raw = raw_tables(store)
    assert {t.name: t.rows for t in manifest.tables} == {n: len(r) for n, r in raw.items()}
    assert {"layers", "features", "feature_history", "layer_events", "attachments",
            "schema_migrations"} <= set(raw)  # fmt: skip
    assert manifest.schema_version == LATEST == store.schema_version()
    assert manifest.backend == store.backend
    assert manifest.format_version == backup.FORMAT_VERSION
    with zipfile.ZipFile(tmp_path / "ward.zip") as zf:
        names = set(zf.namelist())
        assert names == {"manifest.json"} | {f"tables/{t.name}.jsonl" for t in manifest.tables}
        assert not any(n.startswith(("tables/gpkg_", "tables/rtree_", "tables/spatial_ref_sys"))
                       for n in names)  # fmt: skip
        for entry in manifest.tables:
            data = zf.read(entry.member)
            assert hashlib.sha256(data).hexdigest() == entry.sha256
            assert data.count(b"\n") == entry.rows
        features = manifest.table("features")
        geom = [c.name for c in features.columns].index("geom")
        first = json.loads(zf.read(features.member).splitlines()[0])
        assert shapely.from_wkb(base64.b64decode(first[geom]["wkb"])).is_valid
        attachments = manifest.table("attachments")
        data_col = [c.name for c in attachments.columns].index("data")
        row = json.loads(zf.read(attachments.member).splitlines()[0])
        assert base64.b64decode(row[data_col]["b64"]) == PDF
    assert (tmp_path / "ward.zip").stat().st_mode & 0o777 == 0o600  # it holds password hashes


def test_an_existing_backup_file_is_not_overwritten_unless_asked(
    store: Store, tmp_path: Path
) -> None:
    wards.seed_store(store, PROFILE)
    path = tmp_path / "ward.zip"
    path.write_bytes(b"yesterday's backup")
    with pytest.raises(GISInputError, match="exists already"):
        backup.backup(store, path)
    assert path.read_bytes() == b"yesterday's backup"
    backup.backup(store, path, overwrite=True)
    assert backup.inspect(path).table("layers").rows == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_a_table_added_by_a_later_migration_is_backed_up_and_restored(
    store: Store, fresh: Callable[[str], Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in geo.backup names the tables: a new migration's table comes along."""
    extra = Migration(
        LATEST + 1,
        "a table the backup code has never heard of",
        sqlite=("CREATE TABLE ghi_chu (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "text TEXT NOT NULL, scan BLOB)",),
        postgresql=("CREATE TABLE ghi_chu (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL, "
                    "scan BYTEA)",),
    )  # fmt: skip
    monkeypatch.setattr(backup, "MIGRATIONS", (*MIGRATIONS, extra))
    monkeypatch.setattr(backup, "LATEST", LATEST + 1)
    import geo.store_sql

    monkeypatch.setattr(geo.store_sql, "MIGRATIONS", (*MIGRATIONS, extra))
    store.migrate()
    assert store.schema_version() == LATEST + 1
    wards.seed_store(store, PROFILE)
    sql = store._sql("INSERT INTO ghi_chu (text, scan) VALUES (?, ?)")  # type: ignore[attr-defined]
    with store._write() as cur:  # type: ignore[attr-defined]
        cur.executemany(sql, [("một", b"\x00\x01"), ("hai", None), ("ba", PNG)])
        cur.execute("DELETE FROM ghi_chu WHERE text = 'ba'")
    report = backup.backup(store, tmp_path / "ward.zip")
    assert report.manifest.table("ghi_chu").rows == 2
    target = fresh(store.backend)
    backup.restore(tmp_path / "ward.zip", target)
    assert raw_tables(target)["ghi_chu"] == raw_tables(store)["ghi_chu"]
    with target._write() as cur:  # type: ignore[attr-defined]
        cur.execute(target._sql("INSERT INTO ghi_chu (text) VALUES (?)"), ("bốn",))  # type: ignore[attr-defined]
    assert [r[0] for r in raw_tables(target)["ghi_chu"]] == [1, 2, 4]  # 3 was handed out once


def test_a_backup_of_an_older_schema_restores_and_is_migrated(
    store: Store, fresh: Callable[[str], Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target is built up to the backup's version, loaded, then migrated to this app's."""
    import geo.store_sql

    old = fresh(store.backend)
    monkeypatch.setattr(geo.store_sql, "MIGRATIONS", MIGRATIONS[:2])
    old.migrate()
    assert old.schema_version() == 2
    with old._write() as cur:  # type: ignore[attr-defined]  # rows as version 2 wrote them
        cur.execute(old._sql(  # type: ignore[attr-defined]
            "INSERT INTO layers (layer_id, title, updated_at, updated_by) VALUES (?, ?, ?, ?)"),
            ("cu", "Lớp cũ", "2025-06-30T10:00:00+00:00", "lan"))  # fmt: skip
        cur.execute(
            old._sql(  # type: ignore[attr-defined]
                "INSERT INTO layer_events (layer_id, action, at, by, feature_count) "
                "VALUES (?, ?, ?, ?, ?)"
            ),
            ("cu", "replace", "2025-06-30T10:00:00+00:00", "lan", 0),
        )
    backup.backup(old, tmp_path / "v2.zip")
    monkeypatch.undo()
    assert backup.inspect(tmp_path / "v2.zip").schema_version == 2
    assert store.schema_version() == LATEST  # an empty store of this app's version
    backup.restore(tmp_path / "v2.zip", store)
    assert store.schema_version() == LATEST
    assert store.list_layers() == old.list_layers()
    assert records(store.layer_events()) == records(old.layer_events())  # type: ignore[attr-defined]
    store.write_layer("moi", parcels(2), user="sau")  # writes work on the migrated schema
    applied = raw_tables(store)["schema_migrations"]
    assert [r[0] for r in applied] == [m.version for m in MIGRATIONS]
    assert applied[:2] == raw_tables(old)["schema_migrations"]  # the backup's own dates


# --- refusals ------------------------------------------------------------------------------


def test_a_non_empty_target_is_refused_and_replaced_only_with_force(
    store: Store, fresh: Callable[[str], Store], tmp_path: Path
) -> None:
    fill(store)
    backup.backup(store, tmp_path / "ward.zip")
    target = fresh(store.backend)
    target.migrate()
    wards.seed_store(target, PROFILE)
    target.write_layer("rieng", parcels(4), user="khác")
    before = raw_tables(target)
    triggers_before = triggers(target)
    with pytest.raises(GISInputError, match=r"not empty \(.*features: \d+.*--force"):
        backup.restore(tmp_path / "ward.zip", target)
    assert raw_tables(target) == before
    backup.restore(tmp_path / "ward.zip", target, force=True)
    assert_same_store(store, target)
    assert not target.has_layer("rieng")
    assert triggers(target) == triggers_before  # switched off for the copy, then back
    if "audit_log" in before:  # the audit log stays append-only after a forced restore
        with pytest.raises(Exception, match="append-only"), target._write() as cur:  # type: ignore[attr-defined]
            cur.execute("DELETE FROM audit_log")
        assert raw_tables(target)["audit_log"] == raw_tables(store)["audit_log"]


def triggers(store: Store) -> list[tuple[str, str]]:
    """(table, trigger) pairs of the store's enabled triggers."""
    if store.backend == "gpkg":
        with closing(sqlite3.connect(store.url)) as conn:
            rows = conn.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1, 2"
            ).fetchall()
        return [(str(t), str(n)) for t, n in rows]
    with psycopg.connect(store.url) as conn:
        rows = conn.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' ORDER BY 1, 2"
        ).fetchall()
    return [(str(t), str(n)) for t, n in rows]


@pytest.fixture
def good_backup(tmp_path: Path) -> Path:
    """A small valid backup of a seeded GeoPackage with an attachment."""
    with open_store(str(tmp_path / "source.gpkg")) as source:
        wards.seed_store(source, PROFILE)
        made = source.apply_edits("parcels", inserts=parcels(3), user="lan")
        source.add_attachment(
            "parcels", made.inserted[0], filename="a.png", mime="image/png", data=PNG,
            sha256=hashlib.sha256(PNG).hexdigest(), user="lan",
        )  # fmt: skip
        backup.backup(source, tmp_path / "good.zip")
    return tmp_path / "good.zip"


def rewrite(
    src: Path,
    dst: Path,
    *,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    members: Callable[[str, bytes], bytes] | None = None,
    extra: dict[str, bytes] | None = None,
    fix_checksums: bool = False,
) -> Path:
    """A copy of a backup with its manifest and members altered."""
    with zipfile.ZipFile(src) as zf:
        record = json.loads(zf.read("manifest.json"))
        data = {n: zf.read(n) for n in zf.namelist() if n != "manifest.json"}
    if members is not None:
        data = {n: members(n, b) for n, b in data.items()}
    if fix_checksums:
        for table in record["tables"]:
            body = data[f"tables/{table['name']}.jsonl"]
            table.update(sha256=hashlib.sha256(body).hexdigest(), bytes=len(body),
                         rows=body.count(b"\n"))  # fmt: skip
    if manifest is not None:
        manifest(record)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in {**data, **(extra or {})}.items():
            zf.writestr(name, body)
        zf.writestr("manifest.json", json.dumps(record))
    return dst


def _tamper_features(name: str, body: bytes) -> bytes:
    if name != "tables/features.jsonl":
        return body
    return body.replace(b"An Kh\xc3\xa1nh", b"An Khanh", 1)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _first_value(name: str, body: bytes, value: Any) -> bytes:
    if name != "tables/layers.jsonl":
        return body
    lines = body.splitlines()
    row = json.loads(lines[0])
    row[1] = value
    return b"\n".join([json.dumps(row).encode(), *lines[1:]]) + b"\n"


HOSTILE: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "checksum": (
        lambda s, d: rewrite(s, d, manifest=_set(["tables", 0, "sha256"], "0" * 64)),
        "the file was altered or damaged",
    ),
    "content altered": (
        lambda s, d: rewrite(s, d, members=_tamper_features),
        "table 'features'.*altered or damaged",
    ),
    "zip slip": (
        lambda s, d: rewrite(s, d, extra={"../../etc/cron.d/x": b"* * * * * root sh"}),
        r"member '\.\./\.\./etc/cron\.d/x' is not part of a backup",
    ),
    "absolute path": (
        lambda s, d: rewrite(s, d, extra={"/tmp/x.jsonl": b"[]\n"}),
        "member '/tmp/x.jsonl' is not part of a backup",
    ),
    "dot-dot table": (
        lambda s, d: rewrite(s, d, extra={"tables/../x.jsonl": b"[]\n"}),
        "member 'tables/../x.jsonl' is not part of a backup",
    ),
    "unlisted member": (
        lambda s, d: rewrite(s, d, extra={"tables/extra.jsonl": b"[1]\n"}),
        "not in the manifest",
    ),
    "zip bomb": (
        lambda s, d: rewrite(s, d, extra={"tables/bomb.jsonl": b"0" * (60 << 20)}),
        "zip bomb",
    ),
    "unknown format version": (
        lambda s, d: rewrite(s, d, manifest=_set(["format_version"], 2)),
        "format version 2 is unknown; this app reads version 1",
    ),
    "newer schema": (
        lambda s, d: rewrite(s, d, manifest=_set(["schema_version"], LATEST + 1)),
        f"schema version {LATEST + 1}: this app knows versions 1 to {LATEST}",
    ),
    "rows as text": (
        lambda s, d: rewrite(s, d, manifest=_set(["tables", 0, "rows"], "12")),
        r"'rows': expected int, got '12'",
    ),
    "table name": (
        lambda s, d: rewrite(s, d, manifest=_set(["tables", 0, "name"], "x; DROP TABLE y")),
        "expected a table name",
    ),
    "wrong format": (
        lambda s, d: rewrite(s, d, manifest=_set(["format"], "something-else")),
        "'format': expected 'ward-gis-backup'",
    ),
    "not a zip": (
        lambda s, d: d.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000) and d,  # type: ignore[func-returns-value]
        "is not a backup of this app",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_damaged_or_hostile_backup_is_refused_before_the_target_is_touched(
    case: str, store: Store, good_backup: Path, tmp_path: Path
) -> None:
    make, message = HOSTILE[case]
    path = make(good_backup, tmp_path / "bad.zip")
    path = path if isinstance(path, Path) else tmp_path / "bad.zip"
    before = raw_tables(store)
    with pytest.raises(UploadError, match=message):
        backup.restore(path, store)
    assert raw_tables(store) == before


def test_a_truncated_backup_is_refused(store: Store, good_backup: Path, tmp_path: Path) -> None:
    data = good_backup.read_bytes()
    before = raw_tables(store)
    for cut in (len(data) // 2, len(data) - 30, 100):
        path = tmp_path / f"cut{cut}.zip"
        path.write_bytes(data[:cut])
        with pytest.raises(UploadError, match=r"not a backup of this app|damaged"):
            backup.restore(path, store)
    assert raw_tables(store) == before


@pytest.mark.parametrize(
    "value, message",
    [
        ({"x": 1}, r"expected null or \{'b64': base64 text\}"),
        ({"b64": "***"}, "expected base64 text"),
        ([1, 2], r"expected null or \{'b64'"),
    ],
)
def test_wrong_types_in_a_consistent_file_roll_the_restore_back(
    value: Any, message: str, store: Store, good_backup: Path, tmp_path: Path
) -> None:
    """Checksums fixed up to match: the values themselves are refused, inside the
    transaction, and the target is left as it was."""
    path = rewrite(
        good_backup, tmp_path / "typed.zip",
        members=lambda n, b: _first_value(n, b, value), fix_checksums=True,
    )  # fmt: skip
    before = raw_tables(store)
    with pytest.raises(UploadError, match=message):
        backup.restore(path, store)
    assert raw_tables(store) == before
    assert store.schema_version() == LATEST


def test_a_row_with_the_wrong_number_of_values_is_refused(
    store: Store, good_backup: Path, tmp_path: Path
) -> None:
    def short(name: str, body: bytes) -> bytes:
        if name != "tables/layer_events.jsonl":
            return body
        return json.dumps(json.loads(body.splitlines()[0])[:-1]).encode() + b"\n"

    path = rewrite(good_backup, tmp_path / "short.zip", members=short, fix_checksums=True)
    with pytest.raises(UploadError, match=r"layer_events\.jsonl line 1: expected a JSON array of"):
        backup.restore(path, store)
    assert raw_tables(store)["layers"] == []


def test_a_cut_off_last_line_and_an_overlong_line_are_refused(
    store: Store, good_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cut(name: str, body: bytes) -> bytes:
        return body[:-1] if name == "tables/layers.jsonl" else body

    path = rewrite(good_backup, tmp_path / "cut.zip", members=cut, fix_checksums=True)
    with pytest.raises(UploadError, match=r"tables/layers\.jsonl: the last line is cut off"):
        backup.restore(path, store)
    monkeypatch.setattr(backup, "MAX_ROW_BYTES", 1000)  # a document row is longer
    with pytest.raises(UploadError, match=r"attachments\.jsonl: expected lines of at most 1000"):
        backup.restore(good_backup, store)
    assert raw_tables(store)["layers"] == []


def test_invalid_wkb_is_refused(store: Store, good_backup: Path, tmp_path: Path) -> None:
    def bad_geometry(name: str, body: bytes) -> bytes:
        if name != "tables/features.jsonl":
            return body
        return body.replace(b'{"wkb":"', b'{"wkb":"AAAA', 1)

    path = rewrite(good_backup, tmp_path / "wkb.zip", members=bad_geometry, fix_checksums=True)
    with pytest.raises(UploadError, match="not valid WKB"):
        backup.restore(path, store)
    assert raw_tables(store)["features"] == []


# --- killed halfway ------------------------------------------------------------------------

_KILLED_RESTORE = """
import os, sys, time
from geo import backup
from geo.store import open_store
signal_file = sys.argv[3]

def pause(self, cur, tables, manifest):  # every row is in, nothing is committed
    open(signal_file, "w").close()
    time.sleep(600)

backup._SQLiteCatalog.after_load = pause
backup._PostgresCatalog.after_load = pause
with open_store(sys.argv[2], migrate=False) as target:
    backup.restore(sys.argv[1], target, force=True)
"""


def test_a_restore_killed_halfway_leaves_the_target_as_it_was(
    store: Store, good_backup: Path, tmp_path: Path
) -> None:
    wards.seed_store(store, PROFILE)
    store.write_layer("rieng", parcels(5), user="khác")
    before = raw_tables(store)
    flag = tmp_path / "inside.flag"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RESTORE, str(good_backup), store.url, str(flag)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert proc.poll() is None, "the restore ended before it was killed"
            assert time.monotonic() < deadline, "the restore never got inside its transaction"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    store.close()  # a fresh connection, after the killed one is gone
    if store.backend == "postgis":
        wait_for_backends_to_end(store.url)
    assert raw_tables(store) == before
    assert store.has_layer("rieng")
    store.write_layer("sau", parcels(1), user="sau")  # writable: no lock left behind


def wait_for_backends_to_end(url: str) -> None:
    """The server notices the killed client and rolls its transaction back; wait for it."""
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.05)


# --- command line --------------------------------------------------------------------------


def test_the_command_line_backs_up_and_restores(
    store: Store, fresh: Callable[[str], Store], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    file = tmp_path / "ward.zip"
    assert cli.main(["--db", store.url, "--json", "backup", str(file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tables"]["features"] == len(raw_tables(store)["features"])
    assert cli.main(["--db", store.url, "backup", str(file)]) == cli.EXIT_INPUT
    assert "exists already" in capsys.readouterr().err
    target = fresh(store.backend)
    assert cli.main(["restore", str(file), "--db", target.url]) == 0
    assert_same_store(store, target)
    assert cli.main(["restore", str(file), "--db", target.url]) == cli.EXIT_INPUT
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["restore", str(file), "--db", target.url, "--force"]) == 0
    capsys.readouterr()
    assert cli.main(["--json", "restore", "--check", str(file)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    bad = tmp_path / "bad.zip"
    bad.write_bytes(file.read_bytes()[:500])
    assert cli.main(["restore", str(bad), "--db", target.url, "--force"]) == cli.EXIT_INPUT
    assert "not a backup of this app" in capsys.readouterr().err
    assert_same_store(store, target)


def test_the_command_line_says_when_the_target_database_is_unreachable(
    good_backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"postgresql://postgres@/gis?host={tmp_path}&port=1"
    assert cli.main(["restore", str(good_backup), "--db", nowhere]) == cli.EXIT_STORE
    err = capsys.readouterr().err
    assert f"the database at {tmp_path}:1 is not reachable" in err
    assert cli.main(["--db", nowhere, "backup", str(tmp_path / "x.zip")]) == cli.EXIT_STORE
    assert not (tmp_path / "x.zip").exists()
    missing = tmp_path / "missing.gpkg"
    assert cli.main(["--db", str(missing), "backup", str(tmp_path / "x.zip")]) == 3
    assert not missing.exists()


def test_geo_backup_names_no_application_table() -> None:
    """The tables come from the catalogue, so a new migration's table needs no change here."""
    source = (ROOT / "geo" / "backup.py").read_text(encoding="utf-8")
    code = source.split('"""', 2)[2]
    for table in ("features", "feature_history", "layer_events", "attachments", "audit_log",
                  "users", "sessions"):  # fmt: skip
        assert f'"{table}"' not in code and f"'{table}'" not in code, table
