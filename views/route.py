"""Route page: two clicks or typed coordinates; the shortest route beside the one that avoids
the floods a vehicle cannot pass, with lengths and the detour."""

from __future__ import annotations

import folium
import geopandas as gpd
import streamlit as st

import layers
from geo import floods, routing, streets
from geo.errors import GISInputError, NotFoundError
from ui import flood_panels as panels
from ui import floods as ui_floods
from ui import state
from ui.i18n import fmt_num, t
from ui.mapview import build_map
from ui.parcels import md

MAP_HEIGHT = 600
KEYS = ("rt_origin", "rt_destination")


def _text(point: tuple[float, float] | None) -> str:
    return "" if point is None else f"{point[1]:.6f},{point[0]:.6f}"


def _set(name: str, point: tuple[float, float] | None) -> None:
    """Set a point from a click; its text box follows on the next run, before it is drawn
    (a widget's value cannot change once the widget exists in this run)."""
    st.session_state[name] = point
    st.session_state["rt_sync"] = True


def _sync_texts() -> None:
    if st.session_state.pop("rt_sync", False):
        for name in KEYS:
            st.session_state[f"{name}_text"] = _text(st.session_state.get(name))


def _clear() -> None:
    """The "start again" button (a callback: it runs before the widgets are drawn)."""
    for name in KEYS:
        st.session_state[name] = None
        st.session_state[f"{name}_text"] = ""
    st.session_state.pop("rt_error", None)


def _typed(name: str) -> None:
    """A typed coordinate replaces the clicked one (latitude first)."""
    text = str(st.session_state.get(f"{name}_text") or "").strip()
    if not text:
        st.session_state[name] = None
        st.session_state.pop("rt_error", None)
        return
    try:
        st.session_state[name] = floods.parse_latlon(text, t(f"rt.{name[3:]}", state.lang()))
        st.session_state.pop("rt_error", None)
    except GISInputError as e:
        st.session_state["rt_error"] = str(e)


def _routes_frame(comparison: routing.Comparison, lang: str) -> gpd.GeoDataFrame:
    rows = [("shortest", comparison.shortest)]
    if comparison.safe is not None and comparison.blocked:
        rows.append(("safe", comparison.safe))
    return gpd.GeoDataFrame(
        {"kind": [k for k, _ in rows], "label": [t(f"rt.{k}", lang) for k, _ in rows],
         "length_m": [r.length_m for _, r in rows]},
        geometry=[r.geometry for _, r in rows], crs=4326,
    )  # fmt: skip


def _street_list(route: routing.Route) -> str:
    names: list[str] = []
    for name in route.names:
        if name and (not names or names[-1] != name):
            names.append(name)
    return " → ".join(names[:12]) + (" …" if len(names) > 12 else "")


lang = state.lang()
settings = state.get_settings()
st.title(t("rt.title", lang))
ui_floods.show_flash()
if not ui_floods.has_streets():
    st.info(t("fl.no_streets", lang))
    ui_floods.streets_panel(lang, key="rt_streets")
    st.stop()
ui_floods.sample_banner(lang)
st.caption(t("rt.intro", lang))
for name in KEYS:
    st.session_state.setdefault(name, None)
_sync_texts()

with st.container(border=True):
    cols = st.columns([3, 3, 2, 2, 1.4], vertical_alignment="bottom")
    for col, name in zip(cols[:2], KEYS, strict=True):
        col.text_input(t(f"rt.{name[3:]}", lang), key=f"{name}_text", on_change=_typed,
                       args=(name,), placeholder="10.7857,106.6920")  # fmt: skip
    vehicle = cols[2].selectbox(t("rt.vehicle", lang), list(settings.vehicle_depth_cm),
                                key="rt_vehicle",
                                format_func=lambda v: t(f"rt.vehicle.{v}", lang))  # fmt: skip
    limit = cols[3].number_input(t("rt.max_depth", lang), 0, 200, step=5,
                                 value=int(settings.vehicle_depth_cm[vehicle]),
                                 key=f"rt_depth_{vehicle}")  # fmt: skip
    cols[4].button(t("rt.clear", lang), key="rt_clear", on_click=_clear)
