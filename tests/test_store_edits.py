"""Batched edits (``apply_edits``), effective dates, attachments and schema migration 2.

Every test taking ``store`` runs on a fresh GeoPackage file and on a fresh PostGIS database
(see ``tests/conftest.py``). The data are tiny squares in EPSG:4326 near lon 106.72, lat 10.78
(Thủ Đức), plus the same kind of squares in EPSG:9210 (VN-2000 / TM-3 105-45) to check that
inserts are reprojected. Four bugs this file found (fid race and catalogue race on PostGIS,
non-ISO effective dates, an empty edit of an unknown layer) are fixed; their tests stay.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely import affinity
from shapely.geometry import Polygon, box

import geo.store_sql
from geo.crs import from_wgs84
from geo.errors import ConflictError, GISInputError, NotFoundError
from geo.migrations import LATEST, MIGRATIONS
from geo.store import Attachment, EditResult, FeatureUpdate, Store, open_store

LON, LAT = 106.72, 10.78
STEP, SIZE = 0.004, 0.003
LAYER = "thua_dat"
NAMES = ("Thửa 1 – ấp Đông", "Thửa 2", "Nhà văn hoá khu phố 3")
PAYLOAD = bytes(range(256)) + bytes(range(255, -1, -1)) + b"\x00\r\n\x1a%PDF-\xff\xfe"
"""Every byte value, both ways round, and bytes that text handling would mangle."""
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
PDF_NAME = "Quyết định giao đất – Thửa 1 (bản gốc).pdf"
PNG_NAME = unicodedata.normalize("NFD", "Ảnh hiện trạng mặt tiền – Đường số 3.png")
"""Decomposed (NFD), as macOS sends it: must come back byte for byte, not recomposed."""


def square(i: int, j: int = 0) -> Polygon:
    """A ~330 m square, column ``i`` and row ``j`` of a grid starting at (LON, LAT)."""
    x, y = LON + i * STEP, LAT + j * STEP
    return box(x, y, x + SIZE, y + SIZE)


# --- Data ------------------------------------------------------------------------------------


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    """Three parcels in EPSG:4326, written first: fids 1, 2, 3."""
    return gpd.GeoDataFrame(
        {
            "ten": list(NAMES),
            "dien_tich": np.array([120, 85, 300], dtype="int64"),
            "geometry": [square(0), square(1), square(2)],
        },
        crs="EPSG:4326",
    )


@pytest.fixture
def newcomers() -> gpd.GeoDataFrame:
    """Two more parcels in EPSG:4326, a row north of ``parcels``."""
    return gpd.GeoDataFrame(
        {
            "ten": ["Thửa 4 – Bình Trưng", "Thửa 5"],
            "dien_tich": np.array([64, 1000], dtype="int64"),
            "geometry": [square(0, 1), square(1, 1)],
        },
        crs="EPSG:4326",
    )


@pytest.fixture
def newcomers_vn2000(newcomers: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``newcomers`` in EPSG:9210 (VN-2000 / TM-3 105-45, metres)."""
    projected = from_wgs84(newcomers, "EPSG:9210")
    assert projected.crs.to_epsg() == 9210
    minx, miny, _, _ = projected.total_bounds
    assert minx > 100_000 and miny > 1_000_000  # metres, not degrees
    return projected


@pytest.fixture
def layer(store: Store, parcels: gpd.GeoDataFrame) -> str:
    """A layer of the three ``parcels`` (fids 1-3, version 1) written by 'setup'."""
    store.write_layer(LAYER, parcels, title="Thửa đất", source="khảo sát 2024", user="setup")
    return LAYER


@pytest.fixture
def fresh_url(store: Store, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of URLs of empty, unmigrated stores on the same backend as ``store``."""
    counter = iter(range(1_000))

    def make() -> str:
        if store.backend == "gpkg":
            return str(tmp_path / f"fresh_{next(counter)}.gpkg")
        factory: Callable[..., str] = request.getfixturevalue("pg_database")
        return factory()

    return make


# --- Helpers ---------------------------------------------------------------------------------


def state(store: Store, *layer_ids: str) -> dict[str, Any]:
    """What a caller can see: catalogue, features, history of ``layer_ids``, layer events."""
    layers = store.list_layers()
    return {
        "layers": layers,
        "frames": {info.layer_id: store.read_layer(info.layer_id) for info in layers},
        "history": {layer_id: store.history(layer_id) for layer_id in layer_ids},
        "events": store.layer_events(),
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["layers"] == before["layers"]
    assert after["frames"].keys() == before["frames"].keys()
    for layer_id, frame in before["frames"].items():
        assert_geodataframe_equal(after["frames"][layer_id], frame)
    for layer_id, frame in before["history"].items():
        pd.testing.assert_frame_equal(after["history"][layer_id], frame)
    pd.testing.assert_frame_equal(after["events"], before["events"])


def raw_execute(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of our own (not the store's); ``?`` placeholders."""
    if store.backend == "gpkg":
        with closing(sqlite3.connect(store.url)) as conn, conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    with psycopg.connect(store.url) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)
        return [tuple(row) for row in cur.fetchall()] if cur.description else []


def history_rows(store: Store, layer_id: str) -> list[tuple[Any, ...]]:
    """(fid, version, action, changed_by) of every history row, sorted."""
    frame = store.history(layer_id)
    rows = zip(frame["fid"], frame["version"], frame["action"], frame["changed_by"], strict=True)
    return sorted((int(f), int(v), a, by) for f, v, a, by in rows)


