"""Tests for geo.io on real ward boundaries: round trips, VN-2000 input, and bad input."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import Geod

from geo.config import DATA_DIR
from geo.crs import from_wgs84
from geo.errors import (
    CRSError,
    GeometryError,
    GISInputError,
    SwappedAxesError,
    UploadError,
)
from geo.io import SUPPORTED_FORMATS, export_bytes, read_vector, write_vector

NAMES = ["An Khánh", "Bình Trưng", "Thủ Đức"]
# dBase field names hold at most 10 bytes.
SHP_NAMES = {
    "before_merger": "before_mer",
    "admin_center": "admin_cent",
    "meta_area_km2": "meta_area_",
    "meta_population": "meta_popul",
}
PROJ_FROM_9210 = (
    "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m"
)
# A self-intersecting "bow tie" in Thủ Thiêm.
BOW_TIE = shapely.Polygon([(106.72, 10.77), (106.74, 10.79), (106.74, 10.77), (106.72, 10.79)])
GEOD = Geod(ellps="WGS84")
Samples = dict[str, bytes]


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(DATA_DIR / "wards" / "hcmc_wards_2025_new.geojson", engine="pyogrio")
    return gdf[gdf["name"].isin(NAMES)].reset_index(drop=True)


@pytest.fixture(scope="module")
def samples(wards: gpd.GeoDataFrame) -> Samples:
    """The wards as file bytes: GeoJSON, GeoPackage, and a VN-2000 zipped Shapefile."""
    vn2000 = from_wgs84(wards, "EPSG:9210")
    return {
        "geojson": export_bytes(wards, "geojson", name="w")[0],
        "gpkg": export_bytes(wards, "gpkg", name="w")[0],
        "zip": export_bytes(vn2000, "shp", name="w")[0],
    }


def zipped(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members:
            archive.writestr(member, data)
    return buffer.getvalue()


def without_prj(zip_bytes: bytes) -> bytes:
    with zipfile.ZipFile(BytesIO(zip_bytes)) as archive:
        names = [n for n in archive.namelist() if not n.endswith(".prj")]
        return zipped([(n, archive.read(n)) for n in names])


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def feature_collection(*geometries: shapely.Geometry | None) -> bytes:
    gdf = gpd.GeoDataFrame({"label": range(len(geometries))}, geometry=list(geometries))
    return gdf.set_crs("EPSG:4326").to_json().encode()


def max_offset_m(got: gpd.GeoSeries, expected: gpd.GeoSeries) -> float:
    """The largest distance between corresponding vertices, in metres."""
    a = shapely.get_coordinates(shapely.normalize(np.asarray(got.array)))
    b = shapely.get_coordinates(shapely.normalize(np.asarray(expected.array)))
    assert a.shape == b.shape
    return float(GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2].max())


@pytest.mark.parametrize("fmt", list(SUPPORTED_FORMATS))
def test_round_trip(wards: gpd.GeoDataFrame, fmt: str, tmp_path: Path) -> None:
    path = write_vector(wards, tmp_path / f"wards{SUPPORTED_FORMATS[fmt].extensions[0]}")
    result = read_vector(path)
    got, expected = result.gdf, wards
    assert result.n_features == 3
    assert got.crs.to_epsg() == 4326
    assert list(got["name"]) == NAMES
    assert list(got["ward_code"].astype(str)) == list(wards["ward_code"])
    if fmt == "shp":
        expected = wards.rename(columns=SHP_NAMES)
    if fmt == "csv":  # lon/lat are the centroids; numeric-looking codes are read as numbers
        got = got.drop(columns=["lon", "lat"]).astype({"ward_code": str})
    assert_geodataframe_equal(
        got,
        expected,
        check_like=True,
        check_less_precise=True,
        normalize=True,
        check_dtype=fmt != "csv",
    )


@pytest.mark.parametrize("fmt", list(SUPPORTED_FORMATS))
def test_export_bytes_reads_back(wards: gpd.GeoDataFrame, fmt: str) -> None:
    data, filename, mime = export_bytes(wards, fmt, name="Phường An Khánh.geojson")
    info = SUPPORTED_FORMATS[fmt]
    assert filename == f"Phường_An_Khánh{info.extensions[0]}"
    assert mime == info.mime
    result = read_vector(data, filename=filename)
    assert list(result.gdf["name"]) == NAMES


def test_shapefile_zip_declares_utf8(wards: gpd.GeoDataFrame) -> None:
    data, _, _ = export_bytes(wards, "shp", name="wards")
    with zipfile.ZipFile(BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [
            f"wards.{e}" for e in ("cpg", "dbf", "prj", "shp", "shx")
        ]
        assert archive.read("wards.cpg").decode().strip() == "UTF-8"


def test_csv_of_points_has_lon_lat_columns(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    centres = wards.set_geometry(shapely.centroid(np.asarray(wards.geometry.array)))
    path = write_vector(centres[["ward_code", "name", "geometry"]], tmp_path / "centres.csv")
    assert path.read_text(encoding="utf-8-sig").splitlines()[0] == "ward_code,name,lon,lat"
    got = read_vector(path).gdf
    assert got.geometry.geom_equals_exact(centres.geometry, tolerance=1e-12).all()


@pytest.mark.parametrize(
    "text",
    [
        "ward_code,name,lon,lat\n00004,Ba Đình,105.8342,21.0278\n",
        "ward_code;name;Kinh_Do;Vi_Do\n00004;Ba Đình;105,8342;21,0278\n",
        "ward_code\tname\tLongitude\tLatitude\n00004\tBa Đình\t105.8342\t21.0278\n",
        'ward_code,name,WKT\n00004,Ba Đình,"POINT (105.8342 21.0278)"\n',
    ],
    ids=["comma", "semicolon-decimal-comma", "tab", "wkt"],
)
def test_csv_dialects_and_codes_with_leading_zeros(text: str) -> None:
    result = read_vector(text.encode("utf-8"), filename="points.csv")
    assert result.gdf["ward_code"].tolist() == ["00004"]
    assert result.gdf["name"].tolist() == ["Ba Đình"]
    assert result.gdf.geometry.iloc[0].equals_exact(shapely.Point(105.8342, 21.0278), 1e-12)
    assert any("EPSG:4326" in w for w in result.warnings)


@pytest.mark.parametrize("fmt", ["shp", "gpkg"])
def test_vn2000_input_lands_within_1_cm(wards: gpd.GeoDataFrame, fmt: str, tmp_path: Path) -> None:
    vn2000 = from_wgs84(wards, "EPSG:9210")
    path = write_vector(vn2000, tmp_path / f"vn2000{SUPPORTED_FORMATS[fmt].extensions[0]}")
    result = read_vector(path)
    assert result.source_crs == "EPSG:9210"
    assert max_offset_m(result.gdf.geometry, wards.geometry) < 0.01


def test_vn2000_proj_string_declared_for_shapefile_without_prj(
    wards: gpd.GeoDataFrame, samples: Samples
) -> None:
    result = read_vector(without_prj(samples["zip"]), filename="w.zip", crs=PROJ_FROM_9210)
    assert result.source_crs == "EPSG:9210"
    assert max_offset_m(result.gdf.geometry, wards.geometry) < 0.01


def test_swapped_northing_easting_and_swap_xy(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    vn2000 = from_wgs84(wards, "EPSG:9210")
    swapped = vn2000.set_geometry(
        shapely.transform(np.asarray(vn2000.geometry.array), lambda c: c[:, ::-1])
    )
    path = write_vector(swapped, tmp_path / "swapped.zip")
    with pytest.raises(SwappedAxesError, match=r"swapped\.zip: x and y look swapped"):
        read_vector(path)
    result = read_vector(path, swap_xy=True)
    assert max_offset_m(result.gdf.geometry, wards.geometry) < 0.01


def test_swapped_lat_lon_csv(wards: gpd.GeoDataFrame) -> None:
    an_khanh = shapely.centroid(wards.geometry.iloc[0])
    text = f"name,lon,lat\nAn Khánh,{an_khanh.y},{an_khanh.x}\n".encode()
    with pytest.raises(SwappedAxesError, match=r"x \(column 'lon'\) spans 10\.7.*--swap-xy"):
        read_vector(text, filename="an_khanh.csv")
    result = read_vector(text, filename="an_khanh.csv", swap_xy=True)
    assert result.gdf.geometry.iloc[0].equals_exact(an_khanh, 1e-12)


def test_invalid_geometry_is_refused_or_repaired() -> None:
    data = feature_collection(shapely.box(106.72, 10.77, 106.73, 10.78), BOW_TIE)
    with pytest.raises(GeometryError, match=r"1 invalid \(row 2: Self-intersection.*repair=True"):
        read_vector(data, filename="thu_thiem.geojson")
    result = read_vector(data, filename="thu_thiem.geojson", repair=True)
    assert result.gdf.is_valid.all()
    assert result.gdf.geom_type.tolist() == ["Polygon", "MultiPolygon"]
    assert result.warnings == ["repaired 1 geometries (rows 2) with make_valid"]


def test_gpkg_layers(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    wards.iloc[:1].to_file(path, layer="first", engine="pyogrio")
    wards.iloc[1:].to_file(path, layer="second", engine="pyogrio")
    first = read_vector(path)
    assert first.n_features == 1
    assert first.warnings == [
        "two.gpkg holds layers first, second; read 'first', choose with layer"
    ]
    assert read_vector(path, layer="second").n_features == 2
    with pytest.raises(UploadError, match=r"layer: expected one of first, second in two\.gpkg"):
        read_vector(path, layer="third")


def test_bare_shp_path_needs_its_siblings(samples: Samples, tmp_path: Path) -> None:
    with zipfile.ZipFile(BytesIO(samples["zip"])) as archive:
        archive.extractall(tmp_path)
    assert read_vector(tmp_path / "w.shp").n_features == 3
    (tmp_path / "w.dbf").unlink()
    with pytest.raises(
        UploadError, match=r"w\.shp: expected w\.shp with w\.shx and w\.dbf beside it"
    ):
        read_vector(tmp_path / "w.shp")


def test_path_with_upload_filename(samples: Samples, tmp_path: Path) -> None:
    path = tmp_path / "streamlit-upload-1234"
    path.write_bytes(samples["geojson"])
    assert read_vector(path, filename="wards.geojson").n_features == 3


BadCase = tuple[Callable[[Samples], bytes], str, dict[str, object], type[Exception], str]
BAD_INPUT: dict[str, BadCase] = {
    "truncated-geojson": (
        lambda s: s["geojson"][: len(s["geojson"]) // 2], "w.geojson", {},
        UploadError, "w.geojson: expected a readable GeoJSON file",
    ),
    "truncated-gpkg": (
        lambda s: s["gpkg"][: len(s["gpkg"]) // 2], "w.gpkg", {},
        UploadError, "w.gpkg: expected a readable GeoPackage file",
    ),
    "truncated-zip": (
        lambda s: s["zip"][: len(s["zip"]) // 2], "w.zip", {},
        UploadError, "w.zip: expected a valid zip archive; it is damaged or truncated",
    ),
    "png-named-geojson": (
        lambda s: b"\x89PNG\r\n\x1a\n" + bytes(64), "w.geojson", {},
        UploadError, "w.geojson: expected GeoJSON text starting with '{'; found a PNG image",
    ),
    "text-named-gpkg": (
        lambda s: b"ward_code,name\n", "w.gpkg", {},
        UploadError, "w.gpkg: expected a GeoPackage \\(SQLite\\) database; found text",
    ),
    "zip-named-geojson": (
        lambda s: s["zip"], "w.geojson", {},
        UploadError, "w.geojson: expected GeoJSON text .* found a zip archive",
    ),
    "unsupported-extension": (
        lambda s: b"hello", "w.txt", {},
        UploadError, "filename: expected a file ending in .geojson, .* got 'w.txt'",
    ),
    "empty-file": (lambda s: b"", "w.geojson", {}, UploadError, "w.geojson: .* got 0 bytes"),
    "no-features": (
        lambda s: b'{"type": "FeatureCollection", "features": []}', "w.geojson", {},
        UploadError, "w.geojson: expected at least one feature",
    ),
    "oversized": (
        lambda s: s["geojson"], "w.geojson", {"max_bytes": 1000},
        UploadError, "w.geojson: expected at most 1,000 bytes, got",
    ),
    "zip-slip": (
        lambda s: zipped([("w.shx", b""), ("../evil.shp", b"")]), "w.zip", {},
        UploadError, "w.zip: expected relative paths in the zip, got '../evil.shp' \\(zip slip\\)",
    ),
    "zip-absolute-path": (
        lambda s: zipped([("/tmp/evil.shp", b"")]), "w.zip", {},
        UploadError, "zip slip",
    ),
    "zip-symlink": (
        lambda s: zipped([(symlink("w.shp"), b"/etc/passwd")]), "w.zip", {},
        UploadError, "w.zip: expected regular files in the zip, got symbolic link 'w.shp'",
    ),
    "zip-bomb": (
        lambda s: zipped([("w.shp", bytes(3_000_000))]), "w.zip", {"max_bytes": 100_000},
        UploadError, "w.zip: expected at most 1.9 MB unzipped, got 2.9 MB",
    ),
    "zip-too-many-members": (
        lambda s: zipped([(f"f{i}.txt", b"") for i in range(1001)]), "w.zip", {},
        UploadError, "w.zip: expected at most 1000 files in the zip, got 1001",
    ),
    "zip-without-shapefile": (
        lambda s: zipped([("a.txt", b"hello")]), "data.zip", {},
        UploadError, "data.zip: expected a zipped Shapefile .* found only a.txt",
    ),
    "zip-without-dbf": (
        lambda s: zipped([("w.shp", b""), ("w.shx", b"")]), "w.zip", {},
        UploadError, "w.zip: expected w.shp with w.shx and w.dbf beside it; missing w.dbf",
    ),
    "bare-shp-upload": (
        lambda s: b"\x00\x00\x27\x0a" + bytes(96), "w.shp", {},
        UploadError, "w.shp: expected a .zip holding .shp, .shx, .dbf and .prj",
    ),
    "no-crs": (
        lambda s: without_prj(s["zip"]), "w.zip", {},
        CRSError, "w.zip: no CRS: .* \\.prj, which is missing\\); declare it with --crs",
    ),
    "vn2000-metres-declared-as-degrees": (
        lambda s: without_prj(s["zip"]), "w.zip", {"crs": "EPSG:4326"},
        CRSError, "w.zip: the CRS EPSG:4326 .* look like metres, e.g. VN-2000 .*EPSG:9210",
    ),
    "outside-vietnam": (
        lambda s: b"name,lon,lat\nBangkok,100.5018,13.7563\n", "w.csv", {},
        CRSError, "w.csv: expected data in Vietnam .* found lon 100.5018..100.5018, lat 13.7563",
    ),
    "null-geometry": (
        lambda s: feature_collection(shapely.Point(106.73, 10.78), None), "w.geojson", {},
        GeometryError, "w.geojson: expected a geometry on every row; rows 2",
    ),
    "csv-without-coordinates": (
        lambda s: b"name,address\nAn Kh\xc3\xa1nh,x\n", "w.csv", {},
        UploadError, "w.csv: expected longitude/latitude columns .* found name, address",
    ),
    "csv-not-numbers": (
        lambda s: b"name,lon,lat\nA,106.7,10.7\nB,east,10.8\n", "w.csv", {},
        UploadError, "w.csv: column 'lon': expected numbers; rows 2 hold other text",
    ),
    "csv-bad-wkt": (
        lambda s: b"name,wkt\nA,POINT (106.7 10.7)\nB,POLYGON ((1 2\n", "w.csv", {},
        GeometryError, "w.csv: column 'wkt': expected WKT .* rows 2 could not be parsed",
    ),
    "csv-not-utf8": (
        lambda s: "name,lon,lat\nAn Khánh,106.7,10.7\n".encode("cp1258"), "w.csv", {},
        UploadError, "w.csv: expected UTF-8 text",
    ),
    "unknown-crs": (
        lambda s: s["geojson"], "w.geojson", {"crs": "EPSG:99999999"},
        CRSError, "crs: expected an EPSG code",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_raises_a_clear_error(case: str, samples: Samples) -> None:
    build, filename, kwargs, error, message = BAD_INPUT[case]
    with pytest.raises(error, match=message):
        read_vector(build(samples), filename=filename, **kwargs)  # type: ignore[arg-type]


def test_broken_file_keeps_gdal_cause(samples: Samples) -> None:
    with pytest.raises(UploadError) as caught:
        read_vector(samples["geojson"][:100], filename="w.geojson")
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        (b"{}", {}, "filename: expected the file's name"),
        (42, {"filename": "w.geojson"}, "source: expected a file path or bytes, got int"),
        ("/no/such/file.geojson", {}, "source: expected an existing file"),
        (b"{}", {"filename": "w.geojson", "max_bytes": 0}, "max_bytes: expected a positive"),
    ],
)
def test_bad_arguments(source: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GISInputError, match=message):
        read_vector(source, **kwargs)  # type: ignore[arg-type]


def test_write_refuses_features_without_crs(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    with pytest.raises(CRSError, match="gdf: no CRS"):
        write_vector(wards.set_crs(None, allow_override=True), tmp_path / "w.gpkg")


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("w.txt", None, "path: expected a .geojson, .gpkg, .zip, .kml or .csv name"),
        ("w.shp", "shp", "path: expected a .zip name for 'shp', got 'w.shp'"),
        ("w.gpkg", "xlsx", "fmt: expected one of geojson, gpkg, shp, kml, csv, got 'xlsx'"),
    ],
)
def test_write_refuses_bad_targets(
    wards: gpd.GeoDataFrame, tmp_path: Path, name: str, fmt: str | None, message: str
) -> None:
    with pytest.raises(GISInputError, match=message):
        write_vector(wards, tmp_path / name, fmt=fmt)


def test_failed_write_leaves_nothing_behind(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    mixed = wards.copy()
    mixed.loc[0, "geometry"] = shapely.Point(106.73, 10.78)
    with pytest.raises(GISInputError, match="gdf: expected one geometry type for a Shapefile"):
        write_vector(mixed, tmp_path / "mixed.zip")
    assert list(tmp_path.iterdir()) == []


def test_shapefile_text_is_cut_at_254_bytes_on_a_letter_boundary(
    wards: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    long = wards.iloc[:1].copy()
    long["ghi_chu"] = "Nguyễn Văn Hưởng " * 40  # 27 bytes a time, over 1 000 bytes
    data, _, _ = export_bytes(long, "shp", name="long")
    back = read_vector(data, filename="long.zip").gdf
    text = back["ghi_chu"].iloc[0]
    assert len(text.encode("utf-8")) <= 254
    assert ("Nguyễn Văn Hưởng " * 40).startswith(text)  # a prefix: no broken letter
    assert len(text.encode("utf-8")) > 240


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_legacy_text_read_byte_for_byte_into_geojson_is_repaired(
    wards: gpd.GeoDataFrame, encoding: str
) -> None:
    from geo import vnenc

    garbled = wards.iloc[:2][["name", "geometry"]].copy()
    garbled["name"] = [vnenc.encode(n, encoding).decode("latin-1") for n in garbled["name"]]
    data, _, _ = export_bytes(garbled, "geojson", name="g")
    as_is = read_vector(data, filename="g.geojson")
    assert as_is.gdf["name"].tolist() == garbled["name"].tolist()
    fixed = read_vector(data, filename="g.geojson", encoding=encoding)
    assert fixed.gdf["name"].tolist() == wards["name"].iloc[:2].tolist()
    assert fixed.encoding == encoding


def test_legacy_encoding_refused_for_real_unicode(wards: gpd.GeoDataFrame) -> None:
    data, _, _ = export_bytes(wards, "geojson", name="u")
    with pytest.raises(GISInputError, match="choose utf-8"):
        read_vector(data, filename="u.geojson", encoding="tcvn3")


def test_unknown_encoding_is_refused(samples: Samples) -> None:
    with pytest.raises(GISInputError, match="encoding: expected one of utf-8"):
        read_vector(samples["geojson"], filename="w.geojson", encoding="latin9")


def test_keep_bad_rows_lists_them_instead_of_refusing() -> None:
    good = shapely.box(106.72, 10.77, 106.721, 10.771)
    frame = gpd.GeoDataFrame({"n": [1, 2, 3]}, geometry=[good, BOW_TIE, None], crs=4326)
    data, _, _ = export_bytes(frame, "gpkg", name="bad")
    with pytest.raises(GeometryError):
        read_vector(data, filename="bad.gpkg")
    result = read_vector(data, filename="bad.gpkg", keep_bad_rows=True)
    assert result.n_features == 3
    assert set(result.bad_rows) == {1, 2}
    assert result.bad_rows[1].startswith("invalid geometry: Self-intersection")
    assert "no geometry" in result.bad_rows[2]
    repaired = read_vector(data, filename="bad.gpkg", keep_bad_rows=True, repair=True)
    assert set(repaired.bad_rows) == {2}
