"""Hostile and broken input at every entry point, each refused (or repaired) with a clear message.

The coverage table is ``docs/hostile-input.md``: entry point x input -> test -> behaviour. Cases
already tested elsewhere (``tests/test_io.py`` and the others) are listed there, not repeated
here. Every fixture is written by the test itself into ``tmp_path`` with an explicit CRS; the
store tests run on GeoPackage and PostGIS.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from shapely.geometry import Point, box

from geo import raster, streets, tables, vnenc
from geo.errors import (
    CRSError,
    GeometryError,
    GISInputError,
    SwappedAxesError,
    UploadError,
)
from geo.io import export_bytes, read_vector
from ui import elevation as ui_elevation

# A 10 m square in Thủ Thiêm (ward An Khánh), and a "bow tie" beside it.
LON0, LAT0 = 106.7145, 10.7705
SQUARE = box(LON0, LAT0, LON0 + 0.0001, LAT0 + 0.0001)
BOW_TIE = shapely.Polygon(
    [(LON0, LAT0), (LON0 + 0.0002, LAT0 + 0.0002), (LON0 + 0.0002, LAT0), (LON0, LAT0 + 0.0002)]
)
XSS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
)
SQL = (
    "'; DROP TABLE features; --",
    "Robert'); DROP TABLE layers;--",
    'O\'Brien "quoted"',
    "100% _under_ back\\slash",
    "%",
    "_",
    "?p %s $1 :name",
)
FORMULAS = ('=HYPERLINK("http://x","bấm")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "'=1")


def zipped(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members:
            archive.writestr(member, data)
    return buffer.getvalue()


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def encrypted(data: bytes) -> bytes:
    """The zip with the 'encrypted' flag set on its members (zipfile cannot write encryption)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        for match in re.finditer(re.escape(signature), bytes(out)):
            out[match.start() + offset] |= 0x1
    return bytes(out)


def geojson(*geometries: shapely.Geometry | None, **columns: list[Any]) -> bytes:
    data = columns or {"n": list(range(len(geometries)))}
    return gpd.GeoDataFrame(data, geometry=list(geometries), crs=4326).to_json().encode()


def shapefile_zip(gdf: gpd.GeoDataFrame) -> bytes:
    return export_bytes(gdf, "shp", name="w")[0]


@pytest.fixture
def no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a zip is unpacked at all: its checks must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip was unpacked before it was checked")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


# --- Archives: zip slip, links, bombs, nesting --------------------------------------------------


ZIP_CASES: dict[str, tuple[bytes, dict[str, Any], str]] = {
    "backslash-slip": (
        zipped([("..\\evil.shp", b"x")]), {},
        r"expected relative paths .* '\.\.\\\\evil\.shp' \(zip slip\)",
    ),
    "drive-letter": (
        zipped([("C:/evil.shp", b"x")]), {}, r"expected relative .* 'C:/evil\.shp' \(zip slip\)"
    ),
    "deep-slip": (
        zipped([("a/b/../../../evil.shp", b"x")]), {}, r"expected relative .* \(zip slip\)"
    ),
    "symlink-in-folder": (
        zipped([("data/w.shx", b""), (symlink("data/w.shp"), b"/etc/passwd")]), {},
        r"expected regular files in the zip, got symbolic link 'data/w\.shp'",
    ),
    "encrypted": (
        encrypted(zipped([("w.shp", b"x")])), {}, r"expected an unencrypted zip, got 'w\.shp'"
    ),
    "bomb-ratio": (
        zipped([("w.shp", bytes(40_000_000)), ("w.shx", b""), ("w.dbf", b"")]), {},
        r"expected a zip that unpacks to at most 500 times its size; its [\d,]+ bytes would "
        r"unpack to 38\.1 MB .*zip bomb",
    ),
    "bomb-total": (
        zipped([("w.shp", bytes(3_000_000))]), {"max_bytes": 100_000},
        r"expected at most 1\.9 MB unzipped, got 2\.9 MB",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ZIP_CASES))
@pytest.mark.usefixtures("no_extraction")
def test_hostile_zip_is_refused_before_anything_is_unpacked(case: str) -> None:
    data, kwargs, message = ZIP_CASES[case]
    with pytest.raises(UploadError, match=r"^w\.zip: " + message):
        read_vector(data, filename="w.zip", **kwargs)


