"""Reading and writing vector layers in every supported format, with checks on what arrives."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import ProjError

from geo import vnenc
from geo.crs import CRSLike, resolve_crs, to_wgs84, transformer_to_wgs84
from geo.errors import CRSError, GeometryError, GISInputError, SwappedAxesError, UploadError

DEFAULT_MAX_BYTES = 200 * 1024**2
MAX_ZIP_MEMBERS = 1000
MAX_ZIP_RATIO = 20
"""A zip may unpack to this many times ``max_bytes`` (and never past MAX_UNZIPPED_BYTES)."""
MAX_UNZIPPED_BYTES = 2 * 1024**3
MAX_INFLATE_RATIO = 500
"""A zip unpacking past INFLATE_CHECK_BYTES may do so to at most this many times its own size:
a DBF of mostly blank text fields deflates about 150 to 1, a zip bomb of zeros about 1000 to 1
(deflate's ceiling), a nested or overlapping one far more."""
INFLATE_CHECK_BYTES = 16 * 1024**2
VIETNAM_EXTENT = (101.5, 6.0, 118.0, 24.0)
"""Lon/lat box around Vietnam, the Hoàng Sa and Trường Sa archipelagos included, with a margin."""

LON_NAMES = ("lon", "lng", "long", "longitude", "kinh_do", "kinhdo", "x")
LAT_NAMES = ("lat", "latitude", "vi_do", "vido", "y")
WKT_NAMES = ("geometry", "wkt")
# Rendering properties LIBKML adds as columns when reading KML; they are not attributes.
KML_STYLE_COLUMNS = (
    "id", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude", "visibility",
    "drawOrder", "icon",
)  # fmt: skip
REPORTED_ROWS = 5
FORMULA = re.compile(r"'*[=+\-@\t\r]")
"""Text a spreadsheet would run as a formula (CSV injection), after any quotes added before."""
DBF_TEXT_BYTES = 254
Source = str | os.PathLike[str] | bytes


@dataclass(frozen=True)
class FileFormat:
    """A supported file format: its label, file extensions (the first is written) and MIME type."""

    label: str
    extensions: tuple[str, ...]
    mime: str


SUPPORTED_FORMATS: Mapping[str, FileFormat] = MappingProxyType(
    {
        "geojson": FileFormat("GeoJSON", (".geojson", ".json"), "application/geo+json"),
        "gpkg": FileFormat("GeoPackage", (".gpkg",), "application/geopackage+sqlite3"),
        "shp": FileFormat("Shapefile (.zip)", (".zip", ".shp"), "application/zip"),
        "kml": FileFormat("KML", (".kml",), "application/vnd.google-earth.kml+xml"),
        "csv": FileFormat("CSV (lon/lat or WKT)", (".csv",), "text/csv"),
    }
)

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (or an Office document)",
    b"PK\x05\x06": "an empty zip archive",
    b"SQLite format 3\x00": "an SQLite database",
    b"\xd0\xcf\x11\xe0": "an old Office document (.xls, .doc)",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"\x7fELF": "a Linux program (ELF)",
}


@dataclass(frozen=True)
class ImportResult:
    """A layer read by :func:`read_vector`, in EPSG:4326, with what was noticed on the way."""

    gdf: gpd.GeoDataFrame
    source_crs: str
    warnings: list[str]
    n_features: int
    bad_rows: dict[int, str] = field(default_factory=dict)
    """With ``keep_bad_rows``: row position (from 0) → why its geometry is unusable."""
    encoding: str | None = None
    """The text encoding of the attributes, when it was detected or chosen (Shapefiles)."""