def parsed(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def wait_until_blocked(store: Store, seconds: float = 20.0) -> None:
    """Wait until another session waits for a lock (PostGIS); a short pause on GeoPackage,
    where a writer waits in BEGIN IMMEDIATE, which no other connection can observe."""
    if store.backend == "gpkg":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    with psycopg.connect(store.url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited for the first one's lock")


@pytest.fixture
def two_editors(store: Store) -> Iterator[tuple[Store, Store]]:
    """Two more stores opened on the same URL as ``store``, closed afterwards."""
    editor_a, editor_b = open_store(store.url), open_store(store.url)
    try:
        yield editor_a, editor_b
    finally:
        editor_a.close()
        editor_b.close()


# --- Inserts ---------------------------------------------------------------------------------


def test_inserts_create_the_layer_with_history_and_an_append_event(
    store: Store, parcels: gpd.GeoDataFrame
) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    result = store.apply_edits(
        "moi", inserts=parcels, user="an", reason="nhập từ hồ sơ địa chính",
        title="Thửa đất mới", source="Sở TN&MT", licence="CC BY 4.0", meta={"nguon": "giấy"},
    )  # fmt: skip
    assert isinstance(result, EditResult)
    assert result.inserted == [1, 2, 3]
    assert result.updated == []

    info = store.layer_info("moi")
    assert (info.title, info.source, info.licence) == ("Thửa đất mới", "Sở TN&MT", "CC BY 4.0")
    assert info.meta["nguon"] == "giấy"
    assert info.columns == ["ten", "dien_tich"]
    assert info.feature_count == 3
    assert info.geometry_type == "Polygon"
    assert info.updated_by == "an"
    np.testing.assert_allclose(info.bbox, parcels.total_bounds, rtol=0, atol=1e-12)

    back = store.read_layer("moi")
    assert back.index.tolist() == [1, 2, 3]
    assert back["_version"].tolist() == [1, 1, 1]
    assert_geodataframe_equal(back.drop(columns="_version").reset_index(drop=True), parcels)

    history = store.history("moi")
    assert list(history.columns) == [
        "fid", "version", "action", "changed_at", "changed_by", "reason", "before", "after",
        "effective_at",
    ]  # fmt: skip
    assert history["fid"].tolist() == [1, 2, 3]
    assert history["version"].tolist() == [1, 1, 1]
    assert history["action"].tolist() == ["insert"] * 3
    assert history["changed_by"].tolist() == ["an"] * 3
    assert history["reason"].tolist() == ["nhập từ hồ sơ địa chính"] * 3
    assert history["before"].isna().all()
    assert history["effective_at"].isna().all()
    assert started <= parsed(history["changed_at"][0]) <= datetime.now(UTC)
    for after, (_, row) in zip(history["after"], parcels.iterrows(), strict=True):
        assert set(after) == {"ten", "dien_tich", "geometry"}
        assert (after["ten"], after["dien_tich"]) == (row["ten"], row["dien_tich"])
        assert shapely.from_wkt(after["geometry"]).equals_exact(row["geometry"], tolerance=1e-12)

    events = store.layer_events("moi")
    assert events[["action", "by", "feature_count", "source"]].values.tolist() == [
        ["append", "an", 3, "Sở TN&MT"]
    ]


def test_inserts_in_vn2000_are_stored_in_wgs84(
    store: Store,
    layer: str,
    newcomers: gpd.GeoDataFrame,
    newcomers_vn2000: gpd.GeoDataFrame,
) -> None:
    result = store.apply_edits(layer, inserts=newcomers_vn2000, user="an")
    assert result.inserted == [4, 5]
    back = store.read_layer(layer).loc[[4, 5]]
    assert back.crs.to_epsg() == 4326
    # Back where they were drawn, to ~1 cm: no metres taken for degrees, and the pinned
    # VN-2000 datum shift both ways (an unpinned one is off by ~0.8 m, ~7e-6°).
    for got, want in zip(back.geometry, newcomers.geometry, strict=True):
        assert got.equals_exact(want, tolerance=1e-7)
    for after, want in zip(store.history(layer)["after"], newcomers.geometry, strict=True):
        assert shapely.from_wkt(after["geometry"]).equals_exact(want, tolerance=1e-7)
    np.testing.assert_allclose(
        store.layer_info(layer).bbox, store.read_layer(layer).total_bounds, rtol=0, atol=1e-12
    )
    assert store.layer_info(layer).bbox[3] == pytest.approx(LAT + STEP + SIZE, abs=1e-7)


def test_inserts_into_an_existing_layer_keep_its_catalogue_and_continue_the_fids(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame
) -> None:
    before = store.layer_info(layer)
    result = store.apply_edits(layer, inserts=newcomers, user="binh")
    assert result.inserted == [4, 5]
    info = store.layer_info(layer)
    assert (info.title, info.source) == (before.title, before.source)
    assert info.feature_count == 5
    assert store.read_layer(layer).loc[4, "ten"] == "Thửa 4 – Bình Trưng"
    assert store.layer_events(layer)["action"].tolist() == ["replace", "append"]
    assert store.layer_events(layer)["feature_count"].tolist() == [3, 2]
    # fids are never reused: after a delete, the next layer of that name starts after them.
    store.delete_layer(layer, user="binh")
    again = store.apply_edits(layer, inserts=newcomers, user="binh")
    assert again.inserted == [6, 7]


# --- Inserts and updates in one transaction ----------------------------------------------------


def test_inserts_and_updates_commit_together(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame
) -> None:
    moved = affinity.translate(square(1), xoff=0.01, yoff=-0.002)
    result = store.apply_edits(
        layer,
        inserts=newcomers,
        updates=[
            FeatureUpdate(1, 1, props={"dien_tich": 121, "ten": "Thửa 1 (đo lại)"}),
            FeatureUpdate(2, 1, geometry=moved),
        ],
        user="chi",
        reason="đo đạc lại khu phố 3",
    )
    assert result.inserted == [4, 5]
    assert [(f.fid, f.version, f.updated_by) for f in result.updated] == [
        (1, 2, "chi"),
        (2, 2, "chi"),
    ]
    assert result.updated[0].props == {"ten": "Thửa 1 (đo lại)", "dien_tich": 121}
    assert result.updated[1].props == {"ten": NAMES[1], "dien_tich": 85}  # untouched
    assert result.updated[1].geometry.equals_exact(moved, tolerance=1e-12)

    back = store.read_layer(layer)
    assert back.index.tolist() == [1, 2, 3, 4, 5]
    assert back["_version"].tolist() == [2, 2, 1, 1, 1]
    assert back.loc[1, "dien_tich"] == 121
    assert back["dien_tich"].dtype == np.dtype("int64")
    assert back.geometry.loc[2].equals_exact(moved, tolerance=1e-12)
    info = store.layer_info(layer)
    assert info.feature_count == 5
    np.testing.assert_allclose(info.bbox, back.total_bounds, rtol=0, atol=1e-12)
    assert info.bbox[2] == pytest.approx(moved.bounds[2])  # the moved parcel widened it

    history = store.history(layer)
    assert history_rows(store, layer) == [
        (1, 2, "update", "chi"),
        (2, 2, "update", "chi"),
        (4, 1, "insert", "chi"),
        (5, 1, "insert", "chi"),
    ]
    assert history["changed_at"].nunique() == 1  # one transaction, one moment
    assert set(history["reason"]) == {"đo đạc lại khu phố 3"}
    update_1 = history[(history["fid"] == 1)].iloc[0]
    assert update_1["before"] == {"dien_tich": 120, "ten": NAMES[0]}
    assert update_1["after"] == {"dien_tich": 121, "ten": "Thửa 1 (đo lại)"}
    update_2 = history[(history["fid"] == 2)].iloc[0]
    assert shapely.from_wkt(update_2["before"]["geometry"]).equals_exact(square(1), 1e-12)
    assert shapely.from_wkt(update_2["after"]["geometry"]).equals_exact(moved, 1e-12)
    assert store.layer_events(layer)["action"].tolist() == ["replace", "append"]


def test_update_only_edits_write_no_layer_event(store: Store, layer: str) -> None:
    store.apply_edits(layer, updates=[FeatureUpdate(3, 1, props={"dien_tich": 1})], user="an")
    assert store.layer_events(layer)["action"].tolist() == ["replace"]
    assert store.layer_info(layer).updated_by == "an"


@pytest.mark.parametrize(
    ("failing", "error"),
    [
        pytest.param(FeatureUpdate(2, 1, props={"dien_tich": 0}), ConflictError, id="stale-last"),
        pytest.param(FeatureUpdate(99, 1, props={"dien_tich": 0}), NotFoundError, id="no-fid"),
        pytest.param(FeatureUpdate(2, 7, props={"dien_tich": 0}), ConflictError, id="ahead"),
    ],
)
@pytest.mark.parametrize("position", ["first", "last"])
def test_a_failing_update_rolls_back_everything(
    store: Store,
    layer: str,
    newcomers: gpd.GeoDataFrame,
    failing: FeatureUpdate,
    error: type[Exception],
    position: str,
) -> None:
    store.apply_edits(layer, updates=[FeatureUpdate(2, 1, props={"ten": "B"})], user="binh")
    before = state(store, layer)
    good = [
        FeatureUpdate(1, 1, props={"dien_tich": 999, "cot_moi": "x"}),
        FeatureUpdate(3, 1, geometry=square(5, 5)),
    ]
    updates = [failing, *good] if position == "first" else [*good, failing]
    with pytest.raises(error):
        store.apply_edits(
            layer, inserts=newcomers, updates=updates, user="an", effective_at="2025-01-01"
        )
    after = state(store, layer)
    assert_same_state(before, after)
    assert after["layers"][0].feature_count == 3
    assert after["frames"][layer]["_version"].tolist() == [1, 2, 1]
    assert "cot_moi" not in after["frames"][layer].columns
    assert len(after["history"][layer]) == 1
    assert after["events"]["action"].tolist() == ["replace"]
    # The fids the rolled-back inserts took are free again.
    assert store.apply_edits(layer, inserts=newcomers, user="an").inserted == [4, 5]


def test_a_failing_update_does_not_create_the_layer(
    store: Store, newcomers: gpd.GeoDataFrame
) -> None:
    with pytest.raises(NotFoundError):
        store.apply_edits(
            "moi", inserts=newcomers, updates=[FeatureUpdate(99, 1, props={"a": 1})], user="an"
        )
    assert store.list_layers() == []
    assert store.history("moi").empty
    assert store.layer_events().empty


def test_conflict_carries_the_current_version_and_the_changes_in_between(
    store: Store, layer: str
) -> None:
    moved = affinity.translate(square(0), xoff=0.001)
    store.apply_edits(
        layer, updates=[FeatureUpdate(1, 1, props={"ten": "Thửa 1 (sửa)"})],
        user="binh", reason="sửa tên",
    )  # fmt: skip
    store.apply_edits(
        layer, updates=[FeatureUpdate(1, 2, geometry=moved, reason="đo lại")],
        user="chi", effective_at="2025-03-01",
    )  # fmt: skip
    store.apply_edits(layer, updates=[FeatureUpdate(2, 1, props={"ten": "khác"})], user="dung")
    before = state(store, layer)

    with pytest.raises(ConflictError) as caught:
        store.apply_edits(layer, updates=[FeatureUpdate(1, 1, props={"dien_tich": 1})], user="an")
    error = caught.value
    assert error.current_version == 3
    assert [(c["version"], c["changed_by"], c["reason"]) for c in error.changes] == [
        (2, "binh", "sửa tên"),
        (3, "chi", "đo lại"),
    ]  # only this feature's changes: not dung's edit of fid 2
    assert error.changes[0]["before"] == {"ten": NAMES[0]}
    assert error.changes[0]["after"] == {"ten": "Thửa 1 (sửa)"}
    assert shapely.from_wkt(error.changes[1]["after"]["geometry"]).equals_exact(moved, 1e-12)
    assert "binh, chi" in str(error)
    assert "version 3, not 1" in str(error)

    with pytest.raises(ConflictError) as later:
        store.apply_edits(layer, updates=[FeatureUpdate(1, 2, props={"dien_tich": 1})], user="an")
    assert later.value.current_version == 3
    assert [c["changed_by"] for c in later.value.changes] == ["chi"]
    assert_same_state(before, state(store, layer))


# --- Two writers -----------------------------------------------------------------------------


def test_two_writers_on_one_feature_second_save_is_refused_and_nothing_is_lost(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame, two_editors: tuple[Store, Store]
) -> None:
    editor_a, editor_b = two_editors
    seen_a, seen_b = editor_a.get_feature(layer, 1), editor_b.get_feature(layer, 1)
    assert seen_a.version == seen_b.version == 1
    editor_a.apply_edits(
        layer, updates=[FeatureUpdate(1, seen_a.version, props={"dien_tich": 125})],
        user="an", reason="đo lại",
    )  # fmt: skip
    before = state(editor_b, layer)
    with pytest.raises(ConflictError) as caught:
        editor_b.apply_edits(
            layer, inserts=newcomers,
            updates=[FeatureUpdate(1, seen_b.version, props={"ten": "Thửa 1 (B)"})],
            user="binh", reason="đổi tên",
        )  # fmt: skip
    assert caught.value.current_version == 2
    assert [(c["changed_by"], c["after"]) for c in caught.value.changes] == [
        ("an", {"dien_tich": 125})
    ]
    assert_same_state(before, state(editor_b, layer))  # B's inserts are not there either
    assert editor_a.layer_info(layer).feature_count == 3

    reloaded = editor_b.get_feature(layer, 1)
    assert (reloaded.version, reloaded.props["dien_tich"]) == (2, 125)
    result = editor_b.apply_edits(
        layer, inserts=newcomers,
        updates=[FeatureUpdate(1, reloaded.version, props={"ten": "Thửa 1 (B)"})],
        user="binh", reason="đổi tên",
    )  # fmt: skip
    assert result.inserted == [4, 5]

    final = store.get_feature(layer, 1)
    assert final.version == 3
    assert final.props == {"ten": "Thửa 1 (B)", "dien_tich": 125}  # both changes kept
    assert editor_a.get_feature(layer, 1) == final
    assert history_rows(store, layer) == [
        (1, 2, "update", "an"),
        (1, 3, "update", "binh"),
        (4, 1, "insert", "binh"),
        (5, 1, "insert", "binh"),
    ]
    assert store.history(layer, 1)["reason"].tolist() == ["đo lại", "đổi tên"]


@pytest.mark.parametrize(
    "store",
    [
        pytest.param("gpkg", id="gpkg"),
        pytest.param(
            "postgis",
            id="postgis",
            marks=pytest.mark.postgis,
        ),
    ],
    indirect=True,
)
def test_two_writers_inserting_at_once_both_keep_their_features(
    store: Store,
    layer: str,
    newcomers: gpd.GeoDataFrame,
    two_editors: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reads the next fid and pauses; B inserts; A goes on. Both must keep their rows."""
    editor_a, editor_b = two_editors
    a_inside, release_a = threading.Event(), threading.Event()
    geom_params = editor_a._geom_params  # type: ignore[attr-defined]

    def paused(geoms: Any) -> Any:  # called in _insert_rows after reading next_fid
        a_inside.set()
        assert release_a.wait(30)
        return geom_params(geoms)

    monkeypatch.setattr(editor_a, "_geom_params", paused)
    results: dict[str, Any] = {}

    def insert(name: str, editor: Store, frame: gpd.GeoDataFrame) -> None:
        try:
            results[name] = editor.apply_edits(layer, inserts=frame, user=name)
        except BaseException as e:  # asserted on below
            results[name] = e

    thread_a = threading.Thread(target=insert, args=("a", editor_a, newcomers.iloc[:1]))
    thread_b = threading.Thread(target=insert, args=("b", editor_b, newcomers.iloc[1:]))
    try:
        thread_a.start()
        assert a_inside.wait(30)
        thread_b.start()
        # B waits for A: the GeoPackage's write lock, PostGIS's per-layer advisory lock.
        thread_b.join(0.3)
        assert thread_b.is_alive()
    finally:
        release_a.set()
        thread_a.join(60)
        thread_b.join(60)
    assert not thread_a.is_alive() and not thread_b.is_alive()
    for name in ("a", "b"):
        if isinstance(results[name], BaseException):
            raise results[name]
    fids_a, fids_b = results["a"].inserted, results["b"].inserted
    assert len(fids_a) == len(fids_b) == 1
    assert sorted(fids_a + fids_b) == [4, 5]
    assert store.layer_info(layer).feature_count == 5
    assert set(store.read_layer(layer)["ten"]) == {*NAMES, *newcomers["ten"]}


@pytest.mark.parametrize(
    "store",
    [
        pytest.param("gpkg", id="gpkg"),
        pytest.param(
            "postgis",
            id="postgis",
            marks=pytest.mark.postgis,
        ),
    ],
    indirect=True,
)
def test_two_writers_adding_columns_at_once_keep_both_columns(
    store: Store,
    layer: str,
    two_editors: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A adds a column and pauses before committing; B adds another on another feature."""
    editor_a, editor_b = two_editors
    a_inside, release_a = threading.Event(), threading.Event()
    add_columns = editor_a._add_columns  # type: ignore[attr-defined]

    def paused(*args: Any) -> Any:  # the new column is recorded, the commit not yet made
        result = add_columns(*args)
        a_inside.set()
        assert release_a.wait(30)
        return result

    monkeypatch.setattr(editor_a, "_add_columns", paused)
    results: dict[str, Any] = {}

    def edit(name: str, editor: Store, update: FeatureUpdate) -> None:
        try:
            results[name] = editor.apply_edits(layer, updates=[update], user=name)
        except BaseException as e:  # asserted on below
            results[name] = e

    owner = FeatureUpdate(1, 1, props={"chu_so_huu": "Nguyễn Văn A"})
    note = FeatureUpdate(2, 1, props={"ghi_chu": "đang tranh chấp"})
    thread_a = threading.Thread(target=edit, args=("a", editor_a, owner))
    thread_b = threading.Thread(target=edit, args=("b", editor_b, note))
    try:
        thread_a.start()
        assert a_inside.wait(30)
        thread_b.start()
        wait_until_blocked(store)
    finally:
        release_a.set()
        thread_a.join(60)
        thread_b.join(60)
    assert not thread_a.is_alive() and not thread_b.is_alive()
    assert all(not isinstance(r, BaseException) for r in results.values()), results
    back = store.read_layer(layer)
    assert {"chu_so_huu", "ghi_chu"} <= set(back.columns)
    assert back.loc[1, "chu_so_huu"] == "Nguyễn Văn A"
    assert back.loc[2, "ghi_chu"] == "đang tranh chấp"


# --- Reasons, effective dates, validation ----------------------------------------------------


def test_per_update_reason_and_effective_at_override_the_calls(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame
) -> None:
    store.apply_edits(
        layer,
        inserts=newcomers,
        updates=[
            FeatureUpdate(1, 1, props={"dien_tich": 1}, reason="Quyết định 12/QĐ-UBND",
                          effective_at="2024-12-31"),
            FeatureUpdate(2, 1, props={"dien_tich": 2}, reason="biên bản hiện trường"),
            FeatureUpdate(3, 1, props={"dien_tich": 3}, effective_at="2023-06-15T09:00:00"),
        ],
        user="an",
        reason="đợt cập nhật tháng 1",
        effective_at="2025-01-15",
    )  # fmt: skip
    history = store.history(layer).set_index("fid")
    assert history.loc[1, "reason"] == "Quyết định 12/QĐ-UBND"
    assert history.loc[1, "effective_at"] == "2024-12-31"
    assert history.loc[2, "reason"] == "biên bản hiện trường"
    assert history.loc[2, "effective_at"] == "2025-01-15"
    assert history.loc[3, "reason"] == "đợt cập nhật tháng 1"
    assert pd.Timestamp(history.loc[3, "effective_at"]) == pd.Timestamp("2023-06-15T09:00:00")
    for fid in (4, 5):  # inserts take the call's
        assert history.loc[fid, "reason"] == "đợt cập nhật tháng 1"
        assert history.loc[fid, "effective_at"] == "2025-01-15"


@pytest.mark.parametrize(
    "given",
    [
        "2025-07-01",
        "2025-07-01T08:30:00+07:00",
        "2025-07-01 10:15",
        "2024-02-29T23:59:59Z",
    ],
)
def test_effective_at_is_kept_beside_the_recording_time(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame, given: str
) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    store.apply_edits(
        layer, inserts=newcomers, updates=[FeatureUpdate(2, 1, props={"dien_tich": 86})],
        user="an", effective_at=given,
    )  # fmt: skip
    history = store.history(layer)
    assert len(history) == 3
    if len(given) == 10:  # a date stays a date, not a midnight in some time zone
        assert history["effective_at"].tolist() == [given] * 3
    else:
        assert {pd.Timestamp(v) for v in history["effective_at"]} == {pd.Timestamp(given)}
    for stamp in history["changed_at"]:  # the recording time is now, not the effective date
        assert started <= parsed(stamp) <= datetime.now(UTC)


FUTURE = {
    "far": "2999-01-01",
    "next-week": (date.today() + timedelta(days=7)).isoformat(),
    "in-3-days-utc": (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="seconds"),
}


@pytest.mark.parametrize("when", list(FUTURE.values()), ids=list(FUTURE))
def test_effective_at_in_the_future_is_refused(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame, when: str
) -> None:
    before = state(store, layer)
    with pytest.raises(GISInputError, match="effective_at"):
        store.apply_edits(layer, inserts=newcomers, user="an", effective_at=when)
    with pytest.raises(GISInputError, match="effective_at"):
        store.apply_edits(
            layer, inserts=newcomers, user="an",
            updates=[FeatureUpdate(1, 1, props={"dien_tich": 0}),
                     FeatureUpdate(2, 1, props={"dien_tich": 0}, effective_at=when)],
        )  # fmt: skip
    assert_same_state(before, state(store, layer))


@pytest.mark.parametrize(
    "when",
    [
        "garbage",
        "2025-13-01",
        "2025-02-30",
        "25:00",
        True,
        pytest.param("01/07/2025", id="day-first"),
        pytest.param(20250701, id="int"),
    ],
)
def test_effective_at_that_is_not_an_iso_date_is_refused(
    store: Store, layer: str, when: Any
) -> None:
    before = state(store, layer)
    with pytest.raises(GISInputError, match="effective_at"):
        store.apply_edits(
            layer, updates=[FeatureUpdate(1, 1, props={"dien_tich": 0})], user="an",
            effective_at=when,
        )  # fmt: skip
    with pytest.raises(GISInputError, match="effective_at"):
        store.apply_edits(
            layer, updates=[FeatureUpdate(1, 1, props={"dien_tich": 0}, effective_at=when)],
            user="an",
        )  # fmt: skip
    assert_same_state(before, state(store, layer))


@pytest.mark.parametrize(
    ("updates", "match"),
    [
        pytest.param(
            [FeatureUpdate(1, 1, props={"a": 1}), FeatureUpdate(1, 1, geometry=square(9))],
            "each fid once", id="duplicate-fid",
        ),
        pytest.param([FeatureUpdate(1, 1)], "props, geometry", id="nothing-to-change"),
        pytest.param([FeatureUpdate(1, 0, props={"a": 1})], "expected_version", id="version-0"),
        pytest.param([FeatureUpdate(1, 1, props={"fid": 7})], "reserved", id="reserved-prop"),
        pytest.param(
            [FeatureUpdate(1, 1, geometry=Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))],
            "geometry", id="bow-tie",
        ),
    ],
)  # fmt: skip
def test_invalid_updates_are_refused_and_nothing_is_written(
    store: Store,
    layer: str,
    newcomers: gpd.GeoDataFrame,
    updates: list[FeatureUpdate],
    match: str,
) -> None:
    before = state(store, layer)
    with pytest.raises(GISInputError, match=match):
        store.apply_edits(
            layer, inserts=newcomers, updates=[FeatureUpdate(2, 1, props={"a": 2}), *updates],
            user="an",
        )  # fmt: skip
    assert_same_state(before, state(store, layer))


def test_updates_to_an_unknown_layer_are_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="khong_co"):
        store.apply_edits("khong_co", updates=[FeatureUpdate(1, 1, props={"a": 1})], user="an")
    assert store.list_layers() == []
    assert store.layer_events().empty


def test_an_empty_edit_of_an_unknown_layer_is_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="khong_co"):
        store.apply_edits("khong_co", user="an")