def test_a_zip_inside_the_zip_is_named_not_unpacked() -> None:
    data = zipped([("inner.zip", zipped([("w.shp", b"x")]))])
    message = (
        r"^w\.zip: expected the Shapefile's .* directly in the zip; got an archive inside it "
        r"\('inner\.zip'\), which is not unpacked"
    )
    with pytest.raises(UploadError, match=message):
        read_vector(data, filename="w.zip")


def test_zip_member_lying_about_its_size_is_cut_at_it_and_refused() -> None:
    """A member declaring 1 000 bytes that inflates to 5 MB: zipfile stops at 1 000, CRC fails."""
    data = bytearray(zipped([("w.shp", bytes(5_000_000)), ("w.shx", b""), ("w.dbf", b"")]))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.index(signature)  # the first member in each header table
        data[at + offset : at + offset + 4] = struct.pack("<I", 1000)
    with pytest.raises(UploadError, match=r"w\.zip: expected a valid zip archive; .*CRC"):
        read_vector(bytes(data), filename="w.zip")


def test_oversized_file_on_disk_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.geojson"
    path.write_bytes(b"{" + b" " * 5000 + b"}")
    with pytest.raises(UploadError, match=r"big\.geojson: expected at most 1,000 bytes, got 5,002"):
        read_vector(path, max_bytes=1000)


# --- Files that lie about their type -----------------------------------------------------------

PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (HTML, "w.zip", r"w\.zip: expected a zip archive; found an HTML page"),
        (PNG, "w.shp", r"w\.shp: expected a Shapefile \.shp; found a PNG image"),
        (PE, "w.geojson", r"w\.geojson: expected GeoJSON text .*; found a Windows program"),
        (ELF, "w.geojson", r"w\.geojson: expected GeoJSON text .*; found a Linux program \(ELF\)"),
        (ELF, "w.json", r"w\.json: expected GeoJSON .*; found a Linux program"),
        (HTML, "w.kml", r"w\.kml: expected KML \(XML\) text .*; found an HTML page"),
        (b"  <html><body>", "w.csv", r"w\.csv: expected CSV text; found an HTML page"),
        (b"name,lon,lat\nA\x00,106.7,10.7\n", "w.csv", r"w\.csv: expected CSV text; found binary"),
        (PNG, "w.gpkg", r"w\.gpkg: expected a GeoPackage \(SQLite\) database; found a PNG"),
        (b"PK\x03\x04" + bytes(60), "w.gpkg", r"w\.gpkg: expected a GeoPackage .* a zip archive"),
    ],
)
def test_a_file_that_lies_about_its_type_is_refused(
    data: bytes, filename: str, message: str
) -> None:
    with pytest.raises(UploadError, match=message):
        read_vector(data, filename=filename)


def test_a_png_saved_as_shp_on_disk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.shp"
    path.write_bytes(PNG)
    with pytest.raises(UploadError, match=r"w\.shp: expected a Shapefile \.shp; found a PNG"):
        read_vector(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"name,lon,lat\n" + b"A,106.7,10.78\n" * 9 + b"B\x00C,106.7,10.78\n",
         r"column 'name': expected text without NUL characters .* rows 10 hold one"),
        (b"lon,lat,ghi_chu\n" + b"106.7,10.78,b\n" * 9 + b"106.7,10.78,\"a\x00\"\n",
         r"column 'ghi_chu': expected text without NUL .* rows 10 hold one"),
    ],
)  # fmt: skip
def test_a_csv_with_nul_bytes_past_its_start_is_refused(text: bytes, message: str) -> None:
    with pytest.raises(UploadError, match=r"^w\.csv: " + message):
        read_vector(text, filename="w.csv")


KML_POINT = (
    b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&e;</name>'
    b"<Point><coordinates>106.7,10.78</coordinates></Point></Placemark></Document></kml>"
)


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE kml [<!ENTITY e SYSTEM "file:///etc/hostname">]>',
        b'<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY e "&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    ],
    ids=["xxe", "entity-expansion"],
)
def test_kml_with_entities_is_refused(doctype: bytes) -> None:
    with pytest.raises(UploadError, match=r"x\.kml: expected a readable KML file"):
        read_vector(b'<?xml version="1.0"?>' + doctype + KML_POINT, filename="x.kml")


