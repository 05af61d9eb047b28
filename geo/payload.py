"""Shrinking layers before they reach the browser."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import CRSError, GISInputError

TILE_SIZE = 256
MAX_ZOOM = 19
WGS84 = CRS.from_epsg(4326)


def tolerance_for_zoom(zoom: float, lat: float = 0.0) -> float:
    """Half a screen pixel at ``zoom``, in degrees, at latitude ``lat``.

    One Web Mercator pixel spans ``360 / (256 * 2**zoom)`` degrees of longitude
    everywhere, and ``cos(lat)`` times that in latitude; the smaller of the two is
    used so that no direction loses more than half a pixel.

    Parameters
    ----------
    zoom
        Web map zoom level.
    lat
        Latitude of the data, in degrees.
    """
    pixel_deg = 360.0 / (TILE_SIZE * 2.0**zoom)
    return 0.5 * pixel_deg * max(math.cos(math.radians(lat)), 0.01)


def zoom_for_bounds(bounds: Sequence[float], width_px: int = 800, height_px: int = 600) -> int:
    """The largest zoom at which ``bounds`` fit in a ``width_px`` by ``height_px`` map.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in longitude and latitude.
    width_px, height_px
        Size of the map on screen.

    Returns
    -------
    int
        A zoom level between 0 and 19.
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise GISInputError(f"bounds: expected four finite numbers, got {tuple(bounds)!r}")
    if width_px <= 0 or height_px <= 0:
        raise GISInputError(f"map size: expected positive pixels, got {width_px}x{height_px}")

    def merc_y(lat: float) -> float:
        lat = max(min(lat, 85.0511), -85.0511)
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    dx = (maxx - minx) / 360.0
    dy = (merc_y(maxy) - merc_y(miny)) / (2 * math.pi)
    zooms = [MAX_ZOOM]
    if dx > 0:
        zooms.append(math.floor(math.log2(width_px / (TILE_SIZE * dx))))
    if dy > 0:
        zooms.append(math.floor(math.log2(height_px / (TILE_SIZE * dy))))
    return int(max(0, min(zooms)))


def web_escape(text: str) -> str:
    """Text made inert for map HTML *and* for folium's templates.

    ``html.escape`` stops markup. Braces become entities too: branca wraps every rendered
    script in a new Jinja template, so a user's ``{{ ... }}`` would be evaluated on the
    server (template injection, up to running code) and ``{% raw`` would crash the map.
    Tooltips and popups show the entities as braces.
    """
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def _jsonable(value: Any) -> Any:
    """A JSON-safe, HTML-escaped version of one attribute value."""
    if value is None:
        return None
    if isinstance(value, str):
        return web_escape(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | np.ndarray):
        return web_escape(", ".join(str(v) for v in value))
    if pd.isna(value):
        return None
    return web_escape(str(value))


def prepare_for_web(
    gdf: gpd.GeoDataFrame,
    *,
    zoom: float,
    fields: Sequence[str],
    precision: int = 6,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``gdf``, simplified and trimmed for a web map.

    Geometries are simplified by half a screen pixel at ``zoom`` (topology kept),
    coordinates are rounded to ``precision`` decimals (6 is about 0.1 m), only
    ``fields`` are kept, plus ``fid``, and every string value and field name is HTML-escaped
    so that popups and tooltips, which insert values as HTML, show it as text.

    Parameters
    ----------
    gdf
        Features in EPSG:4326; the feature id is the ``fid`` column, else the index.
    zoom
        The most detailed zoom the map will be viewed at.
    fields
        Attributes to keep; names missing from ``gdf`` are left out.
    precision
        Decimals kept in coordinates.

    Returns
    -------
    dict
        A FeatureCollection whose features carry ``id`` and ``properties["fid"]``.

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS or is not in EPSG:4326.
    """
    if gdf.crs is None:
        raise CRSError("layer: expected EPSG:4326 coordinates, got a layer without a CRS")
    if not CRS.from_user_input(gdf.crs).equals(WGS84):
        raise CRSError(
            f"layer: expected EPSG:4326 coordinates, got {gdf.crs.to_string()}; "
            "reproject with gdf.to_crs(4326) first"
        )
    if not 0 <= precision <= 15:
        raise GISInputError(f"precision: expected 0 to 15 decimals, got {precision}")

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if present.any():
        lat = float(np.mean(shapely.bounds(geoms[present])[:, [1, 3]]))
        tolerance = tolerance_for_zoom(zoom, lat)
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
        geoms = shapely.transform(geoms, lambda xy: np.round(xy, precision))

    fids = gdf["fid"].to_numpy() if "fid" in gdf.columns else gdf.index.to_numpy()
    kept = [name for name in dict.fromkeys(fields) if name in gdf.columns and name != "fid"]
    columns = {name: gdf[name].tolist() for name in kept}

    features: list[dict[str, Any]] = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        fid = _jsonable(fids[i])
        # names too: a column called "</script>..." must not end the map's <script> block
        props = {web_escape(name): _jsonable(columns[name][i]) for name in kept}
        props["fid"] = fid
        features.append(
            {
                "type": "Feature",
                "id": fid,
                "properties": props,
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}