def read_vector(
    source: Source,
    *,
    filename: str | None = None,
    crs: CRSLike | None = None,
    layer: str | None = None,
    swap_xy: bool = False,
    repair: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    encoding: str | None = None,
    keep_bad_rows: bool = False,
) -> ImportResult:
    """Read a vector layer, check it, and return it in EPSG:4326.

    Supported: GeoJSON, GeoPackage, zipped Shapefile (or a ``.shp`` path with its
    siblings), KML and CSV (longitude/latitude columns, or WKT in ``geometry``/``wkt``).
    A CSV without a declared CRS is taken as WGS 84 longitude/latitude, with a warning.
    Rows in messages are numbered from 1 in file order (for CSV, the first line after
    the header is row 1).

    Parameters
    ----------
    source
        A file path, or the file's bytes (then ``filename`` is required).
    filename
        The file's name, required with bytes; its extension selects the format. With a
        path (say, an upload saved under a temporary name) it replaces the path's name.
    crs
        The CRS of the coordinates, overriding what the file declares; needed for files
        without one (a Shapefile without ``.prj``, CSV in projected metres).
    layer
        The layer to read from a GeoPackage or KML, or the ``.shp`` in a zip with several;
        the first is read (with a warning) when omitted.
    swap_xy
        Swap x and y before anything else, for data with latitude and longitude reversed.
    repair
        Fix invalid geometries with :func:`shapely.make_valid` instead of refusing them.
    max_bytes
        The largest file accepted; a zip may unpack to 20 times this, at most 2 GiB.
    encoding
        The text encoding of the attributes: ``"utf-8"``, ``"cp1258"``, or the legacy
        Vietnamese ``"tcvn3"`` (ABC) and ``"vni"``. By default a Shapefile's DBF is detected
        (see :mod:`geo.vnenc`); other formats are UTF-8 by definition, but text converted
        byte for byte from a legacy file is repaired when the encoding is given.
    keep_bad_rows
        Keep rows whose geometry is missing, empty or invalid (unless ``repair``) instead of
        refusing the file, and list them in ``ImportResult.bad_rows``, for imports that
        report rejected rows one by one.

    Returns
    -------
    ImportResult
        The features in EPSG:4326, the source CRS, warnings and the feature count.

    Raises
    ------
    UploadError
        If the file is missing, empty, too large, of the wrong type, broken or hostile.
    CRSError
        If there is no CRS, or the coordinates contradict it or lie outside Vietnam.
    SwappedAxesError
        If the coordinates would lie in Vietnam with x and y swapped.
    GeometryError
        If geometries are null, empty or invalid (and ``repair`` is off).
    """
    if isinstance(source, bytes):
        if not filename:
            msg = "filename: expected the file's name (e.g. 'wards.zip') with bytes, got None"
            raise GISInputError(msg)
        name, size, head = Path(filename).name, len(source), source[:64]
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise UploadError(f"source: expected an existing file, got {str(path)!r}")
        name, size = Path(filename or path.name).name, path.stat().st_size
        with path.open("rb") as f:
            head = f.read(64)
    else:
        msg = f"source: expected a file path or bytes, got {type(source).__name__}"
        raise GISInputError(msg)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise GISInputError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
    fmt = _format_of(name, "filename" if filename else "source")
    if size == 0:
        raise UploadError(f"{name}: expected a {SUPPORTED_FORMATS[fmt].label} file, got 0 bytes")
    if size > max_bytes:
        msg = f"{name}: expected at most {_size(max_bytes)}, got {_size(size)}"
        raise UploadError(msg)
    _sniff(name, Path(name).suffix.lower(), head)
    declared = None if crs is None else resolve_crs(crs)
    if encoding is not None and encoding not in vnenc.ENCODINGS:
        known = ", ".join(vnenc.ENCODINGS)
        raise GISInputError(f"encoding: expected one of {known}, got {encoding!r}")
    options = _Options(swap_xy, repair, max_bytes, encoding, keep_bad_rows)
    with tempfile.TemporaryDirectory(prefix="geo-import-") as tmp:
        return _read(source, name, fmt, Path(tmp), declared, layer, options)


def write_vector(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, fmt: str | None = None
) -> Path:
    """Write a layer to a file, atomically: the target appears only when complete.

    GeoJSON, KML and CSV are written in EPSG:4326; GeoPackage and Shapefile keep the CRS of
    ``gdf``. CSV holds ``lon``/``lat`` for points, else WKT ``geometry`` plus the centroid's
    ``lon``/``lat``. Shapefile field names are cut to 10 bytes, as the format requires.

    Parameters
    ----------
    gdf
        The features; they must have a CRS.
    path
        The target file; a Shapefile is written as a ``.zip``.
    fmt
        A key of :data:`SUPPORTED_FORMATS`; by default from the extension of ``path``.

    Returns
    -------
    Path
        The written file.
    """
    _check_writable(gdf)
    target = Path(path)
    if fmt is None:
        fmt = _FORMAT_BY_SUFFIX.get(target.suffix.lower())
        if fmt is None:
            msg = f"path: expected a .geojson, .gpkg, .zip, .kml or .csv name, got {target.name!r}"
            raise GISInputError(msg)
    _check_format(fmt)
    suffixes = [ext for ext in SUPPORTED_FORMATS[fmt].extensions if ext != ".shp"]
    if target.suffix.lower() not in suffixes:
        msg = f"path: expected a {' or '.join(suffixes)} name for {fmt!r}, got {target.name!r}"
        raise GISInputError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        os.replace(_write(gdf, fmt, Path(tmp), target.stem), target)
    return target


def export_bytes(gdf: gpd.GeoDataFrame, fmt: str, *, name: str) -> tuple[bytes, str, str]:
    """A layer as a download: the file's bytes, its name and its MIME type.

    Parameters
    ----------
    gdf
        The features; they must have a CRS.
    fmt
        A key of :data:`SUPPORTED_FORMATS`.
    name
        The download's name; a known extension is replaced, and characters other than
        letters, digits, ``-`` and ``_`` become ``_``.

    Returns
    -------
    tuple of (bytes, str, str)
        The file's content, file name and MIME type.
    """
    _check_writable(gdf)
    _check_format(fmt)
    base = Path(name).name if isinstance(name, str) else ""
    if Path(base).suffix.lower() in _FORMAT_BY_SUFFIX:
        base = Path(base).stem
    stem = re.sub(r"[^\w-]+", "_", base).strip("_")[:100]
    if not stem:
        raise GISInputError(f"name: expected a file name with letters or digits, got {name!r}")
    with tempfile.TemporaryDirectory(prefix="geo-export-") as tmp:
        data = _write(gdf, fmt, Path(tmp), stem).read_bytes()
    info = SUPPORTED_FORMATS[fmt]
    return data, f"{stem}{info.extensions[0]}", info.mime


