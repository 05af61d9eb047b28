"""Map page: the ward among its neighbours, old boundaries, and a clicked feature's attributes."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo import clearance
from geo.errors import NotFoundError
from geo.wards import NEW_LAYER
from layers import LayerSpec, flood_reports
from ui import state
from ui.i18n import fmt_num, t
from ui.mapview import BASEMAPS, build_map

MAP_HEIGHT = 620
MARGIN = 0.35  # of the ward's size, around it, for the neighbours read from the store


def _ward_box(profile_name: str, margin: float) -> tuple[float, float, float, float] | None:
    new = state.read_layer(NEW_LAYER)
    ward = new[new["name"] == profile_name] if "name" in new.columns else new.iloc[:0]
    if ward.empty:
        return None
    minx, miny, maxx, maxy = ward.total_bounds
    dx, dy = (maxx - minx) * margin, (maxy - miny) * margin
    return (float(minx - dx), float(miny - dy), float(maxx + dx), float(maxy + dy))


def _value(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return t("merger.yes", lang) if value else t("merger.no", lang)
    if isinstance(value, int):
        return fmt_num(value, lang)
    if isinstance(value, float):
        return fmt_num(value, lang, 0 if value.is_integer() and abs(value) >= 1000 else 2)
    return "–" if value is None else str(value)


def _panel(selection: dict[str, Any] | None, specs: dict[str, LayerSpec], lang: str) -> None:
    st.markdown(f"##### {t('map.panel.title', lang)}")
    props = (selection or {}).get("properties") or {}
    spec = specs.get(str(props.get("layer")))
    try:
        fid = int(props["fid"])
    except (KeyError, TypeError, ValueError):
        fid = None
    if spec is None or fid is None:
        st.caption(t("map.panel.hint", lang))
        return
    try:
        feature = state.get_store().get_feature(spec.id, fid)
    except NotFoundError:
        st.info(t("map.panel.gone", lang))
        return
    st.markdown(f"**{spec.label(lang)}**")
    rows = [
        (labels.get(lang) or labels["vi"], _value(feature.props.get(name), lang))
        for name, labels in spec.panel_fields
        if name in feature.props
    ]
    table = pd.DataFrame(rows, columns=[t("map.panel.field", lang), t("map.panel.value", lang)])
    st.table(table, hide_index=True, hide_header=True)
    st.caption(
        t(
            "map.panel.meta",
            lang,
            fid=feature.fid,
            version=feature.version,
            updated=feature.updated_at[:10],
        )
    )


lang = state.lang()
settings = state.get_settings()
ward = settings.profile.name
# Parcels have their own page, with their flags, filters and the demo banner; drawn here
# unflagged (and the demo set over real records) they would mislead.
# parcels and flood reports have their own pages (filters, time control, records)
OWN_PAGES = {*clearance.PARCEL_LAYERS, flood_reports.LAYER.id}
specs = [s for s in layers.specs_for(state.catalog()) if s.id not in OWN_PAGES]

st.title(t("map.title", lang, ward=ward))
st.caption(t("map.intro", lang, ward=ward))

with st.expander(t("map.controls", lang)):
    basemaps = list(BASEMAPS)
    st.selectbox(
        t("map.basemap", lang),
        basemaps,
        index=basemaps.index(settings.basemap),
        format_func=lambda b: t(f"map.basemap.{b}", lang),
        key="map_basemap",
    )
    for spec in specs:
        left, right = st.columns([2, 3], vertical_alignment="center")
        left.checkbox(spec.label(lang), value=spec.default_visible, key=f"map_show_{spec.id}")
        right.slider(
            t("map.opacity", lang),
            0.0,
            1.0,
            1.0,
            0.05,
            key=f"map_opacity_{spec.id}",
            label_visibility="collapsed",
        )

shown = [spec for spec in specs if st.session_state.get(f"map_show_{spec.id}", True)]
box = _ward_box(ward, MARGIN)
view = _ward_box(ward, 0.05)
data = {spec.id: state.read_layer(spec.id, bbox=box) for spec in shown}
opacity = {spec.id: float(st.session_state.get(f"map_opacity_{spec.id}", 1.0)) for spec in shown}

map_col, panel_col = st.columns([7, 3], gap="medium")
with map_col:
    if not shown:
        st.info(t("map.no_layers", lang))
    fmap = build_map(
        data,
        lang=lang,
        basemap=st.session_state.get("map_basemap", settings.basemap),
        opacity=opacity,
        specs=specs,
        focus=ward,
        bounds=view,
        popups=False,
        height_px=MAP_HEIGHT,
    )
    result = st_folium(
        fmap,
        key="map",
        returned_objects=["last_active_drawing"],
        use_container_width=True,
        height=MAP_HEIGHT,
    )
    sources = [spec.attribution for spec in shown if spec.attribution]
    if sources:
        st.caption(t("map.sources", lang, sources="; ".join(dict.fromkeys(sources))))
with panel_col, st.container(border=True):
    _panel((result or {}).get("last_active_drawing"), {s.id: s for s in specs}, lang)
