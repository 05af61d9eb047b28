"""The audit log on both backends: a row for every kind of write (who, when, what, before and
after), in the write's own transaction, readable with filters, and append-only in the database
itself."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point, box

import geo.store_sql
from geo import auth
from geo.config import Settings
from geo.errors import ConflictError, GISInputError
from geo.migrations import LATEST, MIGRATIONS
from geo.store import AUDIT_COLUMNS, FeatureUpdate, Store, open_store
from tests.accounts import PASSWORD

LAYER = "cay_xanh"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _trees(n: int = 3, x0: float = 106.72) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"loai": [f"Sao đen {i}" for i in range(n)], "cao_m": [float(5 + i) for i in range(n)]},
        geometry=[Point(x0 + i * 0.001, 10.78) for i in range(n)],
        crs=4326,
    )


def _raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement on a connection of our own, committed; ``?`` placeholders."""
    if store.backend == "gpkg":
        with closing(sqlite3.connect(store.url)) as conn, conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    with psycopg.connect(store.url) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def _count(store: Store) -> int:
    return int(_raw(store, "SELECT COUNT(*) FROM audit_log")[0][0])


def _one(store: Store, **filters: Any) -> pd.Series:
    rows = store.audit(**filters)
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.fixture
def window() -> Callable[[str], None]:
    """Check that an audit time is a UTC moment within this test's run."""
    start = datetime.now(UTC)

    def check(at: str) -> None:
        moment = datetime.fromisoformat(at)
        assert moment.utcoffset() == timedelta(0)
        assert start - timedelta(seconds=1) <= moment <= datetime.now(UTC)

    return check


# --- every kind of write ------------------------------------------------------------------------


def test_write_layer_records_counts_and_bounds_before_and_after(
    store: Store, window: Callable[[str], None]
) -> None:
    store.write_layer(LAYER, _trees(2), user="lan", role="admin", source="khảo sát 2025")
    created = _one(store, action="layer.replace")
    assert (created["actor"], created["role"], created["layer_id"]) == ("lan", "admin", LAYER)
    window(created["at"])
    assert created["before"] is None
    assert created["after"]["feature_count"] == 2
    assert created["after"]["bbox"] == pytest.approx([106.72, 10.78, 106.721, 10.78])
    assert created["detail"] == {"written": 2, "source": "khảo sát 2025"}
    assert pd.isna(created["fid"])

    store.write_layer(LAYER, _trees(1, 106.75), user="binh", mode="append", role="editor")
    appended = _one(store, action="layer.append")
    assert appended["before"]["feature_count"] == 2
    assert appended["after"]["feature_count"] == 3
    assert appended["after"]["bbox"][2] == pytest.approx(106.75)

    store.write_layer(LAYER, _trees(1), user="lan", role="admin")
    replaced = store.audit(action="layer.replace").iloc[0]
    assert (replaced["before"]["feature_count"], replaced["after"]["feature_count"]) == (3, 1)


def test_delete_layer_records_what_was_removed(store: Store) -> None:
    store.write_layer(LAYER, _trees(3), user="lan", title="Cây xanh")
    store.delete_layer(LAYER, user="an", role="admin")
    row = _one(store, action="layer.delete")
    assert (row["actor"], row["role"], row["layer_id"], row["after"]) == (
        "an",
        "admin",
        LAYER,
        None,
    )
    assert row["before"]["feature_count"] == 3 and row["before"]["title"] == "Cây xanh"