_FORMAT_BY_SUFFIX = {ext: fmt for fmt, info in SUPPORTED_FORMATS.items() for ext in info.extensions}
_DRIVERS = {"geojson": "GeoJSON", "gpkg": "GPKG", "kml": "KML"}


@dataclass(frozen=True)
class _Options:
    swap_xy: bool
    repair: bool
    max_bytes: int
    encoding: str | None
    keep_bad_rows: bool


def _read(
    source: Source,
    name: str,
    fmt: str,
    tmp: Path,
    declared: CRS | None,
    layer: str | None,
    options: _Options,
) -> ImportResult:
    notes: list[str] = []
    suffix = Path(name).suffix.lower()
    if suffix == ".zip":
        path = _extract_shapefile(source, name, tmp, layer, options.max_bytes, notes)
        layer = None
    elif isinstance(source, bytes) or Path(source).name != name:
        if suffix == ".shp":
            msg = f"{name}: expected a .zip holding .shp, .shx, .dbf and .prj; got a bare .shp"
            raise UploadError(msg)
        path = tmp / name
        path.write_bytes(source if isinstance(source, bytes) else Path(source).read_bytes())
    else:
        path = Path(source)
        if suffix == ".shp":
            _check_shapefile_parts(path, name)
    raw = fmt == "shp"  # a DBF's bytes are read as latin-1 and decoded here
    if fmt == "csv":
        gdf, axes = _read_csv(path, name)
    else:
        gdf = _read_ogr(path, name, fmt, layer, notes, "latin1" if raw else None)
        axes = ("x", "y")
    gdf, used = _decode_text(gdf, name, options.encoding, raw, notes)
    _check_no_nul(gdf, name)
    result = _checked(gdf, name, fmt, declared, options, axes, notes)
    return ImportResult(
        gdf=result.gdf, source_crs=result.source_crs, warnings=result.warnings,
        n_features=result.n_features, bad_rows=result.bad_rows, encoding=used,
    )  # fmt: skip


def _decode_text(
    gdf: gpd.GeoDataFrame, name: str, encoding: str | None, raw: bool, notes: list[str]
) -> tuple[gpd.GeoDataFrame, str | None]:
    """Turn text columns to Unicode: detect a DBF's encoding, or apply the one chosen."""
    columns = [
        c for c in gdf.columns
        if c != gdf.geometry.name and gdf[c].map(lambda v: isinstance(v, str)).any()
    ]  # fmt: skip
    if not raw and encoding in (None, "utf-8"):
        return gdf, encoding
    samples = [
        v.encode("latin-1") if raw else v.encode("utf-8")
        for c in columns for v in gdf[c] if isinstance(v, str)
    ]  # fmt: skip
    if encoding is None:
        found = vnenc.detect(samples)
        encoding = found.encoding
        if encoding != "utf-8":
            notes.append(
                f"the attribute text is in {vnenc.LABELS[encoding]} (detected, confidence "
                f"{found.confidence:.0%}) and was converted to Unicode; choose another "
                "encoding if names look wrong"
            )
    elif encoding in vnenc.LEGACY and not raw:
        wide = [v for v in samples if any(ch > "\xff" for ch in v.decode("utf-8"))]
        if wide:
            msg = (
                f"encoding: {name} holds Unicode text such as {wide[0].decode('utf-8')[:40]!r}, "
                f"not {vnenc.LABELS[encoding]} text read byte for byte; choose utf-8"
            )
            raise GISInputError(msg)
        notes.append(f"the attribute text was converted from {vnenc.LABELS[encoding]}")
    out = gdf.copy()
    if raw:  # field names are DBF bytes too: "Chủ" must not arrive as "Chá»§"
        names = {}
        for c in out.columns:
            if c != out.geometry.name and not str(c).isascii():
                try:
                    names[c] = vnenc.from_latin1(str(c), encoding)
                except GISInputError:
                    continue
        out = out.rename(columns=names)
        columns = [names.get(c, c) for c in columns]
        gdf = out.copy()
    for c in columns:
        if raw:
            out[c] = gdf[c].map(lambda v: vnenc.from_latin1(v, encoding))
        else:
            out[c] = gdf[c].map(lambda v: vnenc.from_latin1(v, encoding) if encoding else v)
    return out, encoding


def _check_no_nul(gdf: gpd.GeoDataFrame, name: str) -> None:
    """Refuse NUL characters in column names and text: the database cannot store them."""
    hint = "expected text without NUL characters (\\x00), which the database cannot store"
    for column in gdf.columns:
        if "\x00" in str(column):
            raise UploadError(f"{name}: column {column!r}: {hint}; its name holds one")
        if column == gdf.geometry.name:
            continue
        found = gdf[column].map(lambda v: isinstance(v, str) and "\x00" in v).to_numpy(bool)
        bad = np.flatnonzero(found)
        if bad.size:
            raise UploadError(f"{name}: column {column!r}: {hint}; rows {_rows(bad)} hold one")


