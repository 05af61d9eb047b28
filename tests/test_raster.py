"""Elevation models: reading, GLO-30 names and windows, sampling along streets, flooding, CLI.

Every raster is written by the tests into ``tmp_path``: a 10 m grid in EPSG:32648 (UTM 48N)
and a lon/lat grid in EPSG:4326, both near Ho Chi Minh City. Nothing here needs the internet:
the unreachable "server" is a closed local port.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.errors import RasterioIOError
from shapely.geometry import LineString, Point, box

from geo import cli as geo_cli
from geo import cli_dem, raster
from geo.crs import length_m
from geo.errors import (
    CRSError,
    FetchError,
    GeometryError,
    GISInputError,
    SwappedAxesError,
    UploadError,
)
from geo.store import open_store
from geo.streets import STREETS_LAYER

UTM = "EPSG:32648"
X0, Y0, CELL = 683_000.0, 1_193_000.0, 10.0  # upper-left corner of the UTM grids (HCMC)
UTM_T = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0)
HCMC_BBOX = (106.70, 10.77, 106.74, 10.80)
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connection refused
LEVEL = 2.0


def write_tif(
    path: Path,
    data: np.ndarray,
    transform: Affine = UTM_T,
    crs: str | None = UTM,
    *,
    nodata: float | None = None,
    **extra: Any,
) -> Path:
    """A GeoTIFF of ``data`` (2-D, or 3-D for several bands)."""
    bands = data if data.ndim == 3 else data[np.newaxis]
    with rasterio.open(
        path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1],
        count=bands.shape[0], dtype=bands.dtype.name, crs=crs, transform=transform,
        nodata=nodata, **extra,
    ) as dst:  # fmt: skip
        dst.write(bands)
    return path


def utm_centre(row: float, col: float) -> tuple[float, float]:
    """The UTM coordinates of a cell centre of the UTM grids."""
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def utm_line(row: float, col0: float, col1: float) -> LineString:
    """A line along a row of the UTM grids, from one cell centre to another."""
    return LineString([utm_centre(row, col0), utm_centre(row, col1)])


# --- the flood grid: a channel from the left border, an enclosed pit ---------------------------
# 20 × 20 cells of 10 m at 10 m elevation; row 5, columns 0-3 at 1.0 m and 4-7 at 1.5 m (a
# channel open to the left border); rows 12-13, columns 10-11 at 1.0 m (a pit ringed by high
# ground). At LEVEL = 2 m, 8 channel cells (800 m²) and 4 pit cells (400 m²) are low.
CHANNEL = [(5, c) for c in range(8)]
PIT = [(12, 10), (12, 11), (13, 10), (13, 11)]


def flood_grid() -> np.ndarray:
    grid = np.full((20, 20), 10.0, dtype=np.float32)
    grid[5, 0:4] = 1.0
    grid[5, 4:8] = 1.5
    grid[12:14, 10:12] = 1.0
    return grid


@pytest.fixture
def flood_dem() -> raster.Dem:
    return raster.Dem(flood_grid(), UTM_T, CRS.from_user_input(UTM), source="test")


def cells_of(mask: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}


# --- read_dem ----------------------------------------------------------------------------------


def test_read_dem_utm(tmp_path: Path) -> None:
    data = (np.arange(30 * 40, dtype=np.float32).reshape(30, 40) / 10).astype(np.float32)
    dem = raster.read_dem(write_tif(tmp_path / "utm.tif", data))
    assert dem.elevation.dtype == np.float32
    np.testing.assert_array_equal(dem.elevation, data)
    assert dem.transform == UTM_T
    assert dem.crs.to_epsg() == 32648
    assert dem.source == "utm.tif"
    assert dem.cell_size_m == pytest.approx(10.0)
    assert dem.bounds == (X0, Y0 - 300, X0 + 400, Y0)
    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    west, north = to_lonlat.transform(X0, Y0)
    east, south = to_lonlat.transform(X0 + 400, Y0 - 300)
    minlon, minlat, maxlon, maxlat = dem.bounds_4326
    assert minlon == pytest.approx(west, abs=1e-4) and maxlat == pytest.approx(north, abs=1e-4)
    assert maxlon == pytest.approx(east, abs=1e-4) and minlat == pytest.approx(south, abs=1e-4)
    assert 106.6 < minlon < maxlon < 106.8 and 10.7 < minlat < maxlat < 10.9


def test_read_dem_lonlat_uses_band_one_and_measures_cells_on_the_ellipsoid(tmp_path: Path) -> None:
    step = 0.0005
    transform = Affine(step, 0.0, 106.70, 0.0, -step, 10.80)
    band1 = np.full((60, 80), 2.5, dtype=np.float32)
    band2 = np.full((60, 80), 7000.0, dtype=np.float32)  # must be ignored
    path = write_tif(tmp_path / "ll.tif", np.stack([band1, band2]), transform, "EPSG:4326")
    dem = raster.read_dem(path)
    np.testing.assert_array_equal(dem.elevation, band1)
    assert dem.crs.to_epsg() == 4326
    assert dem.bounds_4326 == pytest.approx(HCMC_BBOX)
    geod = Geod(ellps="WGS84")
    width = geod.inv(106.70, 10.785, 106.74, 10.785)[2] / 80
    height = geod.inv(106.72, 10.77, 106.72, 10.80)[2] / 60
    assert dem.cell_size_m == pytest.approx(math.sqrt(width * height), rel=1e-3)
    assert 54 < dem.cell_size_m < 56


def test_read_dem_nodata_and_mask_become_nan(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.int16).reshape(3, 4) + 100
    data[0, 0] = data[2, 3] = -32768
    dem = raster.read_dem(write_tif(tmp_path / "int.tif", data, nodata=-32768))
    assert cells_of(np.isnan(dem.elevation)) == {(0, 0), (2, 3)}
    assert dem.elevation[1, 2] == 106.0
    assert float(np.nansum(dem.elevation)) == float(data[data != -32768].sum())


def test_read_dem_applies_scale_and_offset(tmp_path: Path) -> None:
    data = np.array([[10, 20], [30, 40]], dtype=np.int16)
    path = write_tif(tmp_path / "scaled.tif", data)
    with rasterio.open(path, "r+") as dst:
        dst.scales, dst.offsets = (0.1,), (-1.0,)
    dem = raster.read_dem(path)
    np.testing.assert_allclose(dem.elevation, [[0.0, 1.0], [2.0, 3.0]], atol=1e-6)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nowhere.tif"


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.tif"
    path.write_text("this is not a raster\n", encoding="utf-8")
    return path


def _no_crs(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "nocrs.tif", flood_grid(), crs=None)


def _centimetres(tmp_path: Path) -> Path:
    data = np.linspace(0, 30000, 400, dtype=np.float32).reshape(20, 20)
    return write_tif(tmp_path / "cm.tif", data)


def _all_nodata(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "empty.tif", np.full((5, 5), -9999, np.float32), nodata=-9999)


def _degrees_label_on_metres(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "mislabelled.tif", flood_grid(), UTM_T, "EPSG:4326")


def _rgb(tmp_path: Path) -> Path:
    image = np.zeros((3, 10, 10), dtype=np.uint8)
    return write_tif(tmp_path / "photo.tif", image, photometric="RGB")


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (_missing, UploadError, ["nowhere.tif", "expected an existing GeoTIFF"]),
        (_text, UploadError, ["notes.tif", "could not be read"]),
        (_no_crs, CRSError, ["nocrs.tif", "no CRS"]),
        (_centimetres, GISInputError, ["cm.tif", "between -100 and 9000", "30000", "centimetres"]),
        (_all_nodata, GISInputError, ["empty.tif", "no data in every cell"]),
        (_degrees_label_on_metres, CRSError, ["mislabelled.tif", "683000", "CRS is wrong"]),
        (_rgb, GISInputError, ["photo.tif", "red channel"]),
    ],
)
def test_read_dem_refuses(
    tmp_path: Path, make: Callable[[Path], Path], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as caught:
        raster.read_dem(make(tmp_path))
    for word in words:
        assert word in str(caught.value)


def test_read_dem_refuses_a_text_file_chained_from_rasterio(tmp_path: Path) -> None:
    with pytest.raises(UploadError) as caught:
        raster.read_dem(_text(tmp_path))
    assert isinstance(caught.value.__cause__, RasterioIOError)


def test_read_dem_refuses_too_many_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tif(tmp_path / "big.tif", flood_grid())
    assert raster.read_dem(path).elevation.size == 400
    monkeypatch.setattr(raster, "MAX_CELLS", 399)
    with pytest.raises(UploadError, match=r"big\.tif: expected at most 399 cells, got 20 × 20"):
        raster.read_dem(path)


def test_dem_refuses_a_grid_that_is_not_float32() -> None:
    with pytest.raises(GISInputError, match="expected a 2-D float32 array, got float64"):
        raster.Dem(np.zeros((2, 2)), UTM_T, CRS.from_user_input(UTM))


# --- write_dem ---------------------------------------------------------------------------------


def test_write_dem_round_trip(tmp_path: Path) -> None:
    grid = flood_grid()
    grid[0, 0] = np.nan
    dem = raster.Dem(grid, UTM_T, CRS.from_user_input(UTM), source="survey 2024.tif")
    path = raster.write_dem(dem, tmp_path / "new" / "folder" / "dem.tif")
    assert path == tmp_path / "new" / "folder" / "dem.tif"
    assert [p.name for p in path.parent.iterdir()] == ["dem.tif"]  # no partial file left
    with rasterio.open(path) as src:
        assert src.nodata == -9999
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.read(1)[0, 0] == -9999
    back = raster.read_dem(path)
    np.testing.assert_array_equal(back.elevation, grid)  # NaN in the same place
    assert back.transform == UTM_T and back.crs.to_epsg() == 32648
    assert back.source == "survey 2024.tif"


# --- GLO-30 names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "names"),
    [
        (HCMC_BBOX, ["N10_00_E106_00"]),
        ((106.9, 10.5, 107.1, 10.6), ["N10_00_E106_00", "N10_00_E107_00"]),
        ((106.5, 9.9, 106.6, 10.1), ["N09_00_E106_00", "N10_00_E106_00"]),
        ((106.0, 10.0, 107.0, 11.0), ["N10_00_E106_00"]),  # edges on whole degrees
        ((-70.5, -0.5, -70.2, -0.2), ["S01_00_W071_00"]),
        (
            (-0.5, -0.5, 0.5, 0.5),
            ["S01_00_W001_00", "S01_00_E000_00", "N00_00_W001_00", "N00_00_E000_00"],
        ),
    ],
)
def test_glo30_tile_names(bbox: tuple[float, float, float, float], names: list[str]) -> None:
    assert raster.glo30_tile_names(bbox) == [f"Copernicus_DSM_COG_10_{n}_DEM" for n in names]


def test_glo30_urls() -> None:
    name = "Copernicus_DSM_COG_10_N10_00_E106_00_DEM"
    assert raster.glo30_urls(HCMC_BBOX) == [
        f"https://copernicus-dem-30m.s3.amazonaws.com/{name}/{name}.tif"
    ]


@pytest.mark.parametrize(
    ("bbox", "error", "words"),
    [
        ((10.77, 106.70, 10.80, 106.74), SwappedAxesError, "latitude first"),
        ((106.74, 10.77, 106.70, 10.80), GISInputError, "minlon < maxlon"),
        ((106.70, 10.80, 106.74, 10.80), GISInputError, "minlat < maxlat"),
        ((190.0, 10.0, 191.0, 11.0), GISInputError, "within ±180"),
        ((106.0, 10.0, 107.0), GISInputError, "four finite numbers"),
        ((106.0, float("nan"), 107.0, 11.0), GISInputError, "four finite numbers"),
        (("a", 1, 2, 3), GISInputError, "four numbers"),
    ],
)
def test_glo30_refuses_bad_boxes(bbox: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as caught:
        raster.glo30_tile_names(bbox)
    assert str(caught.value).startswith("bbox: ")


# --- read_window -------------------------------------------------------------------------------

LL_STEP = 0.001


def lonlat_tile(path: Path, west: float, north: float, shape: tuple[int, int], base: float) -> Path:
    """A lon/lat tile whose cell (r, c) holds ``base + r + c / 1000``."""
    rows, cols = np.indices(shape)
    data = (base + rows + cols / 1000).astype(np.float32)
    transform = Affine(LL_STEP, 0.0, west, 0.0, -LL_STEP, north)
    return write_tif(path, data, transform, "EPSG:4326")


def test_read_window_reads_exactly_the_window(tmp_path: Path) -> None:
    path = lonlat_tile(tmp_path / "big.tif", 106.60, 10.90, (200, 200), 0.0)
    with rasterio.open(path) as src:
        whole = src.read(1)
    dem = raster.read_window([str(path)], HCMC_BBOX)
    # lon 106.70-106.74 → columns 100-139; lat 10.80-10.77 → rows 100-129
    np.testing.assert_array_equal(dem.elevation, whole[100:130, 100:140])
    assert dem.transform.c == pytest.approx(106.70) and dem.transform.f == pytest.approx(10.80)
    assert dem.bounds_4326 == pytest.approx(HCMC_BBOX)
    assert dem.source == str(path)


def test_read_window_rounds_outward_to_whole_cells(tmp_path: Path) -> None:
    path = lonlat_tile(tmp_path / "big.tif", 106.60, 10.90, (200, 200), 0.0)
    dem = raster.read_window([path], (106.7005, 10.7705, 106.7395, 10.7995))
    assert dem.shape == (30, 40)
    assert dem.elevation[0, 0] == pytest.approx(100 + 100 / 1000)


def test_read_window_mosaics_adjacent_tiles(tmp_path: Path) -> None:
    west = lonlat_tile(tmp_path / "w.tif", 106.60, 10.90, (200, 100), 1000.0)  # 106.60-106.70
    east = lonlat_tile(tmp_path / "e.tif", 106.70, 10.90, (200, 100), 2000.0)  # 106.70-106.80
    calls: list[tuple[int, int]] = []
    bbox = (106.68, 10.77, 106.72, 10.80)
    dem = raster.read_window([east, west], bbox, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 2), (2, 2)]
    assert dem.shape == (30, 40)
    assert not np.isnan(dem.elevation).any()
    rows = np.arange(100, 130)[:, np.newaxis]
    np.testing.assert_allclose(dem.elevation[:, :20], 1000 + rows + np.arange(80, 100) / 1000)
    np.testing.assert_allclose(dem.elevation[:, 20:], 2000 + rows + np.arange(0, 20) / 1000)
    assert dem.transform.c == pytest.approx(106.68)


def test_read_window_refuses_a_box_missing_a_source(tmp_path: Path) -> None:
    west = lonlat_tile(tmp_path / "w.tif", 106.60, 10.90, (200, 100), 1000.0)
    with pytest.raises(GISInputError, match=r"bbox: expected a box overlapping .*w\.tif"):
        raster.read_window([west], (106.75, 10.77, 106.78, 10.80))


def test_read_window_refuses_a_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match=r"gone\.tif"):
        raster.read_window([str(tmp_path / "gone.tif")], HCMC_BBOX)


@pytest.fixture
def short_http_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "3")
    monkeypatch.setenv("GDAL_HTTP_CONNECTTIMEOUT", "2")
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")


@pytest.mark.usefixtures("short_http_timeouts")
def test_read_window_unreachable_url_is_a_fetch_error() -> None:
    url = f"{UNREACHABLE}/none.tif"
    calls: list[tuple[int, int]] = []
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        raster.read_window([url], HCMC_BBOX, progress=lambda i, n: calls.append((i, n)))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(url)
    assert "offline" in message and "upload it instead" in message
    assert isinstance(caught.value, ConnectionError)
    assert calls == []


# --- sample_segments ---------------------------------------------------------------------------

SLOPE = 0.01  # m of elevation per m eastwards


@pytest.fixture
def plane_dem() -> raster.Dem:
    """z = SLOPE × (x − X0) at each cell centre, 100 × 100 cells of 10 m."""
    cols = np.arange(100)
    row = (SLOPE * (cols + 0.5) * CELL).astype(np.float32)
    return raster.Dem(np.tile(row, (100, 1)), UTM_T, CRS.from_user_input(UTM))


@pytest.mark.parametrize("edges_crs", [UTM, "EPSG:4326"])
def test_sample_segments_on_a_plane(plane_dem: raster.Dem, edges_crs: str) -> None:
    start, end = (X0 + 105, Y0 - 505), (X0 + 705, Y0 - 505)  # 600 m eastwards
    far = LineString([(X0 + 5000, Y0 - 505), (X0 + 5095, Y0 - 505)])
    utm = gpd.GeoDataFrame(
        {"segment_id": ["plane", "outside", "none"]},
        geometry=[LineString([start, end]), far, None],
        crs=UTM,
    )
    edges = utm.to_crs(edges_crs)
    samples = raster.sample_segments(edges, plane_dem)
    assert list(samples.columns) == [
        "segment_id", "elev_min", "elev_mean", "elev_max", "n_samples", "n_valid"
    ]
    assert list(samples["segment_id"]) == ["plane", "outside", "none"]
    plane = samples.iloc[0]
    tolerance = SLOPE * CELL / 2 + 1e-4  # half a cell of slope
    assert plane["elev_min"] == pytest.approx(SLOPE * 105, abs=tolerance)
    assert plane["elev_max"] == pytest.approx(SLOPE * 705, abs=tolerance)
    assert plane["elev_mean"] == pytest.approx(SLOPE * 405, abs=tolerance)
    measured = float(length_m(edges.iloc[[0]], "EPSG:9210").iloc[0])
    assert 599 < measured < 601
    assert plane["n_samples"] == math.ceil(measured / 10) + 1 == plane["n_valid"]
    outside = samples.iloc[1]
    assert outside["n_samples"] == 11 and outside["n_valid"] == 0
    assert np.isnan(outside[["elev_min", "elev_mean", "elev_max"]].astype(float)).all()
    assert samples.iloc[2]["n_samples"] == 0


def test_sample_segments_step_sets_the_number_of_points(plane_dem: raster.Dem) -> None:
    edges = gpd.GeoDataFrame(
        {"segment_id": [1]}, geometry=[LineString([(X0 + 5, Y0 - 5), (X0 + 5, Y0 - 94.5)])],
        crs=UTM,
    )  # 89.5 m north-south (a little more in EPSG:9210): constant elevation
    fine = raster.sample_segments(edges, plane_dem, step_m=1.0).iloc[0]
    coarse = raster.sample_segments(edges, plane_dem, step_m=100.0).iloc[0]
    assert fine["n_samples"] == 91 and coarse["n_samples"] == 2
    assert fine["elev_min"] == fine["elev_max"] == pytest.approx(SLOPE * 5, abs=1e-6)


def test_sample_segments_on_a_lonlat_dem(tmp_path: Path) -> None:
    path = lonlat_tile(tmp_path / "ll.tif", 106.60, 10.90, (200, 200), 0.0)
    dem = raster.read_dem(path)
    # the centre of cell (row 120, col 130) and of cell (row 120, col 135)
    line = LineString([(106.7305, 10.7795), (106.7355, 10.7795)])
    edges = gpd.GeoDataFrame({"segment_id": ["s"]}, geometry=[line], crs=4326)
    row = raster.sample_segments(edges, dem).iloc[0]
    assert row["elev_min"] == pytest.approx(120.130, abs=1e-4)
    assert row["elev_max"] == pytest.approx(120.135, abs=1e-4)


def test_sample_segments_refuses_bad_edges(plane_dem: raster.Dem) -> None:
    line = LineString([(X0 + 5, Y0 - 5), (X0 + 95, Y0 - 5)])
    no_crs = gpd.GeoDataFrame({"segment_id": [1]}, geometry=[line])
    with pytest.raises(CRSError, match="edges: no CRS"):
        raster.sample_segments(no_crs, plane_dem)
    no_id = gpd.GeoDataFrame({"name": ["x"]}, geometry=[line], crs=UTM)
    with pytest.raises(GISInputError, match="expected a 'segment_id' column, got the columns"):
        raster.sample_segments(no_id, plane_dem)
    points = gpd.GeoDataFrame({"segment_id": [1]}, geometry=[Point(X0 + 5, Y0 - 5)], crs=UTM)
    with pytest.raises(GeometryError, match="expected LineStrings, got a Point at row 0"):
        raster.sample_segments(points, plane_dem)
    edges = gpd.GeoDataFrame({"segment_id": [1]}, geometry=[line], crs=UTM)
    with pytest.raises(GISInputError, match="step_m: expected a positive number"):
        raster.sample_segments(edges, plane_dem, step_m=0)
    with pytest.raises(CRSError, match="measure_crs: expected a projected CRS in metres"):
        raster.sample_segments(edges, plane_dem, measure_crs="EPSG:4326")


def test_low_segments_sorted_lowest_first() -> None:
    samples = pd.DataFrame(
        {"segment_id": ["a", "b", "c", "d"], "elev_min": [3.0, 1.0, np.nan, 2.0]}
    )
    low = raster.low_segments(samples, 2.0)
    assert list(low["segment_id"]) == ["b", "d"]
    assert list(low["elev_min"]) == [1.0, 2.0]
    assert raster.low_segments(samples, 0.5).empty
    with pytest.raises(GISInputError, match="threshold_m: expected a finite number"):
        raster.low_segments(samples, float("inf"))


# --- inundation --------------------------------------------------------------------------------


def test_inundation_connected_to_the_border_floods_only_the_channel(
    flood_dem: raster.Dem,
) -> None:
    result = raster.inundation(flood_dem, LEVEL)
    assert cells_of(result.mask) == set(CHANNEL)
    assert cells_of(result.below) == set(CHANNEL) | set(PIT)
    assert result.connected_only and result.level_m == LEVEL
    assert result.area_m2 == pytest.approx(8 * CELL**2, rel=0.01)
    areas = result.areas
    assert list(areas.columns) == ["connected", "area_m2", "geometry"]
    assert areas.crs.to_epsg() == 4326
    assert len(areas) == 1 and bool(areas["connected"].iloc[0])
    assert areas["area_m2"].iloc[0] == pytest.approx(800, rel=0.01)
    centre = gpd.GeoSeries([Point(utm_centre(5, 3))], crs=UTM).to_crs(4326).iloc[0]
    assert areas.geometry.iloc[0].contains(centre)


def test_inundation_all_low_ground_flags_what_is_connected(flood_dem: raster.Dem) -> None:
    result = raster.inundation(flood_dem, LEVEL, connected_only=False)
    assert cells_of(result.mask) == set(CHANNEL) | set(PIT)
    assert result.area_m2 == pytest.approx(12 * CELL**2, rel=0.01)
    areas = result.areas.set_index("connected")["area_m2"]
    assert areas[True] == pytest.approx(800, rel=0.01)
    assert areas[False] == pytest.approx(400, rel=0.01)
    pit = result.areas[~result.areas["connected"]].geometry.iloc[0]
    assert pit.contains(gpd.GeoSeries([Point(utm_centre(12.5, 10.5))], crs=UTM).to_crs(4326)[0])


def test_inundation_from_a_water_polygon(flood_dem: raster.Dem) -> None:
    (x0, y0), (x1, y1) = utm_centre(12, 10), utm_centre(13, 11)  # the pit's cell centres
    pond = gpd.GeoDataFrame(geometry=[box(x0, y1, x1, y0)], crs=UTM).to_crs(4326)
    result = raster.inundation(flood_dem, LEVEL, water=pond)
    assert cells_of(result.mask) == set(PIT)  # the channel touches the border, not the water
    assert result.area_m2 == pytest.approx(400, rel=0.01)
    everything = raster.inundation(flood_dem, LEVEL, water=pond, connected_only=False)
    flags = everything.areas.set_index("connected")["area_m2"]
    assert flags[True] == pytest.approx(400, rel=0.01)
    assert flags[False] == pytest.approx(800, rel=0.01)


def test_inundation_next_to_no_data_counts_as_the_border() -> None:
    grid = np.full((7, 7), 10.0, dtype=np.float32)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = np.nan  # clipped to the ward
    grid[1, 3] = 1.0  # beside the no-data ring
    grid[2, 4] = 1.0  # touches (1, 3) by a corner only: not 4-connected
    grid[3, 3] = 1.0  # enclosed
    dem = raster.Dem(grid, UTM_T, CRS.from_user_input(UTM))
    result = raster.inundation(dem, LEVEL)
    assert cells_of(result.mask) == {(1, 3)}
    assert cells_of(result.below) == {(1, 3), (2, 4), (3, 3)}


def test_inundation_polygon_keeps_its_hole() -> None:
    grid = np.full((9, 9), 10.0, dtype=np.float32)
    grid[2:7, 2:7] = 1.0  # a moat of 16 cells around an island of 3 × 3
    grid[3:6, 3:6] = 10.0
    dem = raster.Dem(grid, UTM_T, CRS.from_user_input(UTM))
    result = raster.inundation(dem, LEVEL, connected_only=False)
    assert len(result.areas) == 1 and not result.areas["connected"].iloc[0]
    moat = result.areas.geometry.iloc[0]
    assert len(moat.interiors) == 1
    assert result.areas["area_m2"].iloc[0] == pytest.approx(16 * CELL**2, rel=0.01)
    island = gpd.GeoSeries([Point(utm_centre(4, 4))], crs=UTM).to_crs(4326).iloc[0]
    assert not moat.contains(island)


def test_inundation_level_is_inclusive(flood_dem: raster.Dem) -> None:
    result = raster.inundation(flood_dem, 1.0)  # exactly the channel's lower half
    assert cells_of(result.mask) == {(5, c) for c in range(4)}
    assert cells_of(result.below) == {(5, c) for c in range(4)} | set(PIT)


def test_inundation_below_everything_is_empty_not_an_error(flood_dem: raster.Dem) -> None:
    result = raster.inundation(flood_dem, 0.5, connected_only=False)
    assert not result.mask.any() and not result.below.any()
    assert result.area_m2 == 0.0
    assert result.areas.empty
    assert list(result.areas.columns) == ["connected", "area_m2", "geometry"]
    assert result.areas.crs.to_epsg() == 4326


def test_inundation_refuses_bad_water_and_levels(flood_dem: raster.Dem) -> None:
    pond = gpd.GeoDataFrame(geometry=[box(X0 + 100, Y0 - 140, X0 + 120, Y0 - 120)])
    with pytest.raises(CRSError, match="water: no CRS"):
        raster.inundation(flood_dem, LEVEL, water=pond)
    far = gpd.GeoDataFrame(geometry=[box(X0 + 9000, Y0 - 140, X0 + 9020, Y0 - 120)], crs=UTM)
    with pytest.raises(GISInputError, match="water: expected geometries overlapping the DEM"):
        raster.inundation(flood_dem, LEVEL, water=far)
    with pytest.raises(GISInputError, match="water: expected at least one"):
        raster.inundation(flood_dem, LEVEL, water=far.iloc[0:0])
    with pytest.raises(GISInputError, match="level_m: expected a finite number"):
        raster.inundation(flood_dem, float("nan"))


# --- flooded_segments --------------------------------------------------------------------------


@pytest.fixture
def streets_utm() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "segment_id": ["high", "channel", "half"],
            "name": ["Đường Cao", "Kênh", "Nửa"],
        },
        geometry=[utm_line(15, 1, 18), utm_line(5, 1, 6), utm_line(5, 4, 11)],
        crs=UTM,
    )


def test_flooded_segments(flood_dem: raster.Dem, streets_utm: gpd.GeoDataFrame) -> None:
    result = raster.inundation(flood_dem, LEVEL)
    flooded = raster.flooded_segments(streets_utm.to_crs(4326), flood_dem, result)
    assert list(flooded.columns) == ["segment_id", "share", "depth_m"]
    assert list(flooded["segment_id"]) == ["channel", "half"]  # deepest first
    channel, half = flooded.iloc[0], flooded.iloc[1]
    assert channel["share"] == 1.0
    assert channel["depth_m"] == pytest.approx(LEVEL - 1.0)
    assert 0.4 <= half["share"] <= 0.6  # columns 4-7 of 4-11 are in the channel
    assert half["depth_m"] == pytest.approx(LEVEL - 1.5)


def test_flooded_segments_misses_the_pit_unless_all_low(
    flood_dem: raster.Dem, streets_utm: gpd.GeoDataFrame
) -> None:
    # 35 m from the centre of column 9: 5 points at columns 9, 10, 11, 12, 13; 10-11 are the pit
    start = utm_centre(12, 9)
    line = LineString([start, (start[0] + 35, start[1])])
    pit_street = gpd.GeoDataFrame({"segment_id": ["pit"]}, geometry=[line], crs=UTM)
    connected = raster.inundation(flood_dem, LEVEL)
    assert raster.flooded_segments(pit_street, flood_dem, connected).empty
    every = raster.inundation(flood_dem, LEVEL, connected_only=False)
    row = raster.flooded_segments(pit_street, flood_dem, every).iloc[0]
    assert row["share"] == pytest.approx(2 / 5) and row["depth_m"] == pytest.approx(1.0)


def test_flooded_segments_refuses_an_inundation_of_another_grid(
    flood_dem: raster.Dem, streets_utm: gpd.GeoDataFrame
) -> None:
    other = raster.Dem(np.ones((3, 3), np.float32), UTM_T, CRS.from_user_input(UTM))
    with pytest.raises(GISInputError, match=r"inund: expected a mask of the DEM's shape \(20, 2"):
        raster.flooded_segments(streets_utm, flood_dem, raster.inundation(other, LEVEL))


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Run ``python -m geo --db s.gpkg --json ...`` with ``dem`` registered (until geo/cli.py
    does it); the exit code and the parsed output. No gis.toml, GIS_* at their defaults."""
    config = tmp_path / "none.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIS_CONFIG", str(config))
    monkeypatch.setenv("GIS_VAR_DIR", str(tmp_path))
    for name in ("GIS_DB", "GIS_WARD", "GIS_ROLE", "GIS_LANG"):
        monkeypatch.delenv(name, raising=False)
    original = geo_cli.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "dem" not in sub.choices:
            cli_dem.add_parser(sub)
        return parser

    monkeypatch.setattr(geo_cli, "build_parser", build_parser)
    db = str(tmp_path / "s.gpkg")

    def run(*argv: str) -> tuple[int, Any]:
        out = io.StringIO()
        code = geo_cli.main(["--db", db, "--json", *argv], out=out)
        return code, json.loads(out.getvalue()) if code == 0 else None

    run.db = db  # type: ignore[attr-defined]
    yield run


