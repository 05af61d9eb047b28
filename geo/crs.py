"""Coordinate reference systems: user CRSs, VN-2000 with a pinned transformation, measuring."""

from __future__ import annotations

import math
import re
from functools import cache
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.crs import CoordinateOperation
from pyproj.database import query_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError
from pyproj.transformer import TransformerGroup

from geo.errors import CRSError, GISInputError

CRSLike = CRS | int | str
Vector = TypeVar("Vector", gpd.GeoDataFrame, gpd.GeoSeries)

WGS84 = CRS.from_epsg(4326)
VN2000_GEOGRAPHIC = "EPSG:4756"
VN2000_TO_WGS84 = 6960
"""EPSG code of "VN-2000 to WGS 84 (2)", the transformation published with Circular 973/2001."""

# Transverse Mercator parameters by EPSG code: latitude and longitude of origin, scale,
# false easting, false northing.
_TM_PARAMS = (8801, 8802, 8805, 8806, 8807)
_VN2000_DATUM = re.compile(r"vn2000|vietnam2000")


def resolve_crs(crs_like: CRSLike | None, *, argument: str = "crs") -> CRS:
    """Turn user input into a CRS, canonicalising VN-2000 variants to their EPSG CRS.

    VN-2000 arrives in many spellings: EPSG codes, ESRI ``.prj`` WKT (``D_Vietnam_2000``),
    WKT with ``TOWGS84`` and PROJ strings. Any CRS on the VN-2000 datum is returned as the
    EPSG CRS with the same projection (EPSG:4756 when geographic), so that
    :func:`transformer_to_wgs84` can pin the official datum shift; ``TOWGS84`` parameters
    in the input are dropped in favour of that pinned transformation.

    A Transverse Mercator CRS on the WGS 84 ellipsoid whose parameters are those of a
    VN-2000 TM-3 zone (longitude of origin on a TM-3 meridian, scale 0.9999, false easting
    500 000 m) is also treated as VN-2000, whatever datum it names. This is what PROJ
    strings exported from EPSG:9210 look like (``+proj=tmerc +lon_0=105.75 +k=0.9999
    +x_0=500000 +ellps=WGS84``, no datum); taken literally they would skip the
    VN-2000 to WGS 84 shift and land about 226 m off. No other system uses these zones.
    UTM parameters are only canonicalised when the datum is VN-2000, since on a bare
    WGS 84 ellipsoid they usually mean WGS 84 / UTM.

    Parameters
    ----------
    crs_like
        An EPSG code (``9210``, ``"9210"``, ``"EPSG:9210"``), WKT (including ESRI ``.prj``
        text), a PROJ string or a :class:`pyproj.CRS`.
    argument
        The name used for the input in error messages.

    Returns
    -------
    pyproj.CRS
        The resolved CRS.

    Raises
    ------
    CRSError
        If ``crs_like`` is missing, empty or not a CRS.
    """
    if crs_like is None:
        msg = (
            f"{argument}: no CRS: expected an EPSG code, WKT or PROJ string, got None; "
            "declare it with --crs / in the import form"
        )
        raise CRSError(msg)
    if isinstance(crs_like, bool) or not isinstance(crs_like, CRS | int | str):
        msg = (
            f"{argument}: expected an EPSG code, WKT, PROJ string or pyproj.CRS, "
            f"got {type(crs_like).__name__}"
        )
        raise CRSError(msg)
    if isinstance(crs_like, str):
        crs_like = crs_like.strip()
        if not crs_like:
            raise CRSError(f"{argument}: expected an EPSG code, WKT or PROJ string, got ''")
        if crs_like.isdigit():
            crs_like = int(crs_like)
    try:
        crs = CRS.from_user_input(crs_like)
    except PyprojCRSError as e:
        msg = f"{argument}: expected an EPSG code, WKT or PROJ string, got {str(crs_like)[:200]!r}"
        raise CRSError(msg) from e
    return _canonical(crs)


def is_vn2000(crs: CRSLike) -> bool:
    """Whether a CRS is on the VN-2000 datum (after :func:`resolve_crs`)."""
    return _on_vn2000_datum(resolve_crs(crs))