def _checked(
    gdf: gpd.GeoDataFrame,
    name: str,
    fmt: str,
    declared: CRS | None,
    options: _Options,
    axes: tuple[str, str],
    notes: list[str],
) -> ImportResult:
    """Check a layer as read (in its own CRS) and bring it to EPSG:4326."""
    geoms = np.asarray(gdf.geometry.array)
    swap_xy, repair = options.swap_xy, options.repair
    if swap_xy:
        geoms = shapely.transform(geoms, _swap_xy, include_z=None)  # type: ignore[call-overload]
    if declared is not None:
        crs = declared
        if gdf.crs is not None and not declared.equals(gdf.crs):
            notes.append(
                f"the declared CRS {_describe_crs(crs)} overrides the file's {gdf.crs.name!r}"
            )
    elif gdf.crs is not None:
        crs = resolve_crs(gdf.crs, argument=name)
        if not crs.equals(gdf.crs):
            notes.append(f"the file's CRS {gdf.crs.name!r} was read as {_describe_crs(crs)}")
    elif fmt == "csv":
        crs = CRS.from_epsg(4326)
        notes.append("no CRS declared: coordinates taken as WGS 84 longitude/latitude (EPSG:4326)")
    else:
        hint = " (a Shapefile keeps it in its .prj, which is missing)" if fmt == "shp" else ""
        msg = (
            f"{name}: no CRS: the file declares none{hint}; declare it with --crs / in the "
            "import form, e.g. EPSG:9210 for VN-2000 / TM-3 105-45"
        )
        raise CRSError(msg)
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bad_rows: dict[int, str] = {}
    if missing.size and options.keep_bad_rows:
        bad_rows = {int(i): "no geometry (missing or empty)" for i in missing}
        geoms = geoms.copy()
        geoms[missing] = None
        if missing.size == len(geoms):
            raise GeometryError(f"{name}: expected geometries; no row has one")
    elif missing.size:
        msg = (
            f"{name}: expected a geometry on every row; rows {_rows(missing)} ({missing.size} "
            "in all) have none or an empty one"
        )
        raise GeometryError(msg)
    geoms = _check_finite(geoms, name, bad_rows if options.keep_bad_rows else None)
    _check_location(geoms, crs, name, axes)
    out = to_wgs84(_with_geometry(gdf, geoms, crs))
    if options.keep_bad_rows and not repair:
        out_geoms = np.asarray(out.geometry.array)
        present = ~shapely.is_missing(out_geoms)
        invalid = np.flatnonzero(present & ~shapely.is_valid(out_geoms))
        reasons: list[str] = (
            list(shapely.is_valid_reason(out_geoms[invalid])) if invalid.size else []
        )
        for i, reason in zip(invalid, reasons, strict=True):
            bad_rows[int(i)] = f"invalid geometry: {reason}"
    else:
        out = _valid(out, name, repair, notes)
    return ImportResult(
        gdf=out, source_crs=_crs_id(crs), warnings=notes, n_features=len(out), bad_rows=bad_rows
    )


