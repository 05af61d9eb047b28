"""Elevation page: a DEM, low street segments, and what a water level would flood."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo import raster
from geo.errors import GISInputError
from ui import elevation as ui_el
from ui import floods as ui_floods
from ui import state
from ui.i18n import fmt_num, t
from ui.mapview import build_map

MAP_HEIGHT = 560


def _table(frame: pd.DataFrame, empty: str, file_name: str, key: str) -> None:
    """A table with its CSV download, or a line saying it is empty."""
    if frame.empty:
        st.caption(empty)
        return
    st.dataframe(frame, hide_index=True, width="stretch", height=320)
    st.download_button(t("el.csv", lang), ui_el.csv_bytes(frame), file_name=file_name,
                       mime="text/csv", key=key)  # fmt: skip


lang = state.lang()
settings = state.get_settings()
st.title(t("el.title", lang))
ui_floods.show_flash()
st.caption(t("el.intro", lang))

key = ui_el.dem_key()
if key is None:
    st.info(t("el.no_dem", lang))
    ui_el.dem_panel(lang, key="el_new")
    st.stop()
try:
    dem = ui_el.load_dem(key)
except GISInputError as e:
    st.error(t("el.e.stored", lang, error=e))
    ui_el.dem_panel(lang, key="el_bad")
    ui_el.remove_panel(lang)
    st.stop()

low_z, high_z = ui_el.dem_range(dem)
rows, cols = dem.shape
st.caption(t("el.dem.caption", lang, source=ui_el.source_text(dem, lang), cols=fmt_num(cols, lang),
             rows=fmt_num(rows, lang), cell=fmt_num(dem.cell_size_m, lang, 1),
             low=fmt_num(low_z, lang, 1), high=fmt_num(high_z, lang, 1)))  # fmt: skip
if ui_el.is_glo30(dem.source):
    st.caption(t("el.dem.glo30_note", lang, credit=raster.GLO30_ATTRIBUTION))
with st.expander(t("el.manage", lang)):
    ui_el.dem_panel(lang, key="el_replace")
    st.divider()
    ui_el.remove_panel(lang)

has_streets = ui_floods.has_streets()
edges: gpd.GeoDataFrame | None = None
sampled: pd.DataFrame | None = None
if has_streets:
    edges = ui_floods.street_segments()
    sampled = ui_el.samples(key)
    if len(sampled) and not (sampled["n_valid"] > 0).any():
        st.warning(t("el.streets_outside", lang))
else:
    st.info(t("el.no_streets", lang))
    ui_floods.streets_panel(lang, key="el_streets")

bounds = ui_el.level_range(dem)
default = ui_el.default_threshold(dem, sampled)
ui_el.set_defaults(key, default, default, bounds)
with st.container(border=True):
    left, middle, right = st.columns([2, 4, 2], vertical_alignment="bottom")
    threshold = left.number_input(t("el.threshold", lang), step=0.1, format="%.1f",
                                  key="el_threshold", disabled=not has_streets,
                                  help=t("el.threshold.help", lang))  # fmt: skip
    level = middle.slider(t("el.level", lang), min_value=bounds[0], max_value=bounds[1], step=0.1,
                          format="%.1f", key="el_level")  # fmt: skip
    connected = right.toggle(t("el.connected", lang), key="el_connected",
                             help=t("el.connected.help", lang))  # fmt: skip
    st.caption(t("el.water_edge", lang))

flood = ui_el.flood(key, float(level), bool(connected))
low = raster.low_segments(sampled, float(threshold)) if sampled is not None else None

metrics = st.columns(4)
if edges is not None and low is not None:
    n_low, low_length = ui_el.stretches(low["segment_id"], edges)
    n_flooded, _ = ui_el.stretches(flood.flooded["segment_id"], edges)
    metrics[0].metric(t("el.m.low", lang), fmt_num(n_low, lang))
    metrics[1].metric(t("el.m.low_length", lang), f"{fmt_num(low_length, lang)} m")
    metrics[3].metric(t("el.m.flooded", lang), fmt_num(n_flooded, lang))
else:
    metrics[0].metric(t("el.m.low", lang), "–")
    metrics[1].metric(t("el.m.low_length", lang), "–")
    metrics[3].metric(t("el.m.flooded", lang), "–")
metrics[2].metric(t("el.m.area", lang), ui_el.area_text(flood.area_m2, lang))

data: dict[str, gpd.GeoDataFrame] = {"low_ground": ui_el.areas_for_map(flood.areas, lang)}
if edges is not None and sampled is not None and low is not None:
    data["streets"] = edges
    data["low_streets"] = ui_el.streets_for_map(edges, sampled, low, flood.flooded, lang)
view = tuple(edges.total_bounds) if edges is not None and len(edges) else dem.bounds_4326
specs = ui_el.specs_for(dem)
fmap = build_map(data, lang=lang, basemap=settings.basemap, specs=specs, popups=True,
                 bounds=view, height_px=MAP_HEIGHT)  # fmt: skip
st_folium(fmap, key="el_map", returned_objects=[], use_container_width=True, height=MAP_HEIGHT)
own = {spec.id: spec for spec in specs}
credits = [own.get(spec.id, spec).attribution for spec in layers.registry() if spec.id in data]
st.caption(t("map.sources", lang, sources="; ".join(dict.fromkeys(credits))))

if edges is not None and low is not None:
    low_rows = ui_el.low_table(low, edges, lang)
    flooded_rows = ui_el.flooded_table(flood.flooded, edges, lang)
    tabs = st.tabs([
        t("el.low.title", lang, threshold=fmt_num(threshold, lang, 1), n=len(low_rows)),
        t("el.flooded.title", lang, level=fmt_num(level, lang, 1), n=len(flooded_rows)),
    ])  # fmt: skip
    with tabs[0]:
        _table(low_rows, t("el.low.none", lang), "low_segments.csv", "el_low_csv")
    with tabs[1]:
        _table(flooded_rows, t("el.flooded.none", lang), "flooded_segments.csv", "el_flooded_csv")
    st.caption(t("el.tables.note", lang))
