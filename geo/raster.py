"""Elevation models: read or fetch a DEM (Copernicus GLO-30), sample it along streets, flood it."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Geod
from pyproj.enums import TransformDirection
from rasterio import features
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window
from scipy import ndimage

from geo.crs import (
    WGS84,
    CRSLike,
    area_km2,
    from_wgs84,
    resolve_crs,
    to_wgs84,
    transformer_to_wgs84,
)
from geo.errors import (
    CRSError,
    FetchError,
    GeometryError,
    GISInputError,
    StoreError,
    SwappedAxesError,
    UploadError,
)
from geo.legends import GLO30_ATTRIBUTION as GLO30_ATTRIBUTION
from geo.store import BBox

MAX_CELLS = 40_000_000
"""The most cells a DEM may have (160 MB as float32): a ward at 1 m, a district at 5 m."""
MAX_SOURCES = 16
"""The most rasters :func:`read_window` mosaics in one call."""
MAX_POINTS = 5_000_000
"""The most sample points :func:`sample_segments` places (lines × length / step)."""
ELEVATION_RANGE_M = (-100.0, 9000.0)
"""Plausible elevations in metres; values beyond are centimetres, feet or an image."""
NODATA = -9999.0
"""The no-data value of the GeoTIFFs :func:`write_dem` writes."""
SOURCE_TAG = "DEM_SOURCE"
"""GeoTIFF metadata key where :func:`write_dem` keeps :attr:`Dem.source`."""

GLO30_URL = "https://copernicus-dem-30m.s3.amazonaws.com/{name}/{name}.tif"

GDAL_HTTP_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_MAX_RETRY": "2",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "VSI_CACHE": "TRUE",
}
"""GDAL options for reading over HTTP; a variable of the same name in the environment wins."""

_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
_LINE_TYPES = (shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING)
_AREA_COLUMNS = ["connected", "area_m2"]


@dataclass(frozen=True, eq=False)
class Dem:
    """An elevation grid: metres as float32 with NaN for no data, its transform and CRS."""

    elevation: np.ndarray
    """2-D float32 grid of elevations in metres, NaN where there is no data."""
    transform: Affine
    """Maps (column, row) to the CRS's (x, y) at the cell's upper-left corner."""
    crs: CRS
    """The grid's coordinate reference system."""
    source: str = ""
    """File name or URL(s) the grid came from, for credits."""

    def __post_init__(self) -> None:
        grid = self.elevation
        if not isinstance(grid, np.ndarray) or grid.ndim != 2 or grid.dtype != np.float32:
            got = (
                f"{grid.dtype} array of shape {grid.shape}"
                if isinstance(grid, np.ndarray)
                else type(grid).__name__
            )
            raise GISInputError(f"elevation: expected a 2-D float32 array, got {got}")
        if grid.size == 0:
            raise GISInputError(f"elevation: expected at least one cell, got shape {grid.shape}")
        if not isinstance(self.transform, Affine) or self.transform.determinant == 0:
            msg = f"transform: expected an invertible affine.Affine, got {self.transform!r}"
            raise GISInputError(msg)
        if not isinstance(self.crs, CRS):
            raise CRSError(f"crs: expected a pyproj.CRS, got {type(self.crs).__name__}")

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns."""
        rows, cols = self.elevation.shape
        return int(rows), int(cols)

    @property
    def bounds(self) -> BBox:
        """The grid's extent in its own CRS: (minx, miny, maxx, maxy)."""
        return _grid_bounds(self.transform, self.shape)

    @property
    def bounds_4326(self) -> BBox:
        """The grid's extent in longitude/latitude: (minlon, minlat, maxlon, maxlat)."""
        minx, miny, maxx, maxy = self.bounds
        if self.crs.equals(WGS84, ignore_axis_order=True):
            return minx, miny, maxx, maxy
        box = transformer_to_wgs84(self.crs).transform_bounds(minx, miny, maxx, maxy)
        return float(box[0]), float(box[1]), float(box[2]), float(box[3])

    @property
    def cell_size_m(self) -> float:
        """The approximate ground size of a cell in metres (square root of its area).

        For a geographic CRS it is measured on the ellipsoid at the grid's centre.
        """
        t = self.transform
        width, height = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
        if self.crs.is_geographic:
            rows, cols = self.shape
            lon, lat = t @ (cols / 2, rows / 2)
            geod = self.crs.get_geod() or Geod(ellps="WGS84")
            dx = geod.inv(lon - width / 2, lat, lon + width / 2, lat)[2]
            dy = geod.inv(lon, lat - height / 2, lon, lat + height / 2)[2]
            return float(math.sqrt(dx * dy))
        factor = self.crs.axis_info[0].unit_conversion_factor if self.crs.axis_info else 1.0
        return float(math.sqrt(width * height) * factor)