# --- Geometry: invalid, empty, non-finite ---------------------------------------------------------


def test_bow_ties_are_refused_without_consent_and_counted_when_repaired() -> None:
    shifted = shapely.affinity.translate(BOW_TIE, 0.001)
    data = geojson(BOW_TIE, SQUARE, shifted)
    with pytest.raises(GeometryError) as caught:
        read_vector(data, filename="thua.geojson")
    message = str(caught.value)
    assert message.startswith("thua.geojson: expected valid geometries; 2 invalid (row 1: Self")
    assert "row 3: Self-intersection" in message
    assert "tick 'repair' in the import form or pass repair=True" in message
    repaired = read_vector(data, filename="thua.geojson", repair=True)
    assert repaired.warnings == ["repaired 2 geometries (rows 1, 3) with make_valid"]
    assert repaired.gdf.is_valid.all()
    assert repaired.gdf.geometry.iloc[1].equals(SQUARE)  # a valid row is left alone


@pytest.mark.parametrize(
    ("data", "filename", "rows"),
    [
        (geojson(SQUARE, shapely.GeometryCollection()), "w.geojson", "rows 2"),
        (geojson(shapely.Polygon(), SQUARE), "w.geojson", "rows 1"),
        (b"name,wkt\nA,POINT (106.7 10.78)\nB,POLYGON EMPTY\n", "w.csv", "rows 2"),
        (b"name,lon,lat\nA,106.7,10.78\nB,,\n", "w.csv", "rows 2"),
    ],
)
def test_empty_geometries_are_refused_by_row(data: bytes, filename: str, rows: str) -> None:
    with pytest.raises(GeometryError, match=f"expected a geometry on every row; {rows} "):
        read_vector(data, filename=filename)


NON_FINITE = {
    "csv-inf": (b"name,lon,lat\nA,106.7,10.78\nB,inf,10.78\n", "w.csv", "rows 2"),
    "csv-minus-inf": (b"name,lon,lat\nA,-inf,10.78\nB,106.7,10.78\n", "w.csv", "rows 1"),
    "wkt-nan-vertex": (
        b'name,wkt\nA,POINT (106.7 10.78)\nB,"LINESTRING (106.7 10.7, nan 10.8)"\n', "w.csv",
        "rows 2",
    ),
    "geojson-nan": (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        b'"geometry":{"type":"Point","coordinates":[NaN,10.7]}}]}', "w.geojson", "rows 1",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NON_FINITE))
def test_nan_or_infinite_coordinates_are_refused_by_row(case: str) -> None:
    """Regression: they were refused as 'projected metres', or crashed on a NumPy warning."""
    data, filename, rows = NON_FINITE[case]
    with pytest.raises(GeometryError, match=f"expected finite coordinates; {rows} .* NaN or inf"):
        read_vector(data, filename=filename)


def test_nan_coordinates_are_bad_rows_when_rows_are_kept() -> None:
    data, filename, _ = NON_FINITE["csv-inf"]
    result = read_vector(data, filename=filename, keep_bad_rows=True)
    assert result.bad_rows == {1: "coordinates that are not numbers (NaN or infinity)"}
    assert result.gdf.geometry.iloc[1] is None
    assert result.gdf.geometry.iloc[0].equals(Point(106.7, 10.78))


# --- Coordinates: outside Vietnam, swapped, no CRS, wrong CRS -------------------------------------

PARIS = Point(2.3522, 48.8566)