if st.session_state.get("rt_error"):
    st.error(t("rt.bad_point", lang, error=md(st.session_state["rt_error"])))

moment = floods.now_local()
segments = ui_floods.street_segments()
big = ui_floods.is_big_network(segments)
flooded = ui_floods.flood_state(moment)
origin, destination = st.session_state["rt_origin"], st.session_state["rt_destination"]
comparison: routing.Comparison | None = None
problem = ""
if origin is not None and destination is not None:
    try:
        comparison = routing.compare(
            ui_floods.street_graph(), origin, destination,
            floods=floods.floods_for_routing(flooded), max_depth_cm=float(limit),
        )  # fmt: skip
    except NotFoundError as e:
        problem = t("rt.unreachable", lang, error=md(e))

map_col, panel_col = st.columns([7, 3], gap="medium")
with map_col:
    data: dict[str, gpd.GeoDataFrame] = {
        **({} if big else {"streets": segments}),
        "flood_state": panels.state_for_map(flooded, lang),
    }
    if comparison is not None:
        data["routes"] = _routes_frame(comparison, lang)
    big_layers = [layers.get(streets.STREETS_LAYER)] if big else []
    fmap = build_map(data, lang=lang, basemap=settings.basemap, popups=True,
                     bounds=tuple(segments.total_bounds), height_px=MAP_HEIGHT,
                     width_px=700, dynamic=big_layers)  # fmt: skip
    for point, colour, letter in ((origin, "#2166ac", "A"), (destination, "#b2182b", "B")):
        if point is not None:
            folium.CircleMarker([point[1], point[0]], radius=9, color=colour, weight=3,
                                fill=True, fill_color="#ffffff", fill_opacity=1.0,
                                tooltip=letter).add_to(fmap)  # fmt: skip
    result = ui_floods.network_map(fmap, "rt_map", segments, lang, 700, MAP_HEIGHT)
    credits = [s.attribution for s in layers.registry() if s.id in data]
    st.caption(t("map.sources", lang, sources="; ".join(dict.fromkeys(credits))))
    click = ui_floods.new_click(result, "rt_last_click")
    if click is not None:
        if origin is None or destination is not None:
            _set("rt_origin", click)
            _set("rt_destination", None)
        else:
            _set("rt_destination", click)
        st.rerun()

with panel_col:
    st.caption(t("rt.floods_at", lang, when=moment.strftime("%d/%m/%Y %H:%M")))
    if origin is None:
        st.info(t("rt.click_origin", lang))
    elif destination is None:
        st.info(t("rt.click_destination", lang))
    elif problem:
        st.error(problem)
    elif comparison is not None:
        st.metric(t("rt.shortest", lang), f"{fmt_num(comparison.shortest.length_m, lang)} m")
        if not comparison.blocked:
            st.success(t("rt.clear_route", lang))
        elif comparison.safe is None:
            st.error(t("rt.no_route", lang, vehicle=t(f"rt.vehicle.{vehicle}", lang).lower(),
                       depth=fmt_num(limit, lang), n=len(comparison.blocked)))  # fmt: skip
        else:
            st.metric(t("rt.safe", lang), f"{fmt_num(comparison.safe.length_m, lang)} m",
                      delta=f"+{fmt_num(comparison.detour_m or 0, lang)} m",
                      delta_color="off")  # fmt: skip
            st.warning(t("rt.blocked", lang, n=len(comparison.blocked)))
        if comparison.at_ends:
            st.warning(t("rt.at_ends", lang))
        best = comparison.safe or comparison.shortest
        st.caption(t("rt.streets", lang, streets=md(_street_list(best))))
