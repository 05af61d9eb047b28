"""Tests for geo.payload: simplification by zoom, rounding, field trimming, escaping, CRS check."""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, shape

from geo.errors import CRSError, GISInputError
from geo.payload import prepare_for_web, tolerance_for_zoom, zoom_for_bounds

CENTRE = (106.735, 10.787)  # inside An Khánh


def _round_ward(n: int = 2000, radius: float = 0.02) -> Polygon:
    """A finely drawn, slightly wobbly ward-sized polygon with irrational coordinates."""
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = radius * (1 + 0.05 * np.sin(angles * 7))
    x = CENTRE[0] + r * np.cos(angles) + 1e-9 * math.pi
    y = CENTRE[1] + r * np.sin(angles) + 1e-9 * math.e
    return Polygon(np.column_stack([x, y]))


def _gdf(**columns: object) -> gpd.GeoDataFrame:
    data = {"name": ["An Khánh"], "ward_code": ["27094"], "population": [76967]}
    data.update({k: [v] for k, v in columns.items()})
    gdf = gpd.GeoDataFrame(data, geometry=[_round_ward()], crs=4326)
    gdf.index = gdf.index + 7
    gdf.index.name = "fid"
    return gdf


def _coords(payload: dict) -> np.ndarray:
    geoms = [shape(f["geometry"]) for f in payload["features"]]
    return np.concatenate([shapely.get_coordinates(g) for g in geoms])


def test_coordinates_are_rounded_to_six_decimals() -> None:
    payload = prepare_for_web(_gdf(), zoom=18, fields=["name"])
    coords = _coords(payload)
    assert len(coords) > 10
    assert np.all(np.round(coords, 6) == coords)
    decimals = re.findall(r"\d\.(\d+)", json.dumps(payload["features"][0]["geometry"]))
    assert decimals
    assert max(len(d) for d in decimals) <= 6


def test_precision_argument_is_applied() -> None:
    coords = _coords(prepare_for_web(_gdf(), zoom=18, fields=[], precision=3))
    assert np.all(np.round(coords, 3) == coords)


def test_only_requested_fields_and_fid_are_kept() -> None:
    payload = prepare_for_web(_gdf(extra="x"), zoom=14, fields=["name", "missing", "name"])
    (feature,) = payload["features"]
    assert payload["type"] == "FeatureCollection"
    assert set(feature["properties"]) == {"name", "fid"}
    assert feature["properties"]["fid"] == 7
    assert feature["id"] == 7


def test_fid_column_wins_over_index() -> None:
    gdf = _gdf().reset_index(drop=True).assign(fid=[42])
    (feature,) = prepare_for_web(gdf, zoom=14, fields=["name"])["features"]
    assert feature["id"] == 42
    assert feature["properties"]["fid"] == 42


def test_payload_is_strict_json_with_plain_types() -> None:
    gdf = _gdf(area=float("nan"), count=np.int64(5), flag=np.bool_(True), units=["a", "b"])
    payload = prepare_for_web(gdf, zoom=14, fields=["area", "count", "flag", "units", "population"])
    props = payload["features"][0]["properties"]
    assert props == {
        "area": None, "count": 5, "flag": True, "units": "a, b", "population": 76967, "fid": 7,
    }  # fmt: skip
    json.dumps(payload, allow_nan=False)


def test_string_values_are_html_escaped() -> None:
    gdf = _gdf(note='<script>alert("x")</script> & <b>')
    props = prepare_for_web(gdf, zoom=14, fields=["note", "name"])["features"][0]["properties"]
    assert props["note"] == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;"
    assert props["name"] == "An Khánh"


def test_size_shrinks_at_low_zoom() -> None:
    gdf = _gdf()
    sizes = {
        zoom: len(json.dumps(prepare_for_web(gdf, zoom=zoom, fields=["name"])))
        for zoom in (10, 14, 18)
    }
    assert sizes[10] < sizes[14] < sizes[18]
    assert sizes[10] < sizes[18] / 5


def test_simplification_stays_within_half_a_pixel() -> None:
    gdf = _gdf()
    for zoom in (10, 13, 16):
        simplified = shape(prepare_for_web(gdf, zoom=zoom, fields=[])["features"][0]["geometry"])
        error = gdf.geometry.iloc[0].hausdorff_distance(simplified)
        assert error <= tolerance_for_zoom(zoom, CENTRE[1]) + 1e-6


def test_tolerance_is_half_a_pixel_in_degrees() -> None:
    # At zoom 0 one 256-px tile spans 360°: half a pixel is 360 / 512 degrees at the equator.
    assert tolerance_for_zoom(0, 0) == pytest.approx(360 / 512)
    assert tolerance_for_zoom(10, 0) == pytest.approx(360 / 512 / 1024)
    assert tolerance_for_zoom(10, 60) == pytest.approx(360 / 512 / 1024 / 2)


def test_empty_and_missing_geometries_are_dropped() -> None:
    gdf = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"]},
        geometry=[Point(106.7, 10.8), None, Polygon()],
        crs=4326,
    )
    payload = prepare_for_web(gdf, zoom=14, fields=["name"])
    assert [f["properties"]["name"] for f in payload["features"]] == ["a"]


def test_all_empty_layer_gives_empty_collection() -> None:
    gdf = gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    assert prepare_for_web(gdf, zoom=14, fields=["name"]) == {
        "type": "FeatureCollection",
        "features": [],
    }


def test_projected_layer_is_refused() -> None:
    gdf = _gdf().to_crs("EPSG:9210")
    with pytest.raises(CRSError, match="EPSG:4326"):
        prepare_for_web(gdf, zoom=14, fields=["name"])


def test_layer_without_crs_is_refused() -> None:
    gdf = _gdf().set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="without a CRS"):
        prepare_for_web(gdf, zoom=14, fields=["name"])


def test_bad_precision_is_refused() -> None:
    with pytest.raises(GISInputError, match="precision"):
        prepare_for_web(_gdf(), zoom=14, fields=[], precision=20)


def test_zoom_for_bounds() -> None:
    ward = (106.708, 10.759, 106.757, 10.820)  # An Khánh
    assert zoom_for_bounds(ward) == 13
    assert zoom_for_bounds(ward, 1600, 1200) == 14
    assert zoom_for_bounds((-180, -85, 180, 85)) <= 2
    assert zoom_for_bounds((106.7, 10.8, 106.7, 10.8)) == 19


def test_zoom_for_bounds_fits_the_box() -> None:
    ward = (106.708, 10.759, 106.757, 10.820)
    zoom = zoom_for_bounds(ward, 800, 600)

    def size_px(z: int) -> tuple[float, float]:
        def merc(lat: float) -> float:
            return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

        scale = 256 * 2**z
        return (
            (ward[2] - ward[0]) / 360 * scale,
            (merc(ward[3]) - merc(ward[1])) / (2 * math.pi) * scale,
        )

    width, height = size_px(zoom)
    assert width <= 800 and height <= 600
    width, height = size_px(zoom + 1)
    assert width > 800 or height > 600


def test_zoom_for_bounds_rejects_bad_input() -> None:
    with pytest.raises(GISInputError, match="bounds"):
        zoom_for_bounds((0, 0, float("nan"), 1))
    with pytest.raises(GISInputError, match="map size"):
        zoom_for_bounds((0, 0, 1, 1), 0, 600)