def test_edits_record_props_and_geometry_per_feature(
    store: Store, window: Callable[[str], None]
) -> None:
    result = store.apply_edits(
        LAYER, inserts=_trees(2), user="lan", role="editor", reason="trồng mới",
        effective_at="2025-11-20",
    )  # fmt: skip
    inserts = store.audit(action="feature.insert")
    assert sorted(inserts["fid"].tolist()) == result.inserted
    first = inserts.set_index("fid").loc[result.inserted[0]]
    assert first["before"] is None
    assert first["after"] == {"loai": "Sao đen 0", "cao_m": 5.0, "geometry": "POINT (106.72 10.78)"}
    assert first["detail"] == {"version": 1, "reason": "trồng mới", "effective_at": "2025-11-20"}

    fid = result.inserted[1]
    store.update_feature(
        LAYER, fid, expected_version=1, props={"cao_m": 7.5}, geometry=Point(106.73, 10.79),
        user="binh", role="approver", reason="đo lại",
    )  # fmt: skip
    row = _one(store, action="feature.update")
    window(row["at"])
    assert (row["actor"], row["role"], row["layer_id"], row["fid"]) == (
        "binh", "approver", LAYER, fid,
    )  # fmt: skip
    assert row["before"] == {"cao_m": 6.0, "geometry": "POINT (106.721 10.78)"}
    assert row["after"] == {"cao_m": 7.5, "geometry": "POINT (106.73 10.79)"}
    assert row["detail"]["version"] == 2 and row["detail"]["reason"] == "đo lại"
    # the same before/after as the feature's history row
    last = store.history(LAYER, fid).iloc[-1]
    assert (last["before"], last["after"]) == (row["before"], row["after"])


def test_attachments_are_audited(store: Store) -> None:
    fid = store.apply_edits(LAYER, inserts=_trees(1), user="lan").inserted[0]
    att = store.add_attachment(
        LAYER, fid, filename="bien-ban.pdf", mime="application/pdf", data=PDF,
        sha256=hashlib.sha256(PDF).hexdigest(), user="lan", role="editor", reason="biên bản",
    )  # fmt: skip
    store.delete_attachment(att.id, user="binh", role="approver", reason="nhầm hồ sơ")
    added, deleted = (_one(store, action=a) for a in ("attachment.add", "attachment.delete"))
    assert (added["actor"], added["role"], added["fid"]) == ("lan", "editor", fid)
    assert added["before"] is None and added["after"]["filename"] == "bien-ban.pdf"
    assert added["detail"] == {"reason": "biên bản"}
    assert (deleted["actor"], deleted["after"]) == ("binh", None)
    assert deleted["before"]["attachment_id"] == att.id
    assert PDF.decode() not in repr(store.audit())


def test_accounts_and_sign_ins_are_audited(store: Store, window: Callable[[str], None]) -> None:
    auth.add_user(store, "root", "root password 1", role="admin", actor="boot", actor_role="admin")
    auth.add_user(store, "lan", PASSWORD, role="editor", actor="root", actor_role="admin")
    auth.set_role(store, "lan", "approver", actor="root", actor_role="admin")
    settings = Settings(lockout_failures=1)
    with pytest.raises(auth.AccountLockedError):
        auth.login(store, "lan", "wrong password", settings=settings)
    auth.unlock(store, "lan", actor="root", actor_role="admin")
    token = auth.login(store, "lan", PASSWORD, settings=settings).token
    auth.logout(store, token)
    auth.remove_user(store, "lan", actor="root", actor_role="admin")
    rows = store.audit()
    assert rows[["actor", "role", "action"]].values.tolist()[::-1] == [
        ["boot", "admin", "user.add"],
        ["root", "admin", "user.add"],
        ["root", "admin", "user.role"],
        ["lan", "approver", "login.failure"],
        ["lan", "approver", "login.locked"],
        ["root", "admin", "user.unlock"],
        ["lan", "approver", "login.success"],
        ["lan", "approver", "logout"],
        ["root", "admin", "user.remove"],
    ]
    role_row = rows[rows["action"] == "user.role"].iloc[0]
    assert (role_row["before"], role_row["after"]) == ({"role": "editor"}, {"role": "approver"})
    for at in rows["at"]:
        window(at)
    assert token not in repr(rows) and PASSWORD not in repr(rows)