@pytest.mark.parametrize(
    ("data", "filename", "kwargs", "found"),
    [
        (b"name,lon,lat\nParis,2.3522,48.8566\n", "w.csv", {}, "lon 2.3522..2.3522"),
        (geojson(PARIS.buffer(0.001)), "w.geojson", {}, "lon 2.3512..2.3532"),
        (
            shapefile_zip(gpd.GeoDataFrame({"n": [1]}, geometry=[PARIS], crs=4326).to_crs(2154)),
            "w.zip", {}, "lon 2.3522..2.3522, lat 48.8566..48.8566 in EPSG:2154",
        ),
        (b"name,x,y\nA,652000,6862000\n", "w.csv", {"crs": "EPSG:2154"}, "lon 2.3458..2.3458"),
    ],
)  # fmt: skip
def test_data_in_france_is_refused(
    data: bytes, filename: str, kwargs: dict[str, Any], found: str
) -> None:
    with pytest.raises(CRSError) as caught:
        read_vector(data, filename=filename, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{filename}: expected data in Vietnam (lon 101.5..118.0")
    assert found in message
    assert "check the CRS" in message


def test_swapped_lat_lon_in_geojson_is_explained_and_swap_xy_reads_it() -> None:
    swapped = shapely.transform(SQUARE, lambda c: c[:, ::-1])
    data = geojson(swapped)
    with pytest.raises(SwappedAxesError, match=r"x and y look swapped .* pass --swap-xy"):
        read_vector(data, filename="w.geojson")
    fixed = read_vector(data, filename="w.geojson", swap_xy=True)
    assert shapely.equals_exact(fixed.gdf.geometry.iloc[0], SQUARE, 1e-12)


def test_a_geopackage_without_crs_is_refused_with_the_hint_to_declare_one(tmp_path: Path) -> None:
    path = tmp_path / "khong_crs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame({"n": [1]}, geometry=[SQUARE]).to_file(path, engine="pyogrio")
    with pytest.raises(CRSError, match=r"khong_crs\.gpkg: no CRS: .*declare it with --crs"):
        read_vector(path)
    assert read_vector(path, crs="EPSG:4326").n_features == 1


@pytest.mark.parametrize(
    ("text", "crs"),
    [
        (b"name,x,y\nA,600000,1190000\n", None),  # a CSV without CRS is taken as lon/lat
        (b"name,x,y\nA,600000,1190000\n", "EPSG:4326"),
        (b'name,wkt\nA,"POINT (600000 1190000)"\n', "EPSG:4326"),
    ],
)
def test_vn2000_metres_declared_as_degrees_are_explained(text: bytes, crs: str | None) -> None:
    with pytest.raises(CRSError) as caught:
        read_vector(text, filename="w.csv", crs=crs)
    message = str(caught.value)
    assert "x spans 600000..600000 and y 1190000..1190000, beyond ±180/±90" in message
    assert "these look like metres, e.g. VN-2000 / TM-3 105-45 (EPSG:9210)" in message
    result = read_vector(text, filename="w.csv", crs="EPSG:9210")
    lon, lat = result.gdf.geometry.iloc[0].x, result.gdf.geometry.iloc[0].y
    assert 106.6 < lon < 106.8 and 10.7 < lat < 10.8  # District 1/Thủ Thiêm


# --- Legacy encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_legacy_dbf_beside_a_bare_shp_without_cpg_is_decoded(tmp_path: Path, encoding: str) -> None:
    names = ["Nguyễn Văn Hưởng", "Phường Thủ Thiêm", "Đặng Thị Mỹ Dung"]
    gdf = gpd.GeoDataFrame(
        {"TEN_CHU": [vnenc.encode(n, encoding).decode("latin-1") for n in names]},
        geometry=[shapely.affinity.translate(SQUARE, 0.0002 * i) for i in range(3)],
        crs=4326,
    )
    gdf.to_file(tmp_path / "thua.shp", engine="pyogrio", encoding="latin1")
    (tmp_path / "thua.cpg").unlink(missing_ok=True)
    assert vnenc.encode("Hưởng", encoding) in (tmp_path / "thua.dbf").read_bytes()
    result = read_vector(tmp_path / "thua.shp")
    assert result.encoding == encoding
    assert result.gdf["TEN_CHU"].tolist() == names
    assert any(vnenc.LABELS[encoding] in w for w in result.warnings)


# --- OpenStreetMap files ------------------------------------------------------------------------

OSM_WAY = (
    b'<osm version="0.6"><node id="1" lat="10.780" lon="106.690"/>'
    b'<node id="2" lat="10.781" lon="106.691"/><way id="3"><nd ref="1"/><nd ref="2"/>'
    b'<tag k="highway" v="primary"/><tag k="name" v="&e;"/></way></osm>'
)
LAUGHS = b"".join(
    b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol") for i in range(10)
)
DOCTYPES = {
    "billion-laughs": b"<!DOCTYPE osm [" + LAUGHS + b'<!ENTITY e "&l9;">]>',
    "xxe-file": b'<!DOCTYPE osm [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    "xxe-url": b'<!DOCTYPE osm [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>',
    "internal-entity": '<!DOCTYPE osm [<!ENTITY e "Lê Lợi">]>'.encode(),
}


@pytest.mark.parametrize("case", list(DOCTYPES))
def test_osm_with_a_doctype_is_refused_before_parsing(tmp_path: Path, case: str) -> None:
    path = tmp_path / "phuong.osm"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPES[case] + OSM_WAY)
    with pytest.raises(UploadError) as caught:
        streets.read_streets(path)
    message = str(caught.value)
    assert message.startswith("phuong.osm: expected OpenStreetMap XML, which has no DOCTYPE")
    assert "expand without bound or read local files" in message


def test_an_entity_bomb_past_the_prolog_scan_is_still_stopped_by_expat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streets, "PROLOG_BYTES", 16)  # the DOCTYPE lies beyond the scan
    path = tmp_path / "bomb.osm"
    path.write_bytes(b'<?xml version="1.0"?>\n' + DOCTYPES["billion-laughs"] + OSM_WAY)
    with pytest.raises(UploadError, match=r"bomb\.osm: .* does not parse: limit on input amp"):
        streets.read_osm(path)


@pytest.fixture(scope="module")
def sample_pbf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import osmium

    path = tmp_path_factory.mktemp("pbf") / "sample.osm.pbf"
    with osmium.SimpleWriter(str(path)) as writer:
        for obj in osmium.FileProcessor(str(streets.SAMPLE_OSM)):
            writer.add(obj)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda pbf: np.random.default_rng(1).bytes(4096), "expected an OpenStreetMap PBF file"),
        (lambda pbf: b"", "expected an OpenStreetMap PBF file"),
        (lambda pbf: pbf[: len(pbf) // 2], "expected an OpenStreetMap PBF file"),
        (lambda pbf: b"<osm version='0.6'></osm>", "expected an OpenStreetMap PBF file"),
    ],
    ids=["random-bytes", "empty", "truncated", "xml-named-pbf"],
)
def test_a_broken_pbf_is_refused(
    tmp_path: Path, sample_pbf: bytes, make: Callable[[bytes], bytes], message: str
) -> None:
    path = tmp_path / "phuong.osm.pbf"
    path.write_bytes(make(sample_pbf))
    with pytest.raises(UploadError, match=r"^phuong\.osm\.pbf: " + message):
        streets.read_streets(path)
    assert list(tmp_path.iterdir()) == [path]  # nothing left beside it