@dataclass(frozen=True, eq=False)
class Inundation:
    """The cells and areas under a water level, connected to the water or not."""

    level_m: float
    """The water level in metres, in the DEM's vertical reference."""
    connected_only: bool
    """Whether :attr:`mask` keeps only the low ground the water can reach."""
    mask: np.ndarray
    """Boolean grid: the cells that flood at this level (respecting ``connected_only``)."""
    below: np.ndarray
    """Boolean grid: every cell at or below the level, connected or not."""
    areas: gpd.GeoDataFrame
    """Polygons of :attr:`mask` in EPSG:4326, with ``connected`` (bool) and ``area_m2``."""
    area_m2: float
    """The area of :attr:`mask` in m², measured in the measurement CRS."""


# --- reading -----------------------------------------------------------------------------------


def read_dem(path: str | os.PathLike[str]) -> Dem:
    """Read an elevation model from a GeoTIFF (or any raster GDAL reads); band 1 is used.

    No-data cells (the file's nodata value or mask) become NaN; a band scale and offset are
    applied.

    Parameters
    ----------
    path
        The raster file.

    Raises
    ------
    UploadError
        If the file is missing, is not a raster, or has more than :data:`MAX_CELLS` cells.
    CRSError
        If the raster has no CRS or no georeferencing, or a geographic CRS with coordinates
        outside longitude/latitude ranges.
    GISInputError
        If every cell is no data, band 1 is an image's colour channel, or elevations are
        outside -100 to 9000 m (centimetres, feet, an image).
    """
    source = Path(path)
    if not source.is_file():
        raise UploadError(f"path: expected an existing GeoTIFF file, got {str(source)!r}")
    name = source.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # refused below instead
            with rasterio.open(source) as src:
                crs = _dataset_crs(src, name)
                _check_geographic_bounds(crs, src.transform, (src.height, src.width), name)
                _check_band(src, name)
                if src.width * src.height > MAX_CELLS:
                    msg = (
                        f"{name}: expected at most {MAX_CELLS:,} cells, got {src.width:,} × "
                        f"{src.height:,} = {src.width * src.height:,}; clip it to the ward first "
                        "(gdal_translate -projwin, or Clip Raster by Extent in QGIS)"
                    )
                    raise UploadError(msg)
                transform = src.transform
                elevation = _elevation(src, None)
                tags = src.tags()
    except RasterioIOError as e:
        msg = f"{name}: expected a GeoTIFF (or another raster GDAL reads); it could not be read"
        raise UploadError(f"{msg}: {e}") from e
    _check_elevation(elevation, name)
    return Dem(elevation, transform, crs, source=tags.get(SOURCE_TAG) or name)


def check_bbox(bbox: BBox, *, argument: str = "bbox") -> BBox:
    """Validate a longitude/latitude box (minlon, minlat, maxlon, maxlat).

    Raises
    ------
    SwappedAxesError
        If the box only makes sense with latitude first.
    GISInputError
        If it is not four finite numbers within ±180, ±90 with min < max.
    """
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError) as e:
        msg = f"{argument}: expected four numbers (minlon, minlat, maxlon, maxlat), got {bbox!r}"
        raise GISInputError(msg) from e
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        msg = (
            f"{argument}: expected four finite numbers (minlon, minlat, maxlon, maxlat), "
            f"got {bbox!r}"
        )
        raise GISInputError(msg)
    minlon, minlat, maxlon, maxlat = values
    lons_ok = -180 <= minlon <= 180 and -180 <= maxlon <= 180
    lats_ok = -90 <= minlat <= 90 and -90 <= maxlat <= 90
    if lons_ok and not lats_ok and -90 <= minlon <= 90 and -90 <= maxlon <= 90:
        msg = (
            f"{argument}: expected minlon, minlat, maxlon, maxlat (longitude first), got {bbox!r}, "
            "which looks like latitude first; swap the pairs"
        )
        raise SwappedAxesError(msg)
    if not (lons_ok and lats_ok):
        msg = f"{argument}: expected longitudes within ±180 and latitudes within ±90, got {bbox!r}"
        raise GISInputError(msg)
    if not (minlon < maxlon and minlat < maxlat):
        msg = f"{argument}: expected minlon < maxlon and minlat < maxlat, got {bbox!r}"
        raise GISInputError(msg)
    return minlon, minlat, maxlon, maxlat


def glo30_tile_names(bbox: BBox) -> list[str]:
    """The Copernicus GLO-30 tiles covering a box, south to north, west to east.

    A tile is one degree, named by its south-west corner: the tile with latitudes 10 to 11 °N
    and longitudes 106 to 107 °E is ``Copernicus_DSM_COG_10_N10_00_E106_00_DEM``; the one
    with latitudes 1 °S to 0 and longitudes 71 to 70 °W is ``..._S01_00_W071_00_DEM``.

    Parameters
    ----------
    bbox
        (minlon, minlat, maxlon, maxlat) in degrees; see :func:`check_bbox`.
    """
    minlon, minlat, maxlon, maxlat = check_bbox(bbox)
    return [
        _glo30_name(lat, lon)
        for lat in range(math.floor(minlat), math.ceil(maxlat))
        for lon in range(math.floor(minlon), math.ceil(maxlon))
    ]


