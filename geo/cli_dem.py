"""``python -m geo dem ...``: import or fetch the ward's elevation model; low, flooded streets."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from geo import auth, raster, wards
from geo.config import Settings
from geo.crs import from_wgs84, to_wgs84
from geo.errors import FetchError, GISInputError, NotFoundError
from geo.store import BBox, Store
from geo.streets import STREETS_LAYER

EXIT_OFFLINE = 7
"""Exit status of ``dem fetch`` when the tiles cannot be downloaded (offline, refused); the
same as every online source in :mod:`geo.cli`."""
DEFAULT_MARGIN_M = 500.0
MAX_MARGIN_M = 50_000.0


def add_parser(sub: Any) -> None:
    """Add the ``dem`` command and its subcommands."""
    dem = sub.add_parser("dem", help="elevation model: import, fetch GLO-30, low streets, flood")
    ps = dem.add_subparsers(dest="dem_command", required=True, metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--user", default="cli", help="who replaces the DEM (the audit log)")
    who.add_argument("--role", choices=auth.ROLES, help="default: GIS_ROLE (editor)")

    p = ps.add_parser(
        "import", parents=[who], help="store a GeoTIFF elevation model (metres) as the ward's DEM"
    )
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_import)

    p = ps.add_parser("fetch", parents=[who],
                      help="download the Copernicus GLO-30 window as the ward's DEM")  # fmt: skip
    p.add_argument("--bbox", metavar="MINLON,MINLAT,MAXLON,MAXLAT",
                   help="default: the configured ward's bounds plus --margin-m; write "
                   "--bbox=-70.5,... when it starts with a minus")  # fmt: skip
    p.add_argument("--margin-m", type=float, metavar="METRES",
                   help=f"grow the box by this much (default {DEFAULT_MARGIN_M:g} around the "
                   "ward, 0 around --bbox)")  # fmt: skip
    p.set_defaults(func=cmd_fetch)

    p = ps.add_parser("low", help="street segments at or below a water level; --flood for areas")
    p.add_argument("--level", type=float, required=True, metavar="METRES",
                   help="water level in metres, in the DEM's vertical reference")  # fmt: skip
    p.add_argument("--flood", action="store_true",
                   help="also the flooded area and segments connected to the water")  # fmt: skip
    p.add_argument("--all-low", action="store_true",
                   help="with --flood: all low ground, connected to the border or not")  # fmt: skip
    p.add_argument("--step-m", type=float, default=10.0, help="sample spacing along streets")
    p.set_defaults(func=cmd_low)


def dem_path(settings: Settings) -> Path:
    """Where the configured ward's DEM is kept: ``var_dir/dem/<ward>.tif``."""
    return settings.var_dir / "dem" / f"{settings.ward}.tif"


