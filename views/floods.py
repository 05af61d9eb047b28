"""Flooding page: flooded streets by depth at any moment, marking floods on the map, reports,
a street's history, flood-prone streets and the feed for the operations centre."""

from __future__ import annotations

from datetime import timedelta

import folium
import streamlit as st

import layers
from geo import floods, streets
from ui import flood_panels as panels
from ui import floods as ui_floods
from ui import state
from ui.i18n import fmt_num, t
from ui.mapview import build_map
from ui.parcels import md

MAP_HEIGHT = 600

lang = state.lang()
settings = state.get_settings()
st.title(t("fl.title", lang))
ui_floods.show_flash()
if not ui_floods.has_streets():
    st.info(t("fl.no_streets", lang))
    ui_floods.streets_panel(lang, key="fl_streets")
    st.stop()
ui_floods.sample_banner(lang)
st.caption(t("fl.intro", lang))

with st.container(border=True):
    moment = ui_floods.moment_picker(lang, "fl")
past = moment < floods.now_local() - timedelta(minutes=1)
if past:
    st.info(t("fl.past", lang, when=moment.strftime("%d/%m/%Y %H:%M")))

segments = ui_floods.street_segments()
big = ui_floods.is_big_network(segments)
flooded = ui_floods.flood_state(moment)
figures = floods.summary(flooded, segments)
cols = st.columns(5)
cols[0].metric(t("fl.m.segments", lang), fmt_num(figures["segments"], lang))
cols[1].metric(t("fl.m.streets", lang), fmt_num(figures["streets"], lang))
cols[2].metric(t("fl.m.closed", lang), fmt_num(figures["closed"], lang))
deepest = figures["deepest_cm"]
cols[3].metric(t("fl.m.deepest", lang), "–" if deepest is None else f"{fmt_num(deepest, lang)} cm")
cols[4].metric(t("fl.m.length", lang), f"{fmt_num(figures['length_m'], lang)} m")

reports = ui_floods.reports()
status = floods.report_status(reports, moment)
lost = floods.off_network(reports, segments, moment)
if len(lost):
    left, right = st.columns([5, 1.3], vertical_alignment="center")
    left.warning(t("fl.off_network", lang, n=len(lost)))
    if right.button(t("fl.resnap", lang), key="fl_resnap", disabled=past):
        panels.resnap(lang)
live = status[status["status"] == "live"] if not status.empty else status

map_col, panel_col = st.columns([6, 4], gap="medium")
with map_col:
    mode = st.radio(
        t("fl.mark_mode", lang), ["point", "stretch"], horizontal=True, key="fl_mark_mode",
        format_func=lambda m: t(f"fl.mark_mode.{m}", lang), disabled=past,
    )  # fmt: skip
    data = {
        **({} if big else {"streets": segments}),
        "flood_prone": panels.prone_for_map(ui_floods.prone(), lang),
        "flood_state": panels.state_for_map(flooded, lang),
        "flood_reports": panels.reports_for_map(live, lang),
    }
    big_layers = [layers.get(streets.STREETS_LAYER)] if big else []
    fmap = build_map(data, lang=lang, basemap=settings.basemap, popups=True,
                     bounds=tuple(segments.total_bounds), height_px=MAP_HEIGHT,
                     width_px=600, dynamic=big_layers)  # fmt: skip
    for lon, lat in panels.pending_points():
        folium.CircleMarker([lat, lon], radius=8, color="#000000", weight=3, fill=True,
                            fill_color="#ffffff", fill_opacity=1.0).add_to(fmap)  # fmt: skip
    if mode == "point":
        st.session_state.pop(panels.FIRST, None)  # a stretch begun in the other mode is dropped
    result = ui_floods.network_map(fmap, "fl_map", segments, lang, 600, MAP_HEIGHT)
    credits = [s.attribution for s in layers.registry() if s.id in data]
    st.caption(t("map.sources", lang, sources="; ".join(dict.fromkeys(credits))))
    click = ui_floods.new_click(result, "fl_last_click")
    if click is not None and not past:
        panels.on_click(click, mode, lang)

with panel_col:
    tabs = st.tabs([t(f"fl.tab.{name}", lang)
                    for name in ("mark", "reports", "history", "prone", "feed")])  # fmt: skip
    with tabs[0]:
        panels.report_form(lang, past=past)
    with tabs[1]:
        panels.reports_panel(status, lang, moment=moment)
    with tabs[2]:
        panels.history_panel(reports, lang)
    with tabs[3]:
        panels.prone_panel(lang)
    with tabs[4]:
        panels.feed_panel(flooded, moment, lang)

with st.expander(t("fl.streets.title", lang)):
    info = state.get_store().layer_info("streets")
    st.caption(t("fl.streets.info", lang, n=fmt_num(info.feature_count, lang),
                 source=md(info.source), when=ui_floods.local_text(info.updated_at)))  # fmt: skip
    ui_floods.streets_panel(lang, key="fl_streets_again")