def transformer_to_wgs84(crs: CRSLike) -> Transformer:
    """A transformer from ``crs`` to WGS 84 longitude/latitude (``always_xy``).

    For VN-2000 the transformation is pinned to EPSG:6960 "VN-2000 to WGS 84 (2)".
    PROJ would otherwise choose EPSG:5194 "VN-2000 to WGS 84 (1)", which differs by
    about 0.8 m in Ho Chi Minh City.

    Parameters
    ----------
    crs
        The source CRS, in any form :func:`resolve_crs` accepts.

    Raises
    ------
    CRSError
        If the pinned VN-2000 transformation is not in the PROJ database.
    """
    return _transformer(resolve_crs(crs), WGS84)


def to_wgs84(data: Vector) -> Vector:
    """Reproject a GeoDataFrame or GeoSeries to EPSG:4326, keeping every column.

    Parameters
    ----------
    data
        Features with a CRS; VN-2000 uses the pinned transformation of
        :func:`transformer_to_wgs84`.

    Returns
    -------
    GeoDataFrame or GeoSeries
        A copy in EPSG:4326 (longitude, latitude).
    """
    source = _data_crs(data, "data")
    if source.equals(WGS84, ignore_axis_order=True):
        return data.copy().set_crs(WGS84, allow_override=True)
    return _reproject(data, _transformer(source, WGS84), WGS84)


def from_wgs84(data: Vector, crs: CRSLike) -> Vector:
    """Reproject features to ``crs`` via WGS 84, with the pinned VN-2000 transformation.

    Parameters
    ----------
    data
        Features with a CRS; anything not in EPSG:4326 is first brought there by
        :func:`to_wgs84`.
    crs
        The target CRS, in any form :func:`resolve_crs` accepts.

    Returns
    -------
    GeoDataFrame or GeoSeries
        A copy in ``crs``.
    """
    target = resolve_crs(crs)
    lonlat = to_wgs84(data)
    if target.equals(WGS84, ignore_axis_order=True):
        return lonlat
    return _reproject(lonlat, _transformer(WGS84, target), target)