def glo30_urls(bbox: BBox) -> list[str]:
    """The URLs (AWS Open Data, Cloud Optimized GeoTIFF) of the GLO-30 tiles covering a box."""
    return [GLO30_URL.format(name=name) for name in glo30_tile_names(bbox)]


def read_window(
    sources: Sequence[str | os.PathLike[str]],
    bbox: BBox,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Dem:
    """Read only the part of each raster covering a box and mosaic them into one DEM.

    Sources are local files or ``http(s)://`` URLs, read through GDAL's ``/vsicurl/`` with
    the options of :data:`GDAL_HTTP_DEFAULTS` (only the bytes of the window are fetched
    from a Cloud Optimized GeoTIFF). The window is rounded outward to whole cells. Sources
    must share CRS, cell size and grid alignment (like the GLO-30 tiles); where they overlap,
    the first source with data wins.

    Parameters
    ----------
    sources
        Files or URLs, e.g. from :func:`glo30_urls`.
    bbox
        (minlon, minlat, maxlon, maxlat) in degrees.
    progress
        Called as ``progress(done, total)`` after each source is read.

    Raises
    ------
    FetchError
        If a URL cannot be read (offline, refused, timed out, no such tile).
    UploadError
        If a local file is missing or not a raster.
    GISInputError
        If the box misses a source, the sources do not share a grid, the window has more
        than :data:`MAX_CELLS` cells, or its values are not plausible elevations.
    """
    box = check_bbox(bbox)
    if isinstance(sources, str | os.PathLike) or not isinstance(sources, Sequence) or not sources:
        msg = f"sources: expected a non-empty list of files or URLs, got {sources!r}"
        raise GISInputError(msg)
    if len(sources) > MAX_SOURCES:
        msg = (
            f"sources: expected at most {MAX_SOURCES} rasters, got {len(sources)}; "
            "use a smaller box"
        )
        raise GISInputError(msg)
    if progress is not None and not callable(progress):
        raise GISInputError(f"progress: expected a callable or None, got {progress!r}")
    names = [os.fspath(s) for s in sources]
    pieces: list[tuple[np.ndarray, Affine, CRS]] = []
    cells = 0
    with rasterio.Env(**_gdal_options()):
        for done, name in enumerate(names, start=1):
            piece = _read_piece(name, box, MAX_CELLS - cells)
            cells += piece[0].size
            pieces.append(piece)
            if progress is not None:
                progress(done, len(names))
    elevation, transform = _mosaic([(grid, t) for grid, t, _ in pieces], [c for *_, c in pieces])
    _check_elevation(elevation, f"window {box} of {names[0]}" + (" ..." if len(names) > 1 else ""))
    return Dem(elevation, transform, pieces[0][2], source="; ".join(names))


def write_dem(dem: Dem, path: str | os.PathLike[str]) -> Path:
    """Write a DEM as a tiled, deflate-compressed float32 GeoTIFF, creating its folder.

    NaN cells are written as :data:`NODATA` (-9999) and declared as nodata; ``dem.source``
    is kept in the file's metadata (``DEM_SOURCE``) and read back by :func:`read_dem`. The
    file is written beside the target and moved into place, so readers never see half of it.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    StoreError
        If the file cannot be written.
    """
    if not isinstance(dem, Dem):
        raise GISInputError(f"dem: expected a Dem, got {type(dem).__name__}")
    target = Path(path)
    if target.suffix.lower() not in (".tif", ".tiff"):
        raise GISInputError(f"path: expected a .tif file name, got {str(target)!r}")
    rows, cols = dem.shape
    data = np.where(np.isnan(dem.elevation), np.float32(NODATA), dem.elevation)
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "float32",
        "crs": dem.crs.to_wkt(), "transform": dem.transform, "nodata": NODATA,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        "predictor": 3,
    }  # fmt: skip
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(partial, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**{SOURCE_TAG: dem.source})
        partial.replace(target)
    except (RasterioError, OSError) as e:
        partial.unlink(missing_ok=True)
        raise StoreError(f"path: could not write the DEM to {str(target)!r}: {e}") from e
    return target


# --- sampling along streets --------------------------------------------------------------------


