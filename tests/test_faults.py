"""Nothing half-written: an import killed with SIGKILL, or failing midway, leaves the store as
it was, on both backends.

The killed import runs in a child process writing 200,000 small polygons. It is killed once
the write is seen from outside to be under way (PostgreSQL: its backend in
``pg_stat_activity`` inserting features inside a transaction that holds an id; GeoPackage: the
write-ahead log growing with uncommitted pages), or once a hook inside the transaction says
every row is in and only the commit is left. The store is compared table by table (row counts
and SHA-256 from ``geo.backup``) before and after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import box

from geo import backup, clearance, io, parcel_import, wards
from geo.config import load_settings
from geo.errors import ConflictError
from geo.store import FeatureUpdate, Store

ROOT = Path(__file__).resolve().parent.parent
PROFILE = load_settings({"GIS_WARD": "an-khanh"}).profile
LON0, LAT0, CELL = 106.7145, 10.7705, 0.0002
APP_NAME = "ward-gis-killed-import"
BIG = 200_000


def snapshot(store: Store, tmp_path: Path) -> dict[str, tuple[int, str]]:
    """Every table of the store: its row count and the SHA-256 of its rows."""
    path = tmp_path / f"snapshot-{time.monotonic_ns()}.zip"
    manifest = backup.backup(store, path).manifest
    path.unlink()
    return {t.name: (t.rows, t.sha256) for t in manifest.tables}


def squares(n: int, first: int = 0) -> gpd.GeoDataFrame:
    geoms = [
        box(LON0 + (i % 10) * CELL, LAT0 + (i // 10) * CELL,
            LON0 + (i % 10 + 0.8) * CELL, LAT0 + (i // 10 + 0.8) * CELL)
        for i in range(first, first + n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(
        {"so_thua": [str(i + 1) for i in range(first, first + n)], "n": range(first, first + n)},
        geometry=geoms,
        crs=4326,
    )


@pytest.fixture
def seeded(store: Store) -> Store:
    """Ward layers, a layer with edits (history) and a deleted layer (events)."""
    wards.seed_store(store, PROFILE)
    made = store.apply_edits("thua", inserts=squares(20), user="lan", reason="nhập")
    store.apply_edits(
        "thua",
        updates=[FeatureUpdate(f, 1, props={"n": -f}) for f in made.inserted[:5]],
        user="an",
    )
    store.write_layer("tam", squares(3), user="lan")
    store.delete_layer("tam", user="lan")
    return store


# --- killed -----------------------------------------------------------------------------------

_CHILD = """
import os, sys, time
import numpy as np, geopandas as gpd, shapely
from geo.store import open_store