def test_columns_introduced_by_an_edit_appear_in_read_layer(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame
) -> None:
    extra = newcomers.assign(so_to=[7, 8])[["ten", "dien_tich", "so_to", "geometry"]]
    store.apply_edits(
        layer,
        inserts=extra,
        updates=[
            FeatureUpdate(2, 1, props={"ghi_chu": "đất công – không thu thuế"}),
            FeatureUpdate(3, 1, props={"ghi_chu": None, "dien_tich": 301}),
        ],
        user="an",
    )
    back = store.read_layer(layer)
    assert list(back.columns) == ["ten", "dien_tich", "so_to", "ghi_chu", "_version", "geometry"]
    assert back.loc[2, "ghi_chu"] == "đất công – không thu thuế"
    assert back["ghi_chu"].isna().tolist() == [True, False, True, True, True]
    assert back["so_to"].isna().tolist() == [True, True, True, False, False]
    assert back.loc[[4, 5], "so_to"].tolist() == [7, 8]
    assert back["dien_tich"].tolist() == [120, 85, 301, 64, 1000]
    assert back["dien_tich"].dtype == np.dtype("int64")
    assert store.layer_info(layer).columns == ["ten", "dien_tich", "so_to", "ghi_chu"]
    assert store.read_layer(layer, columns=["ghi_chu"]).loc[2, "ghi_chu"].startswith("đất công")