def _check_finite(geoms: np.ndarray, name: str, bad_rows: dict[int, str] | None) -> np.ndarray:
    """Refuse coordinates that are NaN or infinite (or, with ``bad_rows``, list their rows)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.unique(index[~np.isfinite(coords).all(axis=1)])
    if not bad.size:
        return geoms
    if bad_rows is None:
        msg = (
            f"{name}: expected finite coordinates; rows {_rows(bad)} ({bad.size} in all) hold "
            "NaN or infinity (an empty cell or a broken export?)"
        )
        raise GeometryError(msg)
    for i in bad:
        bad_rows[int(i)] = "coordinates that are not numbers (NaN or infinity)"
    geoms = geoms.copy()
    geoms[bad] = None
    if shapely.is_missing(geoms).all():
        raise GeometryError(f"{name}: expected geometries; no row has a usable one")
    return geoms


def _check_location(geoms: np.ndarray, crs: CRS, name: str, axes: tuple[str, str]) -> None:
    """Refuse coordinates outside Vietnam, telling swapped axes and metres-as-degrees apart."""
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms))
    if _in_vietnam(bounds, crs):
        return
    xmin, ymin, xmax, ymax = bounds
    if _in_vietnam((ymin, xmin, ymax, xmax), crs):
        msg = (
            f"{name}: x and y look swapped (latitude given as longitude): x ({axes[0]}) spans "
            f"{xmin:.5f}..{xmax:.5f} and y ({axes[1]}) spans {ymin:.5f}..{ymax:.5f}, which lies "
            "in Vietnam only when swapped; tick 'swap lat/lon' in the import form or pass --swap-xy"
        )
        raise SwappedAxesError(msg)
    if crs.is_geographic and not _degrees(bounds):
        msg = (
            f"{name}: the CRS {_describe_crs(crs)} is in degrees, but x spans "
            f"{xmin:.0f}..{xmax:.0f} and y {ymin:.0f}..{ymax:.0f}, beyond ±180/±90: these look "
            "like metres, e.g. VN-2000 / TM-3 105-45 (EPSG:9210) or VN-2000 / TM-3 107-45 "
            "(EPSG:5899); declare that projected CRS with --crs / in the import form"
        )
        raise CRSError(msg)
    lonlat = _lonlat_bounds(bounds, crs)
    found = (
        f"lon {lonlat[0]:.4f}..{lonlat[2]:.4f}, lat {lonlat[1]:.4f}..{lonlat[3]:.4f}"
        if lonlat
        else f"x {xmin:.2f}..{xmax:.2f}, y {ymin:.2f}..{ymax:.2f}"
    )
    west, south, east, north = VIETNAM_EXTENT
    msg = (
        f"{name}: expected data in Vietnam (lon {west}..{east}, lat {south}..{north}); found "
        f"{found} in {_describe_crs(crs)}; check the CRS"
    )
    raise CRSError(msg)


def _in_vietnam(bounds: tuple[float, ...], crs: CRS) -> bool:
    lonlat = _lonlat_bounds(bounds, crs)
    west, south, east, north = VIETNAM_EXTENT
    return lonlat is not None and (
        west <= lonlat[0] and south <= lonlat[1] and lonlat[2] <= east and lonlat[3] <= north
    )


def _lonlat_bounds(bounds: tuple[float, ...], crs: CRS) -> tuple[float, ...] | None:
    if crs.is_geographic and not _degrees(bounds):
        return None
    transformer = transformer_to_wgs84(crs)
    try:
        lonlat = transformer.transform_bounds(
            bounds[0], bounds[1], bounds[2], bounds[3], errcheck=True
        )
    except ProjError:  # some transformations refuse a box: its corners will do for a message
        xs, ys = transformer.transform(
            [bounds[0], bounds[0], bounds[2], bounds[2]],
            [bounds[1], bounds[3], bounds[1], bounds[3]],
        )
        lonlat = (min(xs), min(ys), max(xs), max(ys))
    return tuple(lonlat) if np.all(np.isfinite(lonlat)) else None


def _degrees(bounds: tuple[float, ...]) -> bool:
    xmin, ymin, xmax, ymax = bounds
    return xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90


def _valid(gdf: gpd.GeoDataFrame, name: str, repair: bool, notes: list[str]) -> gpd.GeoDataFrame:
    geoms = np.asarray(gdf.geometry.array)
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if not bad.size:
        return gdf
    if not repair:
        reasons = shapely.is_valid_reason(geoms[bad[:REPORTED_ROWS]])
        detail = "; ".join(f"row {i + 1}: {r}" for i, r in zip(bad, reasons, strict=False))
        msg = (
            f"{name}: expected valid geometries; {bad.size} invalid ({detail}); tick "
            "'repair' in the import form or pass repair=True to fix them with make_valid"
        )
        raise GeometryError(msg)
    geoms = geoms.copy()
    geoms[bad] = shapely.make_valid(geoms[bad])
    notes.append(f"repaired {bad.size} geometries (rows {_rows(bad)}) with make_valid")
    return _with_geometry(gdf, geoms, gdf.crs)


def _extract_shapefile(
    source: Source, name: str, tmp: Path, layer: str | None, max_bytes: int, notes: list[str]
) -> Path:
    """Unpack a zipped Shapefile into ``tmp`` after checking every member; return the .shp."""
    archive_source = BytesIO(source) if isinstance(source, bytes) else Path(source)
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    try:
        with zipfile.ZipFile(archive_source) as archive:
            members = archive.infolist()
            _check_members(members, name, max_bytes, size)
            archive.extractall(tmp)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise UploadError(
            f"{name}: expected a valid zip archive; it is damaged or truncated ({e})"
        ) from e
    except NotImplementedError as e:
        msg = f"{name}: expected a zip archive with standard (deflate) compression; {e}"
        raise UploadError(msg) from e
    shps = sorted(
        p for p in tmp.rglob("*") if p.suffix.lower() == ".shp" and "__MACOSX" not in p.parts
    )
    nested = [m.filename for m in members if m.filename.lower().endswith(_ARCHIVES)]
    if not shps and nested:
        msg = (
            f"{name}: expected the Shapefile's .shp, .shx, .dbf and .prj directly in the zip; "
            f"got an archive inside it ({nested[0]!r}), which is not unpacked: unzip it first "
            "and upload the inner zip"
        )
        raise UploadError(msg)
    if not shps:
        found = "only " + ", ".join(m.filename for m in members[:10]) if members else "no files"
        raise UploadError(
            f"{name}: expected a zipped Shapefile with .shp, .shx, .dbf; found {found}"
        )
    if layer is not None:
        chosen = [p for p in shps if p.stem == layer]
        if not chosen:
            stems = ", ".join(p.stem for p in shps)
            raise UploadError(f"layer: expected one of {stems} in {name}, got {layer!r}")
        shps = chosen
    elif len(shps) > 1:
        notes.append(
            f"{name} holds {len(shps)} Shapefiles; read {shps[0].stem!r}, choose with layer"
        )
    _check_shapefile_parts(shps[0], name)
    return shps[0]


_ARCHIVES = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz")


def _check_members(
    members: list[zipfile.ZipInfo], name: str, max_bytes: int, archive_bytes: int
) -> None:
    """Refuse zip slip, symbolic links, encryption, too many members and zip bombs.

    Only the zip's directory is read: nothing is unpacked before these checks pass. The sizes
    checked are the declared ones; :mod:`zipfile` stops a member at its declared size and
    fails its CRC check if the data would unpack further.
    """
    if len(members) > MAX_ZIP_MEMBERS:
        msg = f"{name}: expected at most {MAX_ZIP_MEMBERS} files in the zip, got {len(members)}"
        raise UploadError(msg)
    for member in members:
        path = member.filename.replace("\\", "/")
        if (
            path.startswith("/")
            or re.match(r"[A-Za-z]:", path)
            or ".." in PurePosixPath(path).parts
        ):
            msg = f"{name}: expected relative paths in the zip, got {member.filename!r} (zip slip)"
            raise UploadError(msg)
        if stat.S_ISLNK(member.external_attr >> 16):
            msg = (
                f"{name}: expected regular files in the zip, got symbolic link {member.filename!r}"
            )
            raise UploadError(msg)
        if member.flag_bits & 0x1:
            raise UploadError(
                f"{name}: expected an unencrypted zip, got {member.filename!r} encrypted"
            )
    limit = min(MAX_ZIP_RATIO * max_bytes, MAX_UNZIPPED_BYTES)
    total = sum(m.file_size for m in members)
    if total > limit:
        msg = f"{name}: expected at most {_size(limit)} unzipped, got {_size(total)}"
        raise UploadError(msg)
    if total > INFLATE_CHECK_BYTES and total > MAX_INFLATE_RATIO * archive_bytes:
        msg = (
            f"{name}: expected a zip that unpacks to at most {MAX_INFLATE_RATIO} times its "
            f"size; its {_size(archive_bytes)} would unpack to {_size(total)} "
            f"({total / max(archive_bytes, 1):,.0f} times): refused as a possible zip bomb"
        )
        raise UploadError(msg)


def _check_shapefile_parts(shp: Path, name: str) -> None:
    present = {p.suffix.lower() for p in shp.parent.iterdir() if p.stem == shp.stem}
    missing = [f"{shp.stem}{ext}" for ext in (".shx", ".dbf") if ext not in present]
    if missing:
        msg = (
            f"{name}: expected {shp.name} with {shp.stem}.shx and {shp.stem}.dbf beside it; "
            f"missing {', '.join(missing)}"
        )
        raise UploadError(msg)


def _read_ogr(
    path: Path, name: str, fmt: str, layer: str | None, notes: list[str], encoding: str | None
) -> gpd.GeoDataFrame:
    label = SUPPORTED_FORMATS[fmt].label
    try:
        layers = [str(n) for n, kind in pyogrio.list_layers(path) if kind is not None]
    except (DataSourceError, DataLayerError) as e:
        raise UploadError(f"{name}: expected a readable {label} file; GDAL says: {e}") from e
    if not layers:
        raise UploadError(f"{name}: expected a layer with geometries, found only attribute tables")
    if layer is not None and layer not in layers:
        raise UploadError(f"layer: expected one of {', '.join(layers)} in {name}, got {layer!r}")
    if layer is None and len(layers) > 1:
        notes.append(
            f"{name} holds layers {', '.join(layers)}; read {layers[0]!r}, choose with layer"
        )
    chosen = layer or layers[0]
    try:
        gdf = gpd.read_file(path, layer=chosen, engine="pyogrio", encoding=encoding)
    except (DataSourceError, DataLayerError) as e:
        raise UploadError(f"{name}: expected a readable {label} file; GDAL says: {e}") from e
    if gdf.empty:
        raise UploadError(f"{name}: expected at least one feature, layer {chosen!r} has none")
    return _tidy_kml(gdf) if fmt == "kml" else gdf


def _tidy_kml(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop KML rendering columns and altitudes; call the placemark name ``name``."""
    unused = [c for c in gdf.columns if c in KML_STYLE_COLUMNS]
    unused += [c for c in ("description", "Description") if c in gdf and gdf[c].isna().all()]
    gdf = gdf.drop(columns=unused)
    if "Name" in gdf and "name" not in gdf:
        gdf = gdf.rename(columns={"Name": "name"})
    return _with_geometry(gdf, shapely.force_2d(np.asarray(gdf.geometry.array)), gdf.crs)