def sample_segments(
    edges: gpd.GeoDataFrame,
    dem: Dem,
    *,
    measure_crs: CRSLike = "EPSG:9210",
    step_m: float = 10.0,
) -> pd.DataFrame:
    """Elevation along each street segment: minimum, mean and maximum of sampled points.

    Points are placed at equal spacing of at most ``step_m`` metres along each line,
    measured in ``measure_crs``, both ends included; each takes the value of the DEM cell it
    falls in (nearest cell centre). Points outside the DEM or on no data count in
    ``n_samples`` but not in ``n_valid``.

    Parameters
    ----------
    edges
        LineStrings (or MultiLineStrings) with a ``segment_id`` column and a CRS.
    dem
        The elevation model, in any CRS.
    measure_crs
        A projected CRS in metres for spacing the points.
    step_m
        The largest distance between consecutive points.

    Returns
    -------
    pandas.DataFrame
        One row per edge, in order: ``segment_id``, ``elev_min``, ``elev_mean``,
        ``elev_max`` (NaN when no point is valid), ``n_samples``, ``n_valid``.

    Raises
    ------
    CRSError
        If ``edges`` has no CRS or ``measure_crs`` is not projected in metres.
    GISInputError
        If ``segment_id`` is missing, a geometry is not a line, or ``step_m`` is not positive.
    """
    seg, values, _, _ = _sample(edges, dem, measure_crs, step_m)
    n = len(edges)
    valid = ~np.isnan(values)
    n_valid = np.bincount(seg[valid], minlength=n)
    total = np.bincount(seg[valid], weights=values[valid], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_valid > 0, total / n_valid, np.nan)
    return pd.DataFrame(
        {
            "segment_id": edges["segment_id"].to_numpy(),
            "elev_min": _reduce(np.minimum, seg[valid], values[valid], n),
            "elev_mean": mean,
            "elev_max": _reduce(np.maximum, seg[valid], values[valid], n),
            "n_samples": np.bincount(seg, minlength=n),
            "n_valid": n_valid,
        }
    )


def low_segments(samples: pd.DataFrame, threshold_m: float) -> pd.DataFrame:
    """The segments whose lowest point is at or below a level, lowest first.

    Parameters
    ----------
    samples
        The result of :func:`sample_segments`.
    threshold_m
        The level in metres.
    """
    if not isinstance(samples, pd.DataFrame) or not {"segment_id", "elev_min"} <= set(samples):
        got = list(samples.columns) if isinstance(samples, pd.DataFrame) else type(samples).__name__
        msg = f"samples: expected the frame of sample_segments (segment_id, elev_min), got {got}"
        raise GISInputError(msg)
    threshold = _finite(threshold_m, "threshold_m")
    low = samples[samples["elev_min"] <= threshold]
    return low.sort_values(["elev_min", "segment_id"], kind="stable").reset_index(drop=True)


# --- flooding ----------------------------------------------------------------------------------


def inundation(
    dem: Dem,
    level_m: float,
    *,
    water: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    connected_only: bool = True,
    measure_crs: CRSLike = "EPSG:9210",
) -> Inundation:
    """The ground at or below a water level, and the part of it the water can reach.

    This is a "bathtub" model: no flow, rain, drainage or time, only elevation. Low ground
    is *connected* when a 4-connected run of cells at or below the level (neighbours across
    an edge, not a corner) links it to the water:

    * with ``water`` (a river, canal or sea area, any CRS), the cells those geometries
      touch are the water;
    * without it, water is taken to enter from outside the modelled area: the cells on the
      raster's border and the cells next to no data (a DEM clipped to the ward has no data
      around it) are the water's entry points. A low pocket enclosed by higher ground then
      stays dry, as behind a dyke.

    No-data cells never flood and never carry water.

    Parameters
    ----------
    dem
        The elevation model.
    level_m
        The water level in metres, in the DEM's vertical reference (EGM2008 for GLO-30).
    water
        Geometries of the water body; cells they touch are water.
    connected_only
        Flood only connected low ground; False floods every cell at or below the level.
    measure_crs
        A projected CRS in metres for the areas.

    Returns
    -------
    Inundation
        The grids, polygons (each flagged ``connected``) and flooded area. A level below
        every cell gives an empty polygon frame, not an error.

    Raises
    ------
    CRSError
        If ``water`` has no CRS or ``measure_crs`` is not projected in metres.
    GISInputError
        If the level is not a number, or ``water`` is empty or misses the DEM.
    """
    _check_dem(dem)
    level = _finite(level_m, "level_m")
    measure = _measure_crs(measure_crs)
    seeds = _border_cells(dem.elevation) if water is None else _water_cells(water, dem)
    below, connected = _flood_core(dem.elevation, level, seeds)
    mask = connected if connected_only else below
    areas = _flood_polygons(mask, connected, dem, measure)
    return Inundation(
        level_m=level,
        connected_only=bool(connected_only),
        mask=mask,
        below=below,
        areas=areas,
        area_m2=float(areas["area_m2"].sum()),
    )