# --- Attachments ---------------------------------------------------------------------------------


def attach(store: Store, fid: int = 1, name: str = PDF_NAME, **kwargs: Any) -> Attachment:
    args: dict[str, Any] = {
        "filename": name, "mime": "application/pdf", "data": PAYLOAD, "sha256": PAYLOAD_SHA,
        "user": "an", "reason": "hồ sơ gốc",
    }  # fmt: skip
    args.update(kwargs)
    return store.add_attachment(LAYER, fid, **args)


def test_attachment_round_trips_bytes_and_names_without_bumping_the_version(
    store: Store, layer: str
) -> None:
    store.apply_edits(layer, updates=[FeatureUpdate(1, 1, props={"dien_tich": 121})], user="an")
    started = datetime.now(UTC).replace(microsecond=0)
    pdf = attach(store, user="Nguyễn Thị Đảm")
    png = store.add_attachment(
        layer, 1, filename=PNG_NAME, mime="image/png", data=PAYLOAD[::-1],
        sha256=hashlib.sha256(PAYLOAD[::-1]).hexdigest(), user="binh",
    )  # fmt: skip
    other = attach(store, fid=2)

    assert (pdf.layer_id, pdf.fid, pdf.filename, pdf.mime) == (
        layer, 1, PDF_NAME, "application/pdf",
    )  # fmt: skip
    assert (pdf.size, pdf.sha256, pdf.created_by) == (len(PAYLOAD), PAYLOAD_SHA, "Nguyễn Thị Đảm")
    assert started <= parsed(pdf.created_at) <= datetime.now(UTC)
    assert (pdf.deleted_at, pdf.deleted_by) == (None, None)
    assert len({pdf.id, png.id, other.id}) == 3

    read, data = store.read_attachment(pdf.id)
    assert read == pdf
    assert data == PAYLOAD and isinstance(data, bytes)
    read, data = store.read_attachment(png.id)
    assert read.filename == PNG_NAME
    assert unicodedata.is_normalized("NFD", read.filename)
    assert data == PAYLOAD[::-1]
    assert store.list_attachments(layer, 1) == [pdf, png]  # oldest first, only fid 1
    assert store.list_attachments(layer, 2) == [other]
    assert store.list_attachments(layer, 3) == []

    # Attaching is not an edit: the version stays, so an editor's save is not refused.
    assert store.get_feature(layer, 1).version == 2
    assert store.read_layer(layer)["_version"].tolist() == [2, 1, 1]
    history = store.history(layer, 1)
    assert history["action"].tolist() == ["update", "attach", "attach"]
    assert history["version"].tolist() == [2, 2, 2]
    assert history["changed_by"].tolist() == ["an", "Nguyễn Thị Đảm", "binh"]
    assert history["reason"].tolist() == ["", "hồ sơ gốc", ""]
    assert history["before"].isna().tolist() == [False, True, True]
    assert history["after"].tolist()[1] == {
        "attachment_id": pdf.id, "filename": PDF_NAME, "mime": "application/pdf",
        "size": len(PAYLOAD), "sha256": PAYLOAD_SHA,
    }  # fmt: skip
    assert history["after"].tolist()[2]["filename"] == PNG_NAME
    assert history["effective_at"].isna().all()
    saved = store.apply_edits(layer, updates=[FeatureUpdate(1, 2, props={"a": 1})], user="chi")
    assert saved.updated[0].version == 3


