"""The storage benchmark's measuring functions on 500 parcels, GeoPackage only (no timing is
checked): every figure is returned, bbox queries give what the naive filter gives, the naive
import writes one row per parcel, and a missing PostgreSQL is a skip, not a failure."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from bench import store as bench
from geo.store import open_store

N = 500


@pytest.fixture(scope="module")
def parcels() -> gpd.GeoDataFrame:
    return bench.ward_parcels(N)


def _envelope_fids(parcels: gpd.GeoDataFrame, box: tuple[float, float, float, float]) -> list[int]:
    """fids (1..N in write order) of the parcels whose envelope meets ``box``, from the frame
    itself, without any store."""
    x0, y0, x1, y1 = box
    b = shapely.bounds(parcels.geometry.values)
    hit = (b[:, 2] >= x0) & (b[:, 3] >= y0) & (b[:, 0] <= x1) & (b[:, 1] <= y1)
    return [int(i) + 1 for i in np.flatnonzero(hit)]


def test_run_returns_every_figure(
    parcels: gpd.GeoDataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    out = bench.run(parcels, naive_rows=60, postgis=False)
    required = [
        "import_gpkg_s", "import_pg_s", "bbox_gpkg_ms", "bbox_pg_ms", "bbox_gpkg_p95_ms",
        "bbox_pg_p95_ms", "naive_import_gpkg_projected_s", "naive_import_pg_projected_s",
        "naive_bbox_gpkg_ms", "naive_bbox_pg_ms", "db_gpkg_mb", "pipeline_projected_s",
    ]  # fmt: skip
    assert set(required) <= set(out)
    gpkg = {k: v for k, v in out.items() if "pg" not in k.split("_")}
    assert all(isinstance(v, float) and math.isfinite(v) for v in gpkg.values()), gpkg
    assert all(math.isnan(v) for k, v in out.items() if "pg" in k.split("_"))
    assert {k.replace("gpkg", "pg") for k in out if "gpkg" in k.split("_")} <= set(out)
    assert out["parcels"] == N and out["naive_import_gpkg_rows"] == 60
    assert out["naive_import_gpkg_projected_s"] == pytest.approx(
        out["naive_import_gpkg_s"] * N / 60
    )
    assert out["bbox_ward_gpkg_ms"] > 0 and out["db_gpkg_mb"] > 0
    # 500 parcels go through the whole pipeline (projected well under a minute)
    assert math.isfinite(out["pipeline_s"])
    assert out["pipeline_new_share"] + out["pipeline_rejected_share"] == pytest.approx(1.0)
    printed = capsys.readouterr().out
    assert "import 500 parcels → GeoPackage" in printed
    assert "PROJECTED FROM 60 to 500" in printed
    assert "PostGIS: skipped (postgis=False)" in printed


def test_bbox_queries_match_the_naive_filter(parcels: gpd.GeoDataFrame, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    boxes = [
        *bench.windows(parcels, 8, bench.BLOCK_M, rng),
        *bench.windows(parcels, 3, bench.NEIGHBOURHOOD_M, rng),
        bench.ward_window(parcels),
    ]
    with open_store(str(tmp_path / "s.gpkg")) as store:
        bench.import_layer(store, parcels)
        ours_ms, ours = bench.query_windows(store, boxes, repeat=1, warmup=0)
        naive_ms, naive, read_ms = bench.naive_windows(store, boxes)
    bench.check_same(ours, naive, "test")  # raises if they differ
    assert [a.tolist() for a in ours] == [_envelope_fids(parcels, b) for b in boxes]
    assert 0 < len(ours[0]) < N and len(ours[-1]) == N
    assert all(t > 0 for t in ours_ms) and all(t >= read_ms for t in naive_ms)


def test_check_same_raises_on_a_difference() -> None:
    same = [np.array([1, 2, 3])]
    bench.check_same(same, [np.array([1, 2, 3])], "x")
    with pytest.raises(AssertionError, match=r"window 0: .* only ours \[3\]"):
        bench.check_same(same, [np.array([1, 2])], "x")


def test_naive_import_writes_the_same_rows(parcels: gpd.GeoDataFrame, tmp_path: Path) -> None:
    few = parcels.iloc[:120]
    with (
        open_store(str(tmp_path / "bulk.gpkg")) as bulk,
        open_store(str(tmp_path / "naive.gpkg")) as naive,
    ):
        bench.import_layer(bulk, few, layer_id="rows")
        seconds, written = bench.naive_import(naive, few, layer_id="rows")
        assert written == len(few) == naive.layer_info("rows").feature_count
        one_by_one, at_once = naive.read_layer("rows"), bulk.read_layer("rows")
    assert seconds > 0
    pd.testing.assert_frame_equal(
        pd.DataFrame(one_by_one.drop(columns="geometry")),
        pd.DataFrame(at_once.drop(columns="geometry")),
    )
    assert one_by_one.geometry.geom_equals_exact(at_once.geometry, 1e-12).all()


def test_pipeline_too_slow_is_profiled(
    parcels: gpd.GeoDataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = bench.measure_pipeline(
        parcels, tmp_path, naive_projected_s=1.0, sample=100, profile_rows=50, full_limit_s=0.0
    )
    assert math.isnan(out["pipeline_s"])
    assert out["pipeline_projected_s"] > out["pipeline_read_s"] > 0
    printed = capsys.readouterr().out
    assert "PROJECTED from 100" in printed and "too slow to run on all 500 rows" in printed
    assert "where the time goes" in printed and "project functions" in printed
    profile_lines = [line for line in printed.splitlines() if " s own, " in line]
    assert len(profile_lines) == 10


def test_no_postgresql_is_a_skip(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import PostgresCluster, PostgresUnavailable

    def unavailable() -> PostgresCluster:
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")

    monkeypatch.setattr(PostgresCluster, "create", staticmethod(unavailable))
    with bench.postgis_cluster() as url:
        assert url is None
    assert "PostGIS: skipped (no server)" in capsys.readouterr().out