def cmd_import(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``dem import``: check a GeoTIFF and store it as the ward's DEM."""
    role = str(args.role or settings.role)
    auth.require(role, "dem.manage")
    dem = raster.read_dem(args.file)
    path = raster.write_dem(dem, dem_path(settings))
    _audit_dem(store, args.user, role, f"import: {args.file.name}", dem)
    return {"file": str(path), **_describe(dem)}


def _audit_dem(store: Store, user: str, role: str, source: str, dem: raster.Dem) -> None:
    """The DEM is a file beside the store: its replacement goes to the audit log as an event."""
    store.record_event("dem.replace", actor=user, actor_role=role,
                       detail={"via": source, **_describe(dem)})  # fmt: skip


def cmd_fetch(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``dem fetch``: the GLO-30 window of the ward (or ``--bbox``), stored as the ward's DEM.

    Offline or refused, it raises ``FetchError``: ``python -m geo`` prints the reason and
    exits with :data:`EXIT_OFFLINE`.
    """
    role = str(args.role or settings.role)
    auth.require(role, "dem.manage")
    if args.bbox:
        bbox = _parse_bbox(args.bbox)
        margin = 0.0 if args.margin_m is None else args.margin_m
    else:
        bbox = ward_bbox(settings, store)
        margin = DEFAULT_MARGIN_M if args.margin_m is None else args.margin_m
    bbox = grow_bbox(bbox, margin, settings.profile.measure_crs)
    urls = raster.glo30_urls(bbox)
    print(f"dem fetch: {len(urls)} Copernicus GLO-30 tile(s) for {bbox}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        print(f"dem fetch: {done}/{total} read", file=sys.stderr, flush=True)

    try:
        dem = raster.read_window(urls, bbox, progress=progress)
    except FetchError:
        raise  # python -m geo prints it and exits with EXIT_OFFLINE
    path = raster.write_dem(dem, dem_path(settings))
    _audit_dem(store, args.user, role, "Copernicus GLO-30", dem)
    return {"file": str(path), **_describe(dem), "attribution": raster.GLO30_ATTRIBUTION}


def cmd_low(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """``dem low``: segments whose lowest point is at or below ``--level``; with ``--flood``
    the flooded area and the flooded segments."""
    path = dem_path(settings)
    if not path.is_file():
        raise NotFoundError(
            f"DEM: no elevation model for {settings.ward!r} at {path}; import a GeoTIFF with "
            "'python -m geo dem import FILE' or download Copernicus GLO-30 with "
            "'python -m geo dem fetch'"
        )
    if not store.has_layer(STREETS_LAYER):
        raise NotFoundError(
            f"{STREETS_LAYER}: no street layer in the store; import the ward's streets from an "
            "OpenStreetMap file (.osm) first"
        )
    dem = raster.read_dem(path)
    edges = store.read_layer(STREETS_LAYER)
    measure = settings.profile.measure_crs
    samples = raster.sample_segments(edges, dem, measure_crs=measure, step_m=args.step_m)
    sampled = int((samples["n_valid"] > 0).sum())
    if len(samples) and not sampled:
        raise GISInputError(
            f"DEM: the {len(samples)} street segments lie outside the DEM {path} "
            f"(lon/lat {_rounded(dem.bounds_4326, 5)}); fetch or import one covering them"
        )
    names = _names(edges)
    low = raster.low_segments(samples, args.level)
    result: dict[str, Any] = {
        "dem": str(path), "level_m": args.level, "segments": len(samples), "sampled": sampled,
        "low_segments": len(low),
        "low": _table(low[["segment_id", "elev_min"]], names, {"elev_min": 2}),
    }  # fmt: skip
    if args.flood:
        inund = raster.inundation(dem, args.level, connected_only=not args.all_low,
                                  measure_crs=measure)  # fmt: skip
        flooded = raster.flooded_segments(edges, dem, inund, measure_crs=measure,
                                          step_m=args.step_m)  # fmt: skip
        result.update(
            connected_only=inund.connected_only,
            area_m2=round(inund.area_m2, 1),
            area_km2=round(inund.area_m2 / 1e6, 4),
            flooded_segments=len(flooded),
            flooded=_table(flooded, names, {"share": 3, "depth_m": 2}),
        )
    return result


def ward_bbox(settings: Settings, store: Store) -> BBox:
    """The configured ward's lon/lat bounds, from the store's new-ward layer (or the shipped
    boundaries when the store has none)."""
    new = (
        store.read_layer(wards.NEW_LAYER)
        if store.has_layer(wards.NEW_LAYER)
        else wards.load_new_wards(settings.profile)
    )
    ward = new[new["name"] == settings.profile.name]
    if ward.empty:
        raise NotFoundError(
            f"ward: {settings.profile.name!r} is not in the new-ward layer; give --bbox "
            "MINLON,MINLAT,MAXLON,MAXLAT"
        )
    minx, miny, maxx, maxy = to_wgs84(ward.geometry).total_bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def grow_bbox(bbox: BBox, margin_m: float, measure_crs: str) -> BBox:
    """A lon/lat box grown by ``margin_m`` metres on every side (measured in ``measure_crs``)."""
    checked = raster.check_bbox(bbox)
    if not (math.isfinite(margin_m) and 0 <= margin_m <= MAX_MARGIN_M):
        raise GISInputError(
            f"--margin-m: expected 0 to {MAX_MARGIN_M:g} metres, got {margin_m!r}"
        )
    if margin_m == 0:
        return checked
    outline = gpd.GeoSeries([box(*checked)], crs=4326)
    grown = from_wgs84(outline, measure_crs).buffer(margin_m, join_style="mitre")
    minx, miny, maxx, maxy = to_wgs84(grown).total_bounds
    return raster.check_bbox((float(minx), float(miny), float(maxx), float(maxy)))


def _parse_bbox(text: str) -> BBox:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError as e:
        raise GISInputError(
            f"--bbox: expected MINLON,MINLAT,MAXLON,MAXLAT such as 106.70,10.77,106.74,10.80, "
            f"got {text!r}"
        ) from e
    if len(values) != 4:
        raise GISInputError(
            f"--bbox: expected four numbers MINLON,MINLAT,MAXLON,MAXLAT, got {len(values)}: "
            f"{text!r}"
        )
    return raster.check_bbox((values[0], values[1], values[2], values[3]), argument="--bbox")


def _describe(dem: raster.Dem) -> dict[str, Any]:
    rows, cols = dem.shape
    valid = dem.elevation[~np.isnan(dem.elevation)]
    return {
        "source": dem.source,
        "width": cols,
        "height": rows,
        "crs": dem.crs.to_string(),
        "cell_size_m": round(dem.cell_size_m, 2),
        "bounds_4326": _rounded(dem.bounds_4326, 6),
        "elev_min": round(float(valid.min()), 2),
        "elev_max": round(float(valid.max()), 2),
        "nodata_share": round(1 - valid.size / dem.elevation.size, 4),
    }


def _rounded(values: BBox, digits: int) -> list[float]:
    return [round(v, digits) for v in values]


def _names(edges: gpd.GeoDataFrame) -> pd.Series:
    if "name" not in edges.columns:
        return pd.Series(dtype=object)
    return edges.drop_duplicates("segment_id").set_index("segment_id")["name"]


def _table(
    frame: pd.DataFrame, names: pd.Series, digits: dict[str, int]
) -> list[dict[str, Any]]:
    out = frame.copy()
    out.insert(1, "name", out["segment_id"].map(names) if len(names) else None)
    for column, places in digits.items():
        out[column] = out[column].astype(float).round(places)
    return [{str(k): v for k, v in row.items()} for row in out.to_dict("records")]