def flooded_segments(
    edges: gpd.GeoDataFrame,
    dem: Dem,
    inund: Inundation,
    *,
    measure_crs: CRSLike = "EPSG:9210",
    step_m: float = 10.0,
) -> pd.DataFrame:
    """The street segments under water in an inundation, deepest first.

    Parameters
    ----------
    edges
        LineStrings with a ``segment_id`` column and a CRS, as for :func:`sample_segments`.
    dem
        The DEM the inundation was computed on.
    inund
        The result of :func:`inundation`.
    measure_crs, step_m
        How points are placed along the lines, as for :func:`sample_segments`.

    Returns
    -------
    pandas.DataFrame
        ``segment_id``; ``share``, the fraction of the segment's valid sample points inside
        ``inund.mask``; ``depth_m``, the level minus the lowest elevation among those
        points. Only segments with a share above 0, sorted by depth, deepest first.
    """
    if not isinstance(inund, Inundation):
        raise GISInputError(f"inund: expected an Inundation, got {type(inund).__name__}")
    _check_dem(dem)
    if inund.mask.shape != dem.elevation.shape:
        msg = (
            f"inund: expected a mask of the DEM's shape {dem.elevation.shape}, got "
            f"{inund.mask.shape}; compute it with inundation() on this DEM"
        )
        raise GISInputError(msg)
    seg, values, rows, cols = _sample(edges, dem, measure_crs, step_m)
    n = len(edges)
    valid = ~np.isnan(values)
    inside = valid & inund.mask[np.maximum(rows, 0), np.maximum(cols, 0)]
    n_valid = np.bincount(seg[valid], minlength=n)
    n_inside = np.bincount(seg[inside], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_valid > 0, n_inside / n_valid, 0.0)
    lowest = _reduce(np.minimum, seg[inside], values[inside], n)
    out = pd.DataFrame(
        {"segment_id": edges["segment_id"].to_numpy(), "share": share,
         "depth_m": inund.level_m - lowest}
    )  # fmt: skip
    out = out[out["share"] > 0]
    return out.sort_values(["depth_m", "segment_id"], ascending=[False, True], kind="stable")\
        .reset_index(drop=True)  # fmt: skip


# --- pure cores (arrays in, arrays out) --------------------------------------------------------


def _glo30_name(lat: int, lon: int) -> str:
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    return f"Copernicus_DSM_COG_10_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM"


