"""Streamlit pieces shared by the flooding pages: cached network and reports, the time control,
the street-network empty state, and map clicks."""

from __future__ import annotations

import tempfile
import time as time_module
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo import floods, routing, streets, viewport
from geo.errors import FetchError, GISInputError, NotFoundError, PermissionDeniedError
from geo.wards import NEW_LAYER
from ui import bigmap, mapview, state
from ui.i18n import fmt_num, t

OSM_TYPES = ["osm", "pbf", "xml"]


def has_streets() -> bool:
    """Whether a street network with at least one segment is stored."""
    store = state.get_store()
    if not store.has_layer(streets.STREETS_LAYER):
        return False
    return store.layer_info(streets.STREETS_LAYER).feature_count > 0


def _token(layer_id: str) -> str:
    store = state.get_store()
    return state.layer_token(layer_id) if store.has_layer(layer_id) else "-"


@st.cache_resource(show_spinner=False, max_entries=2)
def _streets(db_url: str, token: str) -> gpd.GeoDataFrame:
    return state.get_store().read_layer(streets.STREETS_LAYER)


def street_segments() -> gpd.GeoDataFrame:
    """The stored street segments (EPSG:4326), read once per network and shared: a city's
    50,000 segments are not copied on every rerun (do not modify them)."""
    return _streets(state.get_settings().db_url, _token(streets.STREETS_LAYER))


BIG_NETWORK = 5000
"""Above this many segments the map draws only the window's streets (main roads first)."""


@st.cache_resource(show_spinner=False, max_entries=2)
def _streets_tree(db_url: str, token: str) -> shapely.STRtree:
    return shapely.STRtree(np.asarray(street_segments().geometry.values))


def is_big_network(segments: gpd.GeoDataFrame) -> bool:
    """Whether the map should draw only the window's streets."""
    return len(segments) > BIG_NETWORK


def network_map(
    fmap: folium.Map,
    key: str,
    segments: gpd.GeoDataFrame,
    lang: str,
    width_px: int,
    height_px: int,
) -> dict[str, Any]:
    """Show a flooding page's map and return what the browser reported (clicks).

    A city's network (more than :data:`BIG_NETWORK` segments) is not in ``fmap``: only the
    window's streets are sent, main roads first, swapped as the map moves, with a caption
    saying how many are drawn. The ward's own few thousand segments are drawn whole.
    """
    big = is_big_network(segments)
    group = None
    if big:
        group, drawn, meeting = streets_group(key, segments, lang, width_px, height_px)
    result = st_folium(
        fmap, key=key, feature_group_to_add=group, use_container_width=True,
        returned_objects=[*CLICK_OBJECTS, *(["bounds", "zoom"] if big else [])],
        height=height_px,
    )  # fmt: skip
    if big:
        st.caption(t("fl.big_network", lang, drawn=fmt_num(drawn, lang),
                     total=fmt_num(meeting, lang)))  # fmt: skip
    return result or {}


def streets_group(
    map_key: str, segments: gpd.GeoDataFrame, lang: str, width_px: int, height_px: int
) -> tuple[folium.FeatureGroup, int, int]:
    """The streets in the map's window as a feature group streamlit-folium swaps as the map
    moves; with how many are drawn and how many meet the window."""
    tree = _streets_tree(state.get_settings().db_url, _token(streets.STREETS_LAYER))
    if len(tree.geometries) != len(segments) or not all(
        tree.geometries[i] is g
        for i, g in ((0, segments.geometry.iloc[0]), (-1, segments.geometry.iloc[-1]))
    ):  # the network was replaced since this page read it: a tree of what it was given
        tree = shapely.STRtree(np.asarray(segments.geometry.values))  # fmt: skip
    bounds = tuple(float(v) for v in segments.total_bounds)
    view = bigmap.window(map_key, bounds, width_px, height_px)  # type: ignore[arg-type]
    shown, total = viewport.lines_in_view(segments, tree, view)
    group = folium.FeatureGroup(name=bigmap.GROUP_NAME, control=False)
    mapview.geojson_layer(shown, layers.get(streets.STREETS_LAYER), lang=lang,
                          zoom=min(int(view.zoom) + 1, 19)).add_to(group)  # fmt: skip
    return group, len(shown), total


@st.cache_resource(show_spinner=False, max_entries=2)
def _index(db_url: str, token: str, measure_crs: str) -> floods.SegmentIndex:
    return floods.SegmentIndex(street_segments(), measure_crs)