def test_events_beside_the_store_are_recorded(store: Store) -> None:
    store.record_event("dem.replace", actor="lan", actor_role="editor", detail={"file": "x.tif"})
    row = _one(store, action="dem.replace")
    assert (row["actor"], row["role"], row["detail"]) == ("lan", "editor", {"file": "x.tif"})
    with pytest.raises(GISInputError, match="action"):
        store.record_event(" ", actor="lan")


# --- one transaction ----------------------------------------------------------------------------


def test_a_refused_edit_writes_no_audit_row(store: Store) -> None:
    fid = store.apply_edits(LAYER, inserts=_trees(2), user="lan").inserted[0]
    store.update_feature(LAYER, fid, expected_version=1, props={"cao_m": 9.0}, user="binh")
    before = _count(store)
    with pytest.raises(ConflictError):
        store.apply_edits(
            LAYER, inserts=_trees(1), updates=[FeatureUpdate(fid, 1, {"cao_m": 1.0})], user="an"
        )
    assert _count(store) == before


@pytest.mark.parametrize("hook", ["_after_insert", "_refresh_layer", "_layer_event"])
def test_a_write_failing_midway_writes_no_audit_row(
    store: Store, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    store.write_layer(LAYER, _trees(2), user="lan")
    before = _count(store)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, hook, boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.write_layer(LAYER, _trees(5), user="an", role="admin")
    assert _count(store) == before
    assert store.layer_info(LAYER).feature_count == 2


def test_an_audit_failure_undoes_the_write(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other way round: a write is never kept without its audit row."""
    fid = store.apply_edits(LAYER, inserts=_trees(1), user="lan").inserted[0]

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(store, "_audit", boom)
    with pytest.raises(RuntimeError):
        store.update_feature(LAYER, fid, expected_version=1, props={"cao_m": 1.0}, user="an")
    with pytest.raises(RuntimeError):
        auth.add_user(store, "lan", PASSWORD, actor="t", actor_role="admin")
    monkeypatch.undo()
    assert store.get_feature(LAYER, fid).version == 1
    assert store.list_users() == []


# --- append-only, in the database itself ---------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET after = NULL WHERE action = 'feature.update'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE actor = 'lan'",
    ],
)
def test_audit_rows_cannot_be_changed_or_deleted_even_with_raw_sql(
    store: Store, statement: str
) -> None:
    fid = store.apply_edits(LAYER, inserts=_trees(1), user="lan").inserted[0]
    store.update_feature(LAYER, fid, expected_version=1, props={"cao_m": 1.0}, user="lan")
    before = _raw(store, "SELECT * FROM audit_log ORDER BY id")
    error = sqlite3.DatabaseError if store.backend == "gpkg" else psycopg.Error
    with pytest.raises(error, match="append-only"):
        _raw(store, statement)
    assert _raw(store, "SELECT * FROM audit_log ORDER BY id") == before
    # and through the store's own connection, inside a transaction of its own
    with pytest.raises(Exception, match="append-only"), store._write() as cur:  # type: ignore[attr-defined]
        cur.execute(statement)
    assert _raw(store, "SELECT * FROM audit_log ORDER BY id") == before


@pytest.mark.postgis
def test_postgis_refuses_truncating_the_audit_log(pg_database: Callable[..., str]) -> None:
    """TRUNCATE is PostgreSQL's (SQLite has none, and runs DELETE's triggers)."""
    with open_store(pg_database()) as store:
        store.write_layer(LAYER, _trees(1), user="lan")
        with pytest.raises(psycopg.Error, match="append-only"):
            _raw(store, "TRUNCATE audit_log")
        assert _count(store) == 1


def test_the_store_has_no_method_to_change_the_log() -> None:
    names = {n for n in dir(Store) if not n.startswith("_")}
    assert {n for n in names if "audit" in n} == {"audit"}
    assert not {n for n in names if n.startswith(("update_audit", "delete_audit", "purge"))}


# --- reading -----------------------------------------------------------------------------------


@pytest.fixture
def busy(store: Store) -> Store:
    store.write_layer(LAYER, _trees(2), user="lan", role="admin")
    store.write_layer("ho_nuoc", _trees(1), user="binh", role="admin")
    fid = store.apply_edits(LAYER, inserts=_trees(1), user="an", role="editor").inserted[0]
    store.update_feature(LAYER, fid, expected_version=1, props={"cao_m": 3.0}, user="an")
    return store


def test_audit_filters(busy: Store) -> None:
    everything = busy.audit()
    assert list(everything.columns) == AUDIT_COLUMNS
    assert everything["id"].is_monotonic_decreasing  # newest first
    assert everything["action"].tolist() == [
        "feature.update", "feature.insert", "layer.replace", "layer.replace",
    ]  # fmt: skip
    assert busy.audit(actor="an")["action"].tolist() == ["feature.update", "feature.insert"]
    assert busy.audit(action="layer.replace")["actor"].tolist() == ["binh", "lan"]
    assert busy.audit(action="feature.")["actor"].tolist() == ["an", "an"]
    assert busy.audit(action="feature")["actor"].tolist() == []  # exact unless it ends in "."
    assert busy.audit(layer_id="ho_nuoc")["actor"].tolist() == ["binh"]
    assert busy.audit(limit=1)["action"].tolist() == ["feature.update"]
    assert busy.audit(limit=2, offset=2)["actor"].tolist() == ["binh", "lan"]
    assert busy.audit(actor="lan'; DELETE FROM audit_log; --").empty
    assert len(busy.audit()) == 4


def test_audit_date_range_is_in_the_wards_time(busy: Store) -> None:
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    day = today.date().isoformat()
    assert len(busy.audit(since=day, until=day)) == 4
    tomorrow = (today + timedelta(days=1)).date().isoformat()
    yesterday = (today - timedelta(days=1)).date().isoformat()
    assert busy.audit(since=tomorrow).empty
    assert busy.audit(until=yesterday).empty
    last = datetime.fromisoformat(busy.audit().iloc[0]["at"])
    assert len(busy.audit(since=last.isoformat())) == 1
    assert len(busy.audit(until=last.isoformat())) == 3
    with pytest.raises(GISInputError, match="since"):
        busy.audit(since="tuần trước")
    with pytest.raises(GISInputError, match="limit"):
        busy.audit(limit=-1)


# --- the migration -----------------------------------------------------------------------------


def test_migration_3_adds_the_log_to_a_store_with_data(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    assert LATEST == 3
    if store.backend == "gpkg":
        url = str(tmp_path / "v2.gpkg")
    else:
        url = request.getfixturevalue("pg_database")()
    with monkeypatch.context() as patch:
        patch.setattr(geo.store_sql, "MIGRATIONS", MIGRATIONS[:2])
        patch.setattr(geo.store_sql.SQLStore, "_audit", lambda *args: None)
        old = open_store(url)
        old.write_layer(LAYER, _trees(2), user="setup")
        assert old.schema_version() == 2
    try:
        assert old.migrate() == LATEST
        assert old.audit().empty
        assert old.read_layer(LAYER).shape[0] == 2
        old.update_feature(LAYER, 1, expected_version=1, props={"cao_m": 2.0}, user="lan")
        assert old.audit()["action"].tolist() == ["feature.update"]
        assert old.list_users() == []
    finally:
        old.close()


def test_box_filter_unaffected(store: Store) -> None:
    """Reading stays as before: the audit is not a layer."""
    store.write_layer(LAYER, _trees(3), user="lan")
    assert len(store.read_layer(LAYER, bbox=box(106.7, 10.7, 106.8, 10.8).bounds)) == 3
    assert "audit_log" not in {info.layer_id for info in store.list_layers()}