def _apply(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine transform applied to arrays of coordinates."""
    a, b, c, d, e, f = transform[:6]
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return a * x + b * y + c, d * x + e * y + f


def _grid_bounds(transform: Affine, shape: tuple[int, int]) -> BBox:
    rows, cols = shape
    xs, ys = _apply(transform, np.array([0.0, cols, 0.0, cols]), np.array([0.0, 0.0, rows, rows]))
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _cells(
    transform: Affine, shape: tuple[int, int], x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the cell each point falls in; -1 for both outside the grid."""
    col_f, row_f = _apply(~transform, x, y)
    finite = np.isfinite(col_f) & np.isfinite(row_f)
    col = np.floor(np.where(finite, col_f, -1.0)).astype(np.int64)
    row = np.floor(np.where(finite, row_f, -1.0)).astype(np.int64)
    inside = finite & (col >= 0) & (col < shape[1]) & (row >= 0) & (row < shape[0])
    return np.where(inside, row, -1), np.where(inside, col, -1)


def _values_at(elevation: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Elevation at each (row, col) as float64; NaN where the index is -1 or no data."""
    out = np.full(rows.shape, np.nan)
    inside = rows >= 0
    out[inside] = elevation[rows[inside], cols[inside]]
    return out


def _reduce(ufunc: np.ufunc, groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Minimum or maximum of ``values`` per group 0..n-1; NaN for empty groups."""
    start = np.inf if ufunc is np.minimum else -np.inf
    out = np.full(n, start)
    ufunc.at(out, groups, values)
    out[np.isinf(out)] = np.nan
    return out


def _spacing(lengths: np.ndarray, present: np.ndarray, step_m: float) -> tuple[np.ndarray, ...]:
    """Which line and which distance along it each sample point has.

    A line of length L gets ceil(L / step) + 1 points equally spaced from 0 to L (one point
    for a zero-length line, none for a missing one).
    """
    safe = np.where(present, lengths, 0.0)
    counts = np.where(present, np.ceil(safe / step_m).astype(np.int64) + 1, 0)
    counts = np.where(present & (safe == 0), 1, counts)
    seg = np.repeat(np.arange(len(lengths)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(len(seg)) - first
    gaps = np.maximum(counts - 1, 1)[seg]
    return seg, safe[seg] * k / gaps


def _flood_core(
    elevation: np.ndarray, level: float, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cells at or below ``level``, and those 4-connected through such cells to a seed."""
    below = elevation <= level  # NaN compares False: no data never floods
    labels, count = ndimage.label(below, structure=_FOUR_CONNECTED)
    reached = np.zeros(count + 1, dtype=bool)
    reached[labels[seeds & below]] = True
    reached[0] = False
    return below, reached[labels]


def _border_cells(elevation: np.ndarray) -> np.ndarray:
    """The raster's edge cells and the cells next to no data: where outside water enters."""
    seeds = np.zeros(elevation.shape, dtype=bool)
    seeds[0, :] = seeds[-1, :] = seeds[:, 0] = seeds[:, -1] = True
    nodata = np.isnan(elevation)
    if nodata.any():
        seeds |= ndimage.binary_dilation(nodata, structure=_FOUR_CONNECTED) & ~nodata
    return seeds


def _mosaic(
    pieces: list[tuple[np.ndarray, Affine]], crss: list[CRS]
) -> tuple[np.ndarray, Affine]:
    """Place north-up grids sharing a CRS, cell size and alignment on one grid."""
    if len(pieces) == 1:
        return pieces[0]
    t0 = pieces[0][1]
    for (_, t), crs in zip(pieces[1:], crss[1:], strict=True):
        if not crs.equals(crss[0]):
            msg = (
                f"sources: expected one CRS for all rasters, got {crss[0].name!r} "
                f"and {crs.name!r}"
            )
            raise GISInputError(msg)
        if not (math.isclose(t.a, t0.a, rel_tol=1e-9) and math.isclose(t.e, t0.e, rel_tol=1e-9)):
            msg = (
                f"sources: expected one cell size for all rasters, got {t0.a:g} × {-t0.e:g} "
                f"and {t.a:g} × {-t.e:g}"
            )
            raise GISInputError(msg)
    west = min(t.c for _, t in pieces)
    north = max(t.f for _, t in pieces)
    offsets = []
    for grid, t in pieces:
        col, row = (t.c - west) / t0.a, (t.f - north) / t0.e
        if abs(col - round(col)) > 0.01 or abs(row - round(row)) > 0.01:
            msg = (
                f"sources: expected rasters on one grid, got one offset by {col:.3f}, "
                f"{row:.3f} cells"
            )
            raise GISInputError(msg)
        offsets.append((round(row), round(col), grid))
    height = max(r + g.shape[0] for r, _, g in offsets)
    width = max(c + g.shape[1] for _, c, g in offsets)
    if width * height > MAX_CELLS:
        msg = f"bbox: expected at most {MAX_CELLS:,} cells, got {width:,} × {height:,}"
        raise GISInputError(msg)
    out = np.full((height, width), np.nan, dtype=np.float32)
    for row, col, grid in offsets:
        region = out[row : row + grid.shape[0], col : col + grid.shape[1]]
        empty = np.isnan(region)
        region[empty] = grid[empty]
    return out, Affine(t0.a, 0.0, west, 0.0, t0.e, north)


# --- helpers with I/O or checks ----------------------------------------------------------------


def _gdal_options() -> dict[str, str]:
    return {key: os.environ.get(key, value) for key, value in GDAL_HTTP_DEFAULTS.items()}


def _dataset_crs(src: rasterio.io.DatasetReader, name: str) -> CRS:
    if src.crs is None:
        msg = (
            f"{name}: no CRS: expected a GeoTIFF that declares its coordinate reference system "
            "(e.g. EPSG:4326 or EPSG:32648), got none; assign it (gdal_edit.py -a_srs, or "
            "Assign Projection in QGIS) and upload again"
        )
        raise CRSError(msg)
    if src.transform.is_identity and not src.gcps[0]:
        msg = f"{name}: no georeferencing: expected a geotransform placing the grid, got none"
        raise CRSError(msg)
    return resolve_crs(src.crs.to_wkt(), argument=name)


def _check_band(src: rasterio.io.DatasetReader, name: str) -> None:
    colour = src.colorinterp[0] if src.colorinterp else ColorInterp.undefined
    if colour in (ColorInterp.red, ColorInterp.palette):
        msg = (
            f"{name}: expected elevations in band 1, got the {colour.name} channel of an image "
            "(a map or photo rather than an elevation model)"
        )
        raise GISInputError(msg)


def _elevation(src: rasterio.io.DatasetReader, window: Window | None) -> np.ndarray:
    """Band 1 in metres as float32, NaN for no data, scale and offset applied."""
    band = src.read(1, window=window, masked=True)
    scale = src.scales[0] if src.scales else 1.0
    offset = src.offsets[0] if src.offsets else 0.0
    values = band.astype(np.float64).filled(np.nan) * scale + offset
    values[~np.isfinite(values)] = np.nan
    return values.astype(np.float32)


def _check_elevation(elevation: np.ndarray, name: str) -> None:
    if np.isnan(elevation).all():
        raise GISInputError(f"{name}: expected elevations, got no data in every cell")
    low, high = float(np.nanmin(elevation)), float(np.nanmax(elevation))
    lowest, highest = ELEVATION_RANGE_M
    if low < lowest or high > highest:
        msg = (
            f"{name}: expected elevations in metres between {lowest:g} and {highest:g}, got "
            f"{low:.6g} to {high:.6g}; is it in centimetres or feet, or an image rather than "
            "an elevation model?"
        )
        raise GISInputError(msg)


def _check_geographic_bounds(
    crs: CRS, transform: Affine, shape: tuple[int, int], name: str
) -> None:
    if not crs.is_geographic:
        return
    minx, miny, maxx, maxy = _grid_bounds(transform, shape)
    slack = 1e-6 + max(abs(transform.a), abs(transform.e))
    if minx < -180 - slack or maxx > 180 + slack or miny < -90 - slack or maxy > 90 + slack:
        msg = (
            f"{name}: the raster declares the geographic CRS {crs.name!r} but spans x "
            f"{minx:.6g} to {maxx:.6g}, y {miny:.6g} to {maxy:.6g}, beyond longitude ±180 and "
            "latitude ±90; its CRS is wrong (projected metres labelled as degrees?)"
        )
        raise CRSError(msg)


def _check_dem(dem: Dem) -> None:
    if not isinstance(dem, Dem):
        raise GISInputError(f"dem: expected a Dem (see read_dem), got {type(dem).__name__}")


def _finite(value: float, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise GISInputError(f"{name}: expected a number of metres, got {value!r}") from e
    if not math.isfinite(number):
        raise GISInputError(f"{name}: expected a finite number of metres, got {value!r}")
    return number


def _measure_crs(measure_crs: CRSLike) -> CRS:
    crs = resolve_crs(measure_crs, argument="measure_crs")
    if not crs.is_projected or any(a.unit_conversion_factor != 1.0 for a in crs.axis_info):
        msg = f"measure_crs: expected a projected CRS in metres (EPSG:9210), got {crs.name!r}"
        raise CRSError(msg)
    return crs


def _read_piece(name: str, box: BBox, cells_left: int) -> tuple[np.ndarray, Affine, CRS]:
    """The window of one source covering ``box``: values, transform and CRS."""
    remote = name.startswith(("http://", "https://"))
    if not remote and not Path(name).is_file():
        raise UploadError(f"sources: expected an existing GeoTIFF file, got {name!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # refused by _dataset_crs
            with rasterio.open(f"/vsicurl/{name}" if remote else name) as src:
                crs = _dataset_crs(src, name)
                t = src.transform
                if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
                    msg = f"{name}: expected a north-up grid, got the transform {tuple(t)[:6]}"
                    raise GISInputError(msg)
                window = _window(t, (src.height, src.width), _bbox_in(box, crs))
                if window is None:
                    bounds = _grid_bounds(t, (src.height, src.width))
                    msg = f"bbox: expected a box overlapping {name} (bounds {bounds}), got {box}"
                    raise GISInputError(msg)
                if window.width * window.height > cells_left:
                    msg = (
                        f"bbox: expected at most {MAX_CELLS:,} cells in all, got a window of "
                        f"{window.width:,} × {window.height:,} in {name}; use a smaller box"
                    )
                    raise GISInputError(msg)
                values = _elevation(src, window)
    except (RasterioError, OSError) as e:
        if remote:
            hint = " (no such tile: GLO-30 has none over open sea)" if "404" in str(e) else ""
            msg = (
                f"{name}: could not be read{hint}: {e}. The machine may be offline or the server "
                "unreachable; download the GeoTIFF elsewhere and upload it instead"
            )
            raise FetchError(msg) from e
        msg = f"{name}: expected a GeoTIFF (or another raster GDAL reads); it could not be read"
        raise UploadError(f"{msg}: {e}") from e
    transform = t @ Affine.translation(window.col_off, window.row_off)
    return values, transform, crs


def _bbox_in(box: BBox, crs: CRS) -> BBox:
    """A lon/lat box as a box in ``crs`` (densified edges, so it covers the curved outline)."""
    if crs.equals(WGS84, ignore_axis_order=True):
        return box
    out = transformer_to_wgs84(crs).transform_bounds(
        *box, densify_pts=21, direction=TransformDirection.INVERSE
    )
    return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def _window(transform: Affine, shape: tuple[int, int], bounds: BBox) -> Window | None:
    """The whole cells of a north-up grid covering ``bounds``; None when they do not overlap."""
    minx, miny, maxx, maxy = bounds
    cols, rows = _apply(~transform, np.array([minx, maxx]), np.array([maxy, miny]))
    eps = 1e-6  # of a cell: float noise must not add a row or column
    col0 = max(math.floor(float(cols.min()) + eps), 0)
    col1 = min(math.ceil(float(cols.max()) - eps), shape[1])
    row0 = max(math.floor(float(rows.min()) + eps), 0)
    row1 = min(math.ceil(float(rows.max()) - eps), shape[0])
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _sample(
    edges: gpd.GeoDataFrame, dem: Dem, measure_crs: CRSLike, step_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check the inputs; sample points along the edges: line position, value, row, col."""
    if not isinstance(edges, gpd.GeoDataFrame):
        raise GISInputError(f"edges: expected a GeoDataFrame, got {type(edges).__name__}")
    if edges.crs is None:
        msg = "edges: no CRS: the street segments have no CRS; set one with .set_crs() first"
        raise CRSError(msg)
    if "segment_id" not in edges.columns:
        msg = f"edges: expected a 'segment_id' column, got the columns {list(edges.columns)}"
        raise GISInputError(msg)
    _check_dem(dem)
    step = _finite(step_m, "step_m")
    if step <= 0:
        raise GISInputError(f"step_m: expected a positive number of metres, got {step_m!r}")
    measure = _measure_crs(measure_crs)
    geoms = np.asarray(edges.geometry.array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kinds = shapely.get_type_id(geoms)
    wrong = present & ~np.isin(kinds, _LINE_TYPES)
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        msg = f"edges: expected LineStrings, got a {geoms[first].geom_type} at row {first}"
        raise GeometryError(msg)
    measured = np.asarray(from_wgs84(edges.geometry, measure).array, dtype=object)
    lengths = shapely.length(measured)
    expected = float(np.sum(np.ceil(np.where(present, lengths, 0.0) / step) + 1))
    if expected > MAX_POINTS:
        msg = (
            f"step_m: expected at most {MAX_POINTS:,} sample points, got about {expected:,.0f} "
            f"with step_m={step:g}; use a larger step"
        )
        raise GISInputError(msg)
    seg, distance = _spacing(lengths, present, step)
    points = shapely.line_interpolate_point(measured[seg], distance)
    x, y = _to_dem_crs(shapely.get_x(points), shapely.get_y(points), measure, dem.crs)
    rows, cols = _cells(dem.transform, dem.shape, x, y)
    return seg, _values_at(dem.elevation, rows, cols), rows, cols


def _to_dem_crs(
    x: np.ndarray, y: np.ndarray, source: CRS, target: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Points from ``source`` to ``target`` through WGS 84 (pinned VN-2000 shifts)."""
    if source.equals(target):
        return x, y
    lon, lat = transformer_to_wgs84(source).transform(x, y)
    if target.equals(WGS84, ignore_axis_order=True):
        return np.asarray(lon), np.asarray(lat)
    tx, ty = transformer_to_wgs84(target).transform(lon, lat, direction=TransformDirection.INVERSE)
    return np.asarray(tx), np.asarray(ty)


def _water_cells(water: gpd.GeoDataFrame | gpd.GeoSeries, dem: Dem) -> np.ndarray:
    if not isinstance(water, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"water: expected a GeoDataFrame or GeoSeries (or None), got {type(water).__name__}"
        raise GISInputError(msg)
    if water.crs is None:
        msg = "water: no CRS: the water geometries have no CRS; set one with .set_crs() first"
        raise CRSError(msg)
    geoms = water.geometry[~(water.geometry.is_empty | water.geometry.isna())]
    if geoms.empty:
        msg = "water: expected at least one river, canal or sea geometry, got none (or None)"
        raise GISInputError(msg)
    in_dem = from_wgs84(geoms, dem.crs)
    burnt = features.rasterize(
        ((geom, 1) for geom in in_dem), out_shape=dem.shape, transform=dem.transform,
        fill=0, all_touched=True, dtype="uint8",
    )  # fmt: skip
    seeds = burnt.astype(bool)
    if not seeds.any():
        msg = (
            f"water: expected geometries overlapping the DEM (lon/lat {dem.bounds_4326}), got "
            f"{len(geoms)} outside it"
        )
        raise GISInputError(msg)
    return seeds


def _flood_polygons(
    mask: np.ndarray, connected: np.ndarray, dem: Dem, measure: CRS
) -> gpd.GeoDataFrame:
    """Polygons of the flooded cells in EPSG:4326, flagged connected, with their area."""
    code = np.zeros(mask.shape, dtype=np.uint8)
    code[mask & ~connected] = 1
    code[mask & connected] = 2
    found = (
        list(features.shapes(code, mask=code > 0, connectivity=4, transform=dem.transform))
        if code.any()
        else []
    )
    if not found:
        return gpd.GeoDataFrame(
            {"connected": pd.Series(dtype=bool), "area_m2": pd.Series(dtype=float)},
            geometry=gpd.GeoSeries([], crs=WGS84),
        )
    geoms = _polygons([geom["coordinates"] for geom, _ in found])
    flags = [value == 2 for _, value in found]
    native = gpd.GeoDataFrame({"connected": flags}, geometry=geoms, crs=dem.crs)
    native["area_m2"] = area_km2(native, measure).to_numpy() * 1e6
    out = to_wgs84(native[[*_AREA_COLUMNS, "geometry"]])
    return out.sort_values("area_m2", ascending=False, kind="stable").reset_index(drop=True)


def _polygons(rings_per_polygon: list[list[list[tuple[float, float]]]]) -> np.ndarray:
    """Shapely polygons from GeoJSON polygon coordinates (shell, then holes), built in bulk:
    tens of thousands of cell polygons in a fraction of the time of one ``shape()`` each."""
    rings = [ring for polygon in rings_per_polygon for ring in polygon]
    owner = np.repeat(np.arange(len(rings_per_polygon)), [len(p) for p in rings_per_polygon])
    sizes = np.array([len(ring) for ring in rings], dtype=np.int64)
    coords = np.array([point for ring in rings for point in ring], dtype=float)
    linear = np.asarray(
        shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), sizes)), dtype=object
    )
    return np.asarray(shapely.polygons(linear, indices=owner), dtype=object)