def segment_index() -> floods.SegmentIndex:
    """The segments' spatial index, built once per network."""
    settings = state.get_settings()
    token = _token(streets.STREETS_LAYER)
    return _index(settings.db_url, token, settings.profile.measure_crs)


@st.cache_resource(show_spinner=False, max_entries=2)
def _graph(db_url: str, token: str) -> routing.StreetGraph:
    return routing.StreetGraph(street_segments())


def street_graph() -> routing.StreetGraph:
    """The routable graph, built once per network; floods never copy it."""
    return _graph(state.get_settings().db_url, _token(streets.STREETS_LAYER))


@st.cache_data(show_spinner=False, max_entries=4)
def _reports(db_url: str, token: str) -> gpd.GeoDataFrame:
    return floods.read_reports(state.get_store())


def reports() -> gpd.GeoDataFrame:
    """Every flood report."""
    return _reports(state.get_settings().db_url, _token(floods.REPORTS_LAYER))


@st.cache_data(show_spinner=False, max_entries=4)
def _prone(db_url: str, token: str) -> gpd.GeoDataFrame:
    return floods.read_prone(state.get_store())


def prone() -> gpd.GeoDataFrame:
    """The flood-prone streets."""
    return _prone(state.get_settings().db_url, _token(floods.PRONE_LAYER))


@st.cache_data(show_spinner=False, max_entries=16)
def _state(db_url: str, tokens: tuple[str, str], moment: str) -> gpd.GeoDataFrame:
    return floods.segment_state(street_segments(), reports(), moment)


def flood_state(moment: datetime) -> gpd.GeoDataFrame:
    """The flooded segments at ``moment``."""
    tokens = (_token(streets.STREETS_LAYER), _token(floods.REPORTS_LAYER))
    return _state(state.get_settings().db_url, tokens, floods.iso(moment))


def moment_picker(lang: str, key: str) -> datetime:
    """The moment the map shows: now, or a past moment picked by date and time."""
    now = floods.now_local()
    mode = st.radio(
        t("fl.when", lang), ["now", "past"], horizontal=True, key=f"{key}_mode",
        format_func=lambda m: t(f"fl.when.{m}", lang),
    )  # fmt: skip
    if mode == "now":
        return now
    left, right = st.columns(2)
    day = left.date_input(t("fl.when.day", lang), value=now.date(), max_value=now.date(),
                          key=f"{key}_day", format="DD/MM/YYYY")  # fmt: skip
    clock = right.time_input(t("fl.when.time", lang), value=time(now.hour, 0),
                             step=timedelta(minutes=15), key=f"{key}_time")  # fmt: skip
    moment = datetime.combine(day, clock, tzinfo=floods.TIMEZONE)
    return min(moment, now)


def ward_polygon() -> Any:
    """The configured ward's polygon (EPSG:4326)."""
    new = state.read_layer(NEW_LAYER)
    return new.loc[new["name"] == state.get_settings().profile.name, "geometry"].union_all()


def streets_panel(lang: str, *, key: str) -> None:
    """Import a street network from an OSM file, or fetch it from OpenStreetMap (online)."""
    st.caption(t("fl.streets.how", lang))
    upload = st.file_uploader(t("fl.streets.upload", lang), type=OSM_TYPES, key=f"{key}_osm")
    left, middle, right = st.columns(3)
    if left.button(t("fl.streets.import", lang), key=f"{key}_import", disabled=upload is None,
                   type="primary"):  # fmt: skip
        _import_upload(upload, lang)
    if middle.button(t("fl.streets.fetch", lang), key=f"{key}_fetch"):
        _fetch(lang)
    sample = right.button(t("fl.streets.sample", lang), key=f"{key}_sample",
                          help=t("fl.streets.sample_help", lang))  # fmt: skip
    if sample and _check_editor(lang):
        edges = streets.edges_frame(streets.read_streets(streets.SAMPLE_OSM))
        _store_network(edges, streets.SAMPLE_SOURCE, lang)


def sample_banner(lang: str) -> None:
    """A warning while the stored network is the shipped sample, not the ward's streets."""
    if has_streets() and streets.is_sample(state.get_store().layer_info(streets.STREETS_LAYER)):
        st.warning(t("fl.streets.sample_banner", lang), icon=":material/science:")


def _check_editor(lang: str) -> bool:
    try:
        floods.check_role(state.role(), "import streets")
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
        return False
    return True