url, flag, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
i = np.arange(n)
x, y = 106.70 + (i % 500) * 1e-4, 10.76 + (i // 500) * 1e-4
gdf = gpd.GeoDataFrame(
    {"so_thua": [str(k) for k in i], "chu": ["Nguyễn Văn Hưởng"] * n},
    geometry=shapely.box(x, y, x + 8e-5, y + 8e-5), crs=4326,
)
store = open_store(url, migrate=False)
if mode == "before-commit":
    cls = type(store)
    inserted = cls._after_insert

    def pause(self, *args, **kwargs):  # every row is in; only the commit is left
        inserted(self, *args, **kwargs)
        open(flag, "w").close()
        time.sleep(600)

    cls._after_insert = pause
else:
    open(flag, "w").close()
store.write_layer("lon", gdf, mode="replace", user="bị dừng", source="killed.gpkg")
print("committed", flush=True)
"""


def _under_way(store: Store, wal_start: int) -> bool:
    """Whether the child's write is visibly running and not committed."""
    if store.backend == "postgis":
        with psycopg.connect(store.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND backend_xid IS NOT NULL AND xact_start IS NOT NULL "
                "AND state = 'active' AND query LIKE 'INSERT INTO features%%'",
                (APP_NAME,),
            ).fetchone()
        return row == (1,)
    wal = Path(store.url + "-wal")
    return wal.exists() and wal.stat().st_size > wal_start + (4 << 20)


def _wait_gone(store: Store) -> None:
    """PostgreSQL rolls the dead client's transaction back; wait until its backend is gone."""
    if store.backend != "postgis":
        return
    deadline = time.monotonic() + 60
    with psycopg.connect(store.url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the killed client's backend stayed"
            time.sleep(0.05)


@pytest.mark.parametrize("moment", ["mid-insert", "before-commit"])
def test_an_import_killed_halfway_leaves_the_store_as_it_was(
    moment: str, seeded: Store, tmp_path: Path
) -> None:
    store = seeded
    store.write_layer("lon", squares(7), user="lan")  # the layer the import would replace
    before = snapshot(store, tmp_path)
    layers_before = store.list_layers()
    wal = Path(store.url + "-wal")
    wal_start = wal.stat().st_size if wal.exists() else 0
    flag = tmp_path / "inside.flag"
    n = BIG if moment == "mid-insert" else 20_000
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, store.url, str(flag), moment, str(n)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PGAPPNAME": APP_NAME},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (flag.exists() and (moment == "before-commit" or _under_way(store, wal_start))):
            if child.poll() is not None:
                out, err = child.communicate()
                pytest.fail(f"the import ended before it was killed: {out!r} {err[-2000:]!r}")
            assert time.monotonic() < deadline, "the import never got under way"
            time.sleep(0.01)
        if store.backend == "postgis":  # the transaction is open on the server
            with psycopg.connect(store.url, autocommit=True) as conn:
                state = conn.execute(
                    "SELECT state, backend_xid IS NOT NULL FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (APP_NAME,),
                ).fetchone()
            assert state is not None and state[1]
    finally:
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert b"committed" not in out
    store.close()
    _wait_gone(store)
    assert snapshot(store, tmp_path) == before
    assert store.list_layers() == layers_before
    assert len(store.read_layer("lon")) == 7
    store.write_layer("lon", squares(2), user="sau", mode="append")  # writable, no lock left
    assert len(store.read_layer("lon")) == 9


# --- an exception midway ---------------------------------------------------------------------


class Boom(RuntimeError):
    """Raised by a step patched to fail."""


def fail_on_call(original: Callable[..., Any], call: int) -> Callable[..., Any]:
    """``original``, failing with ``Boom`` on its ``call``-th call."""
    calls = [0]

    def step(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call:
            raise Boom(f"step {call} failed")
        return original(*args, **kwargs)

    return step


@pytest.mark.parametrize("mode", ["replace", "append", "new layer"])
def test_write_layer_failing_after_its_inserts_writes_nothing(
    mode: str, seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(seeded, tmp_path)
    layer = "moi" if mode == "new layer" else "thua"
    write_mode: Literal["append", "replace"] = "append" if mode == "append" else "replace"
    monkeypatch.setattr(seeded, "_after_insert", fail_on_call(seeded._after_insert, 1))  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        seeded.write_layer(layer, squares(500, 100), mode=write_mode)
    monkeypatch.undo()
    assert snapshot(seeded, tmp_path) == before
    assert not seeded.has_layer("moi")
    seeded.write_layer(layer, squares(2, 100), mode="append")  # and the store works on
    assert len(seeded.read_layer("thua")) == 20 + (2 if layer == "thua" else 0)


def test_apply_edits_with_a_later_conflict_writes_nothing(seeded: Store, tmp_path: Path) -> None:
    fids = list(seeded.read_layer("thua").index)
    stale = fids[0]  # at version 2 since the fixture's edit
    before = snapshot(seeded, tmp_path)
    updates = [
        FeatureUpdate(fids[10], 1, props={"n": 100}),
        FeatureUpdate(fids[11], 1, geometry=box(LON0, LAT0, LON0 + CELL, LAT0 + CELL)),
        FeatureUpdate(fids[12], 1, props={"moi": "cột mới"}),
        FeatureUpdate(stale, 1, props={"n": 0}),
        FeatureUpdate(fids[13], 1, props={"n": 13}),
    ]
    with pytest.raises(ConflictError, match="is at version 2, not 1"):
        seeded.apply_edits("thua", inserts=squares(4, 300), updates=updates, user="an")
    assert snapshot(seeded, tmp_path) == before
    assert "moi" not in seeded.layer_info("thua").columns


def test_apply_edits_failing_midway_writes_nothing(
    seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fids = list(seeded.read_layer("thua").index)
    before = snapshot(seeded, tmp_path)
    monkeypatch.setattr(seeded, "_apply_update", fail_on_call(seeded._apply_update, 3))  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        seeded.apply_edits(
            "thua", inserts=squares(4, 300),
            updates=[FeatureUpdate(f, 1, props={"n": 1}) for f in fids[10:15]], user="an",
        )  # fmt: skip
    assert snapshot(seeded, tmp_path) == before


@pytest.fixture
def parcel_plan(seeded: Store, tmp_path: Path) -> Iterator[parcel_import.ImportPlan]:
    """Parcels 1-3 stored; a file with parcel 1 and 2 changed and parcels 4-6 new."""
    new = seeded.read_layer(wards.NEW_LAYER)
    extent = parcel_import.ward_extent(new, PROFILE)
    old = seeded.read_layer(wards.OLD_LAYER)

    def plan_for(frame: gpd.GeoDataFrame) -> parcel_import.ImportPlan:
        path = tmp_path / f"thua-{len(frame)}.geojson"
        frame.to_file(path, driver="GeoJSON", engine="pyogrio")
        result = io.read_vector(path, keep_bad_rows=True)
        columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
        existing = (
            seeded.read_layer(clearance.PARCELS_LAYER)
            if seeded.has_layer(clearance.PARCELS_LAYER)
            else None
        )
        return parcel_import.build_plan(
            result, parcel_import.suggest_mapping(columns), existing,
            measure_crs=PROFILE.measure_crs, old_wards=old, new_wards=new, extent=extent,
        )  # fmt: skip

    def cadastre(n: int, holder: str) -> gpd.GeoDataFrame:
        frame = squares(n)
        return gpd.GeoDataFrame(
            {"SO_TO": ["12"] * n, "SO_THUA": [str(i + 1) for i in range(n)],
             "CHU_SU_DUNG": [f"{holder} {i}" for i in range(n)]},
            geometry=frame.geometry, crs=4326,
        )  # fmt: skip

    first = plan_for(cadastre(3, "Trần Thị Lan"))
    parcel_import.apply_plan(seeded, clearance.PARCELS_LAYER, first, user="lan", source="v1")
    changed = cadastre(6, "Trần Thị Lan")
    changed.loc[[0, 1], "CHU_SU_DUNG"] = ["Ông Lý Văn Bảy", "Bà Phạm Thị Hằng"]
    plan = plan_for(changed)
    assert plan.counts["new"] == 3 and plan.counts["updated"] == 2
    yield plan


def test_a_parcel_import_failing_midway_writes_nothing(
    seeded: Store,
    parcel_plan: parcel_import.ImportPlan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = snapshot(seeded, tmp_path)
    monkeypatch.setattr(seeded, "_apply_update", fail_on_call(seeded._apply_update, 2))  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        parcel_import.apply_plan(
            seeded, clearance.PARCELS_LAYER, parcel_plan, user="lan", source="v2"
        )
    monkeypatch.undo()
    assert snapshot(seeded, tmp_path) == before
    counts = parcel_import.apply_plan(
        seeded, clearance.PARCELS_LAYER, parcel_plan, user="lan", source="v2"
    )  # the same plan goes through once the fault is gone
    assert counts["new"] == 3
    assert len(seeded.read_layer(clearance.PARCELS_LAYER)) == 6


def test_a_parcel_import_killed_by_a_conflict_midway_writes_nothing(
    seeded: Store, parcel_plan: parcel_import.ImportPlan, tmp_path: Path
) -> None:
    stored = seeded.read_layer(clearance.PARCELS_LAYER)
    second = int(stored.index[1])  # the plan's second update goes stale
    seeded.update_feature(
        clearance.PARCELS_LAYER, second, expected_version=1, props={"note": "đã hẹn"}, user="an"
    )
    before = snapshot(seeded, tmp_path)
    with pytest.raises(ConflictError, match="an changed it in between"):
        parcel_import.apply_plan(
            seeded, clearance.PARCELS_LAYER, parcel_plan, user="lan", source="v2"
        )
    assert snapshot(seeded, tmp_path) == before