def test_the_sample_as_pbf_reads(tmp_path: Path, sample_pbf: bytes) -> None:
    path = tmp_path / "phuong.osm.pbf"
    path.write_bytes(sample_pbf)
    assert streets.read_streets(path).number_of_edges() > 100  # the broken cases above can fail


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (OSM_WAY.replace(b"&e;", b"x")[:-40], "does not parse"),
        (OSM_WAY.replace(b"&e;", b"x") + b"<osm/>", "does not parse: junk after document"),
        (b"\xef\xbb\xbf<html><body>Not found</body></html>", "expected an <osm> document"),
        (b'{"version": 0.6, "elements": []}', "does not parse: not well-formed"),
    ],
    ids=["truncated", "two-roots", "html", "osm-json"],
)
def test_malformed_osm_xml_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "phuong.osm"
    path.write_bytes(content)
    with pytest.raises(UploadError, match=r"^phuong\.osm: .*" + message):
        streets.read_streets(path)


# --- Rasters ------------------------------------------------------------------------------------

UTM_ORIGIN = Affine(10.0, 0.0, 683000.0, 0.0, -10.0, 1193000.0)  # UTM 48N, Thủ Thiêm


def write_tif(path: Path, data: np.ndarray, crs: str | None = "EPSG:32648") -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs=crs, transform=UTM_ORIGIN,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