def _import_upload(upload: Any, lang: str) -> None:
    if upload is None or not _check_editor(lang):
        return
    limit = state.get_settings().max_upload_mb * 1024 * 1024
    if upload.size > limit:
        st.error(t("fl.e.too_big", lang, mb=state.get_settings().max_upload_mb))
        return
    name = Path(upload.name).name
    suffix = ".osm.pbf" if name.lower().endswith(".pbf") else ".osm"
    with st.spinner(t("fl.streets.reading", lang)), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(upload.getvalue())
        try:
            edges = streets.edges_frame(streets.read_streets(path))
        except GISInputError as e:
            st.error(t("fl.e.osm", lang, error=str(e).replace(path.name, name)))
            return
    _store_network(edges, f"OpenStreetMap: {name}", lang)


def _store_network(edges: gpd.GeoDataFrame, source: str, lang: str) -> None:
    """Replace the network, move stranded live reports onto it, say what happened."""
    try:
        count, moved = floods.replace_network(
            state.get_store(), edges, source=source, user=state.user_name() or "web",
            role=state.role(), measure_crs=state.get_settings().profile.measure_crs,
        )  # fmt: skip
    except PermissionDeniedError:
        st.error(t("fl.e.viewer", lang))
        return
    except GISInputError as e:
        st.error(t("fl.e.osm", lang, error=e))
        return
    state.changed()
    flash(t("fl.streets.done", lang, n=count) + (
        " " + t("fl.streets.resnapped", lang, n=len(moved)) if moved else ""))  # fmt: skip
    st.rerun()


def _fetch(lang: str) -> None:
    if not _check_editor(lang):
        return
    settings = state.get_settings()
    with st.spinner(t("fl.streets.fetching", lang)):
        try:
            graph = streets.fetch_streets(ward_polygon(), cache_dir=settings.var_dir / "osm-cache")
        except FetchError as e:
            st.error(t("fl.e.offline", lang, error=e))
            return
        except (GISInputError, NotFoundError) as e:
            st.error(t("fl.e.osm", lang, error=e))
            return
    try:
        edges = streets.edges_frame(graph)
    except GISInputError as e:
        st.error(t("fl.e.osm", lang, error=e))
        return
    stamp = floods.iso(floods.now_local())
    _store_network(edges, f"OpenStreetMap (Overpass, {stamp})", lang)


FLASH_SECONDS = 12.0


def flash(message: str) -> None:
    """A success message for the next runs: the map component may rerun the page once
    more as it mounts, which would wipe a message shown only once."""
    st.session_state["fl_flash"] = (message, time_module.monotonic())


def show_flash() -> None:
    """The pending success message, for a few seconds after it was set."""
    pending = st.session_state.get("fl_flash")
    if not pending:
        return
    message, since = pending
    if time_module.monotonic() - since > FLASH_SECONDS:
        del st.session_state["fl_flash"]
        return
    st.success(message)


CLICK_OBJECTS = ["last_clicked", "last_object_clicked"]
"""What the maps return: a click on the map, and a click on a street line (which folium's
layers do not pass on to the map)."""


def new_click(result: dict[str, Any] | None, key: str) -> tuple[float, float] | None:
    """A map click not seen before on this map (lon, lat); None on a plain rerun.

    A click on empty map and a click on a street line come back separately; whichever
    changed since the last run is the new click.
    """
    seen = st.session_state.setdefault(key, {})
    fresh = None
    for name in CLICK_OBJECTS:
        clicked = (result or {}).get(name) or {}
        if clicked.get("lat") is None or clicked.get("lng") is None:
            continue
        point = (float(clicked["lng"]), float(clicked["lat"]))
        if seen.get(name) != point:
            seen[name] = point
            fresh = point
    return fresh


def source_label(code: Any, lang: str) -> str:
    """A report source in words."""
    return t(f"fl.source.{code}", lang) if code in floods.SOURCES else str(code or "–")


def class_label(code: Any, lang: str) -> str:
    """A depth class in words."""
    return t(f"fl.class.{code}", lang) if code in floods.DEPTH_CLASSES else str(code)


def local_text(value: Any) -> str:
    """An ISO moment as dd/mm/yyyy hh:mm in Vietnam time ('–' when blank)."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return "–"
    moment = floods.parse_time(value, "time")
    return moment.strftime("%d/%m/%Y %H:%M")