def _read_csv(path: Path, name: str) -> tuple[gpd.GeoDataFrame, tuple[str, str]]:
    """Read a CSV with lon/lat columns or a WKT column; other columns get numeric types."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        msg = f"{name}: expected UTF-8 text (in Excel: save as 'CSV UTF-8'); byte {e.start} is not"
        raise UploadError(msg) from e
    sep = max(",;\t", key=text.partition("\n")[0].count)
    try:
        frame = pd.read_csv(StringIO(text), sep=sep, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise UploadError(f"{name}: expected rows of comma-separated values; {e}") from e
    if frame.empty:
        raise UploadError(f"{name}: expected at least one row after the header, got none")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    wkt = next((columns[c] for c in WKT_NAMES if c in columns), None)
    lon = next((columns[c] for c in LON_NAMES if c in columns), None)
    lat = next((columns[c] for c in LAT_NAMES if c in columns), None)
    if wkt is not None:
        geoms, used, axes = _parse_wkt(frame[wkt], name, wkt), [wkt], ("x", "y")
    elif lon is not None and lat is not None:
        x, y = (_numbers(frame[c], name, c, decimal_comma=sep != ",") for c in (lon, lat))
        geoms = np.full(len(frame), None, dtype=object)
        present = ~(np.isnan(x) | np.isnan(y))
        geoms[present] = shapely.points(x[present], y[present])
        used, axes = [lon, lat], (f"column {lon!r}", f"column {lat!r}")
    else:
        msg = (
            f"{name}: expected longitude/latitude columns ({'/'.join(LON_NAMES)} and "
            f"{'/'.join(LAT_NAMES)}) or a WKT column ({'/'.join(WKT_NAMES)}); found "
            f"{', '.join(map(str, frame.columns))}"
        )
        raise UploadError(msg)
    attrs = {c: _typed(frame[c].map(_restore)) for c in frame.columns if c not in used}
    return gpd.GeoDataFrame(pd.DataFrame(attrs, index=frame.index), geometry=geoms), axes


def _parse_wkt(column: pd.Series, name: str, label: str) -> np.ndarray:
    text = column.fillna("").str.strip().to_numpy(dtype=object)
    with np.errstate(invalid="ignore"):  # NaN coordinates are refused, by row, later
        geoms = shapely.from_wkt(text, on_invalid="ignore")
    bad = np.flatnonzero(shapely.is_missing(geoms) & (text != ""))
    if bad.size:
        msg = (
            f"{name}: column {label!r}: expected WKT such as 'POINT (106.7 10.78)'; rows "
            f"{_rows(bad)} could not be parsed (first: {text[bad[0]][:60]!r})"
        )
        raise GeometryError(msg)
    return geoms


def _numbers(column: pd.Series, name: str, label: str, *, decimal_comma: bool) -> np.ndarray:
    text = column.str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero(values.isna() & text.notna())
    if bad.size:
        msg = (
            f"{name}: column {label!r}: expected numbers; rows {_rows(bad)} hold other text "
            f"(first: {text.iloc[bad[0]]!r})"
        )
        raise UploadError(msg)
    return values.to_numpy(dtype=float)


def _typed(column: pd.Series) -> pd.Series:
    """Numbers for a column that holds only numbers, but text if any has a leading zero (codes)."""
    text = column.dropna().str.strip()
    if text.empty or text.str.match(r"[+-]?0\d").any():
        return column
    numbers = pd.to_numeric(column.str.strip(), errors="coerce")
    return numbers if numbers[text.index].notna().all() else column


def _write(gdf: gpd.GeoDataFrame, fmt: str, folder: Path, stem: str) -> Path:
    """Write ``gdf`` as ``folder/stem.<ext>``; return that path."""
    out = folder / f"{stem}{SUPPORTED_FORMATS[fmt].extensions[0]}"
    native = gdf.set_crs(resolve_crs(gdf.crs, argument="gdf"), allow_override=True)
    try:
        if fmt == "csv":
            _csv_frame(to_wgs84(native)).to_csv(out, index=False, encoding="utf-8-sig")
        elif fmt == "shp":
            _write_shapefile(native, folder / "parts", stem, out)
        else:
            data = native if fmt == "gpkg" else to_wgs84(native)
            data.to_file(out, driver=_DRIVERS[fmt], layer=stem, engine="pyogrio")
    except (DataSourceError, DataLayerError) as e:
        msg = f"gdf: could not be written as {SUPPORTED_FORMATS[fmt].label}: {e}"
        raise GISInputError(msg) from e
    return out


def _write_shapefile(gdf: gpd.GeoDataFrame, parts: Path, stem: str, out: Path) -> None:
    kinds = {kind.removeprefix("Multi") for kind in gdf.geom_type.dropna()}
    if len(kinds) > 1:
        msg = (
            f"gdf: expected one geometry type for a Shapefile, got {', '.join(sorted(kinds))}; "
            "export as GeoPackage or GeoJSON instead"
        )
        raise GISInputError(msg)
    parts.mkdir()
    gdf = gdf.copy()
    for column in gdf.columns:
        if column != gdf.geometry.name and gdf[column].map(lambda v: isinstance(v, str)).any():
            # a DBF text field holds 254 bytes; cut on a character boundary, not mid-letter
            gdf[column] = gdf[column].map(
                lambda v: _clip_utf8(v, DBF_TEXT_BYTES) if isinstance(v, str) else v
            )
    renamed = gdf.rename(columns=_dbf_names([c for c in gdf.columns if c != gdf.geometry.name]))
    renamed.to_file(
        parts / f"{stem}.shp", driver="ESRI Shapefile", encoding="UTF-8", engine="pyogrio"
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(parts.iterdir()):
            archive.write(part, part.name)


def _dbf_names(columns: list[str]) -> dict[str, str]:
    """Unique field names of at most 10 UTF-8 bytes, as dBase requires."""
    names: dict[str, str] = {}
    for column in columns:
        short, n = _clip_utf8(str(column), 10), 1
        while short.lower() in {v.lower() for v in names.values()}:
            suffix = f"_{n}"
            short, n = _clip_utf8(str(column), 10 - len(suffix)) + suffix, n + 1
        names[column] = short
    return names


def _clip_utf8(text: str, size: int) -> str:
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _csv_frame(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes plus ``lon``/``lat`` for points, else WKT ``geometry`` and centroid lon/lat."""
    geoms = np.asarray(gdf.geometry.array)
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for column in frame.columns:  # "=HYPERLINK(...)" is text, not a formula, in Excel
        frame[column] = frame[column].map(_defuse)
    points = bool((shapely.get_type_id(geoms[~shapely.is_missing(geoms)]) == 0).all())
    if not points:
        frame["geometry"] = shapely.to_wkt(geoms, rounding_precision=-1)
        geoms = shapely.centroid(geoms)
    frame["lon"], frame["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
    return frame


def _defuse(value: object) -> object:
    """Quote text Excel would run as a formula; :func:`_restore` takes the quote off again."""
    return "'" + value if isinstance(value, str) and FORMULA.match(value) else value


def _restore(value: object) -> object:
    return (
        value[1:]
        if isinstance(value, str) and FORMULA.match(value, 1) and value[0] == "'"
        else value
    )


def _check_writable(gdf: gpd.GeoDataFrame) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise GISInputError(f"gdf: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        msg = "gdf: no CRS: expected a GeoDataFrame with a CRS; set one with .set_crs() first"
        raise CRSError(msg)


def _check_format(fmt: str) -> None:
    if fmt not in SUPPORTED_FORMATS:
        raise GISInputError(f"fmt: expected one of {', '.join(SUPPORTED_FORMATS)}, got {fmt!r}")


def _sniff(name: str, suffix: str, head: bytes) -> None:
    """Refuse content that does not match the extension (a PNG named .geojson, say)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    expected, ok = {
        ".geojson": ("GeoJSON text starting with '{'", text.startswith(b"{")),
        ".json": ("GeoJSON text starting with '{'", text.startswith(b"{")),
        ".gpkg": ("a GeoPackage (SQLite) database", head.startswith(b"SQLite format 3\x00")),
        ".zip": ("a zip archive", head.startswith((b"PK\x03\x04", b"PK\x05\x06"))),
        ".shp": ("a Shapefile .shp", head.startswith(b"\x00\x00\x27\x0a")),
        ".kml": (
            "KML (XML) text starting with '<'",
            text.startswith(b"<") and _describe(head) != "an HTML page",
        ),
        ".csv": ("CSV text", _describe(head).startswith("text")),
    }[suffix]
    if not ok:
        raise UploadError(f"{name}: expected {expected}; found {_describe(head)}")


def _describe(head: bytes) -> str:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    if head.startswith(b"MZ") and b"\x00" in head:
        return "a Windows program (EXE/DLL)"
    if b"\x00" in head:
        return "binary data"
    if (
        head.removeprefix(b"\xef\xbb\xbf")
        .lstrip()
        .lower()
        .startswith((b"<!doctype html", b"<html"))
    ):
        return "an HTML page"
    return f"text starting with {head[:32].decode('utf-8', errors='replace')!r}"


def _format_of(name: str, argument: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in _FORMAT_BY_SUFFIX:
        msg = f"{argument}: expected a file ending in {', '.join(_FORMAT_BY_SUFFIX)}, got {name!r}"
        raise UploadError(msg)
    return _FORMAT_BY_SUFFIX[suffix]


def _with_geometry(gdf: gpd.GeoDataFrame, geoms: np.ndarray, crs: CRS) -> gpd.GeoDataFrame:
    frame = gdf.drop(columns=gdf.geometry.name)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=gdf.index, crs=crs))


def _swap_xy(coords: np.ndarray) -> np.ndarray:
    swapped = coords.copy()
    swapped[:, [0, 1]] = coords[:, [1, 0]]
    return swapped


def _rows(positions: np.ndarray) -> str:
    shown = ", ".join(str(i + 1) for i in positions[:REPORTED_ROWS])
    return shown + (", …" if positions.size > REPORTED_ROWS else "")


def _crs_id(crs: CRS) -> str:
    authority = crs.to_authority(min_confidence=100)
    return ":".join(authority) if authority else crs.to_wkt()


def _describe_crs(crs: CRS) -> str:
    authority = crs.to_authority(min_confidence=100)
    return f"{':'.join(authority)} ({crs.name})" if authority else repr(crs.name)


def _size(size: int) -> str:
    return f"{size:,} bytes" if size < 1024**2 else f"{size / 1024**2:,.1f} MB"