def measure_crs_for(lon: float, lat: float) -> str:
    """The VN-2000 projected CRS to measure areas and lengths near a point.

    From 104°E to 107°E (all of Ho Chi Minh City, the Mekong delta, Hà Nội) this is
    EPSG:9210 VN-2000 / TM-3 105-45; from 107°E to 109.5°E (Bà Rịa–Vũng Tàu, Đà Nẵng, the
    central coast) EPSG:5899 VN-2000 / TM-3 107-45; west of 104°E EPSG:3405 VN-2000 / UTM
    zone 48N and east of 109.5°E EPSG:3406 VN-2000 / UTM zone 49N. Within a ward the scale
    error of these zones (under 0.03 % of area in Ho Chi Minh City) is far below the
    precision of the data.

    Parameters
    ----------
    lon, lat
        A point in degrees (WGS 84).

    Returns
    -------
    str
        An ``"EPSG:nnnn"`` code.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
        msg = f"lon, lat: expected degrees within ±180, ±90, got {lon!r}, {lat!r}"
        raise GISInputError(msg)
    if lon < 104.0:
        return "EPSG:3405"
    if lon < 107.0:
        return "EPSG:9210"
    return "EPSG:5899" if lon <= 109.5 else "EPSG:3406"


def area_km2(data: gpd.GeoDataFrame | gpd.GeoSeries, measure_crs: CRSLike) -> pd.Series:
    """Area of each geometry in km², measured in a projected CRS.

    Parameters
    ----------
    data
        Features with a CRS.
    measure_crs
        A projected CRS in metres, e.g. from :func:`measure_crs_for`.
    """
    return (_measured(data, measure_crs).area / 1e6).rename("area_km2")


def length_m(data: gpd.GeoDataFrame | gpd.GeoSeries, measure_crs: CRSLike) -> pd.Series:
    """Length of each geometry in metres (perimeter for polygons), in a projected CRS.

    Parameters
    ----------
    data
        Features with a CRS.
    measure_crs
        A projected CRS in metres, e.g. from :func:`measure_crs_for`.
    """
    return _measured(data, measure_crs).length.rename("length_m")


def _measured(data: gpd.GeoDataFrame | gpd.GeoSeries, measure_crs: CRSLike) -> gpd.GeoSeries:
    target = resolve_crs(measure_crs, argument="measure_crs")
    if not target.is_projected or not _in_metres(target):
        msg = f"measure_crs: expected a projected CRS in metres (EPSG:9210), got {target.name!r}"
        raise CRSError(msg)
    return from_wgs84(data.geometry, target)


def _data_crs(data: gpd.GeoDataFrame | gpd.GeoSeries, argument: str) -> CRS:
    if not isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        raise GISInputError(
            f"{argument}: expected a GeoDataFrame or GeoSeries, got {type(data).__name__}"
        )
    if data.crs is None:
        msg = f"{argument}: no CRS: the features have no CRS; set one with .set_crs() first"
        raise CRSError(msg)
    return resolve_crs(data.crs, argument=argument)


def _canonical(crs: CRS) -> CRS:
    base = crs.source_crs if crs.is_bound and crs.source_crs is not None else crs
    vn2000 = _on_vn2000_datum(base)
    if vn2000 and base.is_geographic:
        return CRS.from_user_input(VN2000_GEOGRAPHIC)
    params = _tm_params(base)
    if params is None or base.ellipsoid is None or base.ellipsoid.name != "WGS 84":
        return crs
    for code, (candidate, tm3) in _vn2000_projections().items():
        if (vn2000 or tm3) and np.allclose(params, candidate, rtol=1e-12, atol=1e-9):
            return CRS.from_user_input(code)
    return crs


def _on_vn2000_datum(crs: CRS) -> bool:
    names = [crs.datum.name if crs.datum else "", crs.geodetic_crs.name if crs.geodetic_crs else ""]
    return any(_VN2000_DATUM.search(re.sub(r"[^a-z0-9]", "", n.lower())) for n in names)


def _in_metres(crs: CRS) -> bool:
    return bool(crs.axis_info) and all(a.unit_conversion_factor == 1.0 for a in crs.axis_info)


def _tm_params(crs: CRS) -> tuple[float, ...] | None:
    """Transverse Mercator parameters in radians and metres, or None for other projections."""
    op = crs.coordinate_operation
    if not crs.is_projected or op is None or op.method_code != "9807" or not _in_metres(crs):
        return None
    values = {int(p.code): float(p.value) * p.unit_conversion_factor for p in op.params if p.code}
    if set(_TM_PARAMS) - set(values):
        return None
    return tuple(values[code] for code in _TM_PARAMS)


@cache
def _vn2000_projections() -> dict[str, tuple[tuple[float, ...], bool]]:
    """Every EPSG VN-2000 Transverse Mercator CRS: its parameters and whether it is TM-3."""
    found: dict[str, tuple[tuple[float, ...], bool]] = {}
    for info in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS):
        if info.name.startswith("VN-2000 /") and f"EPSG:{info.code}" not in found:
            params = _tm_params(CRS.from_epsg(int(info.code)))
            if params is not None:
                found[f"EPSG:{info.code}"] = (params, "TM-3" in info.name)
    return found


def _transformer(source: CRS, target: CRS) -> Transformer:
    if not (_on_vn2000_datum(source) or _on_vn2000_datum(target)):
        return Transformer.from_crs(source, target, always_xy=True)
    for transformer in TransformerGroup(source, target, always_xy=True).transformers:
        if any(_operation_code(op) == VN2000_TO_WGS84 for op in transformer.operations or ()):
            return transformer
    msg = (
        f"crs: expected PROJ to offer EPSG:{VN2000_TO_WGS84} 'VN-2000 to WGS 84 (2)' from "
        f"{source.name!r} to {target.name!r}, but it did not; refusing a less accurate fallback"
    )
    raise CRSError(msg)


def _operation_code(operation: CoordinateOperation) -> int | None:
    ident = operation.to_json_dict().get("id", {})
    if ident.get("authority") in ("EPSG", "INVERSE(EPSG)"):
        return int(ident["code"])
    return None


def _reproject(data: Vector, transformer: Transformer, target: CRS) -> Vector:
    def apply(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return out

    try:
        geoms = shapely.transform(  # type: ignore[call-overload]  # include_z=None: shapely >= 2.1
            np.asarray(data.geometry.array), apply, include_z=None
        )
    except ProjError as e:
        msg = f"data: could not transform coordinates to {target.name!r}: {e}"
        raise CRSError(msg) from e
    series = gpd.GeoSeries(geoms, index=data.index, crs=target, name=data.geometry.name)
    if isinstance(data, gpd.GeoSeries):
        return series
    out = data.copy()
    out[data.geometry.name] = series
    return out.set_crs(target, allow_override=True)