def test_cli_dem_import(cli: Callable[..., Any], tmp_path: Path) -> None:
    source = write_tif(tmp_path / "survey.tif", flood_grid())
    code, report = cli("dem", "import", str(source))
    assert code == 0
    stored = tmp_path / "dem" / "an-khanh.tif"
    assert report["file"] == str(stored) and stored.is_file()
    assert (report["width"], report["height"]) == (20, 20)
    assert (report["elev_min"], report["elev_max"]) == (1.0, 10.0)
    assert report["cell_size_m"] == 10.0 and report["crs"] == "EPSG:32648"
    np.testing.assert_array_equal(raster.read_dem(stored).elevation, flood_grid())


def test_cli_dem_import_refuses_a_bad_file(
    cli: Callable[..., Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = cli("dem", "import", str(_centimetres(tmp_path)))
    assert code == 2
    assert "cm.tif: expected elevations in metres" in capsys.readouterr().err
    assert not (tmp_path / "dem" / "an-khanh.tif").exists()


def store_streets(db: str, streets: gpd.GeoDataFrame) -> None:
    with open_store(db) as store:
        store.write_layer(STREETS_LAYER, streets.to_crs(4326), title="streets", source="test")


def test_cli_dem_low_and_flood(
    cli: Callable[..., Any], tmp_path: Path, streets_utm: gpd.GeoDataFrame
) -> None:
    assert cli("dem", "import", str(write_tif(tmp_path / "g.tif", flood_grid())))[0] == 0
    store_streets(cli.db, streets_utm)  # type: ignore[attr-defined]
    code, report = cli("dem", "low", "--level", "2")
    assert code == 0
    assert report["segments"] == 3 and report["sampled"] == 3
    assert report["low"] == [
        {"segment_id": "channel", "name": "Kênh", "elev_min": 1.0},
        {"segment_id": "half", "name": "Nửa", "elev_min": 1.5},
    ]
    assert "area_km2" not in report

    code, report = cli("dem", "low", "--level", "2", "--flood")
    assert code == 0
    assert report["connected_only"] is True
    assert report["area_m2"] == pytest.approx(800, rel=0.01)
    assert report["area_km2"] == pytest.approx(0.0008, abs=1e-4)
    assert [(r["segment_id"], r["depth_m"]) for r in report["flooded"]] == [
        ("channel", 1.0), ("half", 0.5)
    ]

    code, report = cli("dem", "low", "--level", "2", "--flood", "--all-low")
    assert code == 0
    assert report["connected_only"] is False
    assert report["area_m2"] == pytest.approx(1200, rel=0.01)


def test_cli_dem_low_without_a_dem_or_streets_is_not_found(
    cli: Callable[..., Any],
    tmp_path: Path,
    streets_utm: gpd.GeoDataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_streets(cli.db, streets_utm)  # type: ignore[attr-defined]
    assert cli("dem", "low", "--level", "2")[0] == 3
    err = capsys.readouterr().err
    assert "no elevation model for 'an-khanh'" in err
    assert "dem import FILE" in err and "dem fetch" in err

    with open_store(cli.db) as store:  # type: ignore[attr-defined]
        store.delete_layer(STREETS_LAYER)
    assert cli("dem", "import", str(write_tif(tmp_path / "g.tif", flood_grid())))[0] == 0
    assert cli("dem", "low", "--level", "2")[0] == 3
    assert "streets: no street layer in the store" in capsys.readouterr().err


def test_cli_dem_low_refuses_a_dem_beside_the_streets(
    cli: Callable[..., Any], tmp_path: Path, streets_utm: gpd.GeoDataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    far = Affine(CELL, 0.0, X0 + 50_000, 0.0, -CELL, Y0)
    assert cli("dem", "import", str(write_tif(tmp_path / "far.tif", flood_grid(), far)))[0] == 0
    store_streets(cli.db, streets_utm)  # type: ignore[attr-defined]
    assert cli("dem", "low", "--level", "2")[0] == 2
    assert "the 3 street segments lie outside the DEM" in capsys.readouterr().err


@pytest.mark.usefixtures("short_http_timeouts")
@pytest.mark.parametrize(
    "argv", [["--bbox", "106.70,10.77,106.74,10.80"], []], ids=["bbox", "ward"]
)
def test_cli_dem_fetch_offline_exits_7(
    cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.setattr(raster, "GLO30_URL", UNREACHABLE + "/{name}.tif")
    code, _ = cli("dem", "fetch", *argv)
    assert code == cli_dem.EXIT_OFFLINE == geo_cli.EXIT_OFFLINE == 7
    err = capsys.readouterr().err
    assert "dem fetch: 1 Copernicus GLO-30 tile(s)" in err
    assert f"error: {UNREACHABLE}/Copernicus_DSM_COG_10_N10_00_E106_00_DEM.tif" in err
    assert "may be offline" in err and "upload it instead" in err
    assert not (tmp_path / "dem").exists()


def test_cli_dem_fetch_refuses_a_bad_bbox(
    cli: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("dem", "fetch", "--bbox", "10.77,106.70,10.80,106.74")[0] == 2
    assert "--bbox: expected minlon, minlat, maxlon, maxlat" in capsys.readouterr().err
    assert cli("dem", "fetch", "--bbox", "106.7,10.7")[0] == 2
    assert "--bbox: expected four numbers" in capsys.readouterr().err


def test_ward_bbox_and_margin(cli: Callable[..., Any]) -> None:
    assert cli("layers")[0] == 0  # seeds the ward layers
    settings = geo_cli.load_settings()
    with open_store(cli.db) as store:  # type: ignore[attr-defined]
        ward = cli_dem.ward_bbox(settings, store)
    minlon, minlat, maxlon, maxlat = ward
    assert 106.68 < minlon < maxlon < 106.78 and 10.74 < minlat < maxlat < 10.82
    grown = cli_dem.grow_bbox(ward, 500, "EPSG:9210")
    geod = Geod(ellps="WGS84")
    south = geod.inv(minlon, minlat, minlon, grown[1])[2]
    west = geod.inv(minlon, minlat, grown[0], minlat)[2]
    assert south == pytest.approx(500, rel=0.02) and west == pytest.approx(500, rel=0.05)
    assert cli_dem.grow_bbox(ward, 0, "EPSG:9210") == ward
    with pytest.raises(GISInputError, match="--margin-m: expected 0 to 50000 metres, got -1"):
        cli_dem.grow_bbox(ward, -1, "EPSG:9210")