def test_a_huge_declared_raster_is_refused_before_a_cell_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=200_000, height=100_000, count=1, dtype="float32",
        crs="EPSG:32648", transform=UTM_ORIGIN, tiled=True, sparse_ok=True,
    ):  # fmt: skip
        pass  # a sparse file: a few kilobytes declaring 20 billion cells
    assert path.stat().st_size < 10 * 1024**2

    def no_read(*args: object) -> None:
        raise AssertionError("cells were read before the size was checked")

    monkeypatch.setattr(raster, "_elevation", no_read)
    with pytest.raises(UploadError) as caught:
        raster.read_dem(path)
    assert str(caught.value).startswith(
        "huge.tif: expected at most 40,000,000 cells, got 200,000 × 100,000 = 20,000,000,000"
    )


@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_a_raster_of_only_nan_without_nodata_is_refused(tmp_path: Path, fill: float) -> None:
    path = write_tif(tmp_path / "nan.tif", np.full((4, 4), fill, np.float32))
    with pytest.raises(GISInputError, match=r"^nan\.tif: expected elevations, got no data in"):
        raster.read_dem(path)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (HTML, UploadError, r"page\.tif: expected a GeoTIFF .* could not be read"),
        (b"II*\x00" + bytes(60), UploadError, r"page\.tif: expected a GeoTIFF .* could not be"),
        (PNG, UploadError, r"page\.tif: expected a GeoTIFF .* could not be read"),
    ],
    ids=["html", "truncated-tiff-header", "png-header"],
)
def test_a_tif_that_is_not_a_raster_is_refused(
    tmp_path: Path, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / "page.tif"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        raster.read_dem(path)


def test_a_real_png_image_uploaded_as_dem_is_refused_for_its_missing_crs(tmp_path: Path) -> None:
    path = tmp_path / "anh.tif"
    with (
        pytest.warns(NotGeoreferencedWarning),
        rasterio.open(path, "w", driver="PNG", width=4, height=4, count=1, dtype="uint8") as dst,
    ):
        dst.write(np.zeros((4, 4), np.uint8), 1)
    with pytest.raises(CRSError, match=r"anh\.tif: no CRS: expected a GeoTIFF that declares"):
        raster.read_dem(path)


# --- CSV exports: formula injection -------------------------------------------------------------


def test_layer_csv_export_defuses_formulas_and_reads_back_exactly() -> None:
    gdf = gpd.GeoDataFrame(
        {"ghi_chu": list(FORMULAS), "so": range(len(FORMULAS))},
        geometry=[Point(LON0 + i * 1e-4, LAT0) for i in range(len(FORMULAS))],
        crs=4326,
    )
    data, name, _ = export_bytes(gdf, "csv", name="thua")
    cells = pd.read_csv(BytesIO(data), dtype=str, encoding="utf-8-sig")["ghi_chu"].tolist()
    assert cells == ["'" + f for f in FORMULAS]  # a spreadsheet shows them as text
    back = read_vector(data, filename=name)
    assert back.gdf["ghi_chu"].tolist() == list(FORMULAS)
    assert back.gdf["so"].tolist() == list(range(len(FORMULAS)))


def test_a_hand_made_csv_keeps_its_quotes_and_formulas_as_typed() -> None:
    text = "name,lon,lat\n'tên,106.7,10.78\n=1+1,106.7,10.78\n".encode()
    assert read_vector(text, filename="w.csv").gdf["name"].tolist() == ["'tên", "=1+1"]


@pytest.mark.parametrize(
    "to_csv",
    [tables.to_csv, ui_elevation.csv_bytes],
    ids=["tables.to_csv", "ui.elevation.csv_bytes"],
)
def test_table_csv_downloads_defuse_formulas(to_csv: Callable[[pd.DataFrame], bytes]) -> None:
    frame = pd.DataFrame({"name": list(FORMULAS), "length_m": [1.5] * len(FORMULAS)})
    cells = pd.read_csv(BytesIO(to_csv(frame)), dtype=str, encoding="utf-8-sig")
    assert all(cell.startswith("'") for cell in cells["name"])
    assert cells["length_m"].tolist() == ["1.5"] * len(FORMULAS)  # numbers untouched