@pytest.mark.parametrize(
    ("fid", "kwargs", "error", "match"),
    [
        pytest.param(1, {"sha256": hashlib.sha256(b"other").hexdigest()}, GISInputError,
                     "sha256", id="sha-mismatch"),
        pytest.param(1, {"sha256": PAYLOAD_SHA[:-1] + "0"}, GISInputError, "sha256",
                     id="sha-one-digit-off"),
        pytest.param(1, {"data": b"", "sha256": hashlib.sha256(b"").hexdigest()}, GISInputError,
                     "data", id="empty"),
        pytest.param(99, {}, NotFoundError, "99", id="no-feature"),
        pytest.param(1, {"user": ""}, GISInputError, "user", id="no-user"),
    ],
)  # fmt: skip
def test_attachment_refused_writes_nothing(
    store: Store,
    layer: str,
    fid: int,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    before = state(store, layer)
    with pytest.raises(error, match=match):
        attach(store, fid=fid, **kwargs)
    assert_same_state(before, state(store, layer))
    assert store.list_attachments(layer, fid, include_deleted=True) == []


def test_attachment_to_an_unknown_layer_is_refused(store: Store) -> None:
    with pytest.raises(NotFoundError):
        attach(store)
    assert store.list_attachments(LAYER, 1, include_deleted=True) == []
    assert store.history(LAYER).empty


def test_deleting_an_attachment_only_marks_it(store: Store, layer: str) -> None:
    kept, gone = attach(store), attach(store, name="Bản sao.pdf")
    deleted = store.delete_attachment(gone.id, user="binh", reason="tải nhầm")
    assert deleted.id == gone.id
    assert deleted.deleted_by == "binh"
    assert deleted.deleted_at is not None
    assert parsed(deleted.deleted_at) >= parsed(gone.created_at)
    assert (deleted.filename, deleted.sha256, deleted.created_by) == (
        gone.filename, gone.sha256, gone.created_by,
    )  # fmt: skip

    assert store.list_attachments(layer, 1) == [kept]
    assert store.list_attachments(layer, 1, include_deleted=True) == [kept, deleted]
    read, data = store.read_attachment(gone.id)  # the bytes stay for the record
    assert read == deleted
    assert data == PAYLOAD

    history = store.history(layer, 1)
    assert history["action"].tolist() == ["attach", "attach", "detach"]
    assert history["version"].tolist() == [1, 1, 1]
    detach = history.iloc[-1]
    assert (detach["changed_by"], detach["reason"]) == ("binh", "tải nhầm")
    assert detach["before"] == {
        "attachment_id": gone.id, "filename": "Bản sao.pdf", "mime": "application/pdf",
        "size": len(PAYLOAD), "sha256": PAYLOAD_SHA,
    }  # fmt: skip
    assert pd.isna(detach["after"])
    assert store.get_feature(layer, 1).version == 1

    with pytest.raises(NotFoundError):
        store.delete_attachment(gone.id, user="binh")
    with pytest.raises(NotFoundError):
        store.delete_attachment(kept.id + gone.id + 100, user="binh")
    with pytest.raises(NotFoundError):
        store.read_attachment(kept.id + gone.id + 100)
    assert store.history(layer, 1)["action"].tolist() == ["attach", "attach", "detach"]
    assert store.read_attachment(gone.id)[0].deleted_by == "binh"  # first deletion kept


def test_attachments_survive_delete_layer(
    store: Store, layer: str, newcomers: gpd.GeoDataFrame
) -> None:
    kept, gone, other = attach(store), attach(store, name=PNG_NAME), attach(store, fid=3)
    gone = store.delete_attachment(gone.id, user="an")
    store.delete_layer(layer, user="an")
    assert not store.has_layer(layer)

    assert store.list_attachments(layer, 1) == [kept]
    assert store.list_attachments(layer, 1, include_deleted=True) == [kept, gone]
    assert store.list_attachments(layer, 3) == [other]
    for att in (kept, gone, other):
        read, data = store.read_attachment(att.id)
        assert read == att
        assert data == PAYLOAD
    assert history_rows(store, layer) == [
        (1, 1, "attach", "an"),
        (1, 1, "attach", "an"),
        (1, 1, "detach", "an"),
        (3, 1, "attach", "an"),
    ]
    with pytest.raises(NotFoundError):
        attach(store)  # the feature is gone

    # A new layer of the same name never hands the old documents to new features.
    inserted = store.apply_edits(layer, inserts=newcomers, user="an").inserted
    assert min(inserted) > 3
    for fid in inserted:
        assert store.list_attachments(layer, fid, include_deleted=True) == []


# --- Migration from schema version 1 ---------------------------------------------------------


def test_migration_2_keeps_version_1_history(
    store: Store,
    fresh_url: Callable[[], str],
    parcels: gpd.GeoDataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert store.schema_version() == LATEST == 3
    url = fresh_url()
    with monkeypatch.context() as patch:
        patch.setattr(geo.store_sql, "MIGRATIONS", MIGRATIONS[:1])
        old = open_store(url)  # migrated to version 1 only
    try:
        assert old.schema_version() == 1
        with monkeypatch.context() as patch:  # the code of version 1 kept no audit log
            patch.setattr(geo.store_sql.SQLStore, "_audit", lambda *args: None)
            old.write_layer(LAYER, parcels, user="setup")  # uses nothing of version 2
        columns = {
            row[0]
            for row in raw_execute(
                old,
                "SELECT name FROM pragma_table_info('feature_history')"
                if old.backend == "gpkg"
                else "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'feature_history'",
            )
        }
        assert "effective_at" not in columns
        json_param = "?" if old.backend == "gpkg" else "?::jsonb"
        raw_execute(
            old,
            "INSERT INTO feature_history (layer_id, fid, version, action, changed_at, "
            f"changed_by, reason, before, after) VALUES (?, 1, 2, 'update', ?, ?, ?, "
            f"{json_param}, {json_param})",
            (LAYER, "2024-05-01T03:00:00+00:00", "cũ", "trước nâng cấp",
             '{"dien_tich": 120}', '{"dien_tich": 125}'),
        )  # fmt: skip
        raw_execute(old, "UPDATE features SET version = 2 WHERE fid = 1")

        assert old.migrate() == LATEST
        assert old.schema_version() == LATEST
        versions = raw_execute(old, "SELECT version FROM schema_migrations ORDER BY version")
        assert versions == [(1,), (2,), (3,)]
        history = old.history(LAYER)
        assert list(history.columns)[-1] == "effective_at"
        assert len(history) == 1
        row = history.iloc[0]
        assert (row["fid"], row["version"], row["action"], row["changed_by"]) == (
            1, 2, "update", "cũ",
        )  # fmt: skip
        assert row["reason"] == "trước nâng cấp"
        assert (row["before"], row["after"]) == ({"dien_tich": 120}, {"dien_tich": 125})
        assert row["effective_at"] is None

        # The upgraded store takes the new kinds of writes.
        old.apply_edits(
            LAYER, updates=[FeatureUpdate(1, 2, props={"dien_tich": 126})], user="an",
            effective_at="2025-01-02",
        )  # fmt: skip
        att = old.add_attachment(
            LAYER, 1, filename=PDF_NAME, mime="application/pdf", data=PAYLOAD,
            sha256=PAYLOAD_SHA, user="an",
        )  # fmt: skip
        assert old.read_attachment(att.id)[1] == PAYLOAD
        history = old.history(LAYER)
        assert history["action"].tolist() == ["update", "update", "attach"]
        assert history["effective_at"].isna().tolist() == [True, False, True]
        assert history["effective_at"][1] == "2025-01-02"
        assert old.migrate() == LATEST  # idempotent
        assert len(old.history(LAYER)) == 3
    finally:
        old.close()


def test_an_attribute_edit_marks_the_layer_changed_without_rescanning_it(
    store: Store, layer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 100,000 parcels a rescan of the layer's count and box under the write lock made
    every save slow (80 ms at 20,000 on GeoPackage); an attribute edit changes neither."""
    before = store.layer_info(layer)
    scans: list[object] = []
    real = store._layer_bounds  # type: ignore[attr-defined]

    def spy(*args: Any) -> Any:
        scans.append(args)
        return real(*args)

    monkeypatch.setattr(store, "_layer_bounds", spy)
    store.apply_edits(layer, updates=[FeatureUpdate(1, 1, props={"ghi_chu": "x"})], user="t")
    after = store.layer_info(layer)
    assert scans == []
    assert after.updated_at > before.updated_at and after.updated_by == "t"
    assert (after.feature_count, after.bbox) == (before.feature_count, before.bbox)
