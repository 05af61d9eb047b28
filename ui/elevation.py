"""Streamlit pieces of the elevation page: the ward's elevation model (upload, GLO-30 fetch,
removal), cached reads, samples along the streets and floods per water level, and the frames
the map and the tables show.

The functions without Streamlit calls (:func:`store_upload`, :func:`fetch_glo30`,
:func:`remove_dem`, :func:`stretches`, :func:`area_text` and the frame builders) take the
settings and role as arguments, so tests call them directly.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

import layers
from geo import floods, raster, streets
from geo.cli_dem import DEFAULT_MARGIN_M, dem_path, grow_bbox, ward_bbox
from geo.config import Settings
from geo.errors import (
    FetchError,
    GISInputError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    UploadError,
)
from geo.store import Store
from layers import LayerSpec
from ui import floods as ui_floods
from ui import state
from ui.i18n import fmt_num, t

MB = 1024 * 1024
DEM_TYPES = ["tif", "tiff"]
STEP_M = 10.0
"""Spacing of the sample points along the streets (the CLI's default)."""
LOW_PERCENTILE = 10.0
"""The default "low street" threshold: this percentile of the segments' lowest points."""
DemKey = tuple[str, int, int]
"""The DEM file's path, modification time (ns) and size: part of every cache key."""


# --- the stored DEM ----------------------------------------------------------------------------


def dem_file(settings: Settings | None = None) -> Path:
    """Where the configured ward's DEM is kept (see :func:`geo.cli_dem.dem_path`)."""
    return dem_path(settings or state.get_settings())


def dem_key() -> DemKey | None:
    """The stored DEM's path, mtime and size; None when there is none."""
    path = dem_file()
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return str(path), info.st_mtime_ns, info.st_size


@st.cache_resource(show_spinner=False, max_entries=2)
def _dem(path: str, mtime_ns: int, size: int) -> raster.Dem:
    return raster.read_dem(path)


def load_dem(key: DemKey) -> raster.Dem:
    """The stored DEM, read once per version of the file (shared, never modified).

    Raises
    ------
    GISInputError
        If the file is no longer a readable elevation model.
    """
    return _dem(*key)


def is_glo30(source: str) -> bool:
    """Whether a DEM's source names Copernicus GLO-30 tiles (fetched or uploaded)."""
    return "Copernicus_DSM_COG" in source or "copernicus-dem-30m" in source


def credit(dem: raster.Dem) -> str:
    """The credit line the map shows for the elevations."""
    if is_glo30(dem.source):
        return f"Copernicus GLO-30: {raster.GLO30_ATTRIBUTION}"
    return f"DEM: {dem.source}"


def source_text(dem: raster.Dem, lang: str) -> str:
    """The DEM's source in words: GLO-30 with its tile count, or the uploaded file's name."""
    if is_glo30(dem.source) and "://" in dem.source:
        return t("el.dem.glo30_source", lang, n=len(dem.source.split("; ")))
    return dem.source


def dem_range(dem: raster.Dem) -> tuple[float, float]:
    """The lowest and highest elevation (m)."""
    return float(np.nanmin(dem.elevation)), float(np.nanmax(dem.elevation))


def level_range(dem: raster.Dem) -> tuple[float, float]:
    """The water-level slider's bounds: the DEM's range widened to whole decimetres."""
    low, high = dem_range(dem)
    lo, hi = math.floor(low * 10) / 10, math.ceil(high * 10) / 10
    return lo, max(hi, round(lo + 0.1, 1))


# --- writing the DEM (checked roles; no Streamlit calls) ----------------------------------------


def _audit_dem(store: Store | None, user: str, role: str, action: str, source: str) -> None:
    """The DEM is a file beside the store: its replacement or removal is an audit event."""
    if store is not None:
        store.record_event(action, actor=user or "?", actor_role=role, detail={"via": source})


def store_upload(
    data: bytes,
    filename: str,
    settings: Settings,
    role: str,
    *,
    store: Store | None = None,
    user: str = "",
) -> raster.Dem:
    """Check an uploaded GeoTIFF and store it as the ward's DEM (``dem.replace`` in the
    audit log of ``store``, when given, under ``user``).

    Raises
    ------
    PermissionDeniedError
        If ``role`` may not replace the elevation model (a viewer).
    UploadError, CRSError, GISInputError
        If the file is too large, not a GeoTIFF, or not an elevation model; nothing is written.
    StoreError
        If the DEM cannot be written.
    """
    floods.check_role(role, "replace the elevation model", "dem.manage")
    name = re.split(r"[\\/]", filename or "")[-1].strip()  # a browser may send C:\fakepath\...
    if Path(name).suffix.lower() not in (".tif", ".tiff"):
        raise UploadError(f"{name or 'file'}: expected a GeoTIFF (.tif or .tiff)")
    if len(data) > settings.max_upload_mb * MB:
        raise UploadError(
            f"{name}: expected at most {settings.max_upload_mb} MB, got "
            f"{len(data) / MB:.1f} MB; clip it to the ward first"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        dem = raster.read_dem(path)
    raster.write_dem(dem, dem_path(settings))
    _audit_dem(store, user, role, "dem.replace", f"upload: {name}")
    return dem


def fetch_bbox(settings: Settings, store: Store) -> tuple[float, float, float, float]:
    """The box to fetch: the ward's bounds grown by :data:`geo.cli_dem.DEFAULT_MARGIN_M`."""
    return grow_bbox(ward_bbox(settings, store), DEFAULT_MARGIN_M, settings.profile.measure_crs)


def fetch_glo30(
    settings: Settings,
    store: Store,
    role: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    user: str = "",
) -> raster.Dem:
    """Read the GLO-30 window of the ward (plus a margin) and store it as the ward's DEM.

    Raises
    ------
    PermissionDeniedError
        If ``role`` may not replace the elevation model.
    FetchError
        If the tiles cannot be read (offline, refused, timed out); nothing is written.
    """
    floods.check_role(role, "replace the elevation model", "dem.manage")
    bbox = fetch_bbox(settings, store)
    dem = raster.read_window(raster.glo30_urls(bbox), bbox, progress=progress)
    raster.write_dem(dem, dem_path(settings))
    _audit_dem(store, user, role, "dem.replace", "Copernicus GLO-30")
    return dem


def remove_dem(
    settings: Settings, role: str, *, store: Store | None = None, user: str = ""
) -> bool:
    """Delete the ward's DEM; whether there was one (``dem.remove`` in the audit log of
    ``store``, when given, under ``user``).

    Raises
    ------
    PermissionDeniedError
        If ``role`` may not remove the elevation model.
    StoreError
        If the file cannot be deleted.
    """
    floods.check_role(role, "remove the elevation model", "dem.manage")
    path = dem_path(settings)
    try:
        existed = path.is_file()
        path.unlink(missing_ok=True)
    except OSError as e:
        raise StoreError(f"DEM: could not delete {str(path)!r}: {e}") from e
    if existed:
        _audit_dem(store, user, role, "dem.remove", str(path.name))
    return existed


# --- cached analysis ---------------------------------------------------------------------------


def streets_token() -> str:
    """Changes whenever the street network is written; '-' without one."""
    if not ui_floods.has_streets():
        return "-"
    return state.layer_token(streets.STREETS_LAYER)


@st.cache_data(show_spinner=False, max_entries=4)
def _samples(key: DemKey, token: str, measure_crs: str, step_m: float) -> pd.DataFrame:
    return raster.sample_segments(
        ui_floods.street_segments(), load_dem(key), measure_crs=measure_crs, step_m=step_m
    )


def samples(key: DemKey) -> pd.DataFrame:
    """Elevation along every street segment (see :func:`geo.raster.sample_segments`)."""
    measure = state.get_settings().profile.measure_crs
    return _samples(key, streets_token(), measure, STEP_M)


@dataclass(frozen=True)
class Flood:
    """What a water level floods: the areas (EPSG:4326) and the street segments."""

    level_m: float
    connected_only: bool
    areas: gpd.GeoDataFrame
    """Polygons with ``connected`` (bool) and ``area_m2``."""
    area_m2: float
    flooded: pd.DataFrame
    """``segment_id``, ``share``, ``depth_m`` (empty without streets)."""


@st.cache_data(show_spinner=False, max_entries=32)
def _flood(
    key: DemKey, token: str, level_m: float, connected_only: bool, measure: str, step_m: float
) -> Flood:
    dem = load_dem(key)
    inund = raster.inundation(dem, level_m, connected_only=connected_only, measure_crs=measure)
    if token == "-":
        flooded = pd.DataFrame({"segment_id": [], "share": [], "depth_m": []})
    else:
        flooded = raster.flooded_segments(
            ui_floods.street_segments(), dem, inund, measure_crs=measure, step_m=step_m
        )
    return Flood(inund.level_m, inund.connected_only, inund.areas, inund.area_m2, flooded)


def flood(key: DemKey, level_m: float, connected_only: bool) -> Flood:
    """The inundation at a level (rounded to the centimetre), cached per level and flag."""
    measure = state.get_settings().profile.measure_crs
    return _flood(key, streets_token(), round(float(level_m), 2), bool(connected_only), measure,
                  STEP_M)  # fmt: skip


# --- figures, frames for the map and the tables ------------------------------------------------


def default_threshold(dem: raster.Dem, sampled: pd.DataFrame | None) -> float:
    """The 10th percentile of the segments' lowest points (of the DEM's cells without
    streets), rounded to 0.1 m."""
    values = np.asarray([], dtype=float)
    if sampled is not None and len(sampled):
        values = sampled["elev_min"].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
    if not values.size:
        values = dem.elevation[~np.isnan(dem.elevation)].astype(float)
    return round(float(np.percentile(values, LOW_PERCENTILE)), 1)


def stretches(segment_ids: Any, edges: pd.DataFrame) -> tuple[int, float]:
    """How many physical stretches (both directions of a street counted once) and their
    length in metres, as the flooding page counts them."""
    ids = {str(s) for s in segment_ids}
    if not ids:
        return 0, 0.0
    rows = edges[edges["segment_id"].astype(str).isin(ids)]
    if {"u", "v"} <= set(rows.columns):
        pairs = [(min(u, v), max(u, v)) for u, v in zip(rows["u"], rows["v"], strict=True)]
    else:
        pairs = [(str(s), "") for s in rows["segment_id"]]
    lengths: dict[Any, float] = {}
    for pair, length in zip(pairs, rows["length_m"].astype(float), strict=True):
        lengths[pair] = max(lengths.get(pair, 0.0), length)
    return len(lengths), sum(lengths.values())


def area_text(area_m2: float, lang: str) -> str:
    """An area in km² from 1 km², in hectares below."""
    if area_m2 >= 1e6:
        return f"{fmt_num(area_m2 / 1e6, lang, 2)} km²"
    return f"{fmt_num(area_m2 / 1e4, lang, 2)} ha"


def _names(edges: pd.DataFrame) -> dict[str, str]:
    if "name" not in edges.columns:
        return {}
    named = edges.drop_duplicates("segment_id")
    return {
        str(sid): str(name)
        for sid, name in zip(named["segment_id"], named["name"], strict=True)
        if isinstance(name, str) and name.strip()
    }


def _one_per_stretch(frame: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """The first row per physical stretch (frames come sorted, lowest or deepest first)."""
    if frame.empty or not {"u", "v"} <= set(edges.columns):
        return frame
    ends = edges.drop_duplicates("segment_id").set_index("segment_id")[["u", "v"]]
    u = frame["segment_id"].map(ends["u"])
    v = frame["segment_id"].map(ends["v"])
    pair = [f"{min(a, b)}-{max(a, b)}" if pd.notna(a) else str(s)
            for a, b, s in zip(u, v, frame["segment_id"], strict=True)]  # fmt: skip
    return frame[~pd.Series(pair, index=frame.index).duplicated()]


def low_table(low: pd.DataFrame, edges: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The low segments for the table: street, lowest and mean elevation (m), segment."""
    rows = _one_per_stretch(low, edges)
    names = _names(edges)
    unnamed = t("el.unnamed", lang)
    return pd.DataFrame(
        {
            t("el.col.name", lang): [names.get(str(s), unnamed) for s in rows["segment_id"]],
            t("el.col.elev_min", lang): rows["elev_min"].astype(float).round(2).to_list(),
            t("el.col.elev_mean", lang): rows["elev_mean"].astype(float).round(2).to_list(),
            t("el.col.segment", lang): rows["segment_id"].astype(str).to_list(),
        }
    )


def flooded_table(flooded: pd.DataFrame, edges: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The flooded segments for the table: street, depth (m), share under water (%), segment."""
    rows = _one_per_stretch(flooded, edges)
    names = _names(edges)
    unnamed = t("el.unnamed", lang)
    return pd.DataFrame(
        {
            t("el.col.name", lang): [names.get(str(s), unnamed) for s in rows["segment_id"]],
            t("el.col.depth", lang): rows["depth_m"].astype(float).round(2).to_list(),
            t("el.col.share", lang): (rows["share"].astype(float) * 100).round(0).to_list(),
            t("el.col.segment", lang): rows["segment_id"].astype(str).to_list(),
        }
    )


def areas_for_map(areas: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    """The inundation polygons with a label and a rounded area for the popup."""
    out = areas.copy()
    out["label"] = [t("el.area.connected" if c else "el.area.enclosed", lang)
                    for c in out["connected"]]  # fmt: skip
    out["area_m2"] = out["area_m2"].astype(float).round(0)
    out["connected"] = out["connected"].astype(bool)
    return out


def streets_for_map(
    edges: gpd.GeoDataFrame, sampled: pd.DataFrame, low: pd.DataFrame, flooded: pd.DataFrame,
    lang: str,
) -> gpd.GeoDataFrame:  # fmt: skip
    """The low and the flooded segments, flagged ``low`` and ``flooded``, with elevations."""
    low_ids = set(low["segment_id"].astype(str))
    depth = dict(zip(flooded["segment_id"].astype(str), flooded["depth_m"], strict=True))
    ids = edges["segment_id"].astype(str)
    part = edges[ids.isin(low_ids | set(depth))][["segment_id", "name", "geometry"]].copy()
    elev = sampled.drop_duplicates("segment_id").set_index("segment_id")
    sid = part["segment_id"].astype(str)
    unnamed = t("el.unnamed", lang)
    part["label"] = [n if isinstance(n, str) and n.strip() else unnamed for n in part["name"]]
    part["elev_min"] = part["segment_id"].map(elev["elev_min"]).astype(float).round(2)
    part["elev_mean"] = part["segment_id"].map(elev["elev_mean"]).astype(float).round(2)
    part["depth_m"] = sid.map(depth).astype(float).round(2)
    part["low"] = sid.isin(low_ids)
    part["flooded"] = sid.isin(set(depth))
    return part


def specs_for(dem: raster.Dem) -> list[LayerSpec]:
    """The two elevation layers credited with this DEM's source."""
    line = credit(dem)
    return [replace(layers.get(layer_id), attribution=line)
            for layer_id in ("low_ground", "low_streets")]  # fmt: skip


# --- Streamlit panels --------------------------------------------------------------------------


def dem_panel(lang: str, *, key: str) -> None:
    """Upload a GeoTIFF or fetch Copernicus GLO-30 for the ward, as the ward's DEM."""
    settings = state.get_settings()
    if state.role() not in floods.EDIT_ROLES:
        st.caption(t("el.viewer_note", lang))
    upload = st.file_uploader(t("el.upload", lang, mb=settings.max_upload_mb), type=DEM_TYPES,
                              max_upload_size=settings.max_upload_mb,
                              key=f"{key}_tif")  # fmt: skip
    left, right = st.columns(2)
    if left.button(t("el.upload.save", lang), key=f"{key}_save", disabled=upload is None,
                   type="primary"):  # fmt: skip
        _save_upload(upload, lang)
    if right.button(t("el.fetch", lang), key=f"{key}_fetch"):
        _fetch(lang)


def _save_upload(upload: Any, lang: str) -> None:
    if upload is None:
        return
    settings = state.get_settings()
    with st.spinner(t("el.upload.reading", lang)):
        try:
            dem = store_upload(upload.getvalue(), upload.name, settings, state.role(),
                               store=state.get_store(), user=state.user_name())  # fmt: skip
        except PermissionDeniedError:
            st.error(t("el.e.viewer", lang))
            return
        except (GISInputError, StoreError) as e:
            st.error(t("el.e.upload", lang, error=e))
            return
    ui_floods.flash(t("el.saved", lang, source=source_text(dem, lang)))
    st.rerun()


def _fetch(lang: str) -> None:
    try:
        floods.check_role(state.role(), "replace the elevation model", "dem.manage")
    except PermissionDeniedError:
        st.error(t("el.e.viewer", lang))
        return
    bar = st.progress(0.0, text=t("el.fetching", lang))

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=t("el.fetch.progress", lang, done=done, total=total))

    try:
        dem = fetch_glo30(state.get_settings(), state.get_store(), state.role(), progress,
                          user=state.user_name())  # fmt: skip
    except FetchError as e:
        bar.empty()
        st.error(t("el.e.offline", lang, error=e))
        return
    except (GISInputError, NotFoundError, StoreError) as e:
        bar.empty()
        st.error(t("el.e.fetch", lang, error=e))
        return
    ui_floods.flash(t("el.saved", lang, source=source_text(dem, lang)))
    st.rerun()


def remove_panel(lang: str) -> None:
    """Delete the ward's DEM after a confirmation."""
    sure = st.checkbox(t("el.remove.confirm", lang), key="el_remove_sure")
    if st.button(t("el.remove", lang), key="el_remove", disabled=not sure):
        try:
            remove_dem(state.get_settings(), state.role(), store=state.get_store(),
                       user=state.user_name())  # fmt: skip
        except PermissionDeniedError:
            st.error(t("el.e.viewer", lang))
            return
        except StoreError as e:
            st.error(str(e))
            return
        st.session_state.pop("el_remove_sure", None)
        ui_floods.flash(t("el.removed", lang))
        st.rerun()


def set_defaults(key: DemKey, threshold: float, level: float, bounds: tuple[float, float]) -> None:
    """Put the controls' defaults into the session the first time and whenever the DEM
    changes (an old level may lie outside the new DEM's range)."""
    seen = st.session_state.get("el_dem_seen")
    if seen != key or "el_threshold" not in st.session_state:
        st.session_state["el_threshold"] = float(threshold)
    if seen != key or "el_level" not in st.session_state:
        st.session_state["el_level"] = float(min(max(level, bounds[0]), bounds[1]))
    st.session_state.setdefault("el_connected", True)
    st.session_state["el_dem_seen"] = key


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV with a byte-order mark, so Excel reads the Vietnamese names; a street
    name Excel would run as a formula (``=HYPERLINK(...)`` from OSM) is quoted as text."""
    from geo.tables import to_csv

    return to_csv(frame)
