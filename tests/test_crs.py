"""Tests for geo.crs: resolving CRSs, the pinned VN-2000 transformation, measuring."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from geo.config import DATA_DIR
from geo.crs import (
    area_km2,
    from_wgs84,
    is_vn2000,
    length_m,
    measure_crs_for,
    resolve_crs,
    to_wgs84,
    transformer_to_wgs84,
)
from geo.errors import CRSError, GISInputError

# EPSG:6960 "VN-2000 to WGS 84 (2)" after EPSG:9210's projection, written out by hand.
EPSG_6960_FROM_9210 = (
    "+proj=pipeline "
    "+step +inv +proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
    "+step +proj=push +v_3 "
    "+step +proj=cart +ellps=WGS84 "
    "+step +proj=helmert +x=-191.90441429 +y=-39.30318279 +z=-111.45032835 "
    "+rx=-0.00928836 +ry=0.01975479 +rz=-0.00427372 +s=0.252906278 "
    "+convention=coordinate_frame "
    "+step +inv +proj=cart +ellps=WGS84 "
    "+step +proj=pop +v_3 "
    "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
)
PROJ_FROM_9210 = (
    "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m"
)
ESRI_PRJ_9210 = (
    'PROJCS["VN-2000_TM-3_105-45",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",105.75],PARAMETER["Scale_Factor",0.9999],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)
# A .prj as often found in Vietnam: TM-3 105-45 parameters, but labelled WGS 84.
ESRI_PRJ_TM3_ON_WGS84 = ESRI_PRJ_9210.replace("GCS_VN_2000", "GCS_WGS_1984").replace(
    "D_Vietnam_2000", "D_WGS_1984"
)
ESRI_PRJ_UTM48 = (
    'PROJCS["VN_2000_UTM_Zone_48N",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",105.0],PARAMETER["Scale_Factor",0.9996],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)
# Thủ Thiêm, phường An Khánh: the new urban area, the bridge head, the Sala end.
THU_THIEM = [(106.7215, 10.7735), (106.7300, 10.7800), (106.7395, 10.7890), (106.7262, 10.7712)]
GEOD = Geod(ellps="WGS84")


def reference_9210_to_wgs84() -> Transformer:
    return Transformer.from_pipeline(EPSG_6960_FROM_9210)


def to_9210(lon: float, lat: float) -> tuple[float, float]:
    """Thủ Thiêm lon/lat as VN-2000 / TM-3 105-45 easting/northing, via the reference."""
    return reference_9210_to_wgs84().transform(lon, lat, direction="INVERSE")


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(DATA_DIR / "wards" / "hcmc_wards_2025_new.geojson", engine="pyogrio")
    return gdf[gdf["name"].isin(["An Khánh", "Bình Trưng", "Thủ Đức"])].reset_index(drop=True)


@pytest.mark.parametrize("lonlat", THU_THIEM)
def test_pinned_transformation_matches_epsg_6960_pipeline(lonlat: tuple[float, float]) -> None:
    east, north = to_9210(*lonlat)
    expected = reference_9210_to_wgs84().transform(east, north)
    got = transformer_to_wgs84("EPSG:9210").transform(east, north)
    assert metres_apart(got, expected) < 0.01
    assert metres_apart(got, lonlat) < 0.01


@pytest.mark.parametrize("lonlat", THU_THIEM)
def test_default_transformation_differs_so_pinning_matters(lonlat: tuple[float, float]) -> None:
    east, north = to_9210(*lonlat)
    default = Transformer.from_crs("EPSG:9210", "EPSG:4326", always_xy=True).transform(east, north)
    assert metres_apart(default, lonlat) > 0.5


def test_to_wgs84_uses_pinned_transformation_and_keeps_columns() -> None:
    points = [shapely.Point(to_9210(*p)) for p in THU_THIEM]
    gdf = gpd.GeoDataFrame({"label": list("abcd")}, geometry=points, crs="EPSG:9210")
    out = to_wgs84(gdf)
    assert out.crs == CRS.from_epsg(4326)
    assert list(out["label"]) == list("abcd")
    for point, expected in zip(out.geometry, THU_THIEM, strict=True):
        assert metres_apart((point.x, point.y), expected) < 0.01


@pytest.mark.parametrize("code", ["EPSG:9210", "EPSG:5899", "EPSG:3405", "EPSG:4756"])
def test_vn2000_transformers_are_pinned_to_epsg_6960(code: str) -> None:
    names = [op.name for op in transformer_to_wgs84(code).operations or ()]
    assert "VN-2000 to WGS 84 (2)" in names


def test_proj_string_from_9210_resolves_to_9210_and_lands_within_1_cm() -> None:
    assert resolve_crs(PROJ_FROM_9210).to_epsg() == 9210
    east, north = to_9210(106.7300, 10.7800)
    expected = reference_9210_to_wgs84().transform(east, north)
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(east, north)], crs=PROJ_FROM_9210)
    point = to_wgs84(gdf).geometry.iloc[0]
    assert metres_apart((point.x, point.y), expected) < 0.01
    naive = Transformer.from_crs(PROJ_FROM_9210, "EPSG:4326", always_xy=True)
    assert metres_apart(naive.transform(east, north), expected) > 200


@pytest.mark.parametrize(
    ("crs_like", "epsg"),
    [
        (9210, 9210),
        ("9210", 9210),
        ("EPSG:9210", 9210),
        (CRS.from_epsg(9210), 9210),
        (ESRI_PRJ_9210, 9210),
        (ESRI_PRJ_TM3_ON_WGS84, 9210),
        (PROJ_FROM_9210 + " +towgs84=-191.9,-39.3,-111.5,0,0,0,0", 9210),
        (CRS.from_epsg(5899).to_wkt(), 5899),
        (ESRI_PRJ_UTM48, 3405),
        ("VN-2000", 4756),
    ],
    ids=[
        "int", "digits", "epsg", "pyproj", "esri-prj", "esri-prj-wgs84-label", "towgs84",
        "wkt2-5899", "esri-utm48", "name",
    ],
)  # fmt: skip
def test_vn2000_variants_resolve_to_epsg(crs_like: object, epsg: int) -> None:
    crs = resolve_crs(crs_like)  # type: ignore[arg-type]
    assert crs.to_epsg() == epsg
    assert is_vn2000(crs)


@pytest.mark.parametrize(
    ("crs_like", "epsg"),
    [("EPSG:4326", 4326), ("EPSG:32648", 32648), ("+proj=utm +zone=48 +datum=WGS84", 32648)],
)
def test_other_crss_are_left_alone(crs_like: str, epsg: int) -> None:
    crs = resolve_crs(crs_like)
    assert crs.to_epsg() == epsg
    assert not is_vn2000(crs)


@pytest.mark.parametrize("argument", ["crs", "--crs"])
def test_missing_crs_names_the_argument(argument: str) -> None:
    with pytest.raises(CRSError, match=rf"^{argument}: no CRS.*declare it with --crs"):
        resolve_crs(None, argument=argument)


@pytest.mark.parametrize("bad", ["", "EPSG:99999999", "not a crs", 3.5])
def test_unusable_crs_raises(bad: object) -> None:
    with pytest.raises(CRSError, match=r"^crs: expected"):
        resolve_crs(bad)  # type: ignore[arg-type]


def test_features_without_crs_are_refused(wards: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="no CRS"):
        to_wgs84(wards.set_crs(None, allow_override=True))


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (106.7300, 10.7800, "EPSG:9210"),  # An Khánh, Hồ Chí Minh City
        (106.9500, 10.4100, "EPSG:9210"),  # Cần Giờ, Hồ Chí Minh City
        (105.8342, 21.0278, "EPSG:9210"),  # Hà Nội
        (107.0840, 10.3460, "EPSG:5899"),  # Vũng Tàu, Hồ Chí Minh City since 2025
        (108.2440, 16.0680, "EPSG:5899"),  # An Hải, Đà Nẵng
        (103.0160, 21.3860, "EPSG:3405"),  # Điện Biên Phủ
        (111.6000, 16.5000, "EPSG:3406"),  # Hoàng Sa
    ],
)
def test_measure_crs_for(lon: float, lat: float, expected: str) -> None:
    assert measure_crs_for(lon, lat) == expected


def test_measure_crs_for_refuses_non_degrees() -> None:
    with pytest.raises(GISInputError, match="lon, lat: expected degrees"):
        measure_crs_for(606978.0, 1192295.0)


def test_from_wgs84_round_trip(wards: gpd.GeoDataFrame) -> None:
    vn = from_wgs84(wards, "EPSG:9210")
    assert vn.crs.to_epsg() == 9210
    assert list(vn.columns) == list(wards.columns)
    back = to_wgs84(vn)
    assert back.geom_equals_exact(wards.geometry, tolerance=1e-9).all()


def test_area_and_length_match_geodesic_measures(wards: gpd.GeoDataFrame) -> None:
    crs = measure_crs_for(*wards.union_all().centroid.coords[0])
    areas = area_km2(wards, crs)
    lengths = length_m(wards.geometry, crs)
    geodesic = [GEOD.geometry_area_perimeter(g) for g in wards.geometry]
    np.testing.assert_allclose(areas, [abs(a) / 1e6 for a, _ in geodesic], rtol=5e-4)
    np.testing.assert_allclose(lengths, [p for _, p in geodesic], rtol=5e-4)
    assert list(areas.index) == list(wards.index)


def test_measuring_in_degrees_is_refused(wards: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="measure_crs: expected a projected CRS in metres"):
        area_km2(wards, "EPSG:4326")
